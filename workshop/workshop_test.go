package workshop

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/the-shop/shop/internal/session"
)

// A key as SESSION_ENCRYPTION_KEYS holds it (NewKey's base64) names the
// key that session.SealedBy reports for data the shop's codec sealed.
func TestKeyIDMatchesTheSessionCodec(t *testing.T) {
	key := NewKey()
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil || len(raw) != 32 {
		t.Fatalf("NewKey() = %q: %v, %d bytes; want 32 bytes of base64", key, err, len(raw))
	}
	sealer, err := session.NewSealer([][]byte{raw}, false)
	if err != nil {
		t.Fatal(err)
	}
	data, err := sealer.Seal("a-session-id", []byte("email=ann@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := keyID(key)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := session.SealedBy(data)
	if !ok || got != want {
		t.Errorf("session.SealedBy = %q, %v; want keyID(key) %q, true", got, ok, want)
	}
}

func TestStepsSettings(t *testing.T) {
	for i, s := range Steps {
		if s.N != i+1 {
			t.Errorf("step %d is numbered %d", i+1, s.N)
		}
		if s.Title == "" || s.Next == "" || s.check == nil {
			t.Errorf("step %d lacks a title, a next step or a check", s.N)
		}
		switch s.Setting("SESSION_STORE") {
		case "memory", "redis", "postgres":
		default:
			t.Errorf("step %d: SESSION_STORE=%q", s.N, s.Setting("SESSION_STORE"))
		}
		switch s.Setting("LB") {
		case "rr", "ip", "cookie":
		default:
			t.Errorf("step %d: LB=%q", s.N, s.Setting("LB"))
		}
		if s.Setting("REPLICAS") == "" {
			t.Errorf("step %d sets no REPLICAS", s.N)
		}
	}
	// Step 7 makes a fresh key each time it is set up.
	s7, err := StepN(7)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := s7.Setting("SESSION_ENCRYPTION_KEYS"), s7.Setting("SESSION_ENCRYPTION_KEYS"); a == "" || a == b {
		t.Errorf("step 7 keys %q then %q; want a new key each time", a, b)
	}
	if _, err := StepN(len(Steps) + 1); err == nil {
		t.Error("StepN past the last step: no error")
	}
}

func TestReport(t *testing.T) {
	step, _ := StepN(4)
	tests := []struct {
		name   string
		report Report
		ok     bool
		tail   string
	}{
		{"AllPass", Report{Step: step, Results: []Result{{true, "a"}, {true, "b"}}}, true, "all 2 checks passed"},
		{"OneFails", Report{Step: step, Results: []Result{{true, "a"}, {false, "b"}}}, false, "1 of 2 checks failed."},
		{"Stopped", Report{Step: step, Results: []Result{{true, "a"}}, Err: errors.New("no answer")}, false, "stopped early"},
		{"Nothing", Report{Step: step}, false, "0 of 0 checks failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.report.OK(); got != tt.ok {
				t.Errorf("OK() = %v, want %v", got, tt.ok)
			}
			var b strings.Builder
			tt.report.Print(&b)
			if !strings.Contains(b.String(), tt.tail) || !strings.HasPrefix(b.String(), "Step 4: ") {
				t.Errorf("Print:\n%s\nwant it to start with the step and say %q", b.String(), tt.tail)
			}
		})
	}
}

func TestCounts(t *testing.T) {
	c := counts{"shop-3": 2, "shop-1": 10, "shop-2": 0}
	if got, want := c.String(), "shop-1 ×10, shop-2 ×0, shop-3 ×2"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if n, err := replicaNumber("shop-12"); n != 12 || err != nil {
		t.Errorf("replicaNumber(shop-12) = %d, %v", n, err)
	}
	if _, err := replicaNumber("nginx"); err == nil {
		t.Error("replicaNumber(nginx): no error")
	}
}
