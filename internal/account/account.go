// Package account holds the shop's user accounts: sign-up, password checks
// and lookups, stored in PostgreSQL with bcrypt password hashes.
package account

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/platform/postgres"
)

// Password length limits. bcrypt reads at most 72 bytes, so longer
// passwords are refused rather than silently truncated.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 72
)

// ErrBadCredentials is the one answer to a wrong email or a wrong password,
// so that the login form does not tell which accounts exist.
var ErrBadCredentials = apperr.Unauthorized("invalid_credentials", "The email or password is not right.")

// ErrWrongPassword is the answer to a password change whose current
// password is not right.
var ErrWrongPassword = apperr.Invalid("wrong_password", "Please correct the fields below.",
	map[string]string{"current_password": "That is not your current password."})

// ErrNotFound is returned for an account id that does not exist.
var ErrNotFound = apperr.NotFound("account_not_found", "That account does not exist.")

// User is an account.
type User struct {
	ID int64
	// PublicID is random and never reused: it keys what the account owns
	// outside PostgreSQL (carts and session indexes in Redis), where a
	// serial ID could come back after the database is recreated.
	PublicID string
	// Epoch is the account's session epoch: sessions and API tokens carry
	// the epoch they were issued under and stop working when it moves on.
	Epoch     int64
	Email     string
	CreatedAt time.Time
	// VerifiedAt is when the owner followed a link mailed to Email (a
	// verification or a password reset); nil until then.
	VerifiedAt *time.Time
}

// Verified reports whether the account's email is known to reach its owner.
func (u User) Verified() bool { return u.VerifiedAt != nil }

// userColumns are the columns a User is read from, in fields' order.
const userColumns = `id, public_id::text, session_epoch, email, created_at, email_verified_at`

// fields are the scan targets of userColumns.
func (u *User) fields() []any {
	return []any{&u.ID, &u.PublicID, &u.Epoch, &u.Email, &u.CreatedAt, &u.VerifiedAt}
}

// Identity is what a session or API token issued to u now must carry.
func (u User) Identity() Identity { return Identity{ID: u.ID, PublicID: u.PublicID, Epoch: u.Epoch} }

// Service signs users up and checks their passwords.
type Service struct {
	db   *pgxpool.Pool
	cost int
	// dummyHash is compared against when the email is unknown, so that a
	// login for a missing account takes as long as one with a wrong password.
	dummyHash []byte
}

// NewService returns a Service that hashes new passwords with bcrypt cost.
func NewService(db *pgxpool.Pool, cost int) (*Service, error) {
	dummy, err := bcrypt.GenerateFromPassword([]byte("not a real password"), cost)
	if err != nil {
		return nil, fmt.Errorf("prepare password hashing: %w", err)
	}
	return &Service{db: db, cost: cost, dummyHash: dummy}, nil
}

// Credentials is what a user types to sign up or log in.
type Credentials struct {
	Email    string
	Password string
}

// normalize trims the email; the password is kept as typed.
func (c Credentials) normalize() Credentials {
	c.Email = strings.TrimSpace(c.Email)
	return c
}

// validate checks a sign-up form and returns every problem by field.
func (c Credentials) validate() error {
	fields := map[string]string{}
	if c.Email == "" {
		fields["email"] = "Enter your email address."
	} else if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email || !strings.Contains(c.Email, "@") || len(c.Email) > 254 {
		fields["email"] = "Enter a valid email address, like name@example.com."
	}
	switch n := utf8.RuneCountInString(c.Password); {
	case n == 0:
		fields["password"] = "Choose a password."
	case n < MinPasswordLen:
		fields["password"] = fmt.Sprintf("Use at least %d characters.", MinPasswordLen)
	case len(c.Password) > MaxPasswordLen:
		fields["password"] = tooLongMessage(len(c.Password))
	}
	if len(fields) > 0 {
		return apperr.Invalid("invalid_signup", "Please correct the fields below.", fields)
	}
	return nil
}

// tooLongMessage names the limit in bytes, since that is what bcrypt counts:
// a password of few characters can pass it when they are accented letters
// (2 bytes each), symbols like € (3) or emoji (4).
func tooLongMessage(n int) string {
	return fmt.Sprintf("Use at most %d bytes; this password has %d. Letters like é take 2 bytes, € takes 3 and emoji take 4.", MaxPasswordLen, n)
}

// comparePassword checks password against a bcrypt hash. bcrypt compares
// only the first 72 bytes, so a longer password, which no account can have
// (sign-up and change refuse them), would match on its first 72 bytes
// whatever its tail: it is refused, after the comparison all the same, so
// that its answer takes as long as any other and tells nothing.
func comparePassword(hash []byte, password string) error {
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	if len(password) > MaxPasswordLen {
		return bcrypt.ErrPasswordTooLong
	}
	return err
}

// Signup creates an account. A taken email (in any letter case) is a
// conflict on the email field.
func (s *Service) Signup(ctx context.Context, c Credentials) (User, error) {
	c = c.normalize()
	if err := c.validate(); err != nil {
		return User{}, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(c.Password), s.cost)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	var u User
	err = s.db.QueryRow(ctx,
		`INSERT INTO users (email, password_hash) VALUES ($1, $2) RETURNING `+userColumns,
		c.Email, string(hash),
	).Scan(u.fields()...)
	if postgres.UniqueViolation(err) {
		return User{}, apperr.Conflict("email_taken", "Please correct the fields below.",
			map[string]string{"email": "An account with this email already exists. Log in instead?"})
	}
	if err != nil {
		return User{}, postgres.Error("create user", err, nil)
	}
	return u, nil
}

// Authenticate returns the account whose email and password match, or
// ErrBadCredentials.
func (s *Service) Authenticate(ctx context.Context, c Credentials) (User, error) {
	c = c.normalize()
	if c.Email == "" || c.Password == "" {
		fields := map[string]string{}
		if c.Email == "" {
			fields["email"] = "Enter your email address."
		}
		if c.Password == "" {
			fields["password"] = "Enter your password."
		}
		return User{}, apperr.Invalid("invalid_login", "Please correct the fields below.", fields)
	}
	var u User
	var hash string
	err := s.db.QueryRow(ctx,
		`SELECT `+userColumns+`, password_hash FROM users WHERE lower(email) = lower($1)`,
		c.Email,
	).Scan(append(u.fields(), &hash)...)
	if err != nil {
		err = postgres.Error("find user", err, ErrBadCredentials)
		if errors.Is(err, ErrBadCredentials) {
			_ = bcrypt.CompareHashAndPassword(s.dummyHash, []byte(c.Password))
		}
		return User{}, err
	}
	if err := comparePassword([]byte(hash), c.Password); err != nil {
		return User{}, ErrBadCredentials
	}
	return u, nil
}

// Get returns the account with id, or ErrNotFound.
func (s *Service) Get(ctx context.Context, id int64) (User, error) {
	var u User
	err := s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id).Scan(u.fields()...)
	if err != nil {
		return User{}, postgres.Error(fmt.Sprintf("get user %d", id), err, ErrNotFound)
	}
	return u, nil
}

// ChangePassword replaces a user's password after checking the current one
// and returns the account's new session epoch. The new password and the
// new epoch are one statement: every session and API token issued before
// stops working at the very moment the new password does, so a failure
// never leaves the one without the other. A reset link mailed before
// stops working too.
func (s *Service) ChangePassword(ctx context.Context, userID int64, current, next string) (epoch int64, err error) {
	var hash string
	err = s.db.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, userID).Scan(&hash)
	if err != nil {
		return 0, postgres.Error(fmt.Sprintf("get user %d", userID), err, ErrNotFound)
	}
	if comparePassword([]byte(hash), current) != nil {
		return 0, ErrWrongPassword
	}
	if err := (Credentials{Email: "x@example.com", Password: next}).validate(); err != nil {
		return 0, err
	}
	newHash, err := bcrypt.GenerateFromPassword([]byte(next), s.cost)
	if err != nil {
		return 0, fmt.Errorf("hash password: %w", err)
	}
	err = s.db.QueryRow(ctx,
		`WITH t AS (DELETE FROM account_tokens WHERE user_id = $1 AND purpose = 'reset')
		UPDATE users SET password_hash = $2, session_epoch = session_epoch + 1 WHERE id = $1 RETURNING session_epoch`,
		userID, string(newHash)).Scan(&epoch)
	if err != nil {
		return 0, postgres.Error(fmt.Sprintf("change password of user %d", userID), err, ErrNotFound)
	}
	return epoch, nil
}

// NewEpoch moves the account's session epoch on, so that every session and
// API token issued before stops working ("sign out everywhere"), and
// returns the new epoch for the session that asked to carry on with.
func (s *Service) NewEpoch(ctx context.Context, userID int64) (int64, error) {
	var epoch int64
	err := s.db.QueryRow(ctx, `UPDATE users SET session_epoch = session_epoch + 1 WHERE id = $1 RETURNING session_epoch`, userID).
		Scan(&epoch)
	if err != nil {
		return 0, postgres.Error(fmt.Sprintf("new session epoch of user %d", userID), err, ErrNotFound)
	}
	return epoch, nil
}
