package session

import (
	"context"
	"errors"
	"time"
)

// Info is what the shop keeps about a session beside its data: enough to
// list an account's sessions, and to extend a session's expiry without
// rewriting its data.
type Info struct {
	// ID is the stored token: the SHA-256 of the cookie value, so it can be
	// shown and used in URLs without handing out the session.
	ID     string
	UserID int64
	// Account is the account's public id: it keys the account's session
	// index outside PostgreSQL.
	Account   string
	CreatedAt time.Time
	LastSeen  time.Time
	Expiry    time.Time
	IP        string
	UserAgent string
	// Replica is the replica that served the session's last request.
	Replica string
}

// owner names an account whose sessions a backend indexes: PostgreSQL by
// the row's user id, the others by the account's public id.
type owner struct {
	userID  int64
	account string
}

func (in Info) owner() owner { return owner{userID: in.UserID, account: in.Account} }

// backend is one kind of session store. Unlike scs's Store it returns a
// session's expiry and version with its data (one round trip), writes only
// over the version a request loaded, can extend the expiry alone, and keeps
// a per-account index.
type backend interface {
	// find returns the data of a live session with its expiry, the time it
	// was last written or touched, and its version.
	find(ctx context.Context, id string) (data []byte, st stored, found bool, err error)
	// commit writes data and info (info.Expiry is the new expiry) if the
	// stored version is still expect, and returns the new version. expect
	// 0 means the request found no session: it creates one, only if no
	// session has that id. It returns errStale when another request wrote
	// first, and a *gone error when the session it expected is no longer
	// stored; a commit never brings back a session that was deleted.
	commit(ctx context.Context, id string, data []byte, info Info, expect int64) (version int64, err error)
	// touch moves a live session's expiry to info.Expiry and records
	// info.LastSeen, Replica and IP. It returns a *gone error for a
	// session that is not stored (a touch never brings one back).
	touch(ctx context.Context, id string, info Info) error
	// delete removes a session (and its entry in its owner's index).
	delete(ctx context.Context, id string, o owner) error
	// retire removes a session whose token was renewed and leaves a marker
	// for ttl that says which account it went to (see gone.renewedTo).
	retire(ctx context.Context, id string, o owner, renewedTo string, ttl time.Duration) error
	// list returns the live sessions of an account, in no particular order.
	list(ctx context.Context, o owner) ([]Info, error)
}

// stored is what find learns about a session besides its data.
type stored struct {
	expiry   time.Time
	lastSeen time.Time
	// version counts the session's writes; 0 for a session not stored yet.
	version int64
}

// errStale: the session changed since the request loaded it.
var errStale = errors.New("session changed by another request")

// gone is the error of a write to a session that is no longer stored.
type gone struct {
	// renewedTo is set when the session was renewed rather than ended: the
	// public id of the account it went to (at a login or a password
	// change), "" for a guest.
	renewed   bool
	renewedTo string
}

func (g *gone) Error() string {
	if g.renewed {
		return "session renewed by another request"
	}
	return "session no longer stored"
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

// observed wraps a backend and reports each operation. A stale or gone
// write is an answer, not a store failure: it is reported without error.
type observed struct {
	b   backend
	obs Observer
}

func (o observed) report(op Op, start time.Time, err error) {
	if o.obs == nil {
		return
	}
	var g *gone
	if errors.Is(err, errStale) || errors.As(err, &g) {
		err = nil
	}
	o.obs(op, time.Since(start), err)
}

func (o observed) find(ctx context.Context, id string) ([]byte, stored, bool, error) {
	start := time.Now()
	b, st, ok, err := o.b.find(ctx, id)
	o.report(OpFind, start, err)
	return b, st, ok, err
}

func (o observed) commit(ctx context.Context, id string, data []byte, info Info, expect int64) (int64, error) {
	start := time.Now()
	v, err := o.b.commit(ctx, id, data, info, expect)
	o.report(OpCommit, start, err)
	return v, err
}

func (o observed) touch(ctx context.Context, id string, info Info) error {
	start := time.Now()
	err := o.b.touch(ctx, id, info)
	o.report(OpTouch, start, err)
	return err
}

func (o observed) delete(ctx context.Context, id string, ow owner) error {
	start := time.Now()
	err := o.b.delete(ctx, id, ow)
	o.report(OpDelete, start, err)
	return err
}

func (o observed) retire(ctx context.Context, id string, ow owner, renewedTo string, ttl time.Duration) error {
	start := time.Now()
	err := o.b.retire(ctx, id, ow, renewedTo, ttl)
	o.report(OpDelete, start, err)
	return err
}

func (o observed) list(ctx context.Context, ow owner) ([]Info, error) {
	start := time.Now()
	l, err := o.b.list(ctx, ow)
	o.report(OpList, start, err)
	return l, err
}
