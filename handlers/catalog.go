package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/the-shop/shop/internal/catalog"
)

// catalogHandler shows the products.
type catalogHandler struct {
	*web
	products *catalog.Cache
}

// catalogJSON is the JSON of GET /.
type catalogJSON struct {
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

// list answers GET /.
func (h *catalogHandler) list(c echo.Context) error {
	ctx := c.Request().Context()
	if wantsJSON(c) {
		v, err := h.catalogJSON(ctx)
		if err != nil {
			return err
		}
		return h.json(c, http.StatusOK, v)
	}
	ps, err := h.products.List(ctx)
	if err != nil {
		return err
	}
	p := h.newPage(c, "catalog", "Catalog")
	p.Data = CatalogData{Products: ps}
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
