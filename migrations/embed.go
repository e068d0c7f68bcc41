// Package migrations holds the shop's goose SQL migrations, embedded in the
// binary so that every replica carries the schema it expects.
package migrations

import "embed"

// FS holds the *.sql migration files.
//
//go:embed *.sql
var FS embed.FS
