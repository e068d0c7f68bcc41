package account_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/testenv"
)

// TestPasswordsOverBcryptsLimit: bcrypt reads 72 bytes and ignores the
// rest, so a password longer than that is refused at sign-up and at a
// change with a message that names the limit in bytes, and a login or a
// current-password check with a tail appended to a 72-byte password is
// not let in on the 72 bytes bcrypt compares.
func TestPasswordsOverBcryptsLimit(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	ctx := context.Background()
	euro72 := strings.Repeat("€", 24) // 24 runes, 72 bytes: the most bcrypt reads
	email := testenv.RandomName("long") + "@example.com"
	u, err := svc.Signup(ctx, account.Credentials{Email: email, Password: euro72})
	if err != nil {
		t.Fatalf("a 72-byte multi-byte password was refused: %v", err)
	}

	tooLong := map[string]string{
		"25EuroSigns":           strings.Repeat("€", 25),       // 25 characters, 75 bytes
		"71BytesAndARune":       strings.Repeat("a", 71) + "€", // the last rune straddles the limit
		"19Emoji":               strings.Repeat("🔒", 19),       // 19 characters, 76 bytes
		"72BytesAndASpace":      euro72 + " ",                  // 73 bytes
		"StoredPasswordAndTail": euro72 + "anything at all",
	}
	for name, pw := range tooLong {
		t.Run("SignupRefuses"+name, func(t *testing.T) {
			_, err := svc.Signup(ctx, account.Credentials{Email: testenv.RandomName("s") + "@example.com", Password: pw})
			e := apperr.As(err)
			if e == nil || e.Kind != apperr.KindInvalid || !strings.Contains(e.Fields["password"], "72 bytes") {
				t.Fatalf("Signup with %d bytes = %v, want a password field error naming 72 bytes", len(pw), err)
			}
		})
		t.Run("ChangeRefuses"+name, func(t *testing.T) {
			_, err := svc.ChangePassword(ctx, u.ID, euro72, pw)
			e := apperr.As(err)
			if e == nil || e.Kind != apperr.KindInvalid || !strings.Contains(e.Fields["password"], "72 bytes") {
				t.Fatalf("ChangePassword to %d bytes = %v, want a password field error naming 72 bytes", len(pw), err)
			}
		})
		t.Run("LoginRefuses"+name, func(t *testing.T) {
			if _, err := svc.Authenticate(ctx, account.Credentials{Email: email, Password: pw}); !errors.Is(err, account.ErrBadCredentials) {
				t.Fatalf("login with the stored 72 bytes and more (%d bytes) = %v, want bad credentials", len(pw), err)
			}
		})
		t.Run("CurrentPasswordRefuses"+name, func(t *testing.T) {
			_, err := svc.ChangePassword(ctx, u.ID, pw, "a new password")
			if e := apperr.As(err); e == nil || e.Fields["current_password"] == "" {
				t.Fatalf("current password with a tail (%d bytes) = %v, want a current_password error", len(pw), err)
			}
		})
	}
	t.Run("MultibytePasswordsWork", func(t *testing.T) {
		if _, err := svc.Authenticate(ctx, account.Credentials{Email: email, Password: euro72}); err != nil {
			t.Fatalf("the 72-byte password does not log in: %v", err)
		}
		next := strings.Repeat("ü", 36) // 72 bytes
		if _, err := svc.ChangePassword(ctx, u.ID, euro72, next); err != nil {
			t.Fatalf("change to a 72-byte password: %v", err)
		}
		if _, err := svc.Authenticate(ctx, account.Credentials{Email: email, Password: next}); err != nil {
			t.Fatalf("the changed password does not log in: %v", err)
		}
		// The same characters decomposed (u + combining diaeresis) are other
		// bytes, and another password: nothing normalizes them into a match.
		if _, err := svc.Authenticate(ctx, account.Credentials{Email: email, Password: strings.Repeat("u\u0308", 24)}); !errors.Is(err, account.ErrBadCredentials) {
			t.Fatalf("decomposed form accepted: %v", err)
		}
	})
}
