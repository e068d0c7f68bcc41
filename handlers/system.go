package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/the-shop/shop/internal/app"
)

// systemHandler answers health, readiness and the /session debug route.
type systemHandler struct {
	*web
	checks      []app.Check
	draining    *atomic.Bool
	idleTimeout time.Duration
	logger      *slog.Logger
}

// healthz answers GET /healthz: the process is up.
func (h *systemHandler) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok", "replica": h.replica})
}

// readyz answers GET /readyz: 200 when every dependency answers, else 503
// with the ones that did not (names only; errors go to the log).
func (h *systemHandler) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if h.draining != nil && h.draining.Load() {
		return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "draining", "replica": h.replica})
	}
	failing := []string{}
	for _, ch := range h.checks {
		if err := ch.Ping(ctx); err != nil {
			h.logger.WarnContext(c.Request().Context(), "readiness check failed", "check", ch.Name, "err", err)
			failing = append(failing, ch.Name)
		}
	}
	if len(failing) > 0 {
		return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "failing": failing, "replica": h.replica})
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "ready", "replica": h.replica})
}

// sessionJSON is the answer of GET /session. It never includes the token.
type sessionJSON struct {
	Store         string     `json:"store"`
	Replica       string     `json:"replica"`
	Exists        bool       `json:"exists"`
	Authenticated bool       `json:"authenticated"`
	RememberMe    bool       `json:"remember_me"`
	IdleTimeout   string     `json:"idle_timeout"`
	IdleExpiresAt *time.Time `json:"idle_expires_at,omitempty"`
	ExpiresAt     *time.Time `json:"absolute_expires_at,omitempty"`
}

// session answers GET /session, for debugging and workshops.
func (h *systemHandler) session(c echo.Context) error {
	// Save first, so the expiry shown is the one this request left.
	if err := h.save(c); err != nil {
		return err
	}
	s := sessionOf(c)
	v := sessionJSON{
		Store:         string(h.sessions.Kind()),
		Replica:       h.replica,
		Authenticated: s.UserID() != 0,
		RememberMe:    s.Remembered(),
		IdleTimeout:   h.idleTimeout.String(),
	}
	if idle, absolute := s.Expiry(); !idle.IsZero() {
		v.Exists = true
		v.IdleExpiresAt, v.ExpiresAt = &idle, &absolute
	}
	return h.json(c, http.StatusOK, v)
}
