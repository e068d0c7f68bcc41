package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/platform/postgres"
)

// Purpose is what an emailed token lets its holder do.
type Purpose string

// The purposes of emailed tokens.
const (
	PurposeReset  Purpose = "reset"
	PurposeVerify Purpose = "verify"
)

// How long emailed tokens stay valid.
const (
	ResetTokenTTL  = time.Hour
	VerifyTokenTTL = 72 * time.Hour
)

// ErrBadResetToken answers a password reset whose link is unknown, used,
// replaced by a newer one or expired: one answer for all, as a stranger
// learns nothing from which.
var ErrBadResetToken = apperr.Invalid("invalid_reset_token",
	"This reset link is not valid any more: it was used, replaced by a newer one or is older than an hour. Ask for a new one.", nil)

// ErrBadVerifyToken answers an email verification whose link is unknown,
// used, replaced or expired.
var ErrBadVerifyToken = apperr.Invalid("invalid_verify_token",
	"This verification link is not valid any more. Sign in and send a new one from your account page.", nil)

// hashToken is what the database keeps of a token: a copy of the table
// lets nobody use one. Tokens are 256 random bits, so a plain SHA-256 is
// enough (no guessing to slow down).
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// IssueToken makes a new token of purpose for the account and returns it;
// it replaces the account's previous token of that purpose (one live
// token per account), so only the newest mailed link works.
func (s *Service) IssueToken(ctx context.Context, userID int64, p Purpose) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	ttl := ResetTokenTTL
	if p == PurposeVerify {
		ttl = VerifyTokenTTL
	}
	_, err := s.db.Exec(ctx, `INSERT INTO account_tokens (token_hash, user_id, purpose, expires_at)
		VALUES ($1, $2, $3, now() + make_interval(secs => $4))
		ON CONFLICT (user_id, purpose) DO UPDATE
		SET token_hash = EXCLUDED.token_hash, expires_at = EXCLUDED.expires_at, created_at = now()`,
		hashToken(token), userID, string(p), ttl.Seconds())
	if err != nil {
		return "", postgres.Error(fmt.Sprintf("issue %s token of user %d", p, userID), err, nil)
	}
	return token, nil
}

// CheckToken reports whether token is live for purpose, without using it
// (the reset page checks the link before it asks for a password).
func (s *Service) CheckToken(ctx context.Context, token string, p Purpose) (bool, error) {
	var ok bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM account_tokens
		WHERE token_hash = $1 AND purpose = $2 AND expires_at > now())`, hashToken(token), string(p)).Scan(&ok)
	return ok, postgres.Error("check token", err, nil)
}

// FindByEmail returns the account with email (any letter case), or
// ErrNotFound.
func (s *Service) FindByEmail(ctx context.Context, email string) (User, error) {
	var u User
	err := s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE lower(email) = lower($1)`, email).
		Scan(u.fields()...)
	if err != nil {
		return User{}, postgres.Error("find user by email", err, ErrNotFound)
	}
	return u, nil
}

// ResetPassword sets a new password with a reset token and returns the
// account, with its new session epoch. One transaction uses up the token
// (a second use, concurrent or later, finds nothing), replaces the
// password, moves the session epoch on (every session and API token issued
// before stops working at that moment) and marks the email verified (the
// link proved it reaches its owner).
func (s *Service) ResetPassword(ctx context.Context, token, password string) (User, error) {
	if err := (Credentials{Email: "x@example.com", Password: password}).validate(); err != nil {
		return User{}, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	var u User
	err = s.db.QueryRow(ctx, `WITH t AS (
			DELETE FROM account_tokens WHERE token_hash = $1 AND purpose = 'reset' AND expires_at > now()
			RETURNING user_id)
		UPDATE users SET password_hash = $2, session_epoch = session_epoch + 1,
			email_verified_at = coalesce(email_verified_at, now())
		WHERE id = (SELECT user_id FROM t)
		RETURNING `+userColumns, hashToken(token), string(hash)).Scan(u.fields()...)
	if err != nil {
		return User{}, postgres.Error("reset password", err, ErrBadResetToken)
	}
	return u, nil
}

// VerifyEmail uses a verification token and marks its account's email
// verified.
func (s *Service) VerifyEmail(ctx context.Context, token string) (User, error) {
	var u User
	err := s.db.QueryRow(ctx, `WITH t AS (
			DELETE FROM account_tokens WHERE token_hash = $1 AND purpose = 'verify' AND expires_at > now()
			RETURNING user_id)
		UPDATE users SET email_verified_at = coalesce(email_verified_at, now())
		WHERE id = (SELECT user_id FROM t)
		RETURNING `+userColumns, hashToken(token)).Scan(u.fields()...)
	if err != nil {
		return User{}, postgres.Error("verify email", err, ErrBadVerifyToken)
	}
	return u, nil
}

// DeleteExpiredTokens removes expired tokens from db, at most limit (the
// cleanup job).
func DeleteExpiredTokens(ctx context.Context, db *pgxpool.Pool, limit int) (int64, error) {
	tag, err := db.Exec(ctx, `DELETE FROM account_tokens WHERE token_hash IN (
		SELECT token_hash FROM account_tokens WHERE expires_at < now() LIMIT $1)`, limit)
	if err != nil {
		return 0, postgres.Error("delete expired account tokens", err, nil)
	}
	return tag.RowsAffected(), nil
}

// Delete removes the account after checking its password, in one
// transaction: the orders stay, anonymized (their user_id becomes NULL by
// the foreign key's ON DELETE SET NULL), the tokens go with the account,
// and the row's deletion is what ends every session and API token (they
// are refused once their account is gone; the trigger of migration 00008
// tells every replica at once). The caller then tidies what lives outside
// PostgreSQL (sessions, the cart in Redis). It returns the deleted
// account.
func (s *Service) Delete(ctx context.Context, userID int64, password string) (User, error) {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return User{}, postgres.Error("delete account", err, nil)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	var u User
	var hash string
	// FOR UPDATE: a password change or reset running at the same time
	// waits, so the password checked is the one the account has.
	err = tx.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE id = $1 FOR UPDATE`, userID).
		Scan(append(u.fields(), &hash)...)
	if err != nil {
		return User{}, postgres.Error(fmt.Sprintf("get user %d", userID), err, ErrNotFound)
	}
	if comparePassword([]byte(hash), password) != nil {
		return User{}, ErrWrongPasswordToDelete
	}
	if _, err := tx.Exec(ctx, `DELETE FROM carts WHERE key = $1`, "a:"+u.PublicID); err != nil {
		return User{}, postgres.Error("delete account cart", err, nil)
	}
	// The orders stay (bookkeeping) without whom they went to: the
	// address copy goes, and the account reference with the row below
	// (ON DELETE SET NULL); the saved address cascades with the account.
	if _, err := tx.Exec(ctx, `UPDATE orders SET ship_to = NULL WHERE user_id = $1`, userID); err != nil {
		return User{}, postgres.Error("anonymize the account's orders", err, nil)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, userID); err != nil {
		return User{}, postgres.Error(fmt.Sprintf("delete user %d", userID), err, nil)
	}
	if err := tx.Commit(ctx); err != nil {
		return User{}, postgres.Error("delete account", err, nil)
	}
	return u, nil
}

// ErrWrongPasswordToDelete answers a deletion with the wrong password.
var ErrWrongPasswordToDelete = apperr.Invalid("wrong_password", "Please correct the fields below.",
	map[string]string{"password": "That is not your password."})

// IsBadToken reports whether err is the answer to an unusable emailed
// token.
func IsBadToken(err error) bool {
	return errors.Is(err, ErrBadResetToken) || errors.Is(err, ErrBadVerifyToken)
}
