package testenv

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	platformredis "github.com/the-shop/shop/internal/platform/redis"
)

// RedisServer is a redis-server of one test's own, on a free loopback
// port, for what the shared test Redis cannot give: counters of the whole
// server (writes, memory) that no other test moves.
type RedisServer struct {
	Addr string
	Pool *redis.Pool
}

// MustRedisServer starts redis-server (Debian's, from PATH) with nothing
// kept on disk, and stops it, by pid, when the test ends.
func MustRedisServer(tb testing.TB) *RedisServer {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redis-server is not installed (apt-get install redis-server): %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", fmt.Sprint(port),
		"--save", "", "--appendonly", "no", "--dir", tb.TempDir())
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start redis-server: %v", err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var pool *redis.Pool
	deadline := time.Now().Add(10 * time.Second)
	for {
		if pool, err = platformredis.Open(context.Background(), "redis://"+addr+"/0"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redis-server on %s did not answer: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Cleanup(func() { _ = pool.Close() })
	return &RedisServer{Addr: addr, Pool: pool}
}

// Writes is the number of writes the server has applied since it started
// (INFO persistence's rdb_changes_since_last_save: it counts the writes
// inside scripts too, not the commands).
func (s *RedisServer) Writes(tb testing.TB) int64 {
	tb.Helper()
	conn := s.Pool.Get()
	defer conn.Close()
	info, err := redis.String(conn.Do("INFO", "persistence"))
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	for _, line := range strings.Split(info, "\n") {
		if _, err := fmt.Sscanf(line, "rdb_changes_since_last_save:%d", &n); err == nil {
			return n
		}
	}
	tb.Fatalf("no rdb_changes_since_last_save in INFO persistence")
	return 0
}
