package testenv

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// FreePorts finds n consecutive free loopback ports and returns the first,
// reserved for the test until it ends. A port found free is only free for a
// moment: tests that run at once (t.Parallel, and the test binaries of
// several packages) could be handed the same one, and then a replica or an
// nginx fails to bind. So every port handed out is also claimed: in this
// process (ports), and across processes by a file created exclusively under
// the temporary directory (a claim left by a killed test goes stale after
// an hour).
//
// Ports are picked below Linux's ephemeral range (32768 up): a port found
// free there can be taken, before the server binds it, as the local port of
// any outgoing connection on a busy machine.
func FreePorts(tb testing.TB, n int) int {
	tb.Helper()
	for range 500 {
		base := 10000 + rand.IntN(22000-n)
		if claim(tb, base, n) {
			return base
		}
	}
	tb.Fatalf("no %d consecutive free ports", n)
	return 0
}

// ports are the ports this process has handed out and not released.
var ports = struct {
	sync.Mutex
	held map[int]bool
}{held: map[int]bool{}}

var claimDir = filepath.Join(os.TempDir(), "the-shop-test-ports")

// claim reserves [base, base+n) if every port is unclaimed and free.
func claim(tb testing.TB, base, n int) bool {
	ports.Lock()
	defer ports.Unlock()
	for p := base; p < base+n; p++ {
		if ports.held[p] {
			return false
		}
	}
	if err := os.MkdirAll(claimDir, 0o777); err != nil {
		tb.Fatalf("claim ports: %v", err)
	}
	var files []string
	release := func() {
		for _, f := range files {
			_ = os.Remove(f)
		}
	}
	for p := base; p < base+n; p++ {
		f := filepath.Join(claimDir, fmt.Sprint(p))
		if !claimFile(f) {
			release()
			return false
		}
		files = append(files, f)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			release()
			return false
		}
		ln.Close()
	}
	for p := base; p < base+n; p++ {
		ports.held[p] = true
	}
	tb.Cleanup(func() {
		ports.Lock()
		defer ports.Unlock()
		for p := base; p < base+n; p++ {
			delete(ports.held, p)
		}
		release()
	})
	return true
}

// claimFile creates f exclusively; a claim older than an hour was left by
// a test that did not end, and is taken over.
func claimFile(f string) bool {
	h, err := os.OpenFile(f, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	if err == nil {
		h.Close()
		return true
	}
	if !errors.Is(err, fs.ErrExist) {
		return false
	}
	if st, err := os.Stat(f); err == nil && time.Since(st.ModTime()) > time.Hour {
		_ = os.Remove(f)
		return claimFile(f)
	}
	return false
}
