// Package e2e_test runs the shop as it really runs: the binary, several
// replicas and nginx, started by scripts/shop.sh (what `make up` runs), and
// proves what the design promises when replicas die, restart, or lose their
// stores. Every test starts its own cluster (internal/testenv/cluster) on
// free loopback ports with its own database and Redis prefix, and stops
// everything it started.
package e2e_test

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/testenv"
	"github.com/the-shop/shop/internal/testenv/cluster"
)

// shop is the build every cluster runs, made once by TestMain (the test
// binary's main, so its one variable).
var shop *cluster.Shop

// repoRoot is the work tree's root, where tests keep their artifacts.
var repoRoot string

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
	shop, repoRoot = s, s.Root
	return m.Run()
}

// clusterOptions choose a topology; see cluster.Options.
type clusterOptions = cluster.Options

// startCluster starts replicas and nginx for t; they stop when t ends.
func startCluster(t *testing.T, o clusterOptions) *cluster.Cluster {
	t.Helper()
	return shop.Start(t, o)
}

// replicaNumber turns "shop-2" into 2.
func replicaNumber(t *testing.T, name string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimPrefix(name, "shop-"))
	if err != nil {
		t.Fatalf("replica name %q is not shop-N", name)
	}
	return n
}

// servedBy returns the replica that answered.
func servedBy(r testenv.Response) string { return r.Header.Get("X-Served-By") }

// waitStatus polls url until it answers want, or fails after timeout.
func waitStatus(t *testing.T, url string, want int, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		res, err := client.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == want {
				return
			}
			last = res.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %d within %v (last: %s)", url, want, timeout, last)
}
