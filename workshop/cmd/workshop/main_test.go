package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// up.env is written by bash's printf %q; readState must read back what
// bash wrote.
func TestReadStateReadsWhatBashWrote(t *testing.T) {
	values := map[string]string{
		"DATABASE_URL":            "postgres://postgres@127.0.0.1:5432/shop?sslmode=disable&x=1",
		"SESSION_ENCRYPTION_KEYS": "q1w2+e3r/T5=,AbC/9+==",
		"EMPTY":                   "",
		"SPACES":                  "a b  c",
		"QUOTES":                  `it's "quoted"`,
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "up.env")
	var script strings.Builder
	var env []string
	for name, v := range values {
		env = append(env, "V_"+name+"="+v)
		script.WriteString("printf '%s=%q\\n' " + name + ` "$V_` + name + `"` + "\n")
	}
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("bash: %v", err)
	}
	if err := os.WriteFile(file, out, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readState(file)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range values {
		if got[name] != want {
			t.Errorf("%s = %q, want %q (bash wrote %s)", name, got[name], want, out)
		}
	}
}

func TestRun(t *testing.T) {
	t.Setenv("RUN_DIR", t.TempDir()) // no up.env there
	tests := []struct {
		args    []string
		wantOut string
		wantErr string
	}{
		{[]string{"steps"}, "7. (stretch) Encryption at rest", ""},
		{[]string{"env", "3"}, "SESSION_STORE='memory'\nLB='ip'", ""},
		{[]string{"env", "7"}, "SESSION_ENCRYPTION_KEYS='", ""},
		{[]string{"about", "2"}, "Step 2: Three replicas", ""},
		{[]string{"env", "8"}, "REDIS_URL='redis://127.0.0.1:6391/0'", ""},
		{[]string{"env", "9"}, "", "no step 9"},
		{[]string{"env"}, "", "needs a step number"},
		{[]string{"check", "x"}, "", "not a number"},
		{[]string{"check", "1"}, "", "the shop is not running"},
		{[]string{"rotate"}, "", "the shop is not running"},
		{[]string{"dance"}, "", `unknown command "dance"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tt.args, os.Getenv, &out, &errOut)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if !strings.Contains(out.String(), tt.wantOut) {
					t.Errorf("output %q, want it to contain %q", out.String(), tt.wantOut)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
}
