package session

import (
	"context"
	"sync"
	"time"
)

// memoryBackend keeps sessions in this process. It exists for the workshop:
// with more than one replica every replica has its own sessions, which is
// the pitfall the workshop shows.
type memoryBackend struct {
	mu       sync.Mutex
	sessions map[string]memSession
	byUser   map[int64]map[string]struct{}
	commits  int
}

type memSession struct {
	data []byte
	info Info
}

var _ backend = (*memoryBackend)(nil)

func newMemoryBackend() *memoryBackend {
	return &memoryBackend{sessions: map[string]memSession{}, byUser: map[int64]map[string]struct{}{}}
}

// live returns a session that has not expired. The caller holds mu.
func (s *memoryBackend) live(id string) (memSession, bool) {
	e, ok := s.sessions[id]
	if !ok || !e.info.Expiry.After(time.Now()) {
		return memSession{}, false
	}
	return e, true
}

func (s *memoryBackend) find(_ context.Context, id string) ([]byte, stored, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.live(id)
	return e.data, stored{expiry: e.info.Expiry, lastSeen: e.info.LastSeen}, ok, nil
}

func (s *memoryBackend) commit(_ context.Context, id string, data []byte, in Info) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	in.ID = id
	s.sessions[id] = memSession{data: data, info: in}
	if in.UserID != 0 {
		if s.byUser[in.UserID] == nil {
			s.byUser[in.UserID] = map[string]struct{}{}
		}
		s.byUser[in.UserID][id] = struct{}{}
	}
	// Expired sessions are dropped now and then, so a long workshop does
	// not grow the process without bound.
	if s.commits++; s.commits%1000 == 0 {
		s.sweep()
	}
	return nil
}

func (s *memoryBackend) sweep() {
	now := time.Now()
	for id, e := range s.sessions {
		if !e.info.Expiry.After(now) {
			delete(s.sessions, id)
			delete(s.byUser[e.info.UserID], id)
		}
	}
}

func (s *memoryBackend) touch(_ context.Context, id string, in Info) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.live(id)
	if !ok {
		return nil
	}
	e.info.Expiry, e.info.LastSeen, e.info.Replica, e.info.IP = in.Expiry, in.LastSeen, in.Replica, in.IP
	s.sessions[id] = e
	return nil
}

func (s *memoryBackend) delete(_ context.Context, id string, userID int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, id)
	delete(s.byUser[userID], id)
	return nil
}

func (s *memoryBackend) list(_ context.Context, userID int64) ([]Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Info
	for id := range s.byUser[userID] {
		if e, ok := s.live(id); ok {
			out = append(out, e.info)
		}
	}
	return out, nil
}
