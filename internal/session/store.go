package session

import (
	"context"
	"time"

	"github.com/alexedwards/scs/v2"
)

// request is the per-request state the Manager shares with its scs store
// through the context: what the request is (address, browser) and what the
// store found, so that a request that changes nothing can decide whether to
// touch without another round trip.
type request struct {
	ip, userAgent string
	https         bool
	// id and found are set when the store found a live session; id is the
	// stored token (the hash of the cookie value).
	id    string
	found stored
	// userID is the session's account as loaded, so deleting the session
	// (logout, token renewal) also removes it from the account's index.
	userID int64
	// commit is what Manager.Commit decided: the session's info, with the
	// expiry to store.
	commit Info
}

type requestKey struct{}

func withRequest(ctx context.Context, r *request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

func requestFrom(ctx context.Context) *request {
	r, _ := ctx.Value(requestKey{}).(*request)
	if r == nil {
		return &request{}
	}
	return r
}

// store adapts a backend to scs, which hands it the stored token (scs
// hashes the cookie value first).
type store struct {
	b backend
}

var _ scs.CtxStore = (*store)(nil)

// FindCtx implements scs.CtxStore.
func (s *store) FindCtx(ctx context.Context, id string) ([]byte, bool, error) {
	data, st, found, err := s.b.find(ctx, id)
	if found {
		r := requestFrom(ctx)
		r.id, r.found = id, st
	}
	return data, found, err
}

// CommitCtx implements scs.CtxStore. scs passes the absolute deadline as the
// expiry (its own idle timeout is off); Manager.Commit has put the expiry it
// wants, and the rest of the session's info, in the request.
func (s *store) CommitCtx(ctx context.Context, id string, data []byte, deadline time.Time) error {
	r := requestFrom(ctx)
	in := r.commit
	in.ID = id
	if in.Expiry.IsZero() || in.Expiry.After(deadline) {
		in.Expiry = deadline
	}
	if err := s.b.commit(ctx, id, data, in); err != nil {
		return err
	}
	r.id, r.found = id, stored{expiry: in.Expiry, lastSeen: in.LastSeen}
	return nil
}

// DeleteCtx implements scs.CtxStore.
func (s *store) DeleteCtx(ctx context.Context, id string) error {
	return s.b.delete(ctx, id, requestFrom(ctx).userID)
}

// Find implements scs.Store; scs calls FindCtx.
func (s *store) Find(id string) ([]byte, bool, error) { return s.FindCtx(context.Background(), id) }

// Commit implements scs.Store; scs calls CommitCtx.
func (s *store) Commit(id string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), id, b, expiry)
}

// Delete implements scs.Store; scs calls DeleteCtx.
func (s *store) Delete(id string) error { return s.DeleteCtx(context.Background(), id) }
