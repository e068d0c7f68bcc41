// Command workshop sets up and checks the steps of workshop/README.md
// against the shop that `make up` runs. workshop/workshop.sh (`make
// workshop STEP=n`, `make workshop-check STEP=n`) calls it.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/the-shop/shop/workshop"
)

const usage = `Usage:
  workshop steps           list the steps
  workshop env N           print step N's settings for make up (NAME='value' lines)
  workshop about N         print step N's title and what to do once it runs
  workshop check N         check that the running shop shows what step N teaches:
                           one PASS or FAIL line per expectation; exits 1 on a FAIL
  workshop rotate          put a new SESSION_ENCRYPTION_KEYS key first, keep the
                           old ones, and restart the replicas one at a time

The running shop is found through RUN_DIR (default .run, where make up
keeps its settings in up.env and its pid files).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "workshop:", err)
		os.Exit(1)
	}
}

// errFailed is returned when a check failed; the report said why.
var errFailed = errors.New("the shop does not show what this step teaches (see the FAIL lines above)")

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	stepArg := func() (workshop.Step, error) {
		if len(args) != 2 {
			return workshop.Step{}, fmt.Errorf("%s needs a step number (1 to %d)", args[0], len(workshop.Steps))
		}
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return workshop.Step{}, fmt.Errorf("step %q is not a number (1 to %d)", args[1], len(workshop.Steps))
		}
		return workshop.StepN(n)
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "steps":
		for _, s := range workshop.Steps {
			fmt.Fprintf(stdout, "%d. %s\n", s.N, s.Title)
		}
		return nil
	case "env":
		s, err := stepArg()
		if err != nil {
			return err
		}
		for _, st := range s.Settings() {
			fmt.Fprintf(stdout, "%s=%s\n", st.Name, shellQuote(st.Value))
		}
		return nil
	case "about":
		s, err := stepArg()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Step %d: %s\n%s\n", s.N, s.Title, s.Next)
		return nil
	case "check":
		s, err := stepArg()
		if err != nil {
			return err
		}
		sh, err := findShop(getenv)
		if err != nil {
			return err
		}
		env := sh.env(ctx, stderr)
		ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		report := workshop.Check(ctx, s.N, env)
		report.Print(stdout)
		if !report.OK() {
			return errFailed
		}
		return nil
	case "rotate":
		sh, err := findShop(getenv)
		if err != nil {
			return err
		}
		keys, err := sh.rotate(ctx, stderr)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "SESSION_ENCRYPTION_KEYS now has %d keys; the new one encrypts.\n", strings.Count(keys, ",")+1)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// shop is the shop `make up` runs: its work tree and settings.
type shop struct {
	root, runDir string
	state        map[string]string
	// textbookURL and textbookRedisURL: step 8's textbook server, if it runs.
	textbookURL, textbookRedisURL string
}

// findShop reads the settings `make up` saved in RUN_DIR/up.env.
func findShop(getenv func(string) string) (*shop, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	runDir := getenv("RUN_DIR")
	if runDir == "" {
		runDir = filepath.Join(root, ".run")
	}
	state, err := readState(filepath.Join(runDir, "up.env"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errors.New("the shop is not running (no .run/up.env): start a step with `make workshop STEP=1`")
	}
	if err != nil {
		return nil, err
	}
	sh := &shop{root: root, runDir: runDir, state: state}
	// Step 8's textbook server, when it runs (workshop/workshop.sh starts
	// it through scripts/shop.sh with RUN_DIR/textbook).
	tb, err := readState(filepath.Join(runDir, "textbook", "up.env"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if tb["PORT"] != "" && tb["REDIS_URL"] != "" {
		sh.textbookURL, sh.textbookRedisURL = "http://127.0.0.1:"+tb["PORT"], tb["REDIS_URL"]
	}
	return sh, nil
}

// repoRoot is the work tree: the working directory or a parent of it that
// holds scripts/shop.sh.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "scripts", "shop.sh")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%s is not inside the shop's work tree (no scripts/shop.sh above it)", dir)
		}
	}
}

func (s *shop) get(name, def string) string {
	if v, ok := s.state[name]; ok && v != "" {
		return v
	}
	return def
}

// env describes the running shop to the checks, with hooks that act on it
// as an operator would: SIGKILL from the pid file, scripts/shop.sh start,
// and a key rotation with a rolling restart.
func (s *shop) env(ctx context.Context, log io.Writer) workshop.Env {
	replicas, _ := strconv.Atoi(s.get("REPLICAS", "3"))
	return workshop.Env{
		URL:              "http://127.0.0.1:" + s.get("PORT", "8080"),
		Replicas:         replicas,
		Store:            s.get("SESSION_STORE", "redis"),
		LB:               s.get("LB", "rr"),
		RedisURL:         s.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
		RedisPrefix:      s.get("REDIS_KEY_PREFIX", "shop:"),
		DatabaseURL:      s.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shop?sslmode=disable"),
		EncryptionKeys:   s.get("SESSION_ENCRYPTION_KEYS", ""),
		TextbookURL:      s.textbookURL,
		TextbookRedisURL: s.textbookRedisURL,
		Kill:             s.kill,
		Start: func(ctx context.Context, n int) error {
			return s.script(ctx, log, nil, "shop.sh", "start", strconv.Itoa(n))
		},
		RotateKeys: func(ctx context.Context) (string, error) { return s.rotate(ctx, log) },
		Log: func(format string, args ...any) {
			fmt.Fprintf(log, "  ...   "+format+"\n", args...)
		},
	}
}

// kill sends SIGKILL to replica n, as a crash would, and waits until it
// is gone.
func (s *shop) kill(ctx context.Context, n int) error {
	file := filepath.Join(s.runDir, "pids", fmt.Sprintf("shop-%d.pid", n))
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("shop-%d has no pid file (is it running? `make ps`): %w", n, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("%s holds no pid", file)
	}
	// Only the replica: a pid file left behind may name another process.
	if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && !strings.Contains(string(cmd), "serve") {
		return fmt.Errorf("pid %d from %s is not a shop replica any more", pid, file)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill shop-%d (pid %d): %w", n, pid, err)
	}
	for syscall.Kill(pid, 0) == nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// rotate puts a new key first in SESSION_ENCRYPTION_KEYS, keeps the old
// ones so the sessions they sealed still open, and restarts the replicas
// one at a time (`make restart`, which remembers the new keys).
func (s *shop) rotate(ctx context.Context, log io.Writer) (string, error) {
	old := s.get("SESSION_ENCRYPTION_KEYS", "")
	if old == "" {
		return "", errors.New("SESSION_ENCRYPTION_KEYS is not set: step 7 (`make workshop STEP=7`) turns encryption on")
	}
	keys := workshop.NewKey() + "," + old
	if err := s.script(ctx, log, []string{"SESSION_ENCRYPTION_KEYS=" + keys}, "shop.sh", "restart"); err != nil {
		return "", err
	}
	s.state["SESSION_ENCRYPTION_KEYS"] = keys
	return keys, nil
}

// script runs one of scripts/ with the environment and RUN_DIR of the
// shop, its output going to log.
func (s *shop) script(ctx context.Context, log io.Writer, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(s.root, "scripts", name)}, args...)...)
	cmd.Dir = s.root
	cmd.Env = append(append(os.Environ(), "RUN_DIR="+s.runDir), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("scripts/%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// readState reads up.env: NAME=value lines, each value quoted by bash's
// printf %q.
func readState(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), "=")
		if !ok || name == "" || name[0] < 'A' || name[0] > 'Z' {
			continue
		}
		v, err := shellUnquote(value)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, name, err)
		}
		out[name] = v
	}
	return out, sc.Err()
}

// shellUnquote undoes bash's printf %q for the values up.env holds:
// backslash escapes and ” for an empty value ($'…' is refused: no
// setting of the shop holds control characters).
func shellUnquote(s string) (string, error) {
	if s == "''" {
		return "", nil
	}
	if strings.HasPrefix(s, "$'") {
		return "", errors.New("value has control characters")
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String(), nil
}

// shellQuote quotes a value for bash with single quotes.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
