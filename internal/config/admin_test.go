package config_test

import (
	"strings"
	"testing"

	"github.com/the-shop/shop/internal/config"
)

func TestAdminAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value, want string
		bad         bool
	}{
		{"", "127.0.0.1:0", false}, // unset: a free loopback port
		{"127.0.0.1:19001", "127.0.0.1:19001", false},
		{"[::1]:9100", "[::1]:9100", false},
		{"off", "", false},
		{"OFF", "", false},
		{"localhost", "", true},
		{"127.0.0.1:http-ish", "", true},
		{"127.0.0.1:70000", "", true},
	} {
		t.Run(tc.value, func(t *testing.T) {
			c, err := config.Load(env(map[string]string{"ADMIN_ADDR": tc.value}))
			if tc.bad {
				if err == nil || !strings.Contains(err.Error(), "ADMIN_ADDR") {
					t.Fatalf("ADMIN_ADDR=%q: error %v, want one naming ADMIN_ADDR", tc.value, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.AdminAddr != tc.want {
				t.Errorf("ADMIN_ADDR=%q: AdminAddr = %q, want %q", tc.value, c.AdminAddr, tc.want)
			}
		})
	}
}
