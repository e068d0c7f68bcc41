package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/the-shop/shop/internal/apperr"
)

// statuses maps each kind of domain error to its HTTP status: the one table
// that decides what a failure looks like on the wire.
var statuses = map[apperr.Kind]int{
	apperr.KindInternal:     http.StatusInternalServerError,
	apperr.KindInvalid:      http.StatusUnprocessableEntity,
	apperr.KindNotFound:     http.StatusNotFound,
	apperr.KindConflict:     http.StatusConflict,
	apperr.KindUnauthorized: http.StatusUnauthorized,
	apperr.KindForbidden:    http.StatusForbidden,
	apperr.KindUnavailable:  http.StatusServiceUnavailable,
	apperr.KindTooMany:      http.StatusTooManyRequests,
}

func statusOf(e *apperr.Error) int {
	if s, ok := statuses[e.Kind]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// httpErrors gives echo's own errors (unknown route, wrong method, body too
// large...) a code and a message fit for users.
var httpErrors = map[int]struct{ code, message string }{
	http.StatusBadRequest:            {"bad_request", "The request could not be understood."},
	http.StatusUnauthorized:          {"unauthorized", "Please log in."},
	http.StatusForbidden:             {"forbidden", "You are not allowed to do that."},
	http.StatusNotFound:              {"not_found", "We could not find that page."},
	http.StatusMethodNotAllowed:      {"method_not_allowed", "That action is not allowed here."},
	http.StatusRequestEntityTooLarge: {"request_too_large", "That request is too large."},
	http.StatusUnsupportedMediaType:  {"unsupported_media_type", "That kind of request body is not supported."},
	http.StatusTooManyRequests:       {"too_many_requests", "Too many requests. Please wait a moment and try again."},
	http.StatusServiceUnavailable:    {"temporarily_unavailable", "The shop is temporarily unavailable. Please try again in a moment."},
}

// classify turns any error into a status and a domain error with a safe
// message. The original error is kept as the cause for the log.
func classify(err error) (int, *apperr.Error) {
	if e := apperr.As(err); e != nil {
		return statusOf(e), e
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		kind := apperr.KindInternal
		for k, s := range statuses {
			if s == he.Code {
				kind = k
			}
		}
		m, ok := httpErrors[he.Code]
		if !ok {
			m = httpErrors[http.StatusBadRequest]
			if he.Code >= 500 {
				m.code, m.message = "internal_error", "Something went wrong on our side. Please try again."
			}
		}
		return he.Code, &apperr.Error{Kind: kind, Code: m.code, Message: m.message, Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable, &apperr.Error{Kind: apperr.KindUnavailable, Code: "timeout",
			Message: "That took too long. Please try again.", Err: err}
	}
	return http.StatusInternalServerError, &apperr.Error{Kind: apperr.KindInternal, Code: "internal_error",
		Message: "Something went wrong on our side. Please try again.", Err: err}
}

// errorBody is the JSON error format of docs/http.md.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// errorHandler is echo's HTTPErrorHandler: it logs server-side failures with
// the request id, and shows users the safe message as JSON or as a page.
func (w *web) errorHandler(logger *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, e := classify(err)
		rid := c.Response().Header().Get(echo.HeaderXRequestID)
		if status >= 500 {
			logger.Error("request failed", "status", status, "err", err, "request_id", rid,
				"method", c.Request().Method, "path", c.Request().URL.Path)
		}
		if (e == errLoginRequired || e == errSessionEnded) && !wantsJSON(c) && !isAPI(c) && sessionOf(c) != nil {
			// A guest on a page that needs an account goes to the login
			// form, and comes back to the page afterwards.
			if werr := w.toLogin(c, e == errLoginRequired); werr == nil {
				return
			}
		}
		// The session is saved before the error is written, like any other
		// response. The stores may be what failed: then the user keeps the
		// previous session state and still gets the error.
		if serr := w.save(c); serr != nil {
			logger.Error("save session before error response", "err", serr, "request_id", rid)
		}
		var werr error
		switch {
		case c.Request().Method == http.MethodHead:
			werr = c.NoContent(status)
		case wantsJSON(c) || isAPI(c):
			werr = c.JSON(status, errorBody{Error: errorDetail{Code: e.Code, Message: e.Message, Fields: e.Fields}})
		default:
			werr = w.errorPage(c, status, e.Message, rid)
		}
		if werr != nil {
			logger.Error("write error response", "err", werr, "request_id", rid)
		}
	}
}

// errorPage renders the error page without touching the stores, which may
// be what failed.
func (w *web) errorPage(c echo.Context, status int, message, requestID string) error {
	p := w.newPage(c, "error", http.StatusText(status))
	p.Data = ErrorData{Status: status, Message: message, RequestID: requestID}
	body, err := w.render.render(p)
	if err != nil {
		return c.String(status, message)
	}
	return c.HTMLBlob(status, body)
}

// toLogin sends a guest to the login form with a message, remembering the
// page to come back to (for a GET; after a POST, the page it came from is
// not known, so the catalog).
// first says whether the message is still to be queued (a session that
// was just ended has its own).
func (w *web) toLogin(c echo.Context, first bool) error {
	next := "/"
	if c.Request().Method == http.MethodGet {
		next = c.Request().URL.RequestURI()
	}
	if first {
		sessionOf(c).AddFlash("info", "Please log in first.")
	}
	return w.redirect(c, "/login?next="+url.QueryEscape(next))
}
