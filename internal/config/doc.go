package config

import (
	"fmt"
	"strings"
)

//go:generate go run ./docgen ../../docs/configuration.md

// hostPlaceholder stands for the host name in the generated table, which
// must read the same on every machine.
const hostPlaceholder = "\x00host"

// Markdown is docs/configuration.md: every variable of Vars with its
// default and meaning. `make docs` (go generate ./internal/config/) writes
// it, and a test fails when the file differs, so the table cannot drift
// from what the shop reads.
func Markdown() string {
	var b strings.Builder
	b.WriteString(`# Configuration

<!-- Generated from internal/config (config.Vars) by ` + "`make docs`" + `; do not edit. -->

Each replica reads these environment variables; ` + "`shop --help`" + ` prints the
same list. An empty variable counts as unset, so it gets the default. A bad
value stops the start with a message naming the variable and what it
accepts. Durations are Go durations (` + "`90s`, `30m`, `720h`" + `).

| variable | meaning | default |
| --- | --- | --- |
`)
	for _, v := range vars(hostPlaceholder) {
		def := "unset"
		switch v.Default {
		case "":
		case hostPlaceholder:
			def = "the host name"
		default:
			def = "`" + v.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", v.Name, cell(v.Help), def)
	}
	b.WriteString(`
` + "`make up`" + ` also takes ` + "`REPLICAS`" + ` (default 3), ` + "`SESSION_STORE`, `LB` (`rr`, `ip`,\n`cookie`)" + ` and ` + "`PORT`" + ` (nginx, default 8080); replicas listen on
127.0.0.1:9001 upward, and replica N serves its admin listener on
127.0.0.1:19000+N (` + "`ADMIN_BASE_PORT`" + ` moves them). Any variable above given to
` + "`make up`" + ` reaches the replicas unchanged.
`)
	return b.String()
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}
