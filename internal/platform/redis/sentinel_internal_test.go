package redis

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// TestMasterConnDropsReplica: a connection whose server is a replica (a
// demoted master) is not handed out again, whether a write found out
// (READONLY) or the ROLE check on borrowing did. A real redis-server, a
// replica of a master that does not exist, stands for the demoted master.
func TestMasterConnDropsReplica(t *testing.T) {
	t.Parallel()
	addr := startReplica(t)
	current := &currentMaster{addr: addr, at: time.Now().Add(time.Hour)} // the sentinels' word: this address
	dial := func() (*masterConn, error) {
		c, err := redis.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		return &masterConn{Conn: c, addr: addr, current: current, checked: time.Now()}, nil
	}
	pool := &redis.Pool{
		MaxIdle: 4,
		Dial:    func() (redis.Conn, error) { return dial() },
		TestOnBorrow: func(c redis.Conn, _ time.Time) error {
			return c.(*masterConn).checkRole()
		},
	}
	defer pool.Close()

	t.Run("READONLY", func(t *testing.T) {
		c := pool.Get()
		_, err := c.Do("SET", "k", "v")
		if !IsReadOnly(err) || !IsUnavailable(err) {
			t.Fatalf("SET on a replica: %v; want READONLY, counted as unavailable", err)
		}
		if !errors.Is(c.Err(), ErrNotMaster) {
			t.Errorf("Err after READONLY = %v, want ErrNotMaster", c.Err())
		}
		c.Close()
		if n := pool.IdleCount(); n != 0 {
			t.Errorf("idle connections after READONLY: %d, want 0 (closed, not kept)", n)
		}
		// The stores write through scripts: a write inside one answers
		// READONLY too.
		c = pool.Get()
		_, err = redis.NewScript(1, "return redis.call('SET', KEYS[1], 'v')").Do(c, "k")
		if !IsReadOnly(err) || !errors.Is(c.Err(), ErrNotMaster) {
			t.Errorf("script on a replica: %v (Err %v); want READONLY and a broken connection", err, c.Err())
		}
		c.Close()
	})
	t.Run("ROLE", func(t *testing.T) {
		mc, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		defer mc.Close()
		if err := mc.checkRole(); err != nil {
			t.Errorf("checked within the second: %v; want no round trip, nil", err)
		}
		mc.checked = time.Now().Add(-2 * roleCheckInterval)
		if err := mc.checkRole(); !errors.Is(err, ErrNotMaster) {
			t.Errorf("ROLE check of a replica = %v, want ErrNotMaster", err)
		}
	})
	t.Run("sentinels name another", func(t *testing.T) {
		mc, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		defer mc.Close()
		mc.addr = "127.0.0.1:1" // dialled when the sentinels named another
		mc.checked = time.Now().Add(-2 * roleCheckInterval)
		if err := mc.checkRole(); !errors.Is(err, ErrNotMaster) || !errors.Is(mc.Err(), ErrNotMaster) {
			t.Errorf("check of a server the sentinels no longer name = %v (Err %v), want ErrNotMaster", err, mc.Err())
		}
	})
}

// startReplica starts redis-server as a replica of a master that does not
// exist, on a free loopback port, and stops it by pid at the end.
func startReplica(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", fmt.Sprint(port),
		"--save", "", "--appendonly", "no", "--dir", t.TempDir(), "--replicaof", "127.0.0.1", "1")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server (Debian: apt-get install redis-server): %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := redis.Dial("tcp", addr)
		if err == nil {
			_, err = c.Do("PING")
			c.Close()
			if err == nil {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s does not answer: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
