package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5"

	"github.com/the-shop/shop/internal/shopclient"
)

// Populated is what `loadtest populate` did.
type Populated struct {
	Label    string  `json:"label"`
	Sessions int     `json:"sessions"`
	Seconds  float64 `json:"seconds"`
}

// runPopulate makes N guest sessions with a one-line cart each, through
// the server's own routes (a cart view for the cookie and CSRF token, one
// add), so that what the stores hold afterwards is what the
// shop writes for a guest, at scale.
func runPopulate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("populate", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "nginx in front of the shop")
	n := fs.Int("n", 10000, "guest sessions to make, each with a one-line cart")
	conc := fs.Int("concurrency", 16, "guests at a time")
	lbl := fs.String("label", "", "name in the report")
	out := fs.String("out", "", "write the result as JSON here (default: stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 || *conc < 1 {
		return errors.New("-n and -concurrency must be positive")
	}
	tr := newTransport(*conc)
	defer tr.CloseIdleConnections()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, *conc)
	for w := range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for ctx.Err() == nil && next.Add(1) <= int64(*n) {
				if err := populateOne(ctx, *base, tr, int64(1+rng.IntN(mixProducts))); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return fmt.Errorf("populate: %w", err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	p := Populated{Label: *lbl, Sessions: *n, Seconds: time.Since(start).Seconds()}
	fmt.Fprintf(os.Stderr, "%s: %d guest sessions with a cart in %.1f s\n", p.Label, p.Sessions, p.Seconds)
	return writeJSON(*out, p)
}

// populateOne makes one guest session with a one-line cart. The CSRF token
// comes from the X-CSRF-Token header of a JSON cart view, which the shop
// sends on every session route and which costs less than a page; a server
// that sends none there is asked for the catalog page instead.
func populateOne(ctx context.Context, base string, tr http.RoundTripper, pid int64) error {
	c := shopclient.New(base, shopclient.Options{Transport: tr, Timeout: 30 * time.Second})
	if _, err := c.GetJSON(ctx, "/cart", nil); err != nil {
		return err
	}
	if _, err := c.Token(ctx); err != nil {
		return err
	}
	r, err := c.PostForm(ctx, "/cart/items", addForm(pid))
	if err == nil {
		err = r.Expect(http.StatusOK)
	}
	return err
}

func writeJSON(path string, v any) error {
	b, _ := json.MarshalIndent(v, "", "  ")
	b = append(b, '\n')
	if path == "" {
		_, err := os.Stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// StoreSize is what the stores hold at one moment.
type StoreSize struct {
	Label    string     `json:"label"`
	Redis    *RedisSize `json:"redis,omitempty"`
	Postgres *PGSize    `json:"postgres,omitempty"`
}

// RedisSize: the server's used_memory, and MEMORY USAGE (SAMPLES 0: every
// element counted) of the keys under a prefix, by kind (the part of the
// key after the prefix up to the next ':': session, cart, …).
type RedisSize struct {
	UsedMemory int64                `json:"used_memory"`
	Kinds      map[string]*KeySizes `json:"kinds"`
}

// KeySizes are the keys of one kind.
type KeySizes struct {
	Keys  int64 `json:"keys"`
	Bytes int64 `json:"bytes"`
}

// PGSize: each table of the database with rows.
type PGSize struct {
	Tables map[string]*TableSize `json:"tables"`
}

// TableSize: rows, pg_total_relation_size (heap, indexes, TOAST) and the
// mean pg_column_size of a whole row.
type TableSize struct {
	Rows        int64   `json:"rows"`
	TotalBytes  int64   `json:"total_bytes"`
	AvgRowBytes float64 `json:"avg_row_bytes"`
}

func runStoreSize(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("storesize", flag.ContinueOnError)
	redisURL := fs.String("redis-url", "", "Redis to measure")
	prefix := fs.String("prefix", "", "the key prefix to measure (REDIS_KEY_PREFIX)")
	dbURL := fs.String("db-url", "", "PostgreSQL database to measure")
	lbl := fs.String("label", "", "name in the report")
	out := fs.String("out", "", "write the result as JSON here (default: stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s := StoreSize{Label: *lbl}
	var err error
	if *redisURL != "" {
		if s.Redis, err = redisSize(ctx, *redisURL, *prefix); err != nil {
			return err
		}
	}
	if *dbURL != "" {
		if s.Postgres, err = pgSize(ctx, *dbURL); err != nil {
			return err
		}
	}
	return writeJSON(*out, s)
}

func redisSize(ctx context.Context, url, prefix string) (*RedisSize, error) {
	c, err := redis.DialURLContext(ctx, url)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	info, err := redis.String(redis.DoContext(c, ctx, "INFO", "memory"))
	if err != nil {
		return nil, err
	}
	rs := &RedisSize{UsedMemory: infoInt(info, "used_memory"), Kinds: map[string]*KeySizes{}}
	cursor := "0"
	for {
		v, err := redis.Values(redis.DoContext(c, ctx, "SCAN", cursor, "MATCH", prefix+"*", "COUNT", 1000))
		if err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		cursor, _ = redis.String(v[0], nil)
		keys, _ := redis.Strings(v[1], nil)
		for _, k := range keys {
			if err := c.Send("MEMORY", "USAGE", k, "SAMPLES", 0); err != nil {
				return nil, err
			}
		}
		if len(keys) > 0 {
			sizes, err := redis.Values(redis.DoContext(c, ctx, ""))
			if err != nil {
				return nil, fmt.Errorf("memory usage: %w", err)
			}
			for i, k := range keys {
				n, err := redis.Int64(sizes[i], nil)
				if err != nil {
					continue // expired meanwhile
				}
				kind, _, _ := strings.Cut(strings.TrimPrefix(k, prefix), ":")
				ks := rs.Kinds[kind]
				if ks == nil {
					ks = &KeySizes{}
					rs.Kinds[kind] = ks
				}
				ks.Keys++
				ks.Bytes += n
			}
		}
		if cursor == "0" {
			return rs, nil
		}
	}
}

func pgSize(ctx context.Context, url string) (*PGSize, error) {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer c.Close(context.Background())
	rows, err := c.Query(ctx, `SELECT relname FROM pg_stat_user_tables WHERE schemaname = 'public' ORDER BY relname`)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	ps := &PGSize{Tables: map[string]*TableSize{}}
	for _, name := range names {
		t := &TableSize{}
		id := pgx.Identifier{name}.Sanitize()
		err := c.QueryRow(ctx, `SELECT count(*), coalesce(avg(pg_column_size(t.*)), 0)::float8, pg_total_relation_size($1::regclass) FROM `+id+` t`, id).
			Scan(&t.Rows, &t.AvgRowBytes, &t.TotalBytes)
		if err != nil {
			return nil, fmt.Errorf("size of %s: %w", name, err)
		}
		ps.Tables[name] = t
	}
	return ps, nil
}
