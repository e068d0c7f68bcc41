// Package views holds the shop's HTML templates (html/template), embedded so
// that every replica renders from the same files without touching the disk.
//
// Layout: layouts/base.html defines "base"; partials/*.html define small
// shared templates; each pages/NAME.html defines "content". A renderer clones
// base + partials, parses one page on top and executes "base" with a
// handlers.Page value.
package views

import (
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"reflect"
	"strconv"
	"time"
)

// FS holds the layouts, pages and partials.
//
//go:embed layouts pages partials
var FS embed.FS

// MailFS holds the plain-text mails (text/template): each mail/NAME.txt
// defines "subject" and "body".
//
//go:embed mail
var MailFS embed.FS

// Funcs returns the functions the templates call. asset maps a path inside
// static/ (for example "css/shop.css") to the URL it is served under; the
// caller decides how (content-hashed names in production, plain relative paths
// in a preview). The functions are pure so the templates stay easy to test.
func Funcs(asset func(string) string) template.FuncMap {
	return template.FuncMap{
		"asset":        asset,
		"money":        Money,
		"plural":       Plural,
		"dict":         Dict,
		"localTime":    LocalTime,
		"errorSummary": Summarize,
		// idempotencyKey is the one impure function: every rendered form
		// gets a fresh key, so a submit retried after a replica died is
		// applied once, while a new visit to the page adds again.
		"idempotencyKey": IdempotencyKey,
	}
}

// IdempotencyKey returns 22 random URL-safe characters.
func IdempotencyKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// Money formats integer cents as US dollars with a thousands separator:
// 1800 → "$18.00", 129900 → "$1,299.00". Negative amounts get a leading
// minus ("-$5.00") although the shop has none today.
func Money(cents int64) string {
	sign := ""
	// Work with an unsigned magnitude so that math.MinInt64 cannot overflow.
	u := uint64(cents)
	if cents < 0 {
		sign = "-"
		u = -u
	}
	dollars := strconv.FormatUint(u/100, 10)
	// Insert a comma every three digits from the right.
	if n := len(dollars); n > 3 {
		b := make([]byte, 0, n+(n-1)/3)
		first := n % 3
		if first == 0 {
			first = 3
		}
		b = append(b, dollars[:first]...)
		for i := first; i < n; i += 3 {
			b = append(b, ',')
			b = append(b, dollars[i:i+3]...)
		}
		dollars = string(b)
	}
	return fmt.Sprintf("%s$%s.%02d", sign, dollars, u%100)
}

// ErrorSummary is what the error summary on top of a form shows: the
// form's message and each field with a problem, linked to its input.
type ErrorSummary struct {
	Message string
	Items   []SummaryItem
}

// SummaryItem is one field with a problem: the id of its input and the
// message.
type SummaryItem struct {
	ID, Message string
}

// Summarize builds the error summary of a form: pairs are a field's name
// and the id of its input, in the order the form shows them. It returns
// nil when the form has no errors.
// {{template "error-summary" (errorSummary .Form "email" "email")}}.
func Summarize(form interface{ Error(string) string }, pairs ...string) (*ErrorSummary, error) {
	if len(pairs)%2 != 0 {
		return nil, errors.New("errorSummary: odd number of field and id arguments")
	}
	if form == nil || reflect.ValueOf(form).IsNil() {
		return nil, nil
	}
	s := &ErrorSummary{Message: form.Error("")}
	for i := 0; i < len(pairs); i += 2 {
		if msg := form.Error(pairs[i]); msg != "" {
			s.Items = append(s.Items, SummaryItem{ID: pairs[i+1], Message: msg})
		}
	}
	if s.Message == "" && len(s.Items) == 0 {
		return nil, nil
	}
	return s, nil
}

// LocalTime formats t in the time zone named zone (an IANA name such as
// "Europe/Berlin", which the handlers take from the browser; unknown or
// empty: UTC), with the zone's abbreviation: "14 Mar 2026 at 10:26 CET".
func LocalTime(t time.Time, zone string) string {
	loc := time.UTC
	if zone != "" {
		if l, err := time.LoadLocation(zone); err == nil {
			loc = l
		}
	}
	return t.In(loc).Format("2 Jan 2006 at 15:04 MST")
}

// Plural returns "N one" when n is 1 and "N many" otherwise:
// {{plural .Count "item" "items"}} → "1 item", "3 items", "0 items".
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// Dict builds a map from alternating keys and values so that a template can
// hand more than one value to a partial:
// {{template "add-to-cart" dict "Product" . "CSRFToken" $.CSRFToken}}.
func Dict(pairs ...any) (map[string]any, error) {
	if len(pairs)%2 != 0 {
		return nil, errors.New("dict: odd number of arguments")
	}
	m := make(map[string]any, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		k, ok := pairs[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %d is %T, not a string", i/2, pairs[i])
		}
		m[k] = pairs[i+1]
	}
	return m, nil
}
