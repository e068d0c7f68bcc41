package config_test

import (
	"os"
	"strings"
	"testing"

	"github.com/the-shop/shop/internal/config"
)

// TestConfigurationDocIsCurrent: docs/configuration.md is what
// config.Markdown makes from the variables the shop reads.
func TestConfigurationDocIsCurrent(t *testing.T) {
	t.Parallel()
	const path = "../../docs/configuration.md"
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v (make docs writes it)", path, err)
	}
	if string(got) != config.Markdown() {
		t.Errorf("%s is out of date with config.Vars: run make docs (go generate ./internal/config/)", path)
	}
}

// TestConfigurationDocListsEveryVariable: the generated table has one row
// per variable, with its default, and the host name stays a placeholder.
func TestConfigurationDocListsEveryVariable(t *testing.T) {
	t.Parallel()
	doc := config.Markdown()
	for _, v := range config.Vars() {
		row := "| `" + v.Name + "` |"
		if strings.Count(doc, row) != 1 {
			t.Errorf("%s: %d rows, want 1", v.Name, strings.Count(doc, row))
		}
		if v.Name != "REPLICA_NAME" && v.Default != "" && !strings.Contains(doc, "`"+v.Default+"` |\n") {
			t.Errorf("%s: default %q not in the table", v.Name, v.Default)
		}
	}
	if !strings.Contains(doc, "| `REPLICA_NAME` | name in X-Served-By and in logs (default: the host name) | the host name |") {
		t.Error("REPLICA_NAME's default is not the placeholder")
	}
	if strings.Contains(doc, "\x00") {
		t.Error("the placeholder leaked into the document")
	}
}
