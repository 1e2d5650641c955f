package models

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Error codes: what kind of failure an operation met. Each surface maps a code to its own
// answer (web: a form shown again with its messages, or problem+json with a status).
const (
	// EINVALID is input the person can correct; Fields says where.
	EINVALID = "invalid"
	// ENOTFOUND is a record that does not exist, or that the caller may not see (which the
	// caller must not be able to tell apart).
	ENOTFOUND = "not_found"
	// ECONFLICT is a request that clashes with the current state of things.
	ECONFLICT = "conflict"
)

// Error is hookrelay's one domain error: a code, a message for people and, for invalid input,
// a message per field keyed by the field's name in forms and JSON. The wording is written
// here once, so the browser and the API say the same. Any other error is internal.
type Error struct {
	Code    string
	Message string
	Fields  map[string]string
}

// ErrNotFound matches (with errors.Is) every not-found Error.
var ErrNotFound = &Error{Code: ENOTFOUND}

// ErrConflict matches (with errors.Is) every conflict Error.
var ErrConflict = &Error{Code: ECONFLICT}

// Errorf makes an Error of code with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid makes the Error of one invalid field.
func Invalid(field, msg string) *Error {
	return &Error{Code: EINVALID, Fields: map[string]string{field: msg}}
}

func (e *Error) code() string {
	if e.Code == "" && len(e.Fields) > 0 {
		return EINVALID
	}
	return e.Code
}

// Error describes the error for logs.
func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		if e.Message == "" {
			return strings.ReplaceAll(e.code(), "_", " ")
		}
		return e.code() + ": " + e.Message
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+": "+e.Fields[k])
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Is lets errors.Is(err, ErrNotFound) (or ErrConflict) match any Error of that code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && len(t.Fields) == 0 && t.code() == e.code()
}

// Add records a message for field unless the field already has one.
func (e *Error) Add(field, msg string) {
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	if _, ok := e.Fields[field]; !ok {
		e.Fields[field] = msg
	}
}

// Err returns e when it holds any field message, else nil.
func (e *Error) Err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	e.Code = EINVALID
	return e
}

// ErrorCode returns the code of err, or "" when it is internal.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.code()
	}
	return ""
}

// ErrorMessage returns the message of err for people, or a generic one when it is internal.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "Something went wrong; the error has been logged."
}

// FieldErrors returns the per-field messages of err when it is invalid input.
func FieldErrors(err error) map[string]string {
	var e *Error
	if errors.As(err, &e) && len(e.Fields) > 0 {
		return e.Fields
	}
	return nil
}

// IsUnavailable reports whether err means the database could not be reached or went away
// (refused, dropped, shutting down, out of connections), rather than refusing the request:
// worth answering "try again shortly".
func IsUnavailable(err error) bool {
	var connErr *pgconn.ConnectError
	var netErr net.Error
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &connErr), errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 57P01-57P03: shutting down or starting up;
		// 53300: too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" ||
			pgErr.Code == "57P03" || pgErr.Code == "53300"
	}
	return pgconn.SafeToRetry(err)
}
