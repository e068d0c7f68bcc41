// Package apitoken issues and checks the short-lived access tokens of the
// stateless JSON API: HS256-signed JWTs that name an account, for the shop
// itself as issuer and its API as audience. The server keeps nothing per
// token, so any replica that has the same secret can check one.
package apitoken

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/the-shop/shop/internal/account"
)

// The claims every token carries and every check insists on.
const (
	IssuerName = "the-shop"
	Audience   = "the-shop-api"
)

// MinSecretLen is the shortest signing key accepted: HS256 wants a key at
// least as long as its 32-byte output.
const MinSecretLen = 32

// method is the only signing method issued or accepted. Pinning it is what
// refuses "alg": "none" and algorithm-confusion tokens.
var method = jwt.SigningMethodHS256

// ErrInvalid wraps every reason a token is refused.
var ErrInvalid = errors.New("invalid token")

// Issuer issues and verifies access tokens with one secret.
type Issuer struct {
	secret []byte
	ttl    time.Duration
	parser *jwt.Parser
}

// New returns an Issuer that signs with secret (at least MinSecretLen
// bytes) and issues tokens valid for ttl.
func New(secret []byte, ttl time.Duration) (*Issuer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("API token secret is %d bytes; it must be at least %d", len(secret), MinSecretLen)
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("API token lifetime %v must be positive", ttl)
	}
	return &Issuer{
		secret: append([]byte(nil), secret...),
		ttl:    ttl,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{method.Alg()}),
			jwt.WithIssuer(IssuerName),
			jwt.WithAudience(Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(5*time.Second), // replicas' clocks differ a little
		),
	}, nil
}

// NewSecret returns a random secret for development, when JWT_SECRET is
// unset: tokens then work only on the replica that issued them, and only
// until it restarts.
func NewSecret() ([]byte, error) {
	b := make([]byte, MinSecretLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generate API token secret: %w", err)
	}
	return b, nil
}

// TTL is how long a new token is valid.
func (t *Issuer) TTL() time.Duration { return t.ttl }

// claims are the registered claims plus the account's identity at issue:
// its public id and session epoch, which the API compares with the
// account's current ones on every request, so that a password change or
// "sign out everywhere" revokes every token issued before.
type claims struct {
	jwt.RegisteredClaims
	Account string `json:"acct"`
	Epoch   int64  `json:"ep"`
}

// Issue returns a signed token for the account and how long it is valid.
func (t *Issuer) Issue(a account.Identity) (string, time.Duration, error) {
	now := time.Now()
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return "", 0, fmt.Errorf("generate token id: %w", err)
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    IssuerName,
			Subject:   strconv.FormatInt(a.ID, 10),
			Audience:  jwt.ClaimStrings{Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        base64.RawURLEncoding.EncodeToString(id),
		},
		Account: a.PublicID,
		Epoch:   a.Epoch,
	}
	s, err := jwt.NewWithClaims(method, c).SignedString(t.secret)
	if err != nil {
		return "", 0, fmt.Errorf("sign API token: %w", err)
	}
	return s, t.ttl, nil
}

// Verify checks a token's signature, method, issuer, audience and expiry
// and returns the account identity it was issued for; the caller checks
// that identity is still current. Every failure wraps ErrInvalid;
// errors.Is(err, jwt.ErrTokenExpired) tells an expired token apart.
func (t *Issuer) Verify(token string) (account.Identity, error) {
	var c claims
	if _, err := t.parser.ParseWithClaims(token, &c, t.key); err != nil {
		return account.Identity{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil || id <= 0 {
		return account.Identity{}, fmt.Errorf("%w: subject %q is not an account id", ErrInvalid, c.Subject)
	}
	if c.Account == "" || c.Epoch <= 0 {
		return account.Identity{}, fmt.Errorf("%w: no account identity", ErrInvalid)
	}
	return account.Identity{ID: id, PublicID: c.Account, Epoch: c.Epoch}, nil
}

// key is the jwt.Keyfunc. The parser has already refused any method but
// HS256; checking again here keeps a token from ever reaching the HMAC key
// with another algorithm, whatever the parser options become.
func (t *Issuer) key(tok *jwt.Token) (any, error) {
	if tok.Method != method {
		return nil, fmt.Errorf("unexpected signing method %v", tok.Header["alg"])
	}
	return t.secret, nil
}
