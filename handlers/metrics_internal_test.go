package handlers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// TestLogLinesCarryRequestID: whatever a request logs with its context
// names its request id, once, whether the id came from nginx or was made
// here.
func TestLogLinesCarryRequestID(t *testing.T) {
	var buf bytes.Buffer
	logger := logWithRequestID(slog.New(slog.NewJSONHandler(&buf, nil)))
	e := echo.New()
	e.Use(middleware.RequestIDWithConfig(middleware.RequestIDConfig{Generator: newRequestID}), requestIDContext)
	e.GET("/", func(c echo.Context) error {
		ctx := c.Request().Context()
		logger.InfoContext(ctx, "inside the handler")
		logger.With("area", "cart").WarnContext(ctx, "with attributes")
		logger.InfoContext(ctx, "explicit", "request_id", c.Response().Header().Get(echo.HeaderXRequestID))
		return c.NoContent(http.StatusOK)
	})
	for _, incoming := range []string{"from-nginx-42", ""} {
		buf.Reset()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if incoming != "" {
			req.Header.Set(echo.HeaderXRequestID, incoming)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		rid := rec.Header().Get(echo.HeaderXRequestID)
		if rid == "" || (incoming != "" && rid != incoming) {
			t.Fatalf("response X-Request-ID = %q (incoming %q)", rid, incoming)
		}
		lines := 0
		sc := bufio.NewScanner(&buf)
		for sc.Scan() {
			lines++
			if bytes.Count(sc.Bytes(), []byte(`"request_id"`)) != 1 {
				t.Errorf("want request_id once: %s", sc.Bytes())
			}
			var v map[string]any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil || v["request_id"] != rid {
				t.Errorf("line without request id %q: %s", rid, sc.Bytes())
			}
		}
		if lines != 3 {
			t.Errorf("%d log lines, want 3", lines)
		}
	}
	// Outside a request nothing is added.
	buf.Reset()
	logger.Info("startup")
	if bytes.Contains(buf.Bytes(), []byte("request_id")) {
		t.Errorf("a line outside any request got a request id: %s", buf.Bytes())
	}
}
