// Package static holds the shop's stylesheets, scripts and images, embedded so
// that nothing is fetched from elsewhere at run time and every replica serves
// byte-identical files (and therefore the same content-hashed URLs).
package static

import "embed"

// FS holds css/, js/ and img/.
//
//go:embed css js img
var FS embed.FS
