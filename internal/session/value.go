package session

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/the-shop/shop/internal/account"
)

// Session is one request's session: what Manager.Load found (or a new,
// pending one), the changes the request makes to it, and the one Save that
// ends it. It belongs to a single request and is not safe for concurrent
// use by several goroutines of that request.
//
// Every change is recorded as well as made: when Save finds that another
// request of the same session wrote first, it loads what that request
// stored and makes this request's changes again on top of it, so that
// neither request's flash, cart id or login is lost to the other's write.
type Session struct {
	m *Manager
	// base is the request's context before scs loaded the session into
	// it, to load it again; data is the context scs keeps the session's
	// values in. Methods that reach the store take the caller's ctx for
	// cancellation and use data only for its values (see within).
	base    context.Context
	data    context.Context
	r       *request
	changes []func()
	saved   bool
	// endedAtLoad is set when the cookie's session was refused at load
	// because its account had moved on.
	endedAtLoad bool
	// retired is set once the token is retired (Retire).
	retired bool
	// confirm makes Save check that the stored session still stands even
	// when the request changed nothing in it (see WroteGuestCart).
	confirm bool
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

// change makes a change to the session's values and records it, to make
// it again if the session has to be reloaded before it is saved.
func (s *Session) change(fn func()) {
	fn()
	s.changes = append(s.changes, fn)
}

// UserID returns the signed-in account's id, or 0 for a guest.
func (s *Session) UserID() int64 { return s.m.scs.GetInt64(s.data, keyUserID) }

// Account returns the signed-in account's identity as the session was
// issued (the zero Identity for a guest).
func (s *Session) Account() account.Identity {
	if s.UserID() == 0 {
		return account.Identity{}
	}
	return account.Identity{
		ID:       s.UserID(),
		PublicID: s.m.scs.GetString(s.data, keyAccount),
		Epoch:    s.m.scs.GetInt64(s.data, keyEpoch),
	}
}

// SetEpoch records the account's new session epoch in this session, after
// the request moved the epoch on (a password change, "sign out other
// sessions"), so that this session carries on while the others end.
func (s *Session) SetEpoch(epoch int64) {
	s.change(func() { s.m.scs.Put(s.data, keyEpoch, epoch) })
}

// Token is the session's token, as its cookie carries it.
func (s *Session) Token() string { return s.m.scs.Token(s.data) }

// CSRFToken is the token forms and scripts repeat with every unsafe
// request of this session: the HMAC of the session token, so it needs no
// storage, holds on every replica, and changes when the token does (at
// login).
func (s *Session) CSRFToken() string {
	return base64.RawURLEncoding.EncodeToString(s.m.mac("csrf", []byte(s.Token())))
}

// CheckCSRF reports whether t is this session's CSRF token.
func (s *Session) CheckCSRF(t string) bool {
	return t != "" && hmac.Equal([]byte(t), []byte(s.CSRFToken()))
}

// Ended reports whether the request came with a session that was refused
// because its account had moved on since it was issued.
func (s *Session) Ended() bool { return s.endedAtLoad }

// Email returns the signed-in account's email ("" for a guest). It is kept
// in the session so that pages need no database read to greet the user.
func (s *Session) Email() string { return s.m.scs.GetString(s.data, keyEmail) }

// Remembered reports whether the user asked to be remembered at login.
func (s *Session) Remembered() bool { return s.m.scs.GetBool(s.data, keyRemember) }

// CartID returns the id of this session's guest cart ("" when none).
func (s *Session) CartID() string { return s.m.scs.GetString(s.data, keyCartID) }

// SetCartID records the id of this session's guest cart.
func (s *Session) SetCartID(id string) { s.change(func() { s.m.scs.Put(s.data, keyCartID, id) }) }

// GuestCartID returns the id of this session's guest cart, making one up
// when there is none yet. It is derived from the session token, so that
// the concurrent first requests of a new visitor, which share a pending
// token, add to one cart.
func (s *Session) GuestCartID() string {
	if id := s.CartID(); id != "" {
		return id
	}
	id := s.GuestCart()
	s.SetCartID(id)
	return id
}

// ClearCartID forgets the guest cart (after it merged into an account's).
func (s *Session) ClearCartID() { s.change(func() { s.m.scs.Remove(s.data, keyCartID) }) }

// AddFlash queues a message for the next page this session sees.
func (s *Session) AddFlash(kind, message string) {
	s.change(func() {
		list, _ := s.m.scs.Get(s.data, keyFlash).([]string)
		s.m.scs.Put(s.data, keyFlash, append(slices.Clip(list), kind, message))
	})
}

// PopFlashes returns and removes the queued messages. A session without
// messages is not modified.
func (s *Session) PopFlashes() []Flash {
	if !s.m.scs.Exists(s.data, keyFlash) {
		return nil
	}
	popped, _ := s.m.scs.Get(s.data, keyFlash).([]string)
	// Made again on a reload, the change removes only the messages shown
	// here: one that another request queued meanwhile stays for the next
	// page.
	s.change(func() {
		list, _ := s.m.scs.Get(s.data, keyFlash).([]string)
		left := withoutFlashes(list, popped)
		if len(left) == 0 {
			s.m.scs.Remove(s.data, keyFlash)
			return
		}
		s.m.scs.Put(s.data, keyFlash, left)
	})
	var out []Flash
	for i := 0; i+1 < len(popped); i += 2 {
		out = append(out, Flash{Kind: popped[i], Message: popped[i+1]})
	}
	return out
}

// withoutFlashes returns list without the (kind, message) pairs of shown,
// each removed once.
func withoutFlashes(list, shown []string) []string {
	var left []string
	shown = slices.Clone(shown)
	for i := 0; i+1 < len(list); i += 2 {
		found := false
		for j := 0; j+1 < len(shown); j += 2 {
			if shown[j] == list[i] && shown[j+1] == list[i+1] {
				shown = slices.Delete(shown, j, j+2)
				found = true
				break
			}
		}
		if !found {
			left = append(left, list[i], list[i+1])
		}
	}
	return left
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

// GuestCart returns the id of the guest cart this session adds to: the
// one it records, else the one its token derives (which a concurrent
// request of the session may be filling right now).
func (s *Session) GuestCart() string {
	if id := s.CartID(); id != "" {
		return id
	}
	return base64.RawURLEncoding.EncodeToString(s.m.mac("guest-cart", []byte(s.Token()))[:16])
}

// WroteGuestCart tells the session that the request changed its guest
// cart. Save then confirms that the session still stands, with a touch
// that finds out whether another request renewed it meanwhile (a login in
// another tab that merged the guest cart before this request's change
// landed): the change is then moved where the rest went (see Ended).
func (s *Session) WroteGuestCart() { s.confirm = true }

// Retire marks the session's token as renewed into account (a public id),
// before a login moves what the session holds there: a request of the
// token that writes from now on learns where the session went (Ended)
// instead of writing it. Login does it too, once.
func (s *Session) Retire(ctx context.Context, account string) error {
	if s.r.id == "" || s.retired {
		return nil
	}
	if err := s.m.b.retire(ctx, s.r.id, s.r.owner, account, markerLifetime); err != nil {
		return fmt.Errorf("retire the session token: %w", err)
	}
	s.retired = true
	return nil
}

// Login makes the session belong to the account a. The token is renewed
// first, so a token planted before login (session fixation) is worthless
// after it, and the session starts clean: nothing of a previous visitor or
// account carries over (the caller merges the guest cart before). remember
// gives a persistent cookie and the longer lifetime.
func (s *Session) Login(ctx context.Context, a account.Identity, email string, remember bool) error {
	if err := s.renew(ctx, a.PublicID, false); err != nil {
		return fmt.Errorf("renew session token at login: %w", err)
	}
	now := time.Now()
	s.change(func() {
		s.m.scs.Put(s.data, keyUserID, a.ID)
		s.m.scs.Put(s.data, keyAccount, a.PublicID)
		s.m.scs.Put(s.data, keyEpoch, a.Epoch)
		s.m.scs.Put(s.data, keyEmail, email)
		// From the account's point of view this is a new session.
		s.m.scs.Put(s.data, keyCreated, now.Unix())
		s.m.scs.RememberMe(s.data, remember)
		deadline := now.Add(s.m.scs.Lifetime)
		if remember {
			deadline = now.Add(s.m.rememberLifetime)
		}
		s.m.scs.SetDeadline(s.data, deadline.UTC())
	})
	return nil
}

// RenewToken moves the session, with its values, to a new token and
// retires the old one in the store, so a token known before is worthless
// (a privilege change).
func (s *Session) RenewToken(ctx context.Context) error {
	return s.renew(ctx, s.Account().PublicID, true)
}

// renew moves the session to a new token minted here (so that a late
// request of this one's token, too, is one the shop recognises) and retires
// the old token with a marker: a request of it still in flight learns that
// the session went on as account's (see Ended). carry keeps the values and
// the deadline; without it the new session starts empty.
func (s *Session) renew(ctx context.Context, account string, carry bool) error {
	if err := s.Retire(ctx, account); err != nil {
		return err
	}
	fresh, err := s.m.loadMinted(context.WithoutCancel(s.base), s.r.req())
	if err != nil {
		return err
	}
	if carry {
		for _, k := range s.m.scs.Keys(s.data) {
			fresh.m.scs.Put(fresh.data, k, s.m.scs.Get(s.data, k))
		}
		fresh.m.scs.SetDeadline(fresh.data, s.m.scs.Deadline(s.data))
	}
	s.swap(fresh)
	s.m.event(EventRenewed)
	return nil
}

// swap makes s the fresh session of the same request.
func (s *Session) swap(fresh *Session) {
	fresh.r.cookie = s.r.cookie
	s.base, s.data, s.r, s.changes, s.retired = fresh.base, fresh.data, fresh.r, nil, false
}

// Logout ends the session: the stored session is deleted, so the old cookie
// stops working everywhere, and the request goes on in a new, empty session
// whose cookie replaces the old one.
func (s *Session) Logout(ctx context.Context) error {
	if s.r.id != "" {
		if err := s.m.b.delete(ctx, s.r.id, s.r.owner); err != nil {
			return fmt.Errorf("delete session at logout: %w", err)
		}
	}
	fresh, err := s.m.loadMinted(context.WithoutCancel(s.base), s.r.req())
	if err != nil {
		return err
	}
	fresh.r.announce = true
	s.swap(fresh)
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
	infos, err := s.m.b.list(ctx, s.r.owner)
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
		if err := s.m.b.delete(ctx, id, s.r.owner); err != nil {
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
		if err := s.m.b.delete(ctx, l.ID, s.r.owner); err != nil {
			return n, err
		}
		s.m.event(EventRevoked)
		n++
	}
	return n, nil
}

// RevokeAll ends every stored session of the account a but this one and
// returns how many it ended: a password reset, made from a browser that
// need not be signed in as a, tidies the account's session list with it.
// The account's new session epoch has refused those sessions already; this
// deletes them so that they leave the list at once.
func (s *Session) RevokeAll(ctx context.Context, a account.Identity) (int, error) {
	ow := owner{userID: a.ID, account: a.PublicID}
	infos, err := s.m.b.list(ctx, ow)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, in := range infos {
		if in.ID == s.r.id {
			continue
		}
		if err := s.m.b.delete(ctx, in.ID, ow); err != nil {
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
// its data) when the touch interval has passed since it was last seen; a
// pending one gets its cookie when this request minted it. Later calls do
// nothing. w receives the Set-Cookie header, so Save must run before the
// response header is written.
//
// A write lands only over what the request loaded. When another request of
// the session wrote first, Save loads what it stored and makes this
// request's changes again on top (at most maxReplays times). When the
// session is no longer stored (logged out, revoked, renewed by a login in
// another tab), nothing is written back and Save returns an *Ended error.
func (s *Session) Save(ctx context.Context, w http.ResponseWriter) error {
	if s.saved {
		return nil
	}
	s.saved = true
	m := s.m
	switch m.scs.Status(s.data) {
	case scs.Modified:
		for replays := 0; ; replays++ {
			token, expiry, err := s.commit(ctx)
			if err == nil {
				if token != s.r.cookie {
					s.writeCookie(w, token, expiry)
				}
				return nil
			}
			if !errors.Is(err, errStale) || replays == maxReplays {
				return s.ended(err)
			}
			if err := s.reload(ctx); err != nil {
				return s.ended(err)
			}
		}
	case scs.Destroyed:
		s.writeCookie(w, "", time.Time{})
	default:
		if s.r.minted && s.r.announce {
			// The cookie of a pending session: nothing stored yet, so the
			// browser needs it to come back to the same token.
			s.writeCookie(w, s.Token(), m.scs.Deadline(s.data))
			return nil
		}
		now := time.Now().UTC()
		if s.r.found.version == 0 || (now.Sub(s.r.found.lastSeen) < m.touchInterval && !s.confirm) {
			return nil
		}
		in := m.info(s, now)
		in.ID = s.r.id
		if err := m.b.touch(ctx, s.r.id, in); err != nil {
			return s.ended(err)
		}
		s.r.found.expiry, s.r.found.lastSeen = in.Expiry, now
	}
	return nil
}

// maxReplays bounds how often one Save loads the session again after
// another request wrote first: a few concurrent requests of one session
// take a few rounds, and a session that never settles is a bug.
const maxReplays = 16

// reload loads the session as stored now and makes this request's changes
// again on it.
func (s *Session) reload(ctx context.Context) error {
	s.r.id, s.r.found = "", stored{}
	data, err := s.m.scs.Load(valuesFrom{Context: ctx, values: s.base}, s.Token())
	if err != nil {
		return err
	}
	if s.r.id == "" {
		return &gone{}
	}
	s.data = data
	for _, fn := range s.changes {
		fn()
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
	created := s.r.found.version == 0
	s.r.commit = m.info(s, now)
	token, _, err := m.scs.Commit(s.within(ctx))
	if err == nil && created {
		m.event(EventCreated)
	}
	return token, s.r.commit.Expiry, err
}

// Ended is what Save returns when the session it would write is no longer
// stored: nothing was written back, and no cookie was set.
type Ended struct {
	// Renewed is set when another request of the session renewed its
	// token (a login, a password change): the browser has the new cookie
	// already, and the session went on as Account's (a public id; "" for
	// a guest).
	Renewed bool
	Account string
	// SignedIn is set when the session belonged to an account: it was
	// logged out or revoked, and the user is signed out.
	SignedIn bool
	// GuestCart is the guest cart the request used, if any: what it added
	// there after a login in another tab merged the cart belongs in
	// Account's cart.
	GuestCart string
}

func (e *Ended) Error() string {
	if e.Renewed {
		return "session renewed by another request"
	}
	return "session ended by another request"
}

// ended turns a gone error into an *Ended; other errors pass.
func (s *Session) ended(err error) error {
	var g *gone
	if !errors.As(err, &g) {
		return err
	}
	return &Ended{Renewed: g.renewed, Account: g.renewedTo, SignedIn: s.r.owner.userID != 0, GuestCart: s.CartID()}
}

// Restart replaces an ended session by a new, empty one under a new
// pending token, unsaved, for the request to tell the user (a flash) and
// save.
func (s *Session) Restart(ctx context.Context) error {
	fresh, err := s.m.loadMinted(context.WithoutCancel(s.base), s.r.req())
	if err != nil {
		return err
	}
	fresh.r.cookie = s.r.cookie
	*s = *fresh
	return nil
}

// writeCookie sets the session cookie (token "" deletes it), as scs's
// WriteSessionCookie does, with two differences for a request that came
// over HTTPS (directly or through a proxy that says so): the cookie is
// Secure whatever the configuration, and it is named with the __Host-
// prefix, which browsers accept only from a secure origin, for the whole
// host (no Domain) and Path=/, so a subdomain or a plain-HTTP page cannot
// plant or overwrite it.
func (s *Session) writeCookie(w http.ResponseWriter, token string, expiry time.Time) {
	sm := s.m.scs
	c := &http.Cookie{
		Name:     s.m.CookieName(s.r.https),
		Value:    token,
		Path:     "/",
		Domain:   sm.Cookie.Domain,
		Secure:   sm.Cookie.Secure || s.r.https,
		HttpOnly: sm.Cookie.HttpOnly,
		SameSite: sm.Cookie.SameSite,
	}
	if s.r.https {
		c.Domain = ""
	}
	switch {
	case expiry.IsZero():
		c.Expires = time.Unix(1, 0)
		c.MaxAge = -1
	case sm.Cookie.Persist || s.Remembered():
		c.Expires = time.Unix(expiry.Unix()+1, 0)
		c.MaxAge = int(time.Until(expiry).Seconds() + 1)
	}
	w.Header().Add("Set-Cookie", c.String())
	w.Header().Add("Cache-Control", `no-cache="Set-Cookie"`)
}
