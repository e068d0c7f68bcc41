package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/FZambia/sentinel/v2"
	"github.com/gomodule/redigo/redis"
)

// SentinelConfig names the sentinels that watch the shop's Redis master.
type SentinelConfig struct {
	// Addrs are the sentinels' host:port.
	Addrs []string
	// Master is the name the sentinels monitor the master under.
	Master string
	// Password, when set, authenticates to the sentinels and to the
	// master they name.
	Password string
	// MaxConnections caps the pool (DefaultMaxConnections when 0).
	MaxConnections int
}

// roleCheckInterval is the least time between two ROLE checks of one
// connection: a connection to a demoted master is dropped within this
// long of its next use, at the price of one round trip per connection
// per interval.
const roleCheckInterval = time.Second

// ErrNotMaster is what a connection answers once its server turned out
// not to be the master any more (a READONLY reply or a ROLE check): the
// pool does not hand it out again.
var ErrNotMaster = errors.New("redis: the server is no longer the master")

// OpenSentinel returns a pool of connections to the master the sentinels
// name, and checks that it answers PING. Each new connection asks the
// sentinels (the first that answers) for the master's address, so after a
// failover new connections reach the new master. Connections to the old
// one are dropped: a READONLY reply (the old master came back as a
// replica) breaks the connection that got it, and a borrowed connection
// confirms, at most once a second, that its server is still the master:
// the address the sentinels name (asked at most once a second for the
// whole pool) and ROLE. A connection to a master that died fails its one request
// with a network error and is closed by the pool.
//
// Close closes the pool and the connections to the sentinels (the
// returned closer; the pool's own Close does not know them).
func OpenSentinel(ctx context.Context, cfg SentinelConfig) (*redis.Pool, func() error, error) {
	if len(cfg.Addrs) == 0 || cfg.Master == "" {
		return nil, nil, errors.New("redis sentinel: no sentinel addresses or no master name")
	}
	maxConns := cfg.MaxConnections
	if maxConns <= 0 {
		maxConns = DefaultMaxConnections
	}
	opts := func() []redis.DialOption {
		o := []redis.DialOption{
			redis.DialConnectTimeout(2 * time.Second),
			redis.DialReadTimeout(5 * time.Second),
			redis.DialWriteTimeout(5 * time.Second),
		}
		if cfg.Password != "" {
			o = append(o, redis.DialPassword(cfg.Password))
		}
		return o
	}
	sntnl := &sentinel.Sentinel{
		Addrs:      append([]string(nil), cfg.Addrs...),
		MasterName: cfg.Master,
		Dial: func(addr string) (redis.Conn, error) {
			// A sentinel that does not answer quickly is skipped for the
			// next (Sentinel's client guidelines ask for a timeout).
			return redis.Dial("tcp", addr,
				redis.DialConnectTimeout(500*time.Millisecond),
				redis.DialReadTimeout(500*time.Millisecond),
				redis.DialWriteTimeout(500*time.Millisecond),
				redis.DialPassword(cfg.Password))
		},
	}
	current := &currentMaster{sentinel: sntnl}
	dial := func(ctx context.Context) (redis.Conn, error) {
		addr, err := current.ask()
		if err != nil {
			return nil, fmt.Errorf("ask the sentinels for master %q: %w", cfg.Master, err)
		}
		c, err := redis.DialContext(ctx, "tcp", addr, opts()...)
		if err != nil {
			return nil, err
		}
		// The sentinels may still name a master they are about to demote,
		// or one that restarted as a replica: only a master will do.
		if ok, err := sentinel.TestRole(c, "master"); err != nil || !ok {
			c.Close()
			if err == nil {
				err = fmt.Errorf("%w: %s, named by the sentinels", ErrNotMaster, addr)
			}
			return nil, err
		}
		return &masterConn{Conn: c, addr: addr, current: current, checked: time.Now()}, nil
	}
	pool := &redis.Pool{
		MaxActive:   maxConns,
		Wait:        true,
		MaxIdle:     min(32, maxConns),
		IdleTimeout: 4 * time.Minute,
		DialContext: dial,
		TestOnBorrow: func(c redis.Conn, _ time.Time) error {
			mc, ok := c.(*masterConn)
			if !ok {
				return nil
			}
			return mc.checkRole()
		},
	}
	closeAll := func() error {
		err := pool.Close()
		return errors.Join(err, sntnl.Close())
	}
	if err := Ping(ctx, pool); err != nil {
		_ = closeAll()
		return nil, nil, err
	}
	return pool, closeAll, nil
}

// currentMaster is the master's address as the sentinels last named it,
// asked at most once a roleCheckInterval for the whole pool.
type currentMaster struct {
	sentinel *sentinel.Sentinel
	mu       sync.Mutex
	addr     string
	at       time.Time
}

// ask asks the sentinels now (a dial does: Sentinel's client guidelines
// want the master's address asked for each new connection).
func (m *currentMaster) ask() (string, error) {
	addr, err := m.sentinel.MasterAddr()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at = time.Now()
	if err != nil {
		m.addr = ""
		return "", err
	}
	m.addr = addr
	return addr, nil
}

// get is the address the sentinels named within roleCheckInterval,
// asking them again when that is older; "" when no sentinel answers.
func (m *currentMaster) get() string {
	m.mu.Lock()
	if time.Since(m.at) < roleCheckInterval {
		defer m.mu.Unlock()
		return m.addr
	}
	// One borrower asks; the others keep the previous answer meanwhile.
	m.at = time.Now()
	m.mu.Unlock()
	addr, _ := m.ask()
	return addr
}

// masterConn is a connection to the server that was the master when it
// was dialled. Once it learns otherwise, Err reports it, and the pool
// closes it instead of keeping it idle.
type masterConn struct {
	redis.Conn
	// addr is the server's address; current is what the sentinels say
	// the master's is.
	addr    string
	current *currentMaster
	// checked is when ROLE last said master (or the dial did); the pool
	// borrows a connection for one goroutine at a time, so only mu's
	// holders below touch broken concurrently with Err.
	checked time.Time
	mu      sync.Mutex
	broken  error
}

func (c *masterConn) checkRole() error {
	if time.Since(c.checked) < roleCheckInterval {
		return c.Err()
	}
	// After a failover the old master may still answer as a master for
	// seconds (until the sentinels reconfigure it, if it is reachable):
	// writes it accepts then are lost when it becomes a replica. The
	// sentinels' word settles it first; ROLE covers sentinels that do
	// not answer.
	if now := c.current.get(); now != "" && now != c.addr {
		c.markBroken()
		return ErrNotMaster
	}
	ok, err := sentinel.TestRole(c.Conn, "master")
	if err != nil {
		return err
	}
	if !ok {
		c.markBroken()
		return ErrNotMaster
	}
	c.checked = time.Now()
	return nil
}

func (c *masterConn) markBroken() {
	c.mu.Lock()
	c.broken = ErrNotMaster
	c.mu.Unlock()
}

// IsReadOnly reports whether err is Redis's READONLY reply: a write that
// reached a replica (a demoted master).
func IsReadOnly(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(string(re), "READONLY")
}

// seen marks the connection broken when err says its server is a replica.
func (c *masterConn) seen(err error) {
	if err != nil && IsReadOnly(err) {
		c.markBroken()
	}
}

func (c *masterConn) Err() error {
	c.mu.Lock()
	broken := c.broken
	c.mu.Unlock()
	if broken != nil {
		return broken
	}
	return c.Conn.Err()
}

func (c *masterConn) Do(cmd string, args ...any) (any, error) {
	r, err := c.Conn.Do(cmd, args...)
	c.seen(err)
	return r, err
}

func (c *masterConn) Receive() (any, error) {
	r, err := c.Conn.Receive()
	c.seen(err)
	return r, err
}

// DoContext, ReceiveContext, DoWithTimeout and ReceiveWithTimeout keep
// what the underlying connection offers (redis.DoContext and the pool
// look for them) and watch the replies like Do.
func (c *masterConn) DoContext(ctx context.Context, cmd string, args ...any) (any, error) {
	r, err := redis.DoContext(c.Conn, ctx, cmd, args...)
	c.seen(err)
	return r, err
}

func (c *masterConn) ReceiveContext(ctx context.Context) (any, error) {
	r, err := redis.ReceiveContext(c.Conn, ctx)
	c.seen(err)
	return r, err
}

func (c *masterConn) DoWithTimeout(timeout time.Duration, cmd string, args ...any) (any, error) {
	r, err := redis.DoWithTimeout(c.Conn, timeout, cmd, args...)
	c.seen(err)
	return r, err
}

func (c *masterConn) ReceiveWithTimeout(timeout time.Duration) (any, error) {
	r, err := redis.ReceiveWithTimeout(c.Conn, timeout)
	c.seen(err)
	return r, err
}
