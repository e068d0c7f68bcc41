package workshop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/the-shop/shop/internal/cleanup"
	"github.com/the-shop/shop/internal/platform/postgres"
	"github.com/the-shop/shop/internal/session"
	"github.com/the-shop/shop/internal/shopclient"
	"github.com/the-shop/shop/views"
)

// samples is how many requests a check sends to see what every replica
// does: four rounds of three replicas.
const samples = 12

const password = "workshop password"

// setUp checks that the shop runs with the step's settings, so that the
// other checks mean what they say.
func (r *run) setUp(ctx context.Context, sh *shopper) (bool, error) {
	si, _, err := sh.Session(ctx)
	if err != nil {
		return false, fmt.Errorf("the shop at %s does not answer (is it running? `make workshop STEP=%d` starts it): %w", r.env.URL, r.step.N, err)
	}
	wantStore := r.step.Setting("SESSION_STORE")
	wantReplicas, _ := strconv.Atoi(r.step.Setting("REPLICAS"))
	var wrong []string
	if si.Store != wantStore {
		wrong = append(wrong, fmt.Sprintf("sessions are in %s, not %s", si.Store, wantStore))
	}
	if r.env.Replicas != wantReplicas {
		wrong = append(wrong, fmt.Sprintf("%d replicas run, not %d", r.env.Replicas, wantReplicas))
	}
	switch r.step.N {
	case 7:
		if strings.TrimSpace(r.env.EncryptionKeys) == "" {
			wrong = append(wrong, "SESSION_ENCRYPTION_KEYS is not set")
		}
	case 2, 8:
		if r.env.LB != "rr" {
			wrong = append(wrong, fmt.Sprintf("LB=%s, not rr (round robin)", r.env.LB))
		}
	case 3:
		if r.env.LB != "ip" && r.env.LB != "cookie" {
			wrong = append(wrong, fmt.Sprintf("LB=%s, not ip or cookie (sticky)", r.env.LB))
		}
	}
	if len(wrong) > 0 {
		r.fail("the shop is not set up for step %d: %s; run `make workshop STEP=%d`", r.step.N, strings.Join(wrong, ", "), r.step.N)
		return false, nil
	}
	r.pass("the shop keeps sessions in %s (GET /session), %s behind nginx, LB=%s",
		si.Store, views.Plural(r.env.Replicas, "replica", "replicas"), r.env.LB)
	return true, nil
}

// readCart reads the cart n times: how often it held want items, and
// where each read was served.
func readCart(ctx context.Context, sh *shopper, n, want int) (held int, seen counts, heldOn counts, err error) {
	seen, heldOn = counts{}, counts{}
	for range n {
		c, a, err := sh.Cart(ctx)
		if err != nil {
			return held, seen, heldOn, err
		}
		seen[a.ServedBy()]++
		if c.Count == want {
			held++
			heldOn[a.ServedBy()]++
		}
	}
	return held, seen, heldOn, nil
}

// readLogin reads /session n times: how often the shopper was signed in,
// and where.
func readLogin(ctx context.Context, sh *shopper, n int) (in int, seen counts, inOn counts, err error) {
	seen, inOn = counts{}, counts{}
	for range n {
		si, a, err := sh.Session(ctx)
		if err != nil {
			return in, seen, inOn, err
		}
		seen[a.ServedBy()]++
		if si.Authenticated {
			in++
			inOn[a.ServedBy()]++
		}
	}
	return in, seen, inOn, nil
}

// kill ends the replica named (SIGKILL) through the hook.
func (r *run) kill(ctx context.Context, name string) (int, error) {
	n, err := replicaNumber(name)
	if err != nil {
		return 0, err
	}
	if r.env.Kill == nil {
		return 0, errors.New("this run cannot kill a replica")
	}
	r.env.Log("killing %s (SIGKILL, as a crash would)", name)
	if err := r.env.Kill(ctx, n); err != nil {
		return 0, fmt.Errorf("kill %s: %w", name, err)
	}
	return n, nil
}

// restart starts replica n again through the hook.
func (r *run) restart(ctx context.Context, n int) error {
	if r.env.Start == nil {
		return errors.New("this run cannot start a replica")
	}
	r.env.Log("starting shop-%d again", n)
	if err := r.env.Start(ctx, n); err != nil {
		return fmt.Errorf("start shop-%d: %w", n, err)
	}
	return nil
}

// checkOneReplica, step 1: with one replica, memory sessions just work.
func checkOneReplica(ctx context.Context, r *run) error {
	sh := newShopper(r.env.URL)
	if ok, err := r.setUp(ctx, sh); !ok {
		return err
	}
	n, _, err := sh.add(ctx, 1, 2)
	if err != nil {
		return err
	}
	held, seen, _, err := readCart(ctx, sh, samples, n)
	if err != nil {
		return err
	}
	r.expect(held == samples, "the cart (%d items) survived %d of %d requests, all served by %s", n, held, samples, seen.names())
	if _, err := sh.signUp(ctx, password); err != nil {
		return err
	}
	in, seen, _, err := readLogin(ctx, sh, samples)
	if err != nil {
		return err
	}
	r.expect(in == samples, "the login survived %d of %d requests (%s)", in, samples, seen)
	return nil
}

// checkMemoryRoundRobin, step 2: memory sessions behind round robin lose
// the cart and the login on every replica but one.
func checkMemoryRoundRobin(ctx context.Context, r *run) error {
	sh := newShopper(r.env.URL)
	if ok, err := r.setUp(ctx, sh); !ok {
		return err
	}
	n, a, err := sh.add(ctx, 1, 2)
	if err != nil {
		return err
	}
	added := a.ServedBy()
	held, seen, heldOn, err := readCart(ctx, sh, samples, n)
	if err != nil {
		return err
	}
	r.expect(len(seen) == r.env.Replicas, "round robin spread %d requests over every replica: %s", samples, seen)
	_, onlyThere := heldOn[added]
	r.expect(held < samples && len(heldOn) == 1 && onlyThere,
		"the cart vanished: it showed %d items on %d of %d requests, only on %s, where it was added; on the others it was empty",
		n, held, samples, added)

	a, err = sh.signUp(ctx, password)
	if err != nil {
		return err
	}
	signedUp := a.ServedBy()
	in, _, inOn, err := readLogin(ctx, sh, samples)
	if err != nil {
		return err
	}
	_, onlyThere = inOn[signedUp]
	r.expect(in < samples && len(inOn) == 1 && onlyThere,
		"the login vanished too: signed in on %d of %d requests, only on %s, where you signed up", in, samples, signedUp)
	return nil
}

// checkSticky, step 3: sticky balancing keeps each shopper on one replica
// (so memory sessions seem to work), loads the replicas unevenly, and
// loses the cart when that replica dies.
func checkSticky(ctx context.Context, r *run) error {
	sh := newShopper(r.env.URL)
	if ok, err := r.setUp(ctx, sh); !ok {
		return err
	}
	// A browser loads a page before it adds anything: with LB=cookie that
	// first answer sets the balancer's cookie.
	if _, err := sh.Token(ctx); err != nil {
		return err
	}
	n, a, err := sh.add(ctx, 1, 2)
	if err != nil {
		return err
	}
	sticky := a.ServedBy()
	held, seen, _, err := readCart(ctx, sh, samples, n)
	if err != nil {
		return err
	}
	r.expect(held == samples && len(seen) == 1, "sticky: the cart (%d items) survived %d of %d requests, all on %s", n, held, samples, seen.names())

	// Several shoppers: each stays on its replica; how even is the load?
	const shoppers, each = 6, 8
	load, pinned := counts{}, 0
	for range shoppers {
		s := newShopper(r.env.URL)
		mine := counts{}
		for range each {
			a, err := s.Page(ctx, "/")
			if err != nil {
				return err
			}
			mine[a.ServedBy()]++
			load[a.ServedBy()]++
		}
		if len(mine) == 1 {
			pinned++
		}
	}
	r.expect(pinned == shoppers, "each of %d shoppers stayed on one replica (%d of %d did)", shoppers, pinned, shoppers)
	for i := 1; i <= r.env.Replicas; i++ {
		load[fmt.Sprintf("shop-%d", i)] += 0 // list the idle ones too
	}
	switch r.env.LB {
	case "ip":
		r.expect(maxCount(load) == shoppers*each,
			"uneven load: %d shoppers, %d requests: %s (ip_hash: every shopper on this machine has the address 127.0.0.1)",
			shoppers, shoppers*each, load)
	default:
		r.pass("load: %d shoppers, %d requests: %s (each shopper's cookie picks a replica; the split is as even as the dice, and a busy shopper loads one replica alone)",
			shoppers, shoppers*each, load)
	}

	if _, err := sh.signUp(ctx, password); err != nil {
		return err
	}
	killed, err := r.kill(ctx, sticky)
	if err != nil {
		return err
	}
	c, a, err := sh.Cart(ctx)
	if err != nil {
		return err
	}
	si, _, err := sh.Session(ctx)
	if err != nil {
		return err
	}
	r.expect(a.ServedBy() != sticky && c.Count == 0 && !si.Authenticated,
		"after killing %s, the next request went to %s: the cart held %d items (it had %d) and the login was %s",
		sticky, a.ServedBy(), c.Count, n, map[bool]string{true: "still there", false: "gone"}[si.Authenticated])
	if err := r.restart(ctx, killed); err != nil {
		return err
	}
	r.pass("%s started again, with an empty memory", sticky)
	return nil
}

func maxCount(c counts) int {
	m := 0
	for _, n := range c {
		m = max(m, n)
	}
	return m
}

// checkRedis, step 4: with sessions in Redis, any replica serves any
// request, and killing one loses nothing.
func checkRedis(ctx context.Context, r *run) error {
	sh := newShopper(r.env.URL)
	if ok, err := r.setUp(ctx, sh); !ok {
		return err
	}
	return r.survivesKill(ctx, sh)
}

// survivesKill: a signed-in cart is served by every replica, survives a
// replica's SIGKILL, and the replica comes back to the same cart.
func (r *run) survivesKill(ctx context.Context, sh *shopper) error {
	if _, err := sh.signUp(ctx, password); err != nil {
		return err
	}
	if _, _, err := sh.add(ctx, 1, 2); err != nil {
		return err
	}
	n, _, err := sh.add(ctx, 3, 1)
	if err != nil {
		return err
	}
	if err := r.expectCartEverywhere(ctx, sh, n); err != nil {
		return err
	}

	_, a, err := sh.Cart(ctx)
	if err != nil {
		return err
	}
	victim := a.ServedBy()
	killed, err := r.kill(ctx, victim)
	if err != nil {
		return err
	}
	// The next request may go to the dead replica first: nginx retries it
	// on another (an add carries an idempotency key, so it counts once).
	n2, _, err := sh.add(ctx, 5, 1)
	if err != nil {
		return err
	}
	r.expect(n2 == n+1, "an add right after killing %s was answered and counted once: %d items", victim, n2)
	held, seen, _, err := readCart(ctx, sh, samples, n2)
	if err != nil {
		return err
	}
	_, dead := seen[victim]
	r.expect(held == samples && !dead, "after killing %s: %d of %d requests (%s) still show the cart", victim, held, samples, seen)
	in, _, _, err := readLogin(ctx, sh, samples/2)
	if err != nil {
		return err
	}
	r.expect(in == samples/2, "and the login: signed in on %d of %d requests", in, samples/2)

	if err := r.restart(ctx, killed); err != nil {
		return err
	}
	// nginx leaves a replica that failed out of rotation for a while
	// (fail_timeout), then tries it again.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, a, err := sh.Cart(ctx)
		if err != nil {
			return err
		}
		if a.ServedBy() == victim {
			r.expect(c.Count == n2, "%s started again and shows the same cart: %d items", victim, c.Count)
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.fail("%s started again but nginx sent it no request for 15s", victim)
	return nil
}

// checkPostgres, step 5: sessions in PostgreSQL, the idle timeout, and
// the cleanup job that deletes what expired.
func checkPostgres(ctx context.Context, r *run) error {
	sh := newShopper(r.env.URL)
	if ok, err := r.setUp(ctx, sh); !ok {
		return err
	}
	if _, err := sh.signUp(ctx, password); err != nil {
		return err
	}
	n, _, err := sh.add(ctx, 2, 2)
	if err != nil {
		return err
	}
	if err := r.expectCartEverywhere(ctx, sh, n); err != nil {
		return err
	}

	si, _, err := sh.Session(ctx)
	if err != nil {
		return err
	}
	idle, err := time.ParseDuration(si.IdleTimeout)
	if err != nil || si.IdleExpiresAt == nil {
		return fmt.Errorf("GET /session shows no idle timeout (%q)", si.IdleTimeout)
	}
	if !r.expect(idle <= 2*time.Minute, "idle timeout %v (GET /session): unused, this session ends at %s",
		idle, si.IdleExpiresAt.Local().Format("15:04:05")) {
		r.fail("this step waits out the idle timeout: start it with `make workshop STEP=5` (SESSION_IDLE_TIMEOUT=%s)", r.step.Setting("SESSION_IDLE_TIMEOUT"))
		return nil
	}
	cookie := sh.Cookie(cookieName)
	row, found, err := r.readStored(ctx, cookie)
	if err != nil {
		return err
	}
	r.expect(found && row.Expiry.Sub(*si.IdleExpiresAt).Abs() < 2*time.Second,
		"your session is a row in the sessions table (%s: the SHA-256 of your cookie, not the cookie), expiry %s",
		row.Where, row.Expiry.Local().Format("15:04:05"))

	wait := time.Until(*si.IdleExpiresAt) + 1500*time.Millisecond
	r.env.Log("waiting %v without a request, past the idle timeout", wait.Round(time.Second))
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return ctx.Err()
	}
	si, a, err := sh.Session(ctx)
	if err != nil {
		return err
	}
	r.expect(!si.Authenticated, "after %v idle, GET /session (on %s) says signed out", idle+1500*time.Millisecond, a.ServedBy())

	row, found, err = r.readStored(ctx, cookie)
	if err != nil {
		return err
	}
	if found {
		r.expect(row.Expiry.Before(time.Now()), "the expired row is still in the table (expired %v ago): every read filters on expiry, the cleanup job deletes it",
			time.Since(row.Expiry).Round(time.Second))
	} else {
		r.pass("the expired row is already gone: a replica's cleanup job (every CLEANUP_INTERVAL) deleted it")
		return nil
	}

	db, err := postgres.Open(ctx, r.env.DatabaseURL)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer db.Close()
	// Only the sessions step: this step is about the expired session, and
	// the whole list of steps is the shop's wiring, not the workshop's.
	job := &cleanup.Job{DB: db, Batch: cleanup.DefaultBatch, Pause: cleanup.DefaultPause, Steps: []cleanup.Step{
		{Name: "sessions", Delete: func(ctx context.Context, limit int) (int64, error) {
			return session.DeleteExpired(ctx, db, limit)
		}},
	}}
	for try := 0; ; try++ {
		res, err := job.Run(ctx)
		if err != nil {
			return fmt.Errorf("cleanup pass: %w", err)
		}
		_, found, err := r.readStored(ctx, cookie)
		if err != nil {
			return err
		}
		if !found {
			if res.Ran {
				r.pass("a cleanup pass (what `bin/shop cleanup` and each replica's job run) deleted %s; yours is gone",
					views.Plural(int(res.Of("sessions")), "expired session", "expired sessions"))
			} else {
				r.pass("a replica's cleanup pass deleted the expired row meanwhile")
			}
			return nil
		}
		if try == 10 {
			r.fail("the expired row is still there after %d cleanup passes", try+1)
			return nil
		}
		// Another replica held the lock: its pass is running now.
		time.Sleep(500 * time.Millisecond)
	}
}

// cookieName is the session cookie's name (SESSION_COOKIE_NAME's default).
const cookieName = "session"

// checkAPI, step 6: the JWT API keeps no session: any replica accepts the
// token, nothing is set in a cookie, and the cart is the account's.
func checkAPI(ctx context.Context, r *run) error {
	sh := newShopper(r.env.URL)
	if ok, err := r.setUp(ctx, sh); !ok {
		return err
	}
	if _, err := sh.signUp(ctx, password); err != nil {
		return err
	}
	api := newAPIClient(r.env.URL)
	a, err := api.CallJSON(ctx, http.MethodGet, "/api/v1/cart", nil)
	if err != nil {
		return err
	}
	r.expect(a.StatusCode == http.StatusUnauthorized, "without a token, GET /api/v1/cart answers %d (want 401)", a.StatusCode)

	a, err = api.CallJSON(ctx, http.MethodPost, "/api/v1/tokens", map[string]string{"email": sh.email, "password": password})
	if err != nil {
		return err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if a.StatusCode != http.StatusOK || json.Unmarshal(a.Body, &tok) != nil || tok.AccessToken == "" {
		r.fail("POST /api/v1/tokens answered %d: %.200s", a.StatusCode, a.Body)
		return nil
	}
	r.pass("POST /api/v1/tokens issued a %s token, valid for %ds, signed with JWT_SECRET", tok.TokenType, tok.ExpiresIn)
	api.Bearer = tok.AccessToken

	a, err = api.CallJSON(ctx, http.MethodPost, "/api/v1/cart/items", map[string]any{"product_id": 1, "quantity": 2})
	if err != nil {
		return err
	}
	var c shopclient.Cart
	if a.StatusCode != http.StatusOK || json.Unmarshal(a.Body, &c) != nil {
		r.fail("POST /api/v1/cart/items answered %d: %.200s", a.StatusCode, a.Body)
		return nil
	}
	calls := func(n, want int) (ok int, seen counts, cookies int, err error) {
		seen = counts{}
		for range n {
			a, err := api.CallJSON(ctx, http.MethodGet, "/api/v1/cart", nil)
			if err != nil {
				return ok, seen, cookies, err
			}
			seen[a.ServedBy()]++
			cookies += len(a.Header.Values("Set-Cookie"))
			var c shopclient.Cart
			if a.StatusCode == http.StatusOK && json.Unmarshal(a.Body, &c) == nil && c.Count == want {
				ok++
			}
		}
		return ok, seen, cookies, nil
	}
	ok, seen, cookies, err := calls(samples, c.Count)
	if err != nil {
		return err
	}
	r.expect(ok == samples && len(seen) == r.env.Replicas && cookies == 0,
		"the token worked on %d of %d requests across %s, and no answer set a cookie (%d did)", ok, samples, seen.names(), cookies)
	bc, _, err := sh.Cart(ctx)
	if err != nil {
		return err
	}
	r.expect(bc.Count == c.Count, "the browser's session sees the %d items added through the API: one cart per account", bc.Count)

	_, a, err = sh.Cart(ctx)
	if err != nil {
		return err
	}
	killed, err := r.kill(ctx, a.ServedBy())
	if err != nil {
		return err
	}
	ok, seen, _, err = calls(samples/2, c.Count)
	if err != nil {
		return err
	}
	r.expect(ok == samples/2, "after killing %s the token still works: %d of %d requests (%s); no replica kept anything about it",
		a.ServedBy(), ok, samples/2, seen)
	return r.restart(ctx, killed)
}

// checkEncryption, step 7: the stored session is ciphertext under the
// first key; after rotating keys (a new one first, a rolling restart) the
// old session still opens, and new ones are sealed by the new key.
func checkEncryption(ctx context.Context, r *run) error {
	sh := newShopper(r.env.URL)
	if ok, err := r.setUp(ctx, sh); !ok {
		return err
	}
	keys := strings.Split(r.env.EncryptionKeys, ",")
	first, err := keyID(keys[0])
	if err != nil {
		return err
	}
	if _, err := sh.signUp(ctx, password); err != nil {
		return err
	}
	stored, found, err := r.readStored(ctx, sh.Cookie(cookieName))
	if err != nil {
		return err
	}
	if !found {
		r.fail("found no stored session for your cookie (%s)", stored.Where)
		return nil
	}
	by, sealed := session.SealedBy(stored.Data)
	r.expect(sealed && by == first, "your session (%s, %d bytes) is ciphertext sealed by key %s, the first of SESSION_ENCRYPTION_KEYS",
		stored.Where, len(stored.Data), orNone(by))
	r.expect(!bytes.Contains(stored.Data, []byte(sh.email)), "your email address (%s) does not appear in the stored bytes", sh.email)

	if r.env.RotateKeys == nil {
		return errors.New("this run cannot rotate keys")
	}
	r.env.Log("rotating: a new key first, the old one kept, then a rolling restart")
	rotated, err := r.env.RotateKeys(ctx)
	if err != nil {
		return fmt.Errorf("rotate keys: %w", err)
	}
	newKeys := strings.Split(rotated, ",")
	newFirst, err := keyID(newKeys[0])
	if err != nil {
		return err
	}
	kept := false
	for _, k := range newKeys[1:] {
		if id, _ := keyID(k); id == first {
			kept = true
		}
	}
	if !r.expect(newFirst != first && kept, "keys rotated: %s encrypts now, %s still decrypts (SESSION_ENCRYPTION_KEYS has %d keys)", newFirst, first, len(newKeys)) {
		return nil
	}
	in, seen, _, err := readLogin(ctx, sh, samples/2)
	if err != nil {
		return err
	}
	r.expect(in == samples/2, "after the rolling restart you are still signed in: %d of %d requests (%s)", in, samples/2, seen)

	again := newShopper(r.env.URL)
	if _, err := again.logIn(ctx, sh.email, password); err != nil {
		return err
	}
	stored, found, err = r.readStored(ctx, again.Cookie(cookieName))
	if err != nil {
		return err
	}
	by, sealed = session.SealedBy(stored.Data)
	r.expect(found && sealed && by == newFirst, "a new login is sealed by the new key %s (found %s)", newFirst, orNone(by))
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// expectCartEverywhere reads the cart samples times and expects all n items
// on every read, with every replica taking a turn (round robin).
func (r *run) expectCartEverywhere(ctx context.Context, sh *shopper, n int) error {
	held, seen, _, err := readCart(ctx, sh, samples, n)
	if err != nil {
		return err
	}
	r.expect(held == samples && len(seen) == r.env.Replicas, "the cart (%d items) survived %d of %d requests across %s", n, held, samples, seen.names())
	return nil
}
