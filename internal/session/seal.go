package session

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Sealing happens where the session meets its store, not in the codec,
// because only there is the stored id known: the id is authenticated with
// the data, so a sealed session copied under another token (by someone who
// can write to the store) fails to open instead of logging that token in as
// its owner.

// sealMagic starts data sealed and bound to its id; oldSealMagic starts
// data sealed by the shop's first format, which was not bound to an id.
var (
	sealMagic    = []byte("shE2")
	oldSealMagic = []byte("shE1")
)

const keyIDLen = 4

// Sealer seals session data at rest with AES-256-GCM. The first key seals;
// every key opens, found by a fingerprint stored with the data, so keys
// rotate without logging anyone out: add the new key first, keep the old
// one until the sessions it sealed have expired.
type Sealer struct {
	keys []sealKey
	// migrating also opens what was stored before encryption was turned on
	// (plaintext, and the first, unbound format) while those sessions
	// expire; without it only data sealed and bound to its id is read.
	migrating bool
}

type sealKey struct {
	id   []byte
	aead cipher.AEAD
}

// ErrNotSealed is why data that is not sealed (and bound to its id) is
// refused when a Sealer is not migrating.
var ErrNotSealed = errors.New("session data is not sealed for this id")

// NewSealer seals under keys (32 bytes each; the first seals). migrating
// also accepts data stored before sealing was turned on (see Sealer).
func NewSealer(keys [][]byte, migrating bool) (*Sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("session encryption: no key")
	}
	s := &Sealer{migrating: migrating}
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
		s.keys = append(s.keys, sealKey{id: sum[:keyIDLen], aead: aead})
	}
	return s, nil
}

// Seal returns plain sealed for the session stored under id:
// magic | key id | nonce | ciphertext, with the magic, the key id and the
// stored id authenticated.
func (s *Sealer) Seal(id string, plain []byte) ([]byte, error) {
	k := s.keys[0]
	out := make([]byte, 0, len(sealMagic)+keyIDLen+k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	out = append(append(out, sealMagic...), k.id...)
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("session encryption: nonce: %w", err)
	}
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, plain, additional(out[:len(sealMagic)+keyIDLen], id)), nil
}

// additional is the authenticated data: the header and the stored id.
func additional(head []byte, id string) []byte {
	return append(append(bytes.Clone(head), 0), id...)
}

// Open returns the plaintext of data stored under id, or an error when it
// was sealed for another id, tampered with, sealed by a key no longer
// configured, or not sealed at all (unless migrating).
func (s *Sealer) Open(id string, data []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(data, sealMagic):
		return s.open(data, func(head []byte) []byte { return additional(head, id) })
	case bytes.HasPrefix(data, oldSealMagic) && s.migrating:
		return s.open(data, func(head []byte) []byte { return head })
	case s.migrating && !bytes.HasPrefix(data, oldSealMagic):
		return data, nil
	}
	return nil, ErrNotSealed
}

func (s *Sealer) open(data []byte, ad func(head []byte) []byte) ([]byte, error) {
	n := len(sealMagic) + keyIDLen
	if len(data) < n {
		return nil, errors.New("session encryption: data too short")
	}
	for _, k := range s.keys {
		if !bytes.Equal(k.id, data[len(sealMagic):n]) {
			continue
		}
		rest := data[n:]
		if len(rest) < k.aead.NonceSize() {
			return nil, errors.New("session encryption: data too short")
		}
		plain, err := k.aead.Open(nil, rest[:k.aead.NonceSize()], rest[k.aead.NonceSize():], ad(data[:n]))
		if err != nil {
			return nil, fmt.Errorf("session encryption: open: %w", err)
		}
		return plain, nil
	}
	return nil, errors.New("session encryption: sealed with a key that is no longer configured")
}
