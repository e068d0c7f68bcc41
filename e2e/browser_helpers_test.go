package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Browser tests drive Debian's Chromium, headless, through chromedp. Every
// test starts its own Chromium with a fresh profile and stops it; each
// person in a test is a tab in a browser context of its own (its own
// cookies, like a separate browser). A failing step saves a screenshot and
// the page's HTML under test-artifacts/ and names both in the failure.

// stepTimeout bounds one browser step (a navigation, a click and the page
// it loads, a wait for an element).
const stepTimeout = 20 * time.Second

// chromiumPath finds Debian's chromium (or another Chrome) or fails the
// test: the browser tests are part of `make test`, and .ci/run installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("browser tests need Chromium: apt-get install -y chromium (.ci/run and scripts/ensure-tools.sh install it)")
	return ""
}

// chrome is one headless Chromium process.
type chrome struct {
	ctx context.Context // the browser's first tab; every tab derives from it
}

// startChrome starts Chromium for the test and stops it when the test ends.
func startChrome(t *testing.T) *chrome {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	ch := &chrome{ctx: ctx}
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	// Starts the browser. No timeout on this first call: it would stop the
	// browser when it ends. A browser that does not start fails here.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start Chromium: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Chromium did not start within 30s")
	}
	return ch
}

// tab is one person's tab, in a browser context of its own.
type tab struct {
	t    *testing.T
	name string
	base string // the shop (nginx)
	ctx  context.Context
	// lastServedBy is the X-Served-By of the last page loaded.
	lastServedBy string
	// shots numbers the artifacts this tab saved.
	shots int
	// saved is set once a failure saved this tab's page.
	saved bool
}

// newTab opens a tab for test t in a new browser context (separate
// cookies), closed when t ends. When t failed, the tab first saves its page
// (screenshot and HTML), so even a failure outside a browser step leaves a
// picture.
func (ch *chrome) newTab(t *testing.T, name, base string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(ch.ctx, chromedp.WithNewBrowserContext())
	tb := &tab{t: t, name: name, base: base, ctx: ctx}
	t.Cleanup(func() {
		if t.Failed() && !tb.saved {
			t.Logf("%s: last page saved: %s", tb.name, tb.saveArtifacts("at-failure"))
		}
		cancel()
	})
	// Open the target now. Not with a deadline: the first Run on a context
	// binds its tab to that call's context, so a timeout would close it.
	opened := make(chan error, 1)
	go func() { opened <- chromedp.Do(ctx) }()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatalf("open a tab for %s: %v", name, err)
		}
	case <-time.After(stepTimeout):
		t.Fatalf("open a tab for %s: no tab within %v", name, stepTimeout)
	}
	return tb
}

// run runs one bounded step and returns its value; a failure saves the page
// and fails the test.
func run[T any](tb *tab, what string, a chromedp.Action[T]) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		tb.fatalf("%s: %v", what, err)
	}
	return v
}

// do runs steps that return nothing, as one bounded step.
func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	run(tb, what, chromedp.Steps(steps...))
}

// load runs steps that make the page navigate (a click on a link or a
// submit button, a navigation) and waits for the new page. It returns the
// HTTP status of the document and remembers which replica served it.
func (tb *tab) load(what string, steps ...chromedp.Action[chromedp.Void]) int64 {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		tb.fatalf("%s: %v", what, err)
	}
	if res == nil {
		tb.fatalf("%s: no response for the page", what)
	}
	tb.lastServedBy = header(res.Headers, "X-Served-By")
	return res.Status
}

// header reads a response header whatever the case of its name.
func header(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// open navigates to a path of the shop and wants a 200.
func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.openStatus(path, 200)
}

// openStatus navigates to a path of the shop and wants the status given.
func (tb *tab) openStatus(path string, want int64) {
	tb.t.Helper()
	if got := tb.load("open "+path, chromedp.Navigate(tb.base+path)); got != want {
		tb.fatalf("GET %s: status %d, want %d", path, got, want)
	}
}

// click clicks what sel finds and waits for the page it loads (a link, a
// form's submit button).
func (tb *tab) click(sel string) {
	tb.t.Helper()
	if got := tb.load("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)); got != 200 {
		tb.fatalf("click %s: the page that loaded has status %d, want 200", sel, got)
	}
}

// fill replaces the value of an input, as a person selecting it and typing.
func (tb *tab) fill(sel, value string) {
	tb.t.Helper()
	tb.do("fill "+sel,
		chromedp.WaitVisible(chromedp.CSS(sel)),
		// Not SetValue(""): chromedp v0.23 sets "undefined" for "".
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf("document.querySelector(%q).value = ''", sel)),
		chromedp.SendKeys(chromedp.CSS(sel), value),
	)
}

// text returns the visible text of the first element sel finds.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return strings.Join(strings.Fields(run(tb, "read "+sel, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))), " ")
}

// has reports whether the page has an element sel finds, without waiting.
func (tb *tab) has(sel string) bool {
	tb.t.Helper()
	return run(tb, "look for "+sel, chromedp.Evaluate[bool](fmt.Sprintf("document.querySelector(%q) !== null", sel)))
}

// path is the path (and query) of the page shown.
func (tb *tab) path() string {
	tb.t.Helper()
	return run(tb, "read the location", chromedp.Evaluate[string]("location.pathname + location.search"))
}

// waitFor polls a JavaScript condition until it is true.
func (tb *tab) waitFor(what, cond string) {
	tb.t.Helper()
	run(tb, "wait until "+what, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(50*time.Millisecond)))
}

// badge is the cart count in the header.
func (tb *tab) badge() int {
	tb.t.Helper()
	// Read even when hidden: an empty cart shows no badge.
	s := strings.TrimSpace(run(tb, "read the cart badge", chromedp.Evaluate[string](`(document.querySelector('[data-cart-count]') || {}).textContent || ''`)))
	n, err := strconv.Atoi(s)
	if err != nil {
		tb.fatalf("cart badge shows %q, want a number", s)
	}
	return n
}

// waitBadge waits until the header's cart badge shows n (after an add that
// does not reload the page).
func (tb *tab) waitBadge(n int) {
	tb.t.Helper()
	tb.waitFor(fmt.Sprintf("the cart badge shows %d", n),
		fmt.Sprintf(`(document.querySelector('[data-cart-count]') || {}).textContent === %q`, strconv.Itoa(n)))
}

// footerServedBy is the replica named in the page footer.
func (tb *tab) footerServedBy() string {
	tb.t.Helper()
	return run(tb, "read the footer's replica",
		chromedp.Evaluate[string](`(document.querySelector('[data-served-by]') || {dataset: {}}).dataset.servedBy || ''`))
}

// cartLines reads the cart page: product name → quantity in its field.
func (tb *tab) cartLines() map[string]int {
	tb.t.Helper()
	lines := run(tb, "read the cart lines", chromedp.Evaluate[map[string]string](`
		Object.fromEntries(Array.from(document.querySelectorAll('.cart-line')).map(function (tr) {
			return [tr.querySelector('.cart-product a').textContent.trim(), tr.querySelector('input[name=quantity]').value];
		}))`))
	out := map[string]int{}
	for name, q := range lines {
		n, err := strconv.Atoi(q)
		if err != nil {
			tb.fatalf("cart line %s has quantity %q", name, q)
		}
		out[name] = n
	}
	return out
}

// fatalf saves the page and fails the test, naming the saved files.
func (tb *tab) fatalf(format string, args ...any) {
	tb.t.Helper()
	msg := fmt.Sprintf(format, args...)
	saved := tb.saveArtifacts("failure")
	tb.saved = true
	tb.t.Fatalf("%s (%s, on %s)\npage saved: %s", msg, tb.name, tb.lastPage(), saved)
}

// errorf saves the page and marks the test failed, naming the saved files.
func (tb *tab) errorf(format string, args ...any) {
	tb.t.Helper()
	msg := fmt.Sprintf(format, args...)
	saved := tb.saveArtifacts("failure")
	tb.saved = true
	tb.t.Errorf("%s (%s, on %s)\npage saved: %s", msg, tb.name, tb.lastPage(), saved)
}

// lastPage is the URL shown, for messages; it never fails.
func (tb *tab) lastPage() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 3*time.Second)
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "an unknown page"
	}
	return u
}

// artifactsDir is where a test's screenshots and pages go:
// test-artifacts/browser/<test name>/ at the repository root (git-ignored).
func artifactsDir(t *testing.T) string {
	dir := filepath.Join(repoRoot, "test-artifacts", "browser", safeName(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("artifacts: %v", err)
	}
	return dir
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(s string) string { return unsafeChars.ReplaceAllString(s, "_") }

// saveArtifacts writes a full-page screenshot and the page's HTML and
// returns their paths, relative to the repository root. It never fails the
// test itself: a browser that is gone is reported in the returned text.
func (tb *tab) saveArtifacts(why string) string {
	tb.shots++
	dir := artifactsDir(tb.t)
	stem := filepath.Join(dir, fmt.Sprintf("%s-%s-%d", safeName(tb.name), why, tb.shots))
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	var saved, problems []string
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		problems = append(problems, "screenshot: "+err.Error())
	} else if err := os.WriteFile(stem+".png", png, 0o644); err != nil {
		problems = append(problems, err.Error())
	} else {
		saved = append(saved, rel(stem+".png"))
	}
	if html, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.documentElement.outerHTML")); err != nil {
		problems = append(problems, "html: "+err.Error())
	} else if err := os.WriteFile(stem+".html", []byte("<!doctype html>\n"+html), 0o644); err != nil {
		problems = append(problems, err.Error())
	} else {
		saved = append(saved, rel(stem+".html"))
	}
	out := strings.Join(saved, " and ")
	if len(problems) > 0 {
		out += " (not saved: " + strings.Join(problems, "; ") + ")"
	}
	return out
}

func rel(p string) string {
	if r, err := filepath.Rel(repoRoot, p); err == nil {
		return r
	}
	return p
}
