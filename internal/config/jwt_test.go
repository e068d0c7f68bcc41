package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/config"
)

func TestJWTSettings(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.JWTSecret != "" || c.JWTTTL != 15*time.Minute {
		t.Errorf("defaults: JWT_SECRET set = %v, JWT_TTL = %v; want unset and 15m", c.JWTSecret != "", c.JWTTTL)
	}

	good := strings.Repeat("s", 32)
	c, err = config.Load(env(map[string]string{"JWT_SECRET": good, "JWT_TTL": "5m"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.JWTSecret != good || c.JWTTTL != 5*time.Minute {
		t.Errorf("JWT_SECRET/JWT_TTL not read: %v", c.JWTTTL)
	}

	bad := []struct {
		name, secret, ttl, want string
	}{
		{"ShortSecret", "short-secret-do-not-print", "", "JWT_SECRET is 25 bytes"},
		{"ZeroTTL", "", "0s", "JWT_TTL"},
		{"LongTTL", "", "25h", "JWT_TTL must be at most 24h"},
		{"NotADuration", "", "forever", "JWT_TTL"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(env(map[string]string{"JWT_SECRET": tt.secret, "JWT_TTL": tt.ttl}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to say %q", err, tt.want)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

func TestProductionRequiresJWTSecret(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		wantErr bool
	}{
		{map[string]string{}, false},
		{map[string]string{"SHOP_ENV": "production"}, true},
		{map[string]string{"SHOP_ENV": "production", "JWT_SECRET": strings.Repeat("k", 32)}, false},
		{map[string]string{"SHOP_ENV": "staging"}, true},
	} {
		_, err := config.Load(func(k string) string { return tc.env[k] })
		if (err != nil) != tc.wantErr {
			t.Errorf("Load(%v) error = %v, want error %v", tc.env, err, tc.wantErr)
		}
		if err != nil && tc.env["SHOP_ENV"] == "production" && !strings.Contains(err.Error(), "JWT_SECRET") {
			t.Errorf("error %q does not name JWT_SECRET", err)
		}
	}
}
