package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/session"
	"github.com/the-shop/shop/views"
)

// forgotMessage is the one answer to a reset request, whether or not the
// email has an account, so the form does not tell who shops here.
const forgotMessage = "If an account exists for that email, a link to choose a new password is on its way. It works once, within an hour."

type messageJSON struct {
	Message string `json:"message"`
}

// forgotForm answers GET /password/forgot.
func (h *authHandler) forgotForm(c echo.Context) error {
	return h.html(c, http.StatusOK, h.newPage(c, "forgot", "Reset your password"))
}

// forgot answers POST /password/forgot: mails a reset link to the account
// of the email, if there is one; the answer is the same either way.
func (h *authHandler) forgot(c echo.Context) error {
	ctx := c.Request().Context()
	email := strings.TrimSpace(c.FormValue("email"))
	page := func() Page { return h.newPage(c, "forgot", "Reset your password") }
	if email == "" {
		return h.formError(c, apperr.Invalid("invalid_email", "Please correct the fields below.",
			map[string]string{"email": "Enter your email address."}), page(), nil)
	}
	if h.resetsPerIP != nil {
		wait, err := h.resetsPerIP.Allow(ctx, "reset-ip:"+c.RealIP())
		if err != nil {
			if e := apperr.As(err); e != nil && e.Kind == apperr.KindTooMany {
				e = apperr.TooMany("too_many_reset_requests",
					fmt.Sprintf("Too many password reset requests from your network. Please try again in %s.", views.Plural(int(wait.Minutes())+1, "minute", "minutes")))
				e.RetryAfter = wait
				err = e
			}
			return h.formError(c, retryAfter(c, err), page(), map[string]string{"email": email})
		}
	}
	u, err := h.accounts.FindByEmail(ctx, email)
	switch {
	case errors.Is(err, account.ErrNotFound):
		// Nothing to send; the same answer as when there is.
	case err != nil:
		return err
	default:
		if err := h.sendReset(c, u); err != nil {
			return err
		}
	}
	return h.done(c, "/login", forgotMessage, func() (any, error) { return messageJSON{Message: forgotMessage}, nil })
}

// sendReset issues the account's reset token (replacing any earlier one)
// and queues the mail, unless the account has had its share of reset
// mails this hour: then nothing happens, silently, since a visible refusal
// would tell that the account exists.
func (h *authHandler) sendReset(c echo.Context, u account.User) error {
	ctx := c.Request().Context()
	if h.resetMails != nil {
		if _, err := h.resetMails.Allow(ctx, "reset-acct:"+u.PublicID); err != nil {
			if apperr.IsKind(err, apperr.KindTooMany) {
				return nil
			}
			return err
		}
	}
	token, err := h.accounts.IssueToken(ctx, u.ID, account.PurposeReset)
	if err != nil {
		return err
	}
	return h.mails.send(ctx, mailPasswordReset, u.Email, mailData{
		Email: u.Email, Link: h.mails.link("/password/reset", url.Values{"token": {token}}),
	})
}

// resetForm answers GET /password/reset?token=: the form for a new
// password, or, for a link that is no longer good, the page that says so
// and offers a new one. The token is not used up here (a mail scanner that
// opens links must not spend it).
func (h *authHandler) resetForm(c echo.Context) error {
	token := c.QueryParam("token")
	p := h.newPage(c, "reset", "Choose a new password")
	ok, err := h.accounts.CheckToken(c.Request().Context(), token, account.PurposeReset)
	if err != nil {
		return err
	}
	if !ok {
		return h.formError(c, badTokenField(account.ErrBadResetToken), p, map[string]string{"token": token})
	}
	p.Form = &Form{Values: map[string]string{"token": token}}
	return h.html(c, http.StatusOK, p)
}

// reset answers POST /password/reset: with a live token it sets the new
// password, which ends every session and API token of the account (the
// session epoch moves in the same statement), and signs this browser in
// with a fresh session.
func (h *authHandler) reset(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.FormValue("token")
	page := h.newPage(c, "reset", "Choose a new password")
	err := retryAfter(c, h.guard.Hashing(ctx, c.RealIP(), 1))
	var u account.User
	if err == nil {
		u, err = h.accounts.ResetPassword(ctx, token, c.FormValue("password"))
	}
	if err != nil {
		if errors.Is(err, account.ErrBadResetToken) {
			return h.formError(c, badTokenField(err), page, map[string]string{"token": token})
		}
		return h.formError(c, err, page, map[string]string{"token": token})
	}
	h.identities.Forget(u.ID)
	// The other sessions are refused already (their epoch is old); this
	// takes them off the account's list too. A failure here leaves them
	// listed until they expire, never usable.
	n, err := sessionOf(c).RevokeAll(ctx, u.Identity())
	if err != nil {
		h.logger.WarnContext(ctx, "tidy sessions after a password reset", "err", err)
	}
	if err := h.startSession(c, u, false); err != nil {
		return err
	}
	if err := rememberDevice(c, h.guard, u.Email, h.secureCookies); err != nil {
		return err
	}
	msg := "Your password has been reset and you are signed in."
	if n > 0 {
		msg += fmt.Sprintf(" %s signed out.", views.Plural(n, "other session", "other sessions"))
	}
	return h.done(c, "/account/sessions", msg, func() (any, error) { return messageJSON{Message: msg}, nil })
}

// badTokenField marks a token error as the token's, so the page shows the
// "send me a new link" button instead of the form.
func badTokenField(err error) error {
	e := *apperr.As(err)
	e.Fields = map[string]string{"token": e.Message}
	return &e
}

// verify answers GET /account/verify?token=: the link of a verification
// mail. It works signed in or not (the link may be opened in another
// browser); a link that is no longer good says so.
func (h *authHandler) verify(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := h.accounts.VerifyEmail(ctx, c.QueryParam("token"))
	target := "/"
	if sessionOf(c).UserID() != 0 {
		target = "/account/sessions"
	}
	if errors.Is(err, account.ErrBadVerifyToken) {
		if wantsJSON(c) {
			return err
		}
		sessionOf(c).AddFlash("error", apperr.As(err).Message)
		return h.redirect(c, target)
	}
	if err != nil {
		return err
	}
	msg := "Thank you: " + u.Email + " is confirmed."
	return h.done(c, target, msg, func() (any, error) { return messageJSON{Message: msg}, nil })
}

// resendVerify answers POST /account/verify/resend: a new verification
// link (the old one stops working), at most PASSWORD_RESETS_PER_HOUR an
// hour, shared with reset mails.
func (h *authHandler) resendVerify(c echo.Context) error {
	uid, err := h.requireUser(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u, err := h.accounts.Get(ctx, uid)
	if err != nil {
		return err
	}
	msg := "Your email address is confirmed already."
	if !u.Verified() {
		if h.resetMails != nil {
			if _, err := h.resetMails.Allow(ctx, "reset-acct:"+u.PublicID); err != nil {
				return retryAfter(c, err)
			}
		}
		if err := h.sendVerify(c, u); err != nil {
			return err
		}
		msg = "A new link is on its way to " + u.Email + "."
	}
	return h.done(c, "/account/sessions", msg, func() (any, error) { return messageJSON{Message: msg}, nil })
}

// sendVerify issues the account's verification token and queues the mail.
func (h *authHandler) sendVerify(c echo.Context, u account.User) error {
	ctx := c.Request().Context()
	token, err := h.accounts.IssueToken(ctx, u.ID, account.PurposeVerify)
	if err != nil {
		return err
	}
	return h.mails.send(ctx, mailVerifyEmail, u.Email, mailData{
		Email: u.Email, Link: h.mails.link("/account/verify", url.Values{"token": {token}}),
	})
}

// newDevice tells the owner of u that a browser without the account's
// device cookie (device, as the request sent it) signed in. Browsers that
// signed in to the account before hold a valid token of it; with device
// cookies off (LOGIN_MAX_FAILURES_PER_DEVICE=0) no browser can be told
// apart, and no mail goes.
func (h *authHandler) newDevice(c echo.Context, u account.User, device string) {
	d := h.guard.Devices()
	if d == nil || d.Known(device, u.Email) {
		return
	}
	h.mails.sendLater(c.Request().Context(), mailNewDevice, u.Email, mailData{
		Email: u.Email, Link: h.mails.link("/account/sessions", nil),
		Device: session.Device(c.Request().UserAgent()), Time: mailTime(time.Now()), IP: c.RealIP(),
	})
}
