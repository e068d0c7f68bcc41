package handlers

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/cart"
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
	// Email and Verified: the account's address and whether its owner
	// confirmed it.
	Email    string
	Verified bool
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
	// EmailVerified is set on GET /account/sessions only.
	EmailVerified *bool `json:"email_verified,omitempty"`
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
	uid, err := h.requireUser(c)
	if err != nil {
		return err
	}
	rows, err := h.rows(c)
	if err != nil {
		return err
	}
	u, err := h.accounts.Get(c.Request().Context(), uid)
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		v := u.Verified()
		return h.json(c, http.StatusOK, sessionsJSON{Sessions: rows, EmailVerified: &v})
	}
	p := h.newPage(c, "sessions", "Your sessions")
	p.Data = SessionsData{Sessions: rows, Email: u.Email, Verified: u.Verified()}
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

// deleteForm answers GET /account/delete.
func (h *accountHandler) deleteForm(c echo.Context) error {
	if _, err := h.requireUser(c); err != nil {
		return err
	}
	return h.html(c, http.StatusOK, h.newPage(c, "delete", "Delete your account"))
}

// deleteAccount answers POST /account/delete: with the right password
// (throttled like a password change's current password), the account
// goes, and with it every session, API token and cart; its orders stay,
// anonymized.
//
// The order is what makes it safe without one transaction across
// PostgreSQL and Redis. First one PostgreSQL transaction checks the
// password, deletes the account's PostgreSQL cart, anonymizes its orders
// and deletes the account row: from its commit on, every session and API
// token of the account is refused on every replica (the account is gone;
// the row's trigger tells the replicas' identity caches at once), so
// nothing later can act for the account. Only then is the rest tidied,
// outside the transaction: the other sessions and this one are deleted and
// the cart in Redis cleared. If a tidy step fails, what it leaves is
// unreachable (refused sessions; a cart keyed by the deleted account's
// random public id, which no new account gets) and expires on its own.
// The other order would be unsafe: sessions ended first and a failing
// delete would leave the owner signed out of an account that still exists,
// which is harmless, but a cart cleared first and the deletion then
// refused (a wrong password raced with a password change) would lose the
// cart of an account that stays.
func (h *accountHandler) deleteAccount(c echo.Context) error {
	uid, err := h.requireUser(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var u account.User
	err = h.guard.CurrentPassword(ctx, c.RealIP(), uid, account.ErrWrongPasswordToDelete, func() error {
		var err error
		u, err = h.accounts.Delete(ctx, uid, c.FormValue("password"))
		return err
	})
	if err := retryAfter(c, err); err != nil {
		return h.formError(c, err, h.newPage(c, "delete", "Delete your account"), nil)
	}
	h.identities.Forget(uid)
	sess := sessionOf(c)
	if _, err := sess.RevokeOthers(ctx); err != nil {
		h.logger.WarnContext(ctx, "tidy sessions of a deleted account", "err", err)
	}
	if err := h.carts.Clear(ctx, cart.AccountKey(u.PublicID)); err != nil {
		h.logger.WarnContext(ctx, "clear the cart of a deleted account", "err", err)
	}
	if err := sess.Logout(ctx); err != nil {
		return err
	}
	msg := "Your account has been deleted. Thank you for shopping with us."
	return h.done(c, "/", msg, func() (any, error) { return messageJSON{Message: msg}, nil })
}
