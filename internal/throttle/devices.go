package throttle

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Devices issues and checks device cookies (OWASP, "Slow Down Online
// Guessing Attacks with Device Cookies"): a browser that once logged into
// an account gets a signed token naming that account and a random nonce.
// When it logs in again with the token, its attempts count against the
// nonce's own limit, not against the account's or the address's, which an
// attacker can fill: the owner's browser gets in while strangers are kept
// out.
//
// The cookie holds up to maxDeviceEntries tokens (a browser shared by a
// few accounts keeps one for each), joined by ".". A token is
//
//	<expiry, unix seconds>:<nonce, 16 random bytes>:<HMAC-SHA256>
//
// (base64url without padding), the MAC taken over a version, the account's
// normalized email, the expiry and the nonce. The email is not written in
// the cookie: the MAC names the account, and a token checks only against
// the email typed into the login form, so the cookie does not disclose the
// address and a token of one account is worthless for another. The key is
// derived with HKDF-SHA256 from the replicas' shared secret (JWT_SECRET),
// so every replica checks what any replica issued, and the API token key
// and the cookie key are never the same bytes.
type Devices struct {
	key      []byte
	lifetime time.Duration
	now      func() time.Time
}

// maxDeviceEntries bounds the tokens one cookie keeps.
const maxDeviceEntries = 5

// deviceKeyInfo is the HKDF info: a new version of the format takes a new
// one, and so a new key.
const deviceKeyInfo = "the-shop device cookie v1"

// NewDevices returns Devices whose tokens, signed with a key derived from
// secret, are valid for lifetime.
func NewDevices(secret []byte, lifetime time.Duration) (*Devices, error) {
	if len(secret) == 0 || lifetime <= 0 {
		return nil, fmt.Errorf("device cookies: need a secret and a positive lifetime")
	}
	key, err := hkdf.Key(sha256.New, secret, nil, deviceKeyInfo, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("derive the device cookie key: %w", err)
	}
	return &Devices{key: key, lifetime: lifetime, now: time.Now}, nil
}

// Lifetime is how long an issued token stays valid (the cookie's Max-Age).
func (d *Devices) Lifetime() time.Duration { return d.lifetime }

func (d *Devices) mac(email, exp, nonce string) string {
	m := hmac.New(sha256.New, d.key)
	fmt.Fprintf(m, "v1\x00%s\x00%s\x00%s", normalizeEmail(email), exp, nonce)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// parse splits a token into its fields, or reports that it is malformed
// or expired.
func (d *Devices) parse(token string) (exp, nonce, mac string, ok bool) {
	parts := strings.Split(token, ":")
	if len(parts) != 3 {
		return "", "", "", false
	}
	sec, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || !time.Unix(sec, 0).After(d.now()) || len(parts[1]) != 22 || len(parts[2]) != 43 {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// verify returns the nonce of the token in cookie that is valid for email.
func (d *Devices) verify(cookie, email string) (string, bool) {
	if d == nil || cookie == "" || len(cookie) > 1024 {
		return "", false
	}
	for _, token := range strings.Split(cookie, ".") {
		exp, nonce, mac, ok := d.parse(token)
		if ok && hmac.Equal([]byte(mac), []byte(d.mac(email, exp, nonce))) {
			return nonce, true
		}
	}
	return "", false
}

// Issue returns the cookie value for a browser that just logged into
// email, given the value it sent (old): a new token for email (a new
// nonce, so a new device limit), then the unexpired tokens it had for
// other accounts, up to maxDeviceEntries in all. Nil Devices issue
// nothing ("").
func (d *Devices) Issue(old, email string) (string, error) {
	if d == nil {
		return "", nil
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("device cookie nonce: %w", err)
	}
	exp := strconv.FormatInt(d.now().Add(d.lifetime).Unix(), 10)
	nonce := base64.RawURLEncoding.EncodeToString(b[:])
	tokens := []string{exp + ":" + nonce + ":" + d.mac(email, exp, nonce)}
	if len(old) <= 1024 {
		for _, t := range strings.Split(old, ".") {
			e, n, m, ok := d.parse(t)
			if !ok || hmac.Equal([]byte(m), []byte(d.mac(email, e, n))) || len(tokens) == maxDeviceEntries {
				continue
			}
			tokens = append(tokens, t)
		}
	}
	return strings.Join(tokens, "."), nil
}

// Known reports whether cookie holds a valid device token of email: the
// browser signed in to that account before (a sign-in from anywhere else
// is a new device, which its owner is told of).
func (d *Devices) Known(cookie, email string) bool {
	if d == nil {
		return false
	}
	_, ok := d.verify(cookie, email)
	return ok
}
