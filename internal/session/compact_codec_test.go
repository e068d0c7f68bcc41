package session

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/the-shop/shop/internal/config"
)

// typicalSession is what the shop keeps for a signed-in user who asked to
// be remembered (see Manager.Login).
func typicalSession() (time.Time, map[string]any) {
	return time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC), map[string]any{
		keyUserID:   int64(48213),
		keyEmail:    "jane.shopper@example.com",
		keyCreated:  int64(1772366400),
		keyRemember: true,
	}
}

func TestCompactCodec(t *testing.T) {
	t.Parallel()
	c := CompactCodec{}

	t.Run("KeepsEveryTypeExactly", func(t *testing.T) {
		deadline := time.Now().UTC()
		values := map[string]any{
			"s": "hello, ünïcode", "empty": "", "i64": int64(-1 << 62), "i": int(42), "t": true, "f": false,
			"list": []string{"success", "Added Mug to your cart."}, "nolist": []string{},
			"f64": 3.25, "raw": []byte{0, 1, 2, 255}, "when": time.Unix(1700000000, 5).UTC(),
		}
		b, err := c.Encode(deadline, values)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, compactMagic[:]) {
			t.Fatalf("encoding does not start with the compact prefix: % x", b[:4])
		}
		d, got, err := c.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Equal(deadline) {
			t.Errorf("deadline %v, want %v", d, deadline)
		}
		if !reflect.DeepEqual(got, values) {
			t.Errorf("values\n got %#v\nwant %#v", got, values)
		}
		again, _ := c.Encode(deadline, values)
		if !bytes.Equal(b, again) {
			t.Error("the same session encodes to different bytes")
		}
	})

	t.Run("ZeroDeadlineAndNoValues", func(t *testing.T) {
		b, err := c.Encode(time.Time{}, map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		d, v, err := c.Decode(b)
		if err != nil || !d.IsZero() || len(v) != 0 {
			t.Errorf("Decode = %v %v %v", d, v, err)
		}
	})

	t.Run("ReadsGobSessions", func(t *testing.T) {
		// Sessions written before the switch stay readable: nobody is
		// logged out by it.
		deadline, values := typicalSession()
		old, err := scs.GobCodec{}.Encode(deadline, values)
		if err != nil {
			t.Fatal(err)
		}
		d, got, err := c.Decode(old)
		if err != nil || !d.Equal(deadline) || !reflect.DeepEqual(got, values) {
			t.Errorf("gob session decoded as %v %#v %v", d, got, err)
		}
	})

	t.Run("OtherTypesFallBackToGob", func(t *testing.T) {
		values := map[string]any{"n": uint16(7), keyEmail: "x@example.com"}
		b, err := c.Encode(time.Now(), values)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(b, compactMagic[:]) {
			t.Fatal("a uint16 was written in the compact format")
		}
		if _, got, err := c.Decode(b); err != nil || got["n"] != uint16(7) {
			t.Errorf("decoded %#v %v", got, err)
		}
	})

	t.Run("RejectsCorruptDataWithoutPanicking", func(t *testing.T) {
		deadline, values := typicalSession()
		values[keyFlash] = []string{"success", "Welcome!"}
		b, _ := c.Encode(deadline, values)
		for i := len(compactMagic); i < len(b); i++ {
			if _, _, err := c.Decode(b[:i]); err == nil {
				t.Errorf("truncated to %d of %d bytes: no error", i, len(b))
			}
		}
		if _, _, err := c.Decode(append(bytes.Clone(b), 0)); err == nil {
			t.Error("trailing byte: no error")
		}
		// Any byte changed to any value: an answer, never a panic.
		for i := len(compactMagic); i < len(b); i++ {
			for _, v := range []byte{0, 1, 9, 10, 0x7f, 0x80, 0xff} {
				bad := bytes.Clone(b)
				bad[i] = v
				_, _, _ = c.Decode(bad)
			}
		}
	})

	t.Run("ComposesWithEncryption", func(t *testing.T) {
		sealer, err := NewSealer([][]byte{bytes.Repeat([]byte{3}, 32)}, false)
		if err != nil {
			t.Fatal(err)
		}
		deadline, values := typicalSession()
		b, err := c.Encode(deadline, values)
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := sealer.Seal("id", b)
		if err != nil {
			t.Fatal(err)
		}
		opened, err := sealer.Open("id", sealed)
		if err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Decode(opened); err != nil || !reflect.DeepEqual(got, values) {
			t.Errorf("sealed compact session: %#v %v", got, err)
		}
	})

	t.Run("SmallerThanGob", func(t *testing.T) {
		deadline, values := typicalSession()
		g, _ := scs.GobCodec{}.Encode(deadline, values)
		b, _ := c.Encode(deadline, values)
		t.Logf("typical signed-in session: gob %d bytes, compact %d bytes", len(g), len(b))
		if len(b)*2 > len(g) {
			t.Errorf("compact %d bytes is not under half of gob's %d", len(b), len(g))
		}
	})
}

// TestGobSessionsSurviveTheSwitch: a session that a replica with the gob
// codec stored (here a guest's, with its cart) is read by a replica with
// the compact codec, and is rewritten compactly at its next change.
func TestGobSessionsSurviveTheSwitch(t *testing.T) {
	t.Parallel()
	for _, kind := range []config.Kind{config.StoreRedis, config.StorePostgres} {
		t.Run(string(kind), func(t *testing.T) {
			st := newTestStorage(t, kind)
			opts := Options{Kind: kind, CookieName: "session", IdleTimeout: time.Hour, Lifetime: 24 * time.Hour,
				RememberLifetime: 48 * time.Hour}
			gobOpts := opts
			gobOpts.Codec = scs.GobCodec{}
			old, err := New(gobOpts, st.backend)
			if err != nil {
				t.Fatal(err)
			}
			cur, err := New(opts, st.backend)
			if err != nil {
				t.Fatal(err)
			}

			s := mustLoad(t, old, "")
			s.SetCartID("guest-cart-1")
			token := mustSave(t, s)
			data, _, _, err := cur.b.find(t.Context(), s.r.id)
			if err != nil || bytes.HasPrefix(data, compactMagic[:]) {
				t.Fatalf("the gob replica stored % x… (%v)", data[:min(4, len(data))], err)
			}

			s = mustLoad(t, cur, token)
			if got := s.CartID(); got != "guest-cart-1" {
				t.Fatalf("cart after the switch = %q, want guest-cart-1", got)
			}
			s.AddFlash("info", "changed")
			mustSave(t, s)
			data, _, found, err := cur.b.find(t.Context(), s.r.id)
			if err != nil || !found || !bytes.HasPrefix(data, compactMagic[:]) {
				t.Errorf("after a change the session is stored as % x… (found %v, %v), want the compact prefix", data[:min(4, len(data))], found, err)
			}
		})
	}
}
