package e2e_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// axeVersion is the axe-core release the browser tests check pages with;
// scripts/ensure-tools.sh installs the same one (TestAxeVersion).
const axeVersion = "4.14.1"

// axeDir is where scripts/ensure-tools.sh installs axe-core: SHOP_AXE_DIR,
// else ${XDG_CACHE_HOME:-~/.cache}/the-shop/axe-core@VERSION.
func axeDir() string {
	if d := os.Getenv("SHOP_AXE_DIR"); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "the-shop", "axe-core@"+axeVersion)
}

var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile(filepath.Join(axeDir(), "node_modules", "axe-core", "axe.min.js"))
	return string(b), err
})

// axeRun runs axe-core's WCAG 2.1 A and AA rules on the page and returns
// its violations as "id (impact): help: targets", serious and critical
// ones first.
const axeRun = `axe.run(document, {
	runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
	resultTypes: ['violations']
}).then(function (r) {
	var rank = {critical: 0, serious: 1, moderate: 2, minor: 3};
	return r.violations.sort(function (a, b) { return rank[a.impact] - rank[b.impact]; }).map(function (v) {
		return v.impact + '|' + v.id + ': ' + v.help + ': ' + v.nodes.slice(0, 3).map(function (n) { return n.target.join(' '); }).join('; ');
	});
})`

// axeViolations injects axe-core into the page (through DevTools, so the
// shop's Content-Security-Policy, which allows no inline script, does not
// apply), runs it, and returns the serious and critical violations and the
// others.
func axeViolations(tb *tab, name string) (bad, other []string) {
	tb.t.Helper()
	src, err := axeSource()
	if err != nil {
		tb.fatalf("the browser tests check every page with axe-core@%s from npm, and it is not in %s (%v): run scripts/ensure-tools.sh, which installs it there (SHOP_AXE_DIR chooses another place)", axeVersion, axeDir(), err)
	}
	if !run(tb, "look for axe", chromedp.Evaluate[bool](`typeof axe !== 'undefined'`)) {
		tb.do("inject axe-core", chromedp.Evaluate[chromedp.Void](src+"\n;undefined"))
	}
	for _, v := range run(tb, "run axe on "+name, chromedp.Evaluate[[]string](axeRun, chromedp.EvalAwaitPromise)) {
		impact, what, _ := strings.Cut(v, "|")
		if impact == "serious" || impact == "critical" {
			bad = append(bad, fmt.Sprintf("%s (%s)", what, impact))
		} else {
			other = append(other, fmt.Sprintf("%s (%s)", what, impact))
		}
	}
	return bad, other
}

// checkAccessibility fails the test on any serious or critical violation
// axe-core finds on the page, and logs the others.
func checkAccessibility(tb *tab, name string) {
	tb.t.Helper()
	bad, other := axeViolations(tb, name)
	for _, o := range other {
		tb.t.Logf("axe on %s: %s", name, o)
	}
	if len(bad) > 0 {
		tb.errorf("axe-core finds %d serious or critical problems on %s:\n  %s", len(bad), name, strings.Join(bad, "\n  "))
	}
}

// TestAxeVersion: the tests and scripts/ensure-tools.sh name the same
// axe-core release.
func TestAxeVersion(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot, "scripts", "ensure-tools.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\nAXE_VERSION="+axeVersion+"\n") {
		t.Errorf("scripts/ensure-tools.sh does not install axe-core %s (AXE_VERSION=%s)", axeVersion, axeVersion)
	}
}
