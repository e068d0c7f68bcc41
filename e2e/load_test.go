package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/testenv"
	"github.com/the-shop/shop/internal/testenv/cluster"
)

// addPause is the pause between two adds of one shopper.
const addPause = 15 * time.Millisecond

// shopper is one simulated customer: logged in, adding items through nginx,
// and keeping its own account of every add the shop acknowledged.
type shopper struct {
	b     *testenv.Browser
	email string
	// want is what the cart must hold: product id → quantity acknowledged.
	want map[string]int
	// adds counts acknowledged adds; failed counts answers that were not a
	// success (each retried with the same idempotency key); unsettled
	// counts adds that never got an answer after all retries.
	adds, failed, unsettled int
}

// load is a group of shoppers adding to their carts until stopped.
type load struct {
	shoppers []*shopper
	stop     chan struct{}
	wg       sync.WaitGroup
	requests atomic.Int64
}

// startLoad signs n shoppers up and starts them adding.
func startLoad(t *testing.T, c *cluster.Cluster, n int) *load {
	t.Helper()
	l := &load{stop: make(chan struct{})}
	for i := range n {
		s := &shopper{b: testenv.NewBrowser(t), email: testenv.RandomName(fmt.Sprintf("load%d-", i)) + "@example.com", want: map[string]int{}}
		r := s.b.Post(t, c.URL, "/signup", url.Values{"email": {s.email}, "password": {"load test password"}}, s.b.Token(t, c.URL), false)
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("signup through nginx: %d %.300s", r.StatusCode, r.Body)
		}
		l.shoppers = append(l.shoppers, s)
	}
	for i, s := range l.shoppers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for k := 0; ; k++ {
				select {
				case <-l.stop:
					return
				default:
				}
				pid := strconv.Itoa(1 + (i+k)%14)
				l.add(t, c, s, pid)
				// A brisk shopper, not a flood: keeps most lines under their
				// cap (99, or what is in stock), so a lost or doubled add
				// shows in the count.
				time.Sleep(addPause)
			}
		}()
	}
	return l
}

// add adds one unit like a browser whose request may hit a dying replica:
// it retries with the same idempotency key until the shop answers 200, and
// counts every answer that was not one.
func (l *load) add(t *testing.T, c *cluster.Cluster, s *shopper, pid string) {
	// The key goes where the add-to-cart form puts it: in the action's
	// query string, where nginx sees it and so may send the request to
	// another replica after one died holding it, and in a hidden field.
	key := testenv.RandomName("idem-")
	form := url.Values{"product_id": {pid}, "idempotency_key": {key}}
	path := "/cart/items?idempotency_key=" + url.QueryEscape(key)
	for try := 0; try < 20; try++ {
		l.requests.Add(1)
		r, err := s.b.Try(testenv.PostRequest(t, c.URL, path, form, s.b.CSRF(), true))
		if err == nil && r.StatusCode == http.StatusOK {
			// The shop caps a line at what is in stock (the answer says
			// how many that is): past it, an acknowledged add adds
			// nothing.
			var v struct {
				Items []struct {
					ProductID string `json:"product_id"`
					Stock     int    `json:"stock"`
				} `json:"items"`
			}
			// (Not r.JSON: this runs outside the test's goroutine.)
			if err := json.Unmarshal([]byte(r.Body), &v); err != nil {
				t.Errorf("add through nginx: the answer is not the cart: %v", err)
			}
			limit := 99
			for _, it := range v.Items {
				if it.ProductID == pid {
					limit = min(limit, it.Stock)
				}
			}
			s.want[pid] = min(s.want[pid]+1, limit)
			s.adds++
			return
		}
		s.failed++
		if err == nil {
			t.Logf("add through nginx answered %d (try %d): %.200s", r.StatusCode, try+1, r.Body)
		} else {
			t.Logf("add through nginx failed (try %d): %v", try+1, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.unsettled++
}

// finish stops the shoppers and checks every cart and login: no session
// lost, no acknowledged item lost, none doubled. It returns the number of
// requests that did not succeed at the first try.
func (l *load) finish(t *testing.T, c *cluster.Cluster) (failed int) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	adds := 0
	for _, s := range l.shoppers {
		failed += s.failed
		adds += s.adds
		if s.unsettled > 0 {
			t.Errorf("%s: %d adds never succeeded after 20 tries", s.email, s.unsettled)
		}
		if si := s.b.Session(t, c.URL); !si.Authenticated {
			t.Errorf("%s: session lost (now %+v)", s.email, si)
		}
		got := s.b.Cart(t, c.URL).Quantities()
		for pid, n := range s.want {
			if got[pid] != n {
				t.Errorf("%s: product %s: cart holds %d, %d adds were acknowledged (lost or doubled)", s.email, pid, got[pid], n)
			}
		}
		for pid, n := range got {
			if s.want[pid] == 0 {
				t.Errorf("%s: product %s: cart holds %d that were never acknowledged", s.email, pid, n)
			}
		}
	}
	if adds == 0 {
		t.Fatal("the load made no successful add")
	}
	t.Logf("%d shoppers, %d requests, %d acknowledged adds, %d failed requests (each retried)", len(l.shoppers), l.requests.Load(), adds, failed)
	return failed
}
