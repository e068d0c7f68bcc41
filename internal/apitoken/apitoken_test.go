package apitoken_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/the-shop/shop/internal/account"
	"github.com/the-shop/shop/internal/apitoken"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func newIssuer(t *testing.T) *apitoken.Issuer {
	t.Helper()
	iss, err := apitoken.New(secret, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// claims are valid claims for account 42, for tests to spoil one by one.
func claims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss":  apitoken.IssuerName,
		"aud":  apitoken.Audience,
		"sub":  "42",
		"acct": "2c4a7a5e-0a7e-4c1e-9a55-0d6f2f0f3e11",
		"ep":   3,
		"iat":  now.Unix(),
		"nbf":  now.Unix(),
		"exp":  now.Add(time.Minute).Unix(),
	}
}

func sign(t *testing.T, m jwt.SigningMethod, c jwt.Claims, key any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// acct42 is the identity of an account the tests issue tokens for.
var acct42 = account.Identity{ID: 42, PublicID: "2c4a7a5e-0a7e-4c1e-9a55-0d6f2f0f3e11", Epoch: 3}

func TestIssueAndVerify(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	tok, ttl, err := iss.Issue(acct42)
	if err != nil {
		t.Fatal(err)
	}
	if ttl != 15*time.Minute {
		t.Errorf("expires in %v, want 15m", ttl)
	}
	id, err := iss.Verify(tok)
	if err != nil || id != acct42 {
		t.Fatalf("Verify = %+v, %v; want %+v", id, err, acct42)
	}
	// The token says what it is for, and when it ends.
	var c jwt.RegisteredClaims
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, &c)
	if err != nil {
		t.Fatal(err)
	}
	if alg := parsed.Header["alg"]; alg != "HS256" {
		t.Errorf("alg = %v, want HS256", alg)
	}
	if c.Issuer != "the-shop" || len(c.Audience) != 1 || c.Audience[0] != "the-shop-api" || c.Subject != "42" || c.ID == "" {
		t.Errorf("claims = %+v", c)
	}
	if d := time.Until(c.ExpiresAt.Time); d < 14*time.Minute || d > 15*time.Minute {
		t.Errorf("exp is %v from now, want about 15m", d)
	}
	if other, _, _ := iss.Issue(acct42); other == tok {
		t.Error("two tokens for one account are identical; each should have its own id")
	}
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	good, _, err := iss.Issue(acct42)
	if err != nil {
		t.Fatal(err)
	}
	with := func(k string, v any) jwt.MapClaims {
		c := claims()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	tests := []struct {
		name    string
		token   string
		expired bool
	}{
		{"Empty", "", false},
		{"Garbage", "not.a.token", false},
		{"Expired", sign(t, jwt.SigningMethodHS256, with("exp", time.Now().Add(-time.Minute).Unix()), secret), true},
		{"NoExpiry", sign(t, jwt.SigningMethodHS256, with("exp", nil), secret), false},
		{"WrongIssuer", sign(t, jwt.SigningMethodHS256, with("iss", "someone-else"), secret), false},
		{"NoIssuer", sign(t, jwt.SigningMethodHS256, with("iss", nil), secret), false},
		{"WrongAudience", sign(t, jwt.SigningMethodHS256, with("aud", "the-shop-admin"), secret), false},
		{"NoAudience", sign(t, jwt.SigningMethodHS256, with("aud", nil), secret), false},
		{"NotYetValid", sign(t, jwt.SigningMethodHS256, with("nbf", time.Now().Add(time.Hour).Unix()), secret), false},
		{"IssuedInTheFuture", sign(t, jwt.SigningMethodHS256, with("iat", time.Now().Add(time.Hour).Unix()), secret), false},
		{"SubjectNotAnID", sign(t, jwt.SigningMethodHS256, with("sub", "admin"), secret), false},
		{"NoSubject", sign(t, jwt.SigningMethodHS256, with("sub", nil), secret), false},
		// A token from before tokens carried the account's identity.
		{"NoAccount", sign(t, jwt.SigningMethodHS256, with("acct", nil), secret), false},
		{"NoEpoch", sign(t, jwt.SigningMethodHS256, with("ep", nil), secret), false},
		{"OtherKey", sign(t, jwt.SigningMethodHS256, claims(), bytes.Repeat([]byte("k"), 32)), false},
		{"OtherHMACMethodSameKey", sign(t, jwt.SigningMethodHS512, claims(), secret), false},
		{"AlgNone", sign(t, jwt.SigningMethodNone, claims(), jwt.UnsafeAllowNoneSignatureType), false},
		{"AlgNoneHeaderOnGoodToken", algNone(t, good), false},
		{"TamperedSubject", tamper(t, good), false},
		{"SignatureRemoved", good[:strings.LastIndex(good, ".")+1], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := iss.Verify(tt.token)
			if err == nil {
				t.Fatalf("Verify accepted the token (account %+v)", id)
			}
			if !errors.Is(err, apitoken.ErrInvalid) {
				t.Errorf("err = %v, want it to wrap ErrInvalid", err)
			}
			if got := errors.Is(err, jwt.ErrTokenExpired); got != tt.expired {
				t.Errorf("errors.Is(err, ErrTokenExpired) = %v, want %v (err %v)", got, tt.expired, err)
			}
		})
	}
}

// tamper rewrites the payload of a signed token to name account 1,
// keeping the original signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(payload), `"sub":"42"`, `"sub":"1"`, 1)
	if changed == string(payload) {
		t.Fatalf("payload %s has no sub 42", payload)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(changed))
	return strings.Join(parts, ".")
}

// algNone swaps a good token's header for {"alg":"none"} and drops the
// signature: the classic downgrade.
func algNone(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
}

func TestNew(t *testing.T) {
	t.Parallel()
	if _, err := apitoken.New([]byte("too short"), time.Minute); err == nil {
		t.Error("New accepted a 9-byte secret")
	}
	if _, err := apitoken.New(secret, 0); err == nil {
		t.Error("New accepted a zero lifetime")
	}
	a, err := apitoken.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := apitoken.NewSecret()
	if len(a) < apitoken.MinSecretLen || bytes.Equal(a, b) {
		t.Errorf("NewSecret gave %d bytes, equal twice: %v", len(a), bytes.Equal(a, b))
	}
	// A token from one secret is refused by an issuer with another.
	other, err := apitoken.New(a, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, _ := newIssuer(t).Issue(acct42)
	if _, err := other.Verify(tok); err == nil {
		t.Error("a token signed with another secret was accepted")
	}
}
