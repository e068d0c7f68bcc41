package redis_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"

	platformredis "github.com/the-shop/shop/internal/platform/redis"
)

func TestSpanNameLeavesKeysOut(t *testing.T) {
	t.Parallel()
	for what, want := range map[string]string{
		"find session":                    "redis find session",
		"load cart a:4f0c2b9e":            "redis load cart",
		"merge cart g:1 into a:2":         "redis merge cart",
		"complete checkout of cart a:4f0": "redis complete checkout of cart",
		"snapshot cart shop:test:g:abc":   "redis snapshot cart",
		"":                                "redis",
		"Weird":                           "redis",
	} {
		if got := platformredis.SpanName(what); got != want {
			t.Errorf("SpanName(%q) = %q, want %q", what, got, want)
		}
	}
}

// BenchmarkUntracedGuard is all that tracing adds to Do when it is off:
// the lookup of a span in the request's context, here one as deep as a
// request's (the server's, the timeout's, the request id's, the session's).
func BenchmarkUntracedGuard(b *testing.B) {
	ctx := context.Background()
	for i := range 8 {
		ctx = context.WithValue(ctx, guardKey(i), i)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if trace.SpanFromContext(ctx).IsRecording() {
			n++
		}
	}
	if n != 0 {
		b.Fatal("recording")
	}
}

type guardKey int
