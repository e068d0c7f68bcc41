package testenv

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Mailpit is a real mail server (github.com/axllent/mailpit) a test
// started for itself on free loopback ports: the shop sends to SMTPURL,
// and the test reads what arrived through Mailpit's HTTP API. It is
// stopped, by its pid, when the test ends.
type Mailpit struct {
	// SMTPURL is where the shop sends (SMTP_URL).
	SMTPURL string
	// APIURL is Mailpit's web inbox and API.
	APIURL string

	tb   testing.TB
	bin  string
	dir  string
	smtp string
	http string
	cmd  *exec.Cmd
}

// MailpitBinary finds the mailpit program: on PATH, else where `go install`
// puts it (scripts/ensure-tools.sh installs it there).
func MailpitBinary() (string, error) {
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p, nil
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	if d := os.Getenv("GOPATH"); d != "" {
		dirs = append(dirs, filepath.Join(d, "bin"))
	}
	if h, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(h, "go", "bin"))
	}
	for _, d := range dirs {
		if p := filepath.Join(d, "mailpit"); isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("mailpit is not installed: go install github.com/axllent/mailpit@v1.33.1 (scripts/ensure-tools.sh does)")
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// MustMailpit starts a Mailpit for the test.
func MustMailpit(tb testing.TB) *Mailpit {
	tb.Helper()
	bin, err := MailpitBinary()
	if err != nil {
		tb.Fatal(err)
	}
	port := FreePorts(tb, 2)
	m := &Mailpit{
		tb: tb, bin: bin, dir: tb.TempDir(),
		smtp: fmt.Sprintf("127.0.0.1:%d", port), http: fmt.Sprintf("127.0.0.1:%d", port+1),
	}
	m.SMTPURL = "smtp://" + m.smtp + "?tls=none"
	m.APIURL = "http://" + m.http
	m.Start()
	tb.Cleanup(m.Stop)
	return m
}

// Start starts the server (again, after Stop) on its ports and waits until
// its API answers. Its messages live in a file of the test's, so they
// survive a Stop.
func (m *Mailpit) Start() {
	m.tb.Helper()
	if m.cmd != nil {
		return
	}
	cmd := exec.Command(m.bin,
		"--smtp", m.smtp, "--listen", m.http,
		"--database", filepath.Join(m.dir, "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns", "--quiet")
	log, err := os.OpenFile(filepath.Join(m.dir, "mailpit.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		m.tb.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		m.tb.Fatalf("start mailpit: %v", err)
	}
	m.cmd = cmd
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := http.Get(m.APIURL + "/api/v1/info")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				if c, err := net.DialTimeout("tcp", m.smtp, time.Second); err == nil {
					c.Close()
					return
				}
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(m.dir, "mailpit.log"))
			m.Stop()
			m.tb.Fatalf("mailpit did not answer on %s within 20s\n%s", m.APIURL, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server, by its pid, and waits for it to exit; the shop
// then finds its mail server down.
func (m *Mailpit) Stop() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	_ = m.cmd.Wait()
	m.cmd = nil
}

// Mail is one message as Mailpit received it.
type Mail struct {
	ID      string
	From    string
	To      []string
	Subject string
	Text    string
}

// Link returns the first link in the mail's text whose path starts with
// path ("" if none).
func (m Mail) Link(path string) string {
	for _, l := range linkRE.FindAllString(m.Text, -1) {
		if u, err := url.Parse(l); err == nil && strings.HasPrefix(u.Path, path) {
			return l
		}
	}
	return ""
}

var linkRE = regexp.MustCompile(`https?://[^\s<>"]+`)

// Messages returns the mails sent to address, newest first.
func (m *Mailpit) Messages(tb testing.TB, address string) []Mail {
	tb.Helper()
	var list struct {
		Messages []struct {
			ID      string
			Subject string
			From    struct{ Address string }
			To      []struct{ Address string }
		}
	}
	m.get(tb, "/api/v1/search?query="+url.QueryEscape(`to:"`+address+`"`), &list)
	out := make([]Mail, 0, len(list.Messages))
	for _, x := range list.Messages {
		var full struct{ Text string }
		m.get(tb, "/api/v1/message/"+url.PathEscape(x.ID), &full)
		ml := Mail{ID: x.ID, From: x.From.Address, Subject: x.Subject, Text: full.Text}
		for _, to := range x.To {
			ml.To = append(ml.To, to.Address)
		}
		out = append(out, ml)
	}
	return out
}

// WaitMail waits up to timeout for the n-th mail (counting from 1, oldest
// first) sent to address whose subject contains subject, and returns it.
func (m *Mailpit) WaitMail(tb testing.TB, address, subject string, n int, timeout time.Duration) Mail {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var match []Mail
		for _, ml := range m.Messages(tb, address) {
			if strings.Contains(ml.Subject, subject) {
				match = append([]Mail{ml}, match...) // oldest first
			}
		}
		if len(match) >= n {
			return match[n-1]
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no mail %d to %s with subject %q within %s (found %d)", n, address, subject, timeout, len(match))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (m *Mailpit) get(tb testing.TB, path string, v any) {
	tb.Helper()
	r, err := http.Get(m.APIURL + path)
	if err != nil {
		tb.Fatalf("mailpit API %s: %v", path, err)
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		tb.Fatalf("mailpit API %s: status %d", path, r.StatusCode)
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		tb.Fatalf("mailpit API %s: %v", path, err)
	}
}
