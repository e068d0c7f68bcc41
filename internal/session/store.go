package session

import (
	"context"
	"time"

	"github.com/alexedwards/scs/v2"
)

// request is the per-request state the Session shares with its scs store
// through the context: what the request is (address, browser), what the
// store found (so that a request that changes nothing can decide whether
// to touch without another round trip, and a write lands only over the
// version it loaded), and how a renewal should leave the old token.
type request struct {
	ip, userAgent string
	https         bool
	// pending is set when the cookie carries a token this shop minted and
	// has not stored yet (see Manager.mint); minted when this request
	// minted it, so nothing can be stored under it yet; announce when the
	// request came without any session cookie, so the minted token's
	// cookie is set even if nothing is stored (a request that came with a
	// cookie this replica does not know keeps it unless it writes: with
	// SESSION_STORE=memory another replica may know it).
	pending, minted, announce bool
	// cookie is the token the request's cookie carried ("" for none): a
	// response sets the cookie only when the session's token differs, so a
	// slow answer of an older request cannot put back a token that a
	// login in another tab has replaced in the browser meanwhile.
	cookie string
	// id and found are set when the store found a live session (or the
	// request has a pending one); id is the stored token (the hash of the
	// cookie value).
	id    string
	found stored
	// owner is the session's account as loaded, so deleting the session
	// (logout, token renewal) also removes it from the account's index.
	owner owner
	// commit is what Session.commit decided: the session's info, with the
	// expiry to store.
	commit Info
}

// req is what the request is, to load another session for it.
func (r *request) req() Request { return Request{IP: r.ip, UserAgent: r.userAgent, HTTPS: r.https} }

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

// markerLifetime is how long the marker of a renewed token lives: longer
// than any request that loaded the old token can still be running.
const markerLifetime = time.Minute

// store adapts a backend to scs, which hands it the stored token (scs
// hashes the cookie value first).
type store struct {
	b backend
	// empty is an encoded session without values, what a pending token
	// loads until something is stored under it.
	empty func() ([]byte, error)
	// sealer, when set, seals what is stored and opens what is found.
	sealer *Sealer
}

var _ scs.CtxStore = (*store)(nil)

// FindCtx implements scs.CtxStore.
func (s *store) FindCtx(ctx context.Context, id string) ([]byte, bool, error) {
	r := requestFrom(ctx)
	if !r.minted {
		data, st, found, err := s.b.find(ctx, id)
		if err != nil {
			return nil, false, err
		}
		if found && s.sealer != nil {
			// Data that does not open for this id (unsealed, sealed for
			// another id, tampered with) is no session of this token.
			if data, err = s.sealer.Open(id, data); err != nil {
				found = false
			}
		}
		if found {
			r.id, r.found = id, st
			return data, true, nil
		}
	}
	if !r.pending {
		return nil, false, nil
	}
	// A pending token loads as an empty session under that very token, so
	// that concurrent first requests of a new visitor (tabs, a double
	// click) all write one session.
	r.id, r.found = id, stored{}
	data, err := s.empty()
	return data, err == nil, err
}

// CommitCtx implements scs.CtxStore. scs passes the absolute deadline as the
// expiry (its own idle timeout is off); Session.commit has put the expiry
// it wants, and the rest of the session's info, in the request. The write
// lands only over the version the request loaded (none: only if nothing
// is stored under the token).
func (s *store) CommitCtx(ctx context.Context, id string, data []byte, deadline time.Time) error {
	r := requestFrom(ctx)
	in := r.commit
	in.ID = id
	if in.Expiry.IsZero() || in.Expiry.After(deadline) {
		in.Expiry = deadline
	}
	var expect int64
	if id == r.id {
		expect = r.found.version
	}
	if s.sealer != nil {
		var err error
		if data, err = s.sealer.Seal(id, data); err != nil {
			return err
		}
	}
	v, err := s.b.commit(ctx, id, data, in, expect)
	if err != nil {
		return err
	}
	r.id, r.found = id, stored{expiry: in.Expiry, lastSeen: in.LastSeen, version: v}
	r.pending, r.minted = false, false
	r.owner = in.owner()
	return nil
}

// DeleteCtx implements scs.CtxStore. The Session deletes and retires
// tokens itself (Logout, renew); scs does not call this.
func (s *store) DeleteCtx(ctx context.Context, id string) error {
	return s.b.delete(ctx, id, requestFrom(ctx).owner)
}

// Find implements scs.Store; scs calls FindCtx.
func (s *store) Find(id string) ([]byte, bool, error) { return s.FindCtx(context.Background(), id) }

// Commit implements scs.Store; scs calls CommitCtx.
func (s *store) Commit(id string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), id, b, expiry)
}

// Delete implements scs.Store; scs calls DeleteCtx.
func (s *store) Delete(id string) error { return s.DeleteCtx(context.Background(), id) }
