package handlers

import (
	"crypto/rand"
	"encoding/base64"
)

// Pages carry the session's CSRF token masked with a fresh random pad:
// base64url(pad || pad XOR token), a different string on every page for the
// same token. nginx compresses pages (deploy/nginx), and a compressed page
// that carries a secret next to something a visitor controls (the search
// box repeats its query) would let an attacker who sees the sizes of HTTPS
// responses guess the secret a byte at a time (BREACH); a secret that
// changes with every response cannot be guessed that way. The token itself
// stays the HMAC of the session token (Session.CSRFToken), so checking it
// still needs no state.

// maskCSRF returns token masked with a fresh pad; token is base64url.
func maskCSRF(token string) string {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) == 0 {
		return token
	}
	out := make([]byte, 2*len(raw))
	pad, masked := out[:len(raw)], out[len(raw):]
	_, _ = rand.Read(pad) // crypto/rand.Read never fails on supported platforms
	for i := range raw {
		masked[i] = pad[i] ^ raw[i]
	}
	return base64.RawURLEncoding.EncodeToString(out)
}

// unmaskCSRF returns the token a value from a form or a header carries:
// the masked form of pages, unmasked, or the value as it came (the
// X-CSRF-Token response header hands scripts the token unmasked: headers
// are not compressed with the page).
func unmaskCSRF(v string) string {
	b, err := base64.RawURLEncoding.DecodeString(v)
	// A token is an HMAC-SHA256: 32 bytes; masked, 64.
	if err != nil || len(b) != 64 {
		return v
	}
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = b[i] ^ b[32+i]
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}
