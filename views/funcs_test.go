package views

import (
	"math"
	"testing"
)

func TestMoney(t *testing.T) {
	tests := []struct {
		cents int64
		want  string
	}{
		{0, "$0.00"},
		{1, "$0.01"},
		{99, "$0.99"},
		{100, "$1.00"},
		{1800, "$18.00"},
		{2450, "$24.50"},
		{99999, "$999.99"},
		{100000, "$1,000.00"},
		{129900, "$1,299.00"},
		{12345678, "$123,456.78"},
		{100000000, "$1,000,000.00"},
		{-500, "-$5.00"},
		{-129905, "-$1,299.05"},
		{math.MaxInt64, "$92,233,720,368,547,758.07"},
		{math.MinInt64, "-$92,233,720,368,547,758.08"},
	}
	for _, tt := range tests {
		if got := Money(tt.cents); got != tt.want {
			t.Errorf("Money(%d) = %q, want %q", tt.cents, got, tt.want)
		}
	}
}

func TestPlural(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{0, "0 items"},
		{1, "1 item"},
		{2, "2 items"},
		{99, "99 items"},
	}
	for _, tt := range tests {
		if got := Plural(tt.n, "item", "items"); got != tt.want {
			t.Errorf("Plural(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestDict(t *testing.T) {
	t.Run("BuildsMap", func(t *testing.T) {
		got, err := Dict("a", 1, "b", "two")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got["a"] != 1 || got["b"] != "two" {
			t.Errorf("Dict = %v, want map[a:1 b:two]", got)
		}
	})
	t.Run("RejectsOddArguments", func(t *testing.T) {
		if _, err := Dict("a"); err == nil {
			t.Error("Dict(\"a\") returned no error")
		}
	})
	t.Run("RejectsNonStringKey", func(t *testing.T) {
		if _, err := Dict(1, "a"); err == nil {
			t.Error("Dict(1, \"a\") returned no error")
		}
	})
}

func TestFuncsExposesAsset(t *testing.T) {
	fm := Funcs(func(p string) string { return "/static/" + p })
	for _, name := range []string{"asset", "money", "plural", "dict"} {
		if fm[name] == nil {
			t.Errorf("Funcs lacks %q", name)
		}
	}
	asset, ok := fm["asset"].(func(string) string)
	if !ok {
		t.Fatalf("asset is %T, want func(string) string", fm["asset"])
	}
	if got, want := asset("css/shop.css"), "/static/css/shop.css"; got != want {
		t.Errorf("asset = %q, want %q", got, want)
	}
}
