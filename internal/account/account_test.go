package account_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/testenv"
)

// newService returns a Service on a fresh database, hashing at bcrypt's
// minimum cost so the tests stay fast.
func newService(t *testing.T) (*account.Service, *pgxpool.Pool) {
	t.Helper()
	db := testenv.MustDatabase(t)
	svc, err := account.NewService(db, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return svc, db
}

func countUsers(t *testing.T, db *pgxpool.Pool, email string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM users WHERE lower(email) = lower($1)`, email).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSignupValidation(t *testing.T) {
	t.Parallel()
	svc, db := newService(t)
	tests := []struct {
		name       string
		email      string
		password   string
		wantFields []string
	}{
		{"RejectsEmptyEmail", "", "long enough password", []string{"email"}},
		{"RejectsBlankEmail", "   ", "long enough password", []string{"email"}},
		{"RejectsEmailWithoutAt", "not-an-email", "long enough password", []string{"email"}},
		{"RejectsEmailWithDisplayName", "Ann <ann@example.com>", "long enough password", []string{"email"}},
		{"RejectsEmailOver254Bytes", strings.Repeat("a", 250) + "@example.com", "long enough password", []string{"email"}},
		{"RejectsEmptyPassword", "empty-pw@example.com", "", []string{"password"}},
		{"RejectsShortPassword", "short-pw@example.com", "1234567", []string{"password"}},
		{"RejectsPasswordOver72Bytes", "long-pw@example.com", strings.Repeat("a", 73), []string{"password"}},
		// 37 two-byte runes: few characters but 74 bytes, past what bcrypt reads.
		{"RejectsMultibytePasswordOver72Bytes", "utf8-pw@example.com", strings.Repeat("é", 37), []string{"password"}},
		{"ReportsEveryField", "nope", "short", []string{"email", "password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := svc.Signup(context.Background(), account.Credentials{Email: tt.email, Password: tt.password})
			e := apperr.As(err)
			if e == nil || e.Kind != apperr.KindInvalid {
				t.Fatalf("Signup(%q, %d-byte password) error = %v, want an apperr of KindInvalid", tt.email, len(tt.password), err)
			}
			got := slices.Sorted(maps.Keys(e.Fields))
			if !slices.Equal(got, tt.wantFields) {
				t.Errorf("field errors = %v, want exactly %v", e.Fields, tt.wantFields)
			}
			for f, msg := range e.Fields {
				if msg == "" {
					t.Errorf("field %s has an empty message", f)
				}
			}
			if tt.email != "" && countUsers(t, db, strings.TrimSpace(tt.email)) != 0 {
				t.Errorf("a rejected signup created a user row for %q", tt.email)
			}
		})
	}
}

func TestSignup(t *testing.T) {
	t.Parallel()
	svc, db := newService(t)
	ctx := context.Background()

	t.Run("AcceptsBoundaryPasswords", func(t *testing.T) {
		t.Parallel()
		for _, pw := range []string{
			strings.Repeat("a", account.MinPasswordLen),
			strings.Repeat("b", account.MaxPasswordLen),
			strings.Repeat("é", account.MaxPasswordLen/2), // 72 bytes exactly
		} {
			email := testenv.RandomName("boundary") + "@example.com"
			if _, err := svc.Signup(ctx, account.Credentials{Email: email, Password: pw}); err != nil {
				t.Errorf("Signup with a %d-byte, %d-rune password: %v", len(pw), len([]rune(pw)), err)
			}
		}
	})

	t.Run("TrimsEmail", func(t *testing.T) {
		t.Parallel()
		u, err := svc.Signup(ctx, account.Credentials{Email: "  trim@example.com\t", Password: "password123"})
		if err != nil {
			t.Fatal(err)
		}
		var stored string
		if err := db.QueryRow(ctx, `SELECT email FROM users WHERE id = $1`, u.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if u.Email != "trim@example.com" || stored != "trim@example.com" {
			t.Errorf("email returned %q, stored %q; want trim@example.com", u.Email, stored)
		}
	})

	t.Run("RejectsDuplicateEmailInOtherCase", func(t *testing.T) {
		t.Parallel()
		if _, err := svc.Signup(ctx, account.Credentials{Email: "ann@example.com", Password: "password123"}); err != nil {
			t.Fatal(err)
		}
		_, err := svc.Signup(ctx, account.Credentials{Email: "ANN@Example.COM", Password: "another password"})
		e := apperr.As(err)
		if e == nil || e.Kind != apperr.KindConflict {
			t.Fatalf("second Signup error = %v, want an apperr of KindConflict", err)
		}
		if e.Fields["email"] == "" {
			t.Errorf("conflict has no email field error: %#v", e.Fields)
		}
		if got := countUsers(t, db, "ann@example.com"); got != 1 {
			t.Errorf("users with that email = %d, want 1", got)
		}
	})

	t.Run("StoresBcryptHashNotPassword", func(t *testing.T) {
		t.Parallel()
		const password = "correct horse battery"
		u, err := svc.Signup(ctx, account.Credentials{Email: "hash@example.com", Password: password})
		if err != nil {
			t.Fatal(err)
		}
		if u.ID == 0 || u.CreatedAt.IsZero() {
			t.Errorf("Signup returned %+v, want an id and a creation time", u)
		}
		var hash string
		if err := db.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, u.ID).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(hash, password) {
			t.Fatalf("stored password_hash contains the password: %q", hash)
		}
		if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)); err != nil {
			t.Errorf("stored hash %q is not a bcrypt hash of the password: %v", hash, err)
		}
		if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != bcrypt.MinCost {
			t.Errorf("bcrypt cost = %d, %v; want %d", cost, err, bcrypt.MinCost)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	ctx := context.Background()
	const email, password = "Bob@Example.com", "s3cret-password"
	user, err := svc.Signup(ctx, account.Credentials{Email: email, Password: password})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("AcceptsRightPasswordAnyEmailCase", func(t *testing.T) {
		t.Parallel()
		for _, e := range []string{email, "bob@example.com", "  BOB@EXAMPLE.COM "} {
			got, err := svc.Authenticate(ctx, account.Credentials{Email: e, Password: password})
			if err != nil {
				t.Errorf("Authenticate(%q): %v", e, err)
				continue
			}
			if got.ID != user.ID || got.Email != email {
				t.Errorf("Authenticate(%q) = user %d %q, want %d %q", e, got.ID, got.Email, user.ID, email)
			}
		}
	})

	t.Run("WrongPasswordAndUnknownEmailLookAlike", func(t *testing.T) {
		t.Parallel()
		_, wrongPw := svc.Authenticate(ctx, account.Credentials{Email: email, Password: "not-the-password"})
		_, unknown := svc.Authenticate(ctx, account.Credentials{Email: "nobody@example.com", Password: password})
		_, wrongCase := svc.Authenticate(ctx, account.Credentials{Email: email, Password: strings.ToUpper(password)})
		for name, err := range map[string]error{"wrong password": wrongPw, "unknown email": unknown, "password in wrong case": wrongCase} {
			if !errors.Is(err, account.ErrBadCredentials) {
				t.Errorf("%s: error = %v, want ErrBadCredentials", name, err)
			}
			if !apperr.IsKind(err, apperr.KindUnauthorized) {
				t.Errorf("%s: error kind is not KindUnauthorized: %v", name, err)
			}
		}
		a, b := apperr.As(wrongPw), apperr.As(unknown)
		if a == nil || b == nil {
			t.Fatalf("errors are not apperrs: %v, %v", wrongPw, unknown)
		}
		if a.Message != b.Message || a.Code != b.Code || wrongPw.Error() != unknown.Error() {
			t.Errorf("wrong password says %q (%s), unknown email says %q (%s): they must be the same",
				wrongPw.Error(), a.Message, unknown.Error(), b.Message)
		}
	})

	t.Run("RejectsEmptyFields", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name       string
			creds      account.Credentials
			wantFields []string
		}{
			{"EmptyEmail", account.Credentials{Password: password}, []string{"email"}},
			{"BlankEmail", account.Credentials{Email: "  ", Password: password}, []string{"email"}},
			{"EmptyPassword", account.Credentials{Email: email}, []string{"password"}},
			{"Both", account.Credentials{}, []string{"email", "password"}},
		}
		for _, tt := range tests {
			_, err := svc.Authenticate(ctx, tt.creds)
			e := apperr.As(err)
			if e == nil || e.Kind != apperr.KindInvalid {
				t.Errorf("%s: error = %v, want an apperr of KindInvalid", tt.name, err)
				continue
			}
			if got := slices.Sorted(maps.Keys(e.Fields)); !slices.Equal(got, tt.wantFields) {
				t.Errorf("%s: field errors = %v, want %v", tt.name, e.Fields, tt.wantFields)
			}
		}
	})

	t.Run("GetFindsUser", func(t *testing.T) {
		t.Parallel()
		got, err := svc.Get(ctx, user.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != user.ID || got.Email != email {
			t.Errorf("Get(%d) = %+v, want id %d email %q", user.ID, got, user.ID, email)
		}
	})

	t.Run("GetUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		_, err := svc.Get(ctx, user.ID+1000)
		if !errors.Is(err, account.ErrNotFound) || !apperr.IsKind(err, apperr.KindNotFound) {
			t.Errorf("Get(unknown) error = %v, want ErrNotFound", err)
		}
	})
}
