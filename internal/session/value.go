package session

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/alexedwards/scs/v2"
)

// Session is one request's session: what Manager.Load found (or a new,
// empty one), the changes the request makes to it, and the one Save that
// ends it. It belongs to a single request and is not safe for concurrent
// use by several goroutines of that request.
type Session struct {
	m *Manager
	// data is the context scs keeps the session's values in. Methods that
	// reach the store take the caller's ctx for cancellation and use data
	// only for its values (see within).
	data  context.Context
	r     *request
	saved bool
}

// within is a context with ctx's deadline and cancellation and the
// session's values, for the scs calls that reach the store.
func (s *Session) within(ctx context.Context) context.Context {
	return valuesFrom{Context: ctx, values: s.data}
}

// valuesFrom is ctx for cancellation, values for values (the session's
// data and request first, then ctx's own).
type valuesFrom struct {
	context.Context
	values context.Context
}

func (v valuesFrom) Value(key any) any {
	if x := v.values.Value(key); x != nil {
		return x
	}
	return v.Context.Value(key)
}

// UserID returns the signed-in account's id, or 0 for a guest.
func (s *Session) UserID() int64 { return s.m.scs.GetInt64(s.data, keyUserID) }

// Email returns the signed-in account's email ("" for a guest). It is kept
// in the session so that pages need no database read to greet the user.
func (s *Session) Email() string { return s.m.scs.GetString(s.data, keyEmail) }

// Remembered reports whether the user asked to be remembered at login.
func (s *Session) Remembered() bool { return s.m.scs.GetBool(s.data, keyRemember) }

// CartID returns the id of this session's guest cart ("" when none).
func (s *Session) CartID() string { return s.m.scs.GetString(s.data, keyCartID) }

// SetCartID records the id of this session's guest cart.
func (s *Session) SetCartID(id string) { s.m.scs.Put(s.data, keyCartID, id) }

// ClearCartID forgets the guest cart (after it merged into an account's).
func (s *Session) ClearCartID() { s.m.scs.Remove(s.data, keyCartID) }

// AddFlash queues a message for the next page this session sees.
func (s *Session) AddFlash(kind, message string) {
	var list []string
	if v, ok := s.m.scs.Get(s.data, keyFlash).([]string); ok {
		list = v
	}
	s.m.scs.Put(s.data, keyFlash, append(list, kind, message))
}

// PopFlashes returns and removes the queued messages. A session without
// messages is not modified.
func (s *Session) PopFlashes() []Flash {
	if !s.m.scs.Exists(s.data, keyFlash) {
		return nil
	}
	list, _ := s.m.scs.Pop(s.data, keyFlash).([]string)
	var out []Flash
	for i := 0; i+1 < len(list); i += 2 {
		out = append(out, Flash{Kind: list[i], Message: list[i+1]})
	}
	return out
}

// Expiry returns when this session expires if unused from now on (idle) and
// at the latest (absolute), as stored after this request's Save. Both are
// zero for a request without a stored session.
func (s *Session) Expiry() (idle, absolute time.Time) {
	if s.r.id == "" {
		return time.Time{}, time.Time{}
	}
	return s.r.found.expiry, s.m.scs.Deadline(s.data)
}

// Login makes the session belong to userID. The token is renewed first, so a
// token planted before login (session fixation) is worthless after it.
// remember gives a persistent cookie and the longer lifetime.
func (s *Session) Login(ctx context.Context, userID int64, email string, remember bool) error {
	if err := s.RenewToken(ctx); err != nil {
		return fmt.Errorf("renew session token at login: %w", err)
	}
	s.m.scs.Put(s.data, keyUserID, userID)
	s.m.scs.Put(s.data, keyEmail, email)
	// From the account's point of view this is a new session.
	s.m.scs.Put(s.data, keyCreated, time.Now().Unix())
	if remember {
		s.m.scs.RememberMe(s.data, true)
		s.m.scs.SetDeadline(s.data, time.Now().Add(s.m.rememberLifetime).UTC())
	}
	return nil
}

// RenewToken gives the session a new token and deletes the old one from the
// store, so a token known before is worthless.
func (s *Session) RenewToken(ctx context.Context) error {
	if err := s.m.scs.RenewToken(s.within(ctx)); err != nil {
		return err
	}
	s.m.event(EventRenewed)
	return nil
}

// Logout ends the session: the stored session is deleted, so the old cookie
// stops working everywhere, and the next value put starts a new one with a
// new token.
func (s *Session) Logout(ctx context.Context) error {
	if err := s.m.scs.Destroy(s.within(ctx)); err != nil {
		return fmt.Errorf("destroy session at logout: %w", err)
	}
	s.m.event(EventDestroyed)
	return nil
}

// Sessions lists the signed-in account's live sessions, most recently seen
// first. It reads the account's index: one lookup, never a scan.
func (s *Session) Sessions(ctx context.Context) ([]Listed, error) {
	uid := s.UserID()
	if uid == 0 {
		return nil, nil
	}
	infos, err := s.m.b.list(ctx, uid)
	if err != nil {
		return nil, err
	}
	out := make([]Listed, 0, len(infos))
	for _, in := range infos {
		out = append(out, Listed{Info: in, Current: in.ID == s.r.id})
	}
	slices.SortFunc(out, func(a, b Listed) int {
		if a.Current != b.Current {
			if a.Current {
				return -1
			}
			return 1
		}
		return b.LastSeen.Compare(a.LastSeen)
	})
	return out, nil
}

// Revoke ends one of the account's sessions. The session is deleted from
// the store, so every replica refuses its cookie on the very next request.
// Revoking the current session logs out.
func (s *Session) Revoke(ctx context.Context, id string) error {
	list, err := s.Sessions(ctx)
	if err != nil {
		return err
	}
	for _, l := range list {
		if l.ID != id {
			continue
		}
		if l.Current {
			return s.Logout(ctx)
		}
		if err := s.m.b.delete(ctx, id, s.UserID()); err != nil {
			return err
		}
		s.m.event(EventRevoked)
		return nil
	}
	return ErrSessionNotFound
}

// RevokeOthers ends every session of the account but the current one and
// returns how many it ended.
func (s *Session) RevokeOthers(ctx context.Context) (int, error) {
	list, err := s.Sessions(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range list {
		if l.Current {
			continue
		}
		if err := s.m.b.delete(ctx, l.ID, s.UserID()); err != nil {
			return n, err
		}
		s.m.event(EventRevoked)
		n++
	}
	return n, nil
}

// Saved reports whether Save has run for this request.
func (s *Session) Saved() bool { return s.saved }

// Save ends the request's work on the session, once: a changed session is
// committed and its cookie written, a destroyed one gets an expired cookie,
// and an unchanged one is touched (its expiry extended, without rewriting
// its data) when the touch interval has passed since it was last seen.
// Later calls do nothing. w receives the Set-Cookie header, so Save must run
// before the response header is written.
func (s *Session) Save(ctx context.Context, w http.ResponseWriter) error {
	if s.saved {
		return nil
	}
	s.saved = true
	m := s.m
	switch m.scs.Status(s.data) {
	case scs.Modified:
		token, expiry, err := s.commit(ctx)
		if err != nil {
			return err
		}
		s.writeCookie(w, token, expiry)
	case scs.Destroyed:
		s.writeCookie(w, "", time.Time{})
	default:
		now := time.Now().UTC()
		if s.r.id == "" || now.Sub(s.r.found.lastSeen) < m.touchInterval {
			return nil
		}
		in := m.info(s, now)
		in.ID = s.r.id
		if err := m.b.touch(ctx, s.r.id, in); err != nil {
			return err
		}
		s.r.found = stored{expiry: in.Expiry, lastSeen: now}
	}
	return nil
}

// commit writes the session to the store and returns its token and expiry.
func (s *Session) commit(ctx context.Context) (string, time.Time, error) {
	m := s.m
	now := time.Now().UTC()
	if m.scs.GetInt64(s.data, keyCreated) == 0 {
		m.scs.Put(s.data, keyCreated, now.Unix())
	}
	// A session the request did not find in the store is new to it.
	created := s.r.id == ""
	s.r.commit = m.info(s, now)
	token, _, err := m.scs.Commit(s.within(ctx))
	if err == nil && created {
		m.event(EventCreated)
	}
	return token, s.r.commit.Expiry, err
}

// writeCookie is scs's WriteSessionCookie, plus Secure whenever the
// request came over HTTPS (directly or through a proxy that says so), not
// only when configured.
func (s *Session) writeCookie(w http.ResponseWriter, token string, expiry time.Time) {
	sm := s.m.scs
	if !s.r.https || sm.Cookie.Secure {
		sm.WriteSessionCookie(s.data, w, token, expiry)
		return
	}
	rec := &headerOnly{h: http.Header{}}
	sm.WriteSessionCookie(s.data, rec, token, expiry)
	for _, v := range rec.h.Values("Set-Cookie") {
		w.Header().Add("Set-Cookie", v+"; Secure")
	}
	for _, v := range rec.h.Values("Cache-Control") {
		w.Header().Add("Cache-Control", v)
	}
}

// headerOnly collects the headers scs writes.
type headerOnly struct{ h http.Header }

func (r *headerOnly) Header() http.Header         { return r.h }
func (r *headerOnly) Write(b []byte) (int, error) { return len(b), nil }
func (r *headerOnly) WriteHeader(int)             {}
