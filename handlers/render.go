package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/the-shop/shop/static"
	"github.com/the-shop/shop/views"
)

// pageNames are the templates under views/pages.
var pageNames = []string{"catalog", "product", "cart", "login", "signup", "error", "sessions", "password", "orders", "order", "forgot", "reset", "delete", "checkout", "review"}

// renderer holds the parsed templates, one set per page, parsed once at
// start so that a broken template stops the start instead of a request.
type renderer struct {
	pages  map[string]*template.Template
	assets *assets
}

func newRenderer(a *assets) (*renderer, error) {
	base, err := template.New("").Funcs(views.Funcs(a.URL)).ParseFS(views.FS, "layouts/*.html", "partials/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse layouts: %w", err)
	}
	r := &renderer{pages: map[string]*template.Template{}, assets: a}
	for _, name := range pageNames {
		t, err := template.Must(base.Clone()).ParseFS(views.FS, "pages/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		r.pages[name] = t
	}
	return r, nil
}

// render executes a page into a buffer, so that a template error becomes a
// 500 instead of half a page behind a 200.
func (r *renderer) render(p Page) ([]byte, error) {
	t, ok := r.pages[p.Name]
	if !ok {
		return nil, fmt.Errorf("no page template %q", p.Name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "base", p); err != nil {
		return nil, fmt.Errorf("render page %s: %w", p.Name, err)
	}
	return buf.Bytes(), nil
}

// assets serves the embedded static files under content-hashed names
// ("/static/css/shop.3f2a9c1b.css"), the same on every replica, so they can
// be cached for a year by browsers and nginx.
type assets struct {
	byURL  map[string]string // hashed URL path → file path in static.FS
	byName map[string]string // file path → hashed URL
}

func newAssets() (*assets, error) {
	a := &assets{byURL: map[string]string{}, byName: map[string]string{}}
	err := fs.WalkDir(static.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static.FS, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ext := path.Ext(p)
		hashed := "/static/" + strings.TrimSuffix(p, ext) + "." + hex.EncodeToString(sum[:4]) + ext
		a.byURL[hashed] = p
		a.byName[p] = hashed
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hash static files: %w", err)
	}
	return a, nil
}

// URL returns the hashed URL of a static file; an unknown name yields a URL
// that 404s, which the template tests catch.
func (a *assets) URL(name string) string {
	if u, ok := a.byName[strings.TrimPrefix(name, "/")]; ok {
		return u
	}
	return "/static/missing/" + name
}

// serve answers GET /static/*.
func (a *assets) serve(c echo.Context) error {
	name, ok := a.byURL[c.Request().URL.Path]
	if !ok {
		return echo.ErrNotFound
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeFileFS(c.Response(), c.Request(), static.FS, name)
	return nil
}
