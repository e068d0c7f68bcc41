// Package apperr holds the shop's domain errors: a small set of kinds that the
// HTTP layer maps to statuses in one table, and messages that are safe to show
// to users. Internal errors (driver errors, bugs) never carry a user message;
// the HTTP layer replaces them with a generic one.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error for the HTTP layer.
type Kind int

// The kinds of domain errors.
const (
	// KindInternal is a bug or an unexpected failure: 500, generic message.
	KindInternal Kind = iota
	// KindInvalid is bad input: 422 with the message and field errors.
	KindInvalid
	// KindNotFound is a missing resource: 404.
	KindNotFound
	// KindConflict is a clash with existing data, such as a taken email: 409
	// (422 when it comes from a form).
	KindConflict
	// KindUnauthorized is a missing or failed login: 401.
	KindUnauthorized
	// KindForbidden is a refused request, such as a bad CSRF token: 403.
	KindForbidden
	// KindUnavailable is a dependency that cannot be reached (PostgreSQL,
	// Redis): 503, and the user may retry.
	KindUnavailable
	// KindTooMany is a request refused for a while, such as a login after
	// repeated failures: 429.
	KindTooMany
)

// Error is a domain error with a code for machines and a message for people.
type Error struct {
	Kind Kind
	// Code is a snake_case identifier for JSON clients, e.g. "invalid_quantity".
	Code string
	// Message is safe to show to users.
	Message string
	// Fields maps form field names to messages for validation errors.
	Fields map[string]string
	// Err is the underlying cause, for logs only.
	Err error
	// RetryAfter, for KindTooMany, is how long until the request may
	// succeed (the Retry-After header); 0 when unknown.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Invalid is bad input. fields may be nil.
func Invalid(code, message string, fields map[string]string) *Error {
	return &Error{Kind: KindInvalid, Code: code, Message: message, Fields: fields}
}

// NotFound is a missing resource.
func NotFound(code, message string) *Error {
	return &Error{Kind: KindNotFound, Code: code, Message: message}
}

// Conflict is a clash with existing data.
func Conflict(code, message string, fields map[string]string) *Error {
	return &Error{Kind: KindConflict, Code: code, Message: message, Fields: fields}
}

// Unauthorized is a missing or failed authentication.
func Unauthorized(code, message string) *Error {
	return &Error{Kind: KindUnauthorized, Code: code, Message: message}
}

// Forbidden is a request the shop refuses.
func Forbidden(code, message string) *Error {
	return &Error{Kind: KindForbidden, Code: code, Message: message}
}

// Unavailable wraps the failure of a dependency the user cannot fix.
func Unavailable(what string, err error) *Error {
	return &Error{
		Kind:    KindUnavailable,
		Code:    "temporarily_unavailable",
		Message: "The shop is temporarily unavailable. Please try again in a moment.",
		Err:     fmt.Errorf("%s: %w", what, err),
	}
}

// TooMany is a request refused for a while.
func TooMany(code, message string) *Error {
	return &Error{Kind: KindTooMany, Code: code, Message: message}
}

// As returns the domain error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// IsKind reports whether err's chain holds a domain error of kind k.
func IsKind(err error, k Kind) bool {
	e := As(err)
	return e != nil && e.Kind == k
}
