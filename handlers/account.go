package handlers

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/session"
	"github.com/the-shop/shop/internal/throttle"
	"github.com/the-shop/shop/views"
)

// accountHandler shows an account's live sessions, revokes them, and
// changes the password.
type accountHandler struct {
	*web
	accounts   *account.Service
	identities *account.Identities
	guard      *throttle.Guard
}

// newEpoch is the part of "sign out other sessions" and of a password
// change that ends the other sessions for sure: the account's session
// epoch has moved on (in the same statement as the new password), so every
// session and API token issued before fails its next check, even one a
// stale write or a restored backup puts back; this session carries the new
// epoch on. Deleting the others from the store (RevokeOthers) then only
// tidies up their list.
func (h *accountHandler) newEpoch(c echo.Context, uid, epoch int64) {
	h.identities.Forget(uid)
	sessionOf(c).SetEpoch(epoch)
}

// SessionsData is the Data of the "sessions" page.
type SessionsData struct {
	Sessions []SessionRow
}

// SessionRow is one live session as the page and the JSON show it.
type SessionRow struct {
	ID          string `json:"id"`
	Device      string `json:"device"`
	UserAgent   string `json:"user_agent"`
	IP          string `json:"ip"`
	CreatedISO  string `json:"created_at"`
	LastSeenISO string `json:"last_seen"`
	Created     string `json:"-"`
	LastSeen    string `json:"-"`
	Replica     string `json:"replica"`
	Current     bool   `json:"current"`
}

type sessionsJSON struct {
	Sessions []SessionRow `json:"sessions"`
}

// requireUser returns the signed-in account's id, or the login_required
// error that the error handler turns into a redirect to the login page.
func (w *web) requireUser(c echo.Context) (int64, error) {
	if uid := sessionOf(c).UserID(); uid != 0 {
		return uid, nil
	}
	return 0, errLoginRequired
}

var errLoginRequired = apperr.Unauthorized("login_required", "Please log in first.")

func (h *accountHandler) rows(c echo.Context) ([]SessionRow, error) {
	list, err := sessionOf(c).Sessions(c.Request().Context())
	if err != nil {
		return nil, err
	}
	now := time.Now()
	rows := make([]SessionRow, 0, len(list))
	for _, s := range list {
		rows = append(rows, SessionRow{
			ID:          s.ID,
			Device:      session.Device(s.UserAgent),
			UserAgent:   s.UserAgent,
			IP:          s.IP,
			CreatedISO:  s.CreatedAt.UTC().Format(time.RFC3339),
			LastSeenISO: s.LastSeen.UTC().Format(time.RFC3339),
			Created:     s.CreatedAt.UTC().Format("2 Jan 2006, 15:04 UTC"),
			LastSeen:    ago(now, s.LastSeen),
			Replica:     s.Replica,
			Current:     s.Current,
		})
	}
	return rows, nil
}

// ago says how long ago t was, in words.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return views.Plural(int(d.Minutes()), "minute", "minutes") + " ago"
	case d < 48*time.Hour:
		return views.Plural(int(d.Hours()), "hour", "hours") + " ago"
	default:
		return views.Plural(int(d.Hours()/24), "day", "days") + " ago"
	}
}

func (h *accountHandler) sessionsJSON(c echo.Context) func() (any, error) {
	return func() (any, error) {
		rows, err := h.rows(c)
		return sessionsJSON{Sessions: rows}, err
	}
}

// sessionsPage answers GET /account/sessions.
func (h *accountHandler) sessionsPage(c echo.Context) error {
	if _, err := h.requireUser(c); err != nil {
		return err
	}
	rows, err := h.rows(c)
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		return h.json(c, http.StatusOK, sessionsJSON{Sessions: rows})
	}
	p := h.newPage(c, "sessions", "Your sessions")
	p.Data = SessionsData{Sessions: rows}
	return h.html(c, http.StatusOK, p)
}

// revoke answers POST /account/sessions/:id/revoke.
func (h *accountHandler) revoke(c echo.Context) error {
	if _, err := h.requireUser(c); err != nil {
		return err
	}
	ctx := c.Request().Context()
	sess := sessionOf(c)
	current := false
	if list, err := sess.Sessions(ctx); err == nil {
		for _, s := range list {
			current = current || (s.Current && s.ID == c.Param("id"))
		}
	}
	if err := sess.Revoke(ctx, c.Param("id")); err != nil {
		return err
	}
	if current {
		return h.done(c, "/", "You have been logged out.", func() (any, error) { return sessionsJSON{Sessions: []SessionRow{}}, nil })
	}
	return h.done(c, "/account/sessions", "That device has been logged out.", h.sessionsJSON(c))
}

// revokeOthers answers POST /account/sessions/revoke-others.
func (h *accountHandler) revokeOthers(c echo.Context) error {
	if _, err := h.requireUser(c); err != nil {
		return err
	}
	uid := sessionOf(c).UserID()
	ctx := c.Request().Context()
	epoch, err := h.accounts.NewEpoch(ctx, uid)
	if err != nil {
		return err
	}
	h.newEpoch(c, uid, epoch)
	n, err := sessionOf(c).RevokeOthers(ctx)
	if err != nil {
		return err
	}
	return h.done(c, "/account/sessions", fmt.Sprintf("Logged out %s.", views.Plural(n, "other session", "other sessions")), h.sessionsJSON(c))
}

// passwordForm answers GET /account/password.
func (h *accountHandler) passwordForm(c echo.Context) error {
	if _, err := h.requireUser(c); err != nil {
		return err
	}
	return h.html(c, http.StatusOK, h.newPage(c, "password", "Change your password"))
}

// changePassword answers POST /account/password: a new password signs out
// every other session, and this one continues under a new token (a
// privilege change, so a token seen before it is worthless after it).
func (h *accountHandler) changePassword(c echo.Context) error {
	uid, err := h.requireUser(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	// The current-password check is a password guess like a login's, so it
	// is throttled like one (per account and per address).
	var epoch int64
	err = h.guard.CurrentPassword(ctx, c.RealIP(), uid, account.ErrWrongPassword, func() error {
		var err error
		epoch, err = h.accounts.ChangePassword(ctx, uid, c.FormValue("current_password"), c.FormValue("password"))
		return err
	})
	if err := retryAfter(c, err); err != nil {
		return h.formError(c, err, h.newPage(c, "password", "Change your password"), nil)
	}
	h.newEpoch(c, uid, epoch)
	sess := sessionOf(c)
	n, err := sess.RevokeOthers(ctx)
	if err != nil {
		return err
	}
	if err := sess.RenewToken(ctx); err != nil {
		return fmt.Errorf("renew session token after a password change: %w", err)
	}
	msg := "Your password has been changed."
	if n > 0 {
		msg += fmt.Sprintf(" %s logged out.", views.Plural(n, "other session", "other sessions"))
	}
	return h.done(c, "/account/sessions", msg, h.sessionsJSON(c))
}
