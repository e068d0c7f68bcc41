package config_test

import (
	"strings"
	"testing"

	"github.com/the-shop/shop/internal/config"
)

// TestAdminAddr: ADMIN_ADDR takes host:port or "off"; an empty value counts
// as unset (the default, a free loopback port), as for every variable.
func TestAdminAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, value, want string
		bad               bool
	}{
		{"EmptyMeansTheDefaultLoopbackPort", "", "127.0.0.1:0", false},
		{"HostAndPort", "127.0.0.1:19001", "127.0.0.1:19001", false},
		{"IPv6HostAndPort", "[::1]:9100", "[::1]:9100", false},
		{"OffTurnsItOff", "off", "", false},
		{"OffInAnyCase", "OFF", "", false},
		{"RejectsAHostWithoutPort", "localhost", "", true},
		{"RejectsANamedPort", "127.0.0.1:http-ish", "", true},
		{"RejectsAPortAbove65535", "127.0.0.1:70000", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
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

// TestAdminAddrHelp: `shop --help` says how to turn the admin listener off
// and what an empty value does, so nobody writes ADMIN_ADDR= to turn it off.
func TestAdminAddrHelp(t *testing.T) {
	t.Parallel()
	var help string
	for _, v := range config.Vars() {
		if v.Name == "ADMIN_ADDR" {
			help = v.Help
		}
	}
	for _, want := range []string{"off: no admin listener", "empty counts as unset", "/metrics"} {
		if !strings.Contains(help, want) {
			t.Errorf("ADMIN_ADDR help %q lacks %q", help, want)
		}
	}
}
