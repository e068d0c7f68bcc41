package e2e_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/workshop"
)

// TestWorkshop runs each step of docs/workshop.md as an attendee would:
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
	o := clusterOptions{Env: map[string]string{}}
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
	c := startCluster(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	report := workshop.Check(ctx, n, workshopEnv(t, c, o))
	var out strings.Builder
	report.Print(&out)
	t.Logf("make workshop-check STEP=%d (LB=%s):\n%s", n, o.LB, out.String())
	if !report.OK() {
		t.Errorf("step %d does not behave as docs/workshop.md says:\n%s", n, out.String())
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
func workshopEnv(t *testing.T, c *cluster, o clusterOptions) workshop.Env {
	return workshop.Env{
		URL:            c.URL,
		Replicas:       o.Replicas,
		Store:          o.Store,
		LB:             o.LB,
		RedisURL:       c.envValue("REDIS_URL"),
		RedisPrefix:    c.envValue("REDIS_KEY_PREFIX"),
		DatabaseURL:    c.envValue("DATABASE_URL"),
		EncryptionKeys: c.envValue("SESSION_ENCRYPTION_KEYS"),
		Kill: func(_ context.Context, n int) error {
			c.kill(n)
			return nil
		},
		Start: func(_ context.Context, n int) error {
			out, err := c.script("start", strconv.Itoa(n))
			if err != nil {
				return fmt.Errorf("%w\n%s", err, out)
			}
			return nil
		},
		RotateKeys: func(context.Context) (string, error) {
			keys := workshop.NewKey() + "," + c.envValue("SESSION_ENCRYPTION_KEYS")
			c.env = append(c.env, "SESSION_ENCRYPTION_KEYS="+keys)
			out, err := c.script("restart")
			if err != nil {
				return "", fmt.Errorf("%w\n%s", err, out)
			}
			return keys, nil
		},
		Log: t.Logf,
	}
}

// envValue is the value the cluster's scripts get for name (the last one
// set wins, as in exec.Cmd).
func (c *cluster) envValue(name string) string {
	for i := len(c.env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(c.env[i], name+"="); ok {
			return v
		}
	}
	return ""
}
