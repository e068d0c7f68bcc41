package workshop

import (
	"context"
	"fmt"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"sync"

	"github.com/gomodule/redigo/redis"

	"github.com/the-shop/shop/internal/shopclient"
)

// pageViews is how many page views the write count is taken over.
const pageViews = 100

// tabs is how many adds a shopper sends at once, from one cookie jar, and
// rounds how many times.
const tabs, rounds = 8, 5

// checkTextbook, step 8: the material's own recipe (scs with redisstore,
// the cart in the session value) beside the shop's store, measured: Redis
// writes per 100 page views, and items lost when a shopper adds from 8
// tabs at once.
func checkTextbook(ctx context.Context, r *run) error {
	sh := newShopper(r.env.URL)
	if ok, err := r.setUp(ctx, sh); !ok {
		return err
	}
	if r.env.TextbookURL == "" || r.env.TextbookRedisURL == "" {
		r.fail("the textbook server is not running (no .run/textbook/up.env); run `make workshop STEP=%d`", r.step.N)
		return nil
	}

	// The recipe's key: session:<id>, an hour to live.
	tb := newShopper(r.env.TextbookURL)
	if _, _, err := tb.add(ctx, 1, 1); err != nil {
		return fmt.Errorf("the textbook server at %s: %w (is it running? `make workshop STEP=%d` starts it)", r.env.TextbookURL, err, r.step.N)
	}
	ttl, err := redisTTL(ctx, r.env.TextbookRedisURL, "session:"+tb.Cookie(cookieName))
	if err != nil {
		return err
	}
	r.expect(ttl > 3500 && ttl <= 3600, "the textbook keeps your session (cart inside) as session:<cookie> in Redis, TTL %ds (the recipe's EX 3600)", ttl)

	tbWrites, err := writesPerViews(ctx, tb, r.env.TextbookRedisURL)
	if err != nil {
		return err
	}
	shopWrites, err := writesPerViews(ctx, sh, r.env.RedisURL)
	if err != nil {
		return err
	}
	r.expect(tbWrites >= pageViews,
		"textbook: %d page views (GET /cart) made %d Redis writes (rdb_changes_since_last_save): every view writes the whole session back (scs IdleTimeout: SET + PEXPIREAT)",
		pageViews, tbWrites)
	r.expect(shopWrites <= pageViews/20,
		"the shop: %d page views made %d Redis writes: a read changes nothing, and the idle expiry moves at most once per SESSION_TOUCH_INTERVAL",
		pageViews, shopWrites)

	tbKept, err := addFromTabs(ctx, r.env.TextbookURL)
	if err != nil {
		return fmt.Errorf("textbook: %w", err)
	}
	shopKept, err := addFromTabs(ctx, r.env.URL)
	if err != nil {
		return fmt.Errorf("the shop: %w", err)
	}
	tbLost, shopLost := lost(tbKept), lost(shopKept)
	r.expect(tbLost > 0,
		"textbook: %d tabs added %d different products at once, %d times: the cart kept %s of %d; %d of %d items lost (each add wrote back the session it had read: the last write wins)",
		tabs, tabs, rounds, joinInts(tbKept), tabs, tbLost, tabs*rounds)
	r.expect(shopLost == 0,
		"the shop: the same %d tabs, %d times: the cart kept %s of %d; %d items lost (the cart is not in the session value: each add changes its own line, atomically, next to the session)",
		tabs, rounds, joinInts(shopKept), tabs, shopLost)
	return nil
}

// redisTTL is a key's time to live in seconds (-2: no such key).
func redisTTL(ctx context.Context, url, key string) (int, error) {
	c, err := dialRedis(ctx, url)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return redis.Int(c.Do("TTL", key))
}

func dialRedis(ctx context.Context, url string) (redis.Conn, error) {
	c, err := redis.DialURLContext(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connect to Redis at %s: %w", url, err)
	}
	return c, nil
}

// redisChanges reads INFO persistence's rdb_changes_since_last_save: the
// writes since the last snapshot (the step's own Redis never snapshots).
func redisChanges(ctx context.Context, url string) (int, error) {
	c, err := dialRedis(ctx, url)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	info, err := redis.String(c.Do("INFO", "persistence"))
	if err != nil {
		return 0, fmt.Errorf("INFO persistence at %s: %w", url, err)
	}
	for l := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "rdb_changes_since_last_save:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, fmt.Errorf("INFO persistence at %s has no rdb_changes_since_last_save", url)
}

// writesPerViews: the Redis writes while sh (with a session and a cart)
// views its cart pageViews times.
func writesPerViews(ctx context.Context, sh *shopper, redisURL string) (int, error) {
	if c, _, err := sh.Cart(ctx); err != nil || c.Count == 0 {
		if _, _, err := sh.add(ctx, 1, 1); err != nil {
			return 0, err
		}
	}
	before, err := redisChanges(ctx, redisURL)
	if err != nil {
		return 0, err
	}
	for range pageViews {
		if _, _, err := sh.Cart(ctx); err != nil {
			return 0, err
		}
	}
	after, err := redisChanges(ctx, redisURL)
	if err != nil {
		return 0, err
	}
	if after < before {
		return 0, fmt.Errorf("Redis at %s saved a snapshot meanwhile (rdb_changes_since_last_save went from %d to %d): the step's own Redis runs with save \"\"", redisURL, before, after)
	}
	return after - before, nil
}

// addFromTabs: a new shopper opens a page, then adds products 1 to tabs
// at once from as many tabs (one cookie jar, the page's CSRF token), and
// reads the cart; it does so rounds times and returns how many of the
// products each cart kept.
func addFromTabs(ctx context.Context, base string) ([]int, error) {
	var kept []int
	for range rounds {
		jar, _ := cookiejar.New(nil)
		first := shopclient.New(base, shopclient.Options{Jar: jar})
		if _, err := first.Token(ctx); err != nil {
			return nil, err
		}
		// The tabs wait for one another and send at the same moment, as
		// a shopper's tabs restoring at once, or a double click, do.
		errs := make([]error, tabs)
		start := make(chan struct{})
		var ready, wg sync.WaitGroup
		for i := range tabs {
			tab := shopclient.New(base, shopclient.Options{Jar: jar})
			tab.CSRF = first.CSRF
			ready.Add(1)
			wg.Go(func() {
				ready.Done()
				<-start
				_, _, errs[i] = tab.Add(ctx, i+1, 1)
			})
		}
		ready.Wait()
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return nil, err
			}
		}
		c, _, err := first.Cart(ctx)
		if err != nil {
			return nil, err
		}
		kept = append(kept, len(c.Items))
	}
	return kept, nil
}

func lost(kept []int) int {
	n := 0
	for _, k := range kept {
		n += tabs - k
	}
	return n
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}
