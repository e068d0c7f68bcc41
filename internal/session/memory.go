package session

import (
	"context"
	"sync"
	"time"
)

// memoryBackend keeps sessions in this process. It exists for the workshop:
// with more than one replica every replica has its own sessions, which is
// the pitfall the workshop shows. Within one process it keeps the same
// rules as the real stores.
type memoryBackend struct {
	mu       sync.Mutex
	sessions map[string]memSession
	byOwner  map[string]map[string]struct{}
	commits  int
}

type memSession struct {
	data    []byte
	info    Info
	version int64
	// renewed marks a renewal marker (no data), renewedTo its account.
	renewed   bool
	renewedTo string
}

var _ backend = (*memoryBackend)(nil)

func newMemoryBackend() *memoryBackend {
	return &memoryBackend{sessions: map[string]memSession{}, byOwner: map[string]map[string]struct{}{}}
}

// entry returns a session or marker that has not expired. The caller
// holds mu.
func (s *memoryBackend) entry(id string) (memSession, bool) {
	e, ok := s.sessions[id]
	if !ok || !e.info.Expiry.After(time.Now()) {
		return memSession{}, false
	}
	return e, true
}

// live returns a session (not a marker) that has not expired.
func (s *memoryBackend) live(id string) (memSession, bool) {
	e, ok := s.entry(id)
	return e, ok && !e.renewed
}

// whyNot is why a conditional write found no session to write to. The
// caller holds mu.
func (s *memoryBackend) whyNot(id string) error {
	e, ok := s.entry(id)
	switch {
	case !ok:
		return &gone{}
	case e.renewed:
		return &gone{renewed: true, renewedTo: e.renewedTo}
	}
	return errStale
}

func (s *memoryBackend) find(_ context.Context, id string) ([]byte, stored, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.live(id)
	return e.data, stored{expiry: e.info.Expiry, lastSeen: e.info.LastSeen, version: e.version}, ok, nil
}

func (s *memoryBackend) commit(_ context.Context, id string, data []byte, in Info, expect int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, exists := s.entry(id)
	switch {
	case expect == 0 && exists:
		// Someone created it first (or it is a renewal marker).
		return 0, s.whyNot(id)
	case expect != 0 && (!exists || e.renewed || e.version != expect):
		return 0, s.whyNot(id)
	}
	in.ID = id
	version := e.version + 1
	s.sessions[id] = memSession{data: data, info: in, version: version}
	if in.Account != "" {
		if s.byOwner[in.Account] == nil {
			s.byOwner[in.Account] = map[string]struct{}{}
		}
		s.byOwner[in.Account][id] = struct{}{}
	}
	// Expired sessions are dropped now and then, so a long workshop does
	// not grow the process without bound.
	if s.commits++; s.commits%1000 == 0 {
		s.sweep()
	}
	return version, nil
}

func (s *memoryBackend) sweep() {
	now := time.Now()
	for id, e := range s.sessions {
		if !e.info.Expiry.After(now) {
			delete(s.sessions, id)
			delete(s.byOwner[e.info.Account], id)
		}
	}
}

func (s *memoryBackend) touch(_ context.Context, id string, in Info) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.live(id)
	if !ok {
		return s.whyNot(id)
	}
	e.info.Expiry, e.info.LastSeen, e.info.Replica, e.info.IP = in.Expiry, in.LastSeen, in.Replica, in.IP
	s.sessions[id] = e
	return nil
}

func (s *memoryBackend) delete(_ context.Context, id string, o owner) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, id)
	delete(s.byOwner[o.account], id)
	return nil
}

func (s *memoryBackend) retire(_ context.Context, id string, o owner, renewedTo string, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byOwner[o.account], id)
	s.sessions[id] = memSession{renewed: true, renewedTo: renewedTo, info: Info{ID: id, Expiry: time.Now().Add(ttl)}}
	return nil
}

func (s *memoryBackend) list(_ context.Context, o owner) ([]Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Info
	for id := range s.byOwner[o.account] {
		if e, ok := s.live(id); ok {
			out = append(out, e.info)
		}
	}
	return out, nil
}
