// Command docgen writes docs/configuration.md from config.Vars; `make docs`
// and `go generate ./internal/config/` run it.
package main

import (
	"fmt"
	"os"

	"github.com/the-shop/shop/internal/config"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: docgen FILE")
		os.Exit(2)
	}
	if err := os.WriteFile(os.Args[1], []byte(config.Markdown()), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "docgen: write %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
