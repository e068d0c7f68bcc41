// Package redis opens the shop's Redis connection pool (redigo), classifies
// its errors and traces its round trips.
package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/the-shop/shop/internal/apperr"
)

// DefaultMaxConnections is the pool's cap when the caller names none
// (REDIS_MAX_CONNECTIONS's default).
const DefaultMaxConnections = 64

// Open returns a pool for url ("redis://[:password@]host:port/db") with
// at most DefaultMaxConnections connections, and checks that the server
// answers PING.
func Open(ctx context.Context, url string) (*redis.Pool, error) {
	return OpenLimited(ctx, url, DefaultMaxConnections)
}

// OpenLimited is Open with at most maxConns connections. A request that
// finds them all busy waits for one (until its context ends) instead of
// opening more: without a cap, a burst or a slow Redis makes every
// replica open a connection per request in flight, until Redis's
// maxclients refuses everyone.
func OpenLimited(ctx context.Context, url string, maxConns int) (*redis.Pool, error) {
	dial := func() (redis.Conn, error) {
		return redis.DialURL(url,
			redis.DialConnectTimeout(2*time.Second),
			redis.DialReadTimeout(5*time.Second),
			redis.DialWriteTimeout(5*time.Second),
		)
	}
	pool := &redis.Pool{
		MaxActive:   maxConns,
		Wait:        true,
		MaxIdle:     min(32, maxConns),
		IdleTimeout: 4 * time.Minute,
		DialContext: func(context.Context) (redis.Conn, error) { return dial() },
		// A connection idle for a while may have been closed by a Redis
		// restart; check it before use so the request does not fail.
		TestOnBorrow: func(c redis.Conn, idleSince time.Time) error {
			if time.Since(idleSince) < 10*time.Second {
				return nil
			}
			_, err := c.Do("PING")
			return err
		},
	}
	if err := Ping(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// Ping checks that Redis answers.
func Ping(ctx context.Context, pool *redis.Pool) error {
	conn, err := pool.GetContext(ctx)
	if err != nil {
		return fmt.Errorf("connect to redis: %w", err)
	}
	defer conn.Close()
	if _, err := redis.DoContext(conn, ctx, "PING"); err != nil {
		return fmt.Errorf("ping redis: %w", err)
	}
	return nil
}

// IsUnavailable reports whether err means Redis cannot be reached, as
// opposed to a bad command. A write that reached a demoted master
// (READONLY) counts too: through Sentinel, the next connection reaches
// the new master.
func IsUnavailable(err error) bool {
	var netErr net.Error
	var opErr *net.OpError
	return errors.As(err, &netErr) || errors.As(err, &opErr) ||
		errors.Is(err, redis.ErrPoolExhausted) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, ErrNotMaster) || IsReadOnly(err)
}

// Do runs fn on a connection from pool. A Redis that cannot be reached
// becomes apperr.Unavailable (503 "temporarily unavailable"); other errors
// are wrapped with what the caller was doing.
//
// When ctx carries a recording span (a traced request), Do is a span of
// its own, a child of it, named after what (see SpanName). The stores run
// each script or command through Do, so each is one span. Untraced, it
// costs one context lookup.
func Do(ctx context.Context, pool *redis.Pool, what string, fn func(redis.Conn) error) (err error) {
	if parent := trace.SpanFromContext(ctx); parent.IsRecording() {
		var span trace.Span
		ctx, span = parent.TracerProvider().Tracer(tracerName).Start(ctx, SpanName(what),
			trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("db.system.name", "redis")))
		defer func() {
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, "")
			}
			span.End()
		}()
	}
	return do(ctx, pool, what, fn)
}

// tracerName is the instrumentation scope of the spans Do makes.
const tracerName = "github.com/the-shop/shop/internal/platform/redis"

// SpanName is the name of Do's span for what: "redis " and what's leading
// words of lowercase letters, so that "load cart a:4f…" is "redis load
// cart": a span name must be one of a few (no ids), and keys name carts
// and sessions, which a trace must not carry.
func SpanName(what string) string {
	end := 0 // the end of the last whole word of lowercase letters
	for i := 0; i < len(what); {
		j := i
		for j < len(what) && what[j] >= 'a' && what[j] <= 'z' {
			j++
		}
		if j == i || j < len(what) && what[j] != ' ' {
			break // an empty word, or one with other characters: a key
		}
		end, i = j, j+1
	}
	if end == 0 {
		return "redis"
	}
	return "redis " + what[:end]
}

func do(ctx context.Context, pool *redis.Pool, what string, fn func(redis.Conn) error) error {
	conn, err := pool.GetContext(ctx)
	if err != nil {
		return apperr.Unavailable(what, err)
	}
	defer conn.Close()
	if err := fn(conn); err != nil {
		if IsUnavailable(err) {
			return apperr.Unavailable(what, err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if n := MinReplicasAck(pool); n > 0 {
		if err := waitReplicas(ctx, conn, n); err != nil {
			return apperr.Unavailable(what, err)
		}
	}
	return nil
}

// ReplicaAckTimeout is how long a write waits for the replicas
// REDIS_MIN_REPLICAS_ACK asks for before the request fails.
const ReplicaAckTimeout = time.Second

// ErrNotReplicated is the error of a write fewer replicas acknowledged
// than REDIS_MIN_REPLICAS_ACK asks for within ReplicaAckTimeout. The
// write may stay on the master (or be lost with it): the shopper sees it
// failed, never an acknowledged write that is lost.
var ErrNotReplicated = errors.New("redis: too few replicas acknowledged the write")

var minReplicasAck sync.Map // *redis.Pool → int

// SetMinReplicasAck makes every Do on pool, once its function succeeded,
// wait (WAIT) until n replicas acknowledged the connection's writes
// (REDIS_MIN_REPLICAS_ACK); 0 turns it off. A Do that only read waits
// for nothing new but still costs WAIT's round trip.
func SetMinReplicasAck(pool *redis.Pool, n int) {
	if n <= 0 {
		minReplicasAck.Delete(pool)
		return
	}
	minReplicasAck.Store(pool, n)
}

// MinReplicasAck is what SetMinReplicasAck set for pool.
func MinReplicasAck(pool *redis.Pool) int {
	n, _ := minReplicasAck.Load(pool)
	v, _ := n.(int)
	return v
}

func waitReplicas(ctx context.Context, conn redis.Conn, n int) error {
	got, err := redis.Int(redis.DoContext(conn, ctx, "WAIT", n, ReplicaAckTimeout.Milliseconds()))
	if err != nil {
		return err
	}
	if got < n {
		return fmt.Errorf("%w: %d of %d within %v", ErrNotReplicated, got, n, ReplicaAckTimeout)
	}
	return nil
}
