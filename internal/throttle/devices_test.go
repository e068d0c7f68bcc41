package throttle_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/apperr"
	"github.com/the-shop/shop/internal/testenv"
	"github.com/the-shop/shop/internal/throttle"
)

// TestDeviceCookies: the owner's browser, with the device cookie of its
// last login, gets in while an attacker has paused the account for
// unknown browsers; the cookie helps no other account, a forged one counts
// for nothing, and a device that fails repeatedly is itself paused.
func TestDeviceCookies(t *testing.T) {
	t.Parallel()
	devices, err := throttle.NewDevices([]byte("test-secret-of-the-shop-32-bytes-long"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			// Two replicas with the same secret.
			limits := throttle.Limits{PerAccount: 3, PerIP: 100, PerDevice: 2, Window: time.Minute}
			a, b := throttle.NewGuard(s, limits, devices), throttle.NewGuard(s, limits, devices)
			wrong := func() error { return account.ErrBadCredentials }
			right := func() error { return nil }
			owner, other := testenv.RandomName("own")+"@example.com", testenv.RandomName("oth")+"@example.com"
			cookie, err := devices.Issue("", owner)
			if err != nil {
				t.Fatal(err)
			}
			cookie, _ = devices.Issue(cookie, other) // one browser, two accounts
			if n := strings.Count(cookie, ".") + 1; n != 2 {
				t.Fatalf("cookie holds %d tokens, want 2: %q", n, cookie)
			}
			for _, email := range []string{owner, other} {
				for range 3 {
					_ = a.Login(ctx, testenv.RandomName("ip-"), email, "", wrong)
				}
			}
			paused := func(err error) bool { return apperr.IsKind(err, apperr.KindTooMany) }
			if err := b.Login(ctx, "attacker", owner, "", right); !paused(err) {
				t.Fatalf("unknown browser, right password: %v, want a pause", err)
			}

			t.Run("OwnerGetsIn", func(t *testing.T) {
				if err := b.Login(ctx, "owner", strings.ToUpper(owner), cookie, right); err != nil {
					t.Fatalf("owner with the device cookie: %v", err)
				}
			})
			t.Run("ForgedCookieDoesNotCount", func(t *testing.T) {
				tok := strings.Split(cookie, ".")[0]
				for _, forged := range []string{
					tok[:len(tok)-2] + "AA",                      // another MAC
					"9999999999" + tok[strings.Index(tok, ":"):], // a later expiry
					strings.Replace(tok, tok[11:15], "AAAA", 1),  // another nonce
					"garbage", strings.Repeat(tok+".", 300),
				} {
					if err := a.Login(ctx, "attacker", owner, forged, right); !paused(err) {
						t.Errorf("forged cookie %.40q: %v, want a pause", forged, err)
					}
				}
				other, _ := throttle.NewDevices([]byte("another shop's secret, 32 bytes or more"), time.Hour)
				foreign, _ := other.Issue("", owner)
				if err := a.Login(ctx, "attacker", owner, foreign, right); !paused(err) {
					t.Errorf("cookie of another secret: %v, want a pause", err)
				}
			})
			t.Run("DoesNotHelpAnotherAccount", func(t *testing.T) {
				victim := testenv.RandomName("vic") + "@example.com"
				for range 3 {
					_ = a.Login(ctx, "attacker", victim, "", wrong)
				}
				if err := a.Login(ctx, "attacker", victim, cookie, right); !paused(err) {
					t.Errorf("owner's cookie on another account: %v, want a pause", err)
				}
			})
			t.Run("ExpiredCookieDoesNotCount", func(t *testing.T) {
				short, _ := throttle.NewDevices([]byte("test-secret-of-the-shop-32-bytes-long"), time.Second)
				c, _ := short.Issue("", owner)
				time.Sleep(1100 * time.Millisecond)
				if err := a.Login(ctx, "owner", owner, c, right); !paused(err) {
					t.Errorf("expired cookie: %v, want a pause", err)
				}
			})
			t.Run("DeviceFailingRepeatedlyIsPaused", func(t *testing.T) {
				for i := range 2 {
					if err := a.Login(ctx, "owner", other, cookie, wrong); err != account.ErrBadCredentials {
						t.Fatalf("device failure %d: %v", i+1, err)
					}
				}
				// Its limit used, it is an unknown browser again, and the
				// account is paused for those.
				if err := b.Login(ctx, "owner", other, cookie, right); !paused(err) {
					t.Errorf("device past its limit: %v, want a pause", err)
				}
				// A new cookie from a fresh login is a new device.
				if err := a.Login(ctx, "owner", owner, cookie, right); err != nil {
					t.Errorf("the same cookie for its other account: %v", err)
				}
			})
		})
	}
}
