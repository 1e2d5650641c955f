package models

import (
	"errors"
	"io"
	"net"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotFound is returned when a looked-up record does not exist (or is not visible to the
// caller, which the caller must not be able to tell apart).
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a write clashes with existing data in a way the user can fix.
var ErrConflict = errors.New("conflict")

// ValidationError carries a message per invalid field, keyed by the field's name in forms and
// JSON.
type ValidationError struct {
	Fields map[string]string
}

// Error lists the invalid fields.
func (e *ValidationError) Error() string {
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

// Add records a message for field unless the field already has one.
func (e *ValidationError) Add(field, msg string) {
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	if _, ok := e.Fields[field]; !ok {
		e.Fields[field] = msg
	}
}

// Err returns e when it holds any message, else nil.
func (e *ValidationError) Err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// FieldErrors returns the per-field messages of err when it is a validation error.
func FieldErrors(err error) map[string]string {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Fields
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
