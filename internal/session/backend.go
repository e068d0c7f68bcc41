package session

import (
	"context"
	"time"
)

// Info is what the shop keeps about a session beside its data: enough to
// list an account's sessions, and to extend a session's expiry without
// rewriting its data.
type Info struct {
	// ID is the stored token: the SHA-256 of the cookie value, so it can be
	// shown and used in URLs without handing out the session.
	ID        string
	UserID    int64
	CreatedAt time.Time
	LastSeen  time.Time
	Expiry    time.Time
	IP        string
	UserAgent string
	// Replica is the replica that served the session's last request.
	Replica string
}

// backend is one kind of session store. Unlike scs's Store it returns a
// session's expiry with its data (one round trip), can extend the expiry
// alone, and keeps a per-account index.
type backend interface {
	// find returns the data of a live session with its expiry and the time
	// it was last written or touched.
	find(ctx context.Context, id string) (data []byte, st stored, found bool, err error)
	// commit writes data and info (info.Expiry is the new expiry).
	commit(ctx context.Context, id string, data []byte, info Info) error
	// touch moves a live session's expiry to info.Expiry and records
	// info.LastSeen, Replica and IP; it does nothing for a session that is
	// gone, so a touch can never bring a revoked session back.
	touch(ctx context.Context, id string, info Info) error
	// delete removes a session (and its index entry when userID is set).
	delete(ctx context.Context, id string, userID int64) error
	// list returns the live sessions of an account, in no particular order.
	list(ctx context.Context, userID int64) ([]Info, error)
}

// stored is what find learns about a session besides its data.
type stored struct {
	expiry   time.Time
	lastSeen time.Time
}

// Op names a store operation, for metrics and tests.
type Op string

// The store operations a Manager performs.
const (
	OpFind   Op = "find"
	OpCommit Op = "commit"
	OpTouch  Op = "touch"
	OpDelete Op = "delete"
	OpList   Op = "list"
)

// Observer is told about every store operation: metrics count them, tests
// assert how many writes a page view costs.
type Observer func(op Op, took time.Duration, err error)

// observed wraps a backend and reports each operation.
type observed struct {
	b   backend
	obs Observer
}

func (o observed) report(op Op, start time.Time, err error) {
	if o.obs != nil {
		o.obs(op, time.Since(start), err)
	}
}

func (o observed) find(ctx context.Context, id string) ([]byte, stored, bool, error) {
	start := time.Now()
	b, st, ok, err := o.b.find(ctx, id)
	o.report(OpFind, start, err)
	return b, st, ok, err
}

func (o observed) commit(ctx context.Context, id string, data []byte, info Info) error {
	start := time.Now()
	err := o.b.commit(ctx, id, data, info)
	o.report(OpCommit, start, err)
	return err
}

func (o observed) touch(ctx context.Context, id string, info Info) error {
	start := time.Now()
	err := o.b.touch(ctx, id, info)
	o.report(OpTouch, start, err)
	return err
}

func (o observed) delete(ctx context.Context, id string, userID int64) error {
	start := time.Now()
	err := o.b.delete(ctx, id, userID)
	o.report(OpDelete, start, err)
	return err
}

func (o observed) list(ctx context.Context, userID int64) ([]Info, error) {
	start := time.Now()
	l, err := o.b.list(ctx, userID)
	o.report(OpList, start, err)
	return l, err
}
