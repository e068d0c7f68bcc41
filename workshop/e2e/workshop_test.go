// Package e2e_test runs every workshop step against a real cluster of the
// shop (replicas and nginx through scripts/shop.sh), with the settings
// `make workshop STEP=n` uses and the checks `make workshop-check STEP=n`
// runs, so the workshop cannot drift from the code.
package e2e_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/testenv/cluster"
	"github.com/the-shop/shop/workshop"
)

// shop is the build every cluster runs, made once by TestMain (the test
// binary's main, so its one variable).
var shop *cluster.Shop

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	s, err := cluster.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	shop = s
	return m.Run()
}

// TestWorkshop runs each step of workshop/README.md as an attendee would:
// a cluster started with the step's settings (the ones `make workshop
// STEP=n` uses), checked by the same code as `make workshop-check STEP=n`,
// with the harness killing and starting replicas where a step does.
func TestWorkshop(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		step int
		lb   string // overrides the step's LB
	}{
		{"Step1", 1, ""},
		{"Step2", 2, ""},
		{"Step3/ip", 3, "ip"},
		{"Step3/cookie", 3, "cookie"},
		{"Step4", 4, ""},
		{"Step5", 5, ""},
		{"Step6", 6, ""},
		{"Step7", 7, ""},
	}
	// The steps run side by side, not as parallel subtests: most of their
	// time is spent waiting (step 5 waits out an idle timeout), and
	// parallel subtests would queue behind the -parallel limit (the CPU
	// count). A few at a time keeps two cores from being swamped.
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, tc := range cases {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			t.Run(tc.name, func(t *testing.T) { runWorkshopStep(t, tc.step, tc.lb) })
		})
	}
	wg.Wait()
}

func runWorkshopStep(t *testing.T, n int, lb string) {
	step, err := workshop.StepN(n)
	if err != nil {
		t.Fatal(err)
	}
	o := cluster.Options{Env: map[string]string{}}
	for _, s := range step.Settings() {
		switch s.Name {
		case "REPLICAS":
			o.Replicas, _ = strconv.Atoi(s.Value)
		case "SESSION_STORE":
			o.Store = s.Value
		case "LB":
			o.LB = s.Value
		default:
			o.Env[s.Name] = s.Value
		}
	}
	if lb != "" {
		o.LB = lb
	}
	c := shop.Start(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	report := workshop.Check(ctx, n, workshopEnv(t, c, o))
	var out strings.Builder
	report.Print(&out)
	t.Logf("make workshop-check STEP=%d (LB=%s):\n%s", n, o.LB, out.String())
	if !report.OK() {
		t.Errorf("step %d does not behave as workshop/README.md says:\n%s", n, out.String())
	}

	// The checker can fail: the checks of a step with another session
	// store say this shop is not set up for them, and pass nothing else.
	other := 0
	for _, s := range workshop.Steps {
		if s.Setting("SESSION_STORE") != o.Store {
			other = s.N
			break
		}
	}
	wrong := workshop.Check(ctx, other, workshopEnv(t, c, o))
	if wrong.OK() || len(wrong.Results) != 1 || !strings.Contains(wrong.Results[0].Detail, "not set up") {
		var w strings.Builder
		wrong.Print(&w)
		t.Errorf("step %d's checks on step %d's shop should fail at the set-up check:\n%s", other, n, w.String())
	}
}

// workshopEnv describes a test cluster to the workshop checks, with the
// harness's kill, start and restart as the hooks.
func workshopEnv(t *testing.T, c *cluster.Cluster, o cluster.Options) workshop.Env {
	return workshop.Env{
		URL:            c.URL,
		Replicas:       c.Replicas(),
		Store:          o.Store,
		LB:             o.LB,
		RedisURL:       c.Env("REDIS_URL"),
		RedisPrefix:    c.Env("REDIS_KEY_PREFIX"),
		DatabaseURL:    c.Env("DATABASE_URL"),
		EncryptionKeys: c.Env("SESSION_ENCRYPTION_KEYS"),
		Kill: func(_ context.Context, n int) error {
			return c.Crash(n)
		},
		Start: func(_ context.Context, n int) error {
			out, err := c.Script("start", strconv.Itoa(n))
			if err != nil {
				return fmt.Errorf("%w\n%s", err, out)
			}
			return nil
		},
		RotateKeys: func(context.Context) (string, error) {
			keys := workshop.NewKey() + "," + c.Env("SESSION_ENCRYPTION_KEYS")
			c.SetEnv("SESSION_ENCRYPTION_KEYS", keys)
			out, err := c.Script("restart")
			if err != nil {
				return "", fmt.Errorf("%w\n%s", err, out)
			}
			return keys, nil
		},
		Log: t.Logf,
	}
}
