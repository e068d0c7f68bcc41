package session

import (
	"context"
	"time"

	"github.com/alexedwards/scs/v2"
)

// commitInfo is what Manager.Commit knows about the session that the store
// cannot read from the encoded bytes: who it belongs to, and for a
// remembered login, the deadline it must live until.
type commitInfo struct {
	userID int64
	// rememberUntil, when set, replaces the idle expiry: a remembered login
	// lasts until its absolute deadline however long the user is away.
	rememberUntil time.Time
}

type commitInfoKey struct{}

func withCommitInfo(ctx context.Context, info commitInfo) context.Context {
	return context.WithValue(ctx, commitInfoKey{}, info)
}

func commitInfoFrom(ctx context.Context) commitInfo {
	info, _ := ctx.Value(commitInfoKey{}).(commitInfo)
	return info
}

// store wraps the configured scs store and applies commitInfo, so that every
// kind of store treats remembered sessions the same way.
type store struct {
	inner scs.Store
}

var _ scs.CtxStore = (*store)(nil)

// FindCtx implements scs.CtxStore.
func (s *store) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	if c, ok := s.inner.(scs.CtxStore); ok {
		return c.FindCtx(ctx, token)
	}
	return s.inner.Find(token)
}

// CommitCtx implements scs.CtxStore.
func (s *store) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if info := commitInfoFrom(ctx); !info.rememberUntil.IsZero() {
		expiry = info.rememberUntil
	}
	if c, ok := s.inner.(scs.CtxStore); ok {
		return c.CommitCtx(ctx, token, b, expiry)
	}
	return s.inner.Commit(token, b, expiry)
}

// DeleteCtx implements scs.CtxStore.
func (s *store) DeleteCtx(ctx context.Context, token string) error {
	if c, ok := s.inner.(scs.CtxStore); ok {
		return c.DeleteCtx(ctx, token)
	}
	return s.inner.Delete(token)
}

// Find implements scs.Store; scs calls FindCtx.
func (s *store) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// Commit implements scs.Store; scs calls CommitCtx.
func (s *store) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// Delete implements scs.Store; scs calls DeleteCtx.
func (s *store) Delete(token string) error {
	return s.DeleteCtx(context.Background(), token)
}
