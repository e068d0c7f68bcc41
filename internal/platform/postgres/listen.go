package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Listener is told what happens on a LISTEN connection (see Listen).
type Listener struct {
	// Up is called once the LISTEN holds, after every (re)connection:
	// anything cached before may have missed a notification.
	Up func()
	// Notify is called with each notification's payload.
	Notify func(payload string)
	// Down is called when the connection is lost, before the next try in
	// retry (and when ctx ends, with retry 0): notifications may be
	// missed until Up is called again.
	Down func(err error, retry time.Duration)
}

// Listen keeps a LISTEN on channel until ctx ends, reconnecting with
// backoff (100 ms doubling up to 5 s) after a failure. The connection is
// taken out of the pool (a connection that LISTENs must never serve other
// queries) and closed at the end. Run it in a goroutine of its own.
func Listen(ctx context.Context, db *pgxpool.Pool, channel string, l Listener) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := listenOnce(ctx, db, channel, l)
		if ctx.Err() != nil {
			l.Down(err, 0)
			return
		}
		l.Down(err, wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func listenOnce(ctx context.Context, db *pgxpool.Pool, channel string, l Listener) error {
	pooled, err := db.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire a connection to listen: %w", err)
	}
	conn := pooled.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return fmt.Errorf("listen %s: %w", channel, err)
	}
	l.Up()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for notification on %s: %w", channel, err)
		}
		l.Notify(n.Payload)
	}
}
