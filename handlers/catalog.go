package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/the-shop/shop/internal/catalog"
)

// catalogHandler shows the products.
type catalogHandler struct {
	*web
	products *catalog.Cache
}

// catalogJSON is the JSON of GET / (with "query" for a search).
type catalogJSON struct {
	Query    string            `json:"query,omitempty"`
	Products []catalog.Product `json:"products"`
}

func (h *catalogHandler) catalogJSON(ctx context.Context) (any, error) {
	ps, err := h.products.List(ctx)
	if err != nil {
		return nil, err
	}
	if ps == nil {
		ps = []catalog.Product{}
	}
	return catalogJSON{Products: ps}, nil
}

// list answers GET / and GET /?q=words (a search of the catalog).
func (h *catalogHandler) list(c echo.Context) error {
	ctx := c.Request().Context()
	q := strings.TrimSpace(c.QueryParam("q"))
	ps, err := h.products.Search(ctx, q)
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []catalog.Product{}
	}
	if wantsJSON(c) {
		return h.json(c, http.StatusOK, catalogJSON{Query: q, Products: ps})
	}
	title := "Catalog"
	if q != "" {
		title = fmt.Sprintf("Search: %s", q)
	}
	p := h.newPage(c, "catalog", title)
	p.Data = CatalogData{Products: ps, Query: q}
	return h.html(c, http.StatusOK, p)
}

// show answers GET /products/:id.
func (h *catalogHandler) show(c echo.Context) error {
	id, err := parsePathID(c, "id")
	if err != nil {
		return err
	}
	prod, err := h.products.Get(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		return h.json(c, http.StatusOK, prod)
	}
	return h.html(c, http.StatusOK, h.productPage(c, prod))
}

func (h *catalogHandler) productPage(c echo.Context, prod catalog.Product) Page {
	p := h.newPage(c, "product", prod.Name)
	p.Data = ProductData{Product: prod}
	return p
}
