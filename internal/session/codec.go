package session

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"
)

// encMagic starts every encrypted session; data without it is plaintext
// from before encryption was turned on, read once and encrypted at its next
// commit, so turning encryption on logs nobody out.
var encMagic = []byte("shE1")

const keyIDLen = 4

// encryptedCodec seals the output of an inner codec with AES-256-GCM. The
// first key encrypts; every key decrypts, found by a fingerprint stored with
// the data, so keys rotate without logging anyone out: add the new key
// first, keep the old one until the sessions it sealed have expired.
type encryptedCodec struct {
	inner scs.Codec
	keys  []sealKey
}

type sealKey struct {
	id   []byte
	aead cipher.AEAD
}

var _ scs.Codec = (*encryptedCodec)(nil)

// NewEncryptedCodec wraps inner with AES-256-GCM under keys (32 bytes
// each; the first encrypts).
func NewEncryptedCodec(inner scs.Codec, keys [][]byte) (scs.Codec, error) {
	if len(keys) == 0 {
		return nil, errors.New("session encryption: no key")
	}
	c := &encryptedCodec{inner: inner}
	for i, k := range keys {
		if len(k) != 32 {
			return nil, fmt.Errorf("session encryption: key %d is %d bytes, want 32", i+1, len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("session encryption: key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("session encryption: key %d: %w", i+1, err)
		}
		sum := sha256.Sum256(k)
		c.keys = append(c.keys, sealKey{id: sum[:keyIDLen], aead: aead})
	}
	return c, nil
}

// Encode implements scs.Codec: magic | key id | nonce | sealed data.
func (c *encryptedCodec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	plain, err := c.inner.Encode(deadline, values)
	if err != nil {
		return nil, err
	}
	k := c.keys[0]
	head := make([]byte, 0, len(encMagic)+keyIDLen+k.aead.NonceSize())
	head = append(append(head, encMagic...), k.id...)
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("session encryption: nonce: %w", err)
	}
	head = append(head, nonce...)
	// The header is authenticated too: moving data under another key id
	// fails to open.
	return k.aead.Seal(head, nonce, plain, head[:len(encMagic)+keyIDLen]), nil
}

// Decode implements scs.Codec.
func (c *encryptedCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	if !bytes.HasPrefix(b, encMagic) {
		return c.inner.Decode(b)
	}
	if len(b) < len(encMagic)+keyIDLen {
		return time.Time{}, nil, errors.New("session encryption: data too short")
	}
	id := b[len(encMagic) : len(encMagic)+keyIDLen]
	for _, k := range c.keys {
		if !bytes.Equal(k.id, id) {
			continue
		}
		rest := b[len(encMagic)+keyIDLen:]
		if len(rest) < k.aead.NonceSize() {
			return time.Time{}, nil, errors.New("session encryption: data too short")
		}
		nonce, sealed := rest[:k.aead.NonceSize()], rest[k.aead.NonceSize():]
		plain, err := k.aead.Open(nil, nonce, sealed, b[:len(encMagic)+keyIDLen])
		if err != nil {
			return time.Time{}, nil, fmt.Errorf("session encryption: open: %w", err)
		}
		return c.inner.Decode(plain)
	}
	return time.Time{}, nil, errors.New("session encryption: sealed with a key that is no longer configured")
}
