package config_test

import (
	"testing"

	"github.com/the-shop/shop/internal/config"
)

// The footer's replica and store badge is a teaching aid: on in
// development (and wherever SHOW_SERVED_BY asks for it, as the workshop
// does), off by default in production.
func TestShowServedBy(t *testing.T) {
	t.Parallel()
	secret := "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"OnByDefault", nil, true},
		{"OnInDevelopment", map[string]string{"SHOP_ENV": "development"}, true},
		{"OffInProduction", map[string]string{"SHOP_ENV": "production", "JWT_SECRET": secret}, false},
		{"EmptyFollowsTheEnvironment", map[string]string{"SHOP_ENV": "production", "JWT_SECRET": secret, "SHOW_SERVED_BY": ""}, false},
		{"AskedForInProduction", map[string]string{"SHOP_ENV": "production", "JWT_SECRET": secret, "SHOW_SERVED_BY": "true"}, true},
		{"TurnedOffInDevelopment", map[string]string{"SHOW_SERVED_BY": "false"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Load(env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.ShowServedBy != tt.want {
				t.Errorf("ShowServedBy = %v, want %v", c.ShowServedBy, tt.want)
			}
		})
	}
	t.Run("RejectsNonBool", func(t *testing.T) {
		t.Parallel()
		if _, err := config.Load(env(map[string]string{"SHOW_SERVED_BY": "sometimes"})); err == nil {
			t.Error("SHOW_SERVED_BY=sometimes loaded")
		}
	})
}
