package session

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/testenv"
)

// BenchmarkCodec compares scs's gob codec with CompactCodec on a typical
// signed-in session, plain and sealed with AES-GCM; bytes/session is the
// size the store keeps.
func BenchmarkCodec(b *testing.B) {
	deadline, values := typicalSession()
	key := [][]byte{bytes.Repeat([]byte{5}, 32)}
	sealer, _ := NewSealer(key, false)
	sealedGob := sealedCodec{scs.GobCodec{}, sealer}
	sealedCompact := sealedCodec{CompactCodec{}, sealer}
	for _, c := range []struct {
		name  string
		codec scs.Codec
	}{
		{"gob", scs.GobCodec{}},
		{"compact", CompactCodec{}},
		{"gob+aes", sealedGob},
		{"compact+aes", sealedCompact},
	} {
		enc, err := c.codec.Encode(deadline, values)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/encode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.codec.Encode(deadline, values); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(enc)), "bytes/session")
		})
		b.Run(c.name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := c.codec.Decode(enc); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(enc)), "bytes/session")
		})
	}
}

// BenchmarkSession measures a Manager on each store with a typical
// signed-in session: load (one find), save (a change: encode and one
// commit) and touch (an unchanged session past its touch interval: one
// expiry extension).
func BenchmarkSession(b *testing.B) {
	pool, prefix := testenv.MustRedis(b)
	db := testenv.MustDatabase(b)
	var userID int64
	if err := db.QueryRow(context.Background(),
		`INSERT INTO users (email, password_hash) VALUES ('bench@example.com', 'x') RETURNING id`).Scan(&userID); err != nil {
		b.Fatal(err)
	}
	backends := map[config.Kind]Backend{
		config.StoreMemory:   MemoryBackend(),
		config.StoreRedis:    RedisBackend(pool, prefix),
		config.StorePostgres: PostgresBackend(db),
	}
	for _, kind := range []config.Kind{config.StoreMemory, config.StoreRedis, config.StorePostgres} {
		m, err := New(Options{Kind: kind, CookieName: "session", IdleTimeout: 30 * time.Minute,
			Lifetime: 24 * time.Hour, RememberLifetime: 720 * time.Hour, Replica: "bench"}, backends[kind])
		if err != nil {
			b.Fatal(err)
		}
		load := func(b *testing.B, token string) *Session {
			s, err := m.Load(context.Background(), token, Request{IP: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}
		s := load(b, "")
		if err := s.Login(context.Background(), ident(userID), "jane.shopper@example.com", true); err != nil {
			b.Fatal(err)
		}
		token := mustSave(b, s)
		b.Run(string(kind)+"/load", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if load(b, token).UserID() != userID {
					b.Fatal("session not found")
				}
			}
		})
		b.Run(string(kind)+"/save", func(b *testing.B) {
			s := load(b, token)
			b.ReportAllocs()
			for b.Loop() {
				s.SetCartID("c") // a change, so Save commits
				s.saved = false  // one Session per request; here one Session, many saves
				if err := s.Save(context.Background(), discard{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(string(kind)+"/touch", func(b *testing.B) {
			s := load(b, token)
			saved := m.touchInterval
			m.touchInterval = 0 // every unchanged request extends the expiry
			defer func() { m.touchInterval = saved }()
			b.ReportAllocs()
			for b.Loop() {
				s.saved = false
				if err := s.Save(context.Background(), discard{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// discard is a ResponseWriter for Save's cookie.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

// sealedCodec is a codec followed by a Sealer, as a session is stored when
// encryption is on (the store seals what the codec encodes).
type sealedCodec struct {
	inner  scs.Codec
	sealer *Sealer
}

func (c sealedCodec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	b, err := c.inner.Encode(deadline, values)
	if err != nil {
		return nil, err
	}
	return c.sealer.Seal("bench-session-id", b)
}

func (c sealedCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	plain, err := c.sealer.Open("bench-session-id", b)
	if err != nil {
		return time.Time{}, nil, err
	}
	return c.inner.Decode(plain)
}
