package e2e_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// pageAssets are the files a page makes a browser fetch: its stylesheet,
// scripts, icon and images.
var pageAssets = regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`)

// TestFirstVisitIsCompressed: nginx compresses HTML, CSS and JavaScript
// (and JSON and SVG), so a first visit to the catalog, page and every file
// it loads, costs far fewer bytes on the wire. It logs both weights.
func TestFirstVisitIsCompressed(t *testing.T) {
	t.Parallel()
	c := startCluster(t, clusterOptions{Store: "redis", Replicas: 1})
	// DisableCompression: the client neither asks for gzip by itself nor
	// unpacks it, so the sizes read are the sizes sent.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	get := func(path string, gzip bool) (body []byte, encoding string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, c.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if gzip {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d, %v", path, res.StatusCode, err)
		}
		return b, res.Header.Get("Content-Encoding")
	}

	page, _ := get("/", false)
	paths := []string{"/"}
	seen := map[string]bool{}
	for _, m := range pageAssets.FindAllStringSubmatch(string(page), -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			paths = append(paths, m[1])
		}
	}
	var plain, sent int
	for _, p := range paths {
		raw, _ := get(p, false)
		gz, enc := get(p, true)
		plain += len(raw)
		sent += len(gz)
		compressible := p == "/" || strings.HasSuffix(p, ".css") || strings.HasSuffix(p, ".js") || strings.HasSuffix(p, ".svg")
		if compressible && len(raw) >= 1024 && enc != "gzip" {
			t.Errorf("GET %s (%d bytes) was sent without gzip", p, len(raw))
		}
	}
	t.Logf("first catalog visit, %d files: %.1f KB uncompressed, %.1f KB with gzip (%.0f%%)",
		len(paths), float64(plain)/1024, float64(sent)/1024, 100*float64(sent)/float64(plain))
	if sent*2 > plain {
		t.Errorf("a first visit sends %d of %d bytes: want gzip to halve it at least", sent, plain)
	}
}
