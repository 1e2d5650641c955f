package models

import (
	"encoding/base64"
	"encoding/json"
	"time"
)

// Cursor marks a position in a newest-first list: the (created_at, id) of the last row shown.
// It travels as an opaque string.
type Cursor struct {
	At time.Time `json:"t"`
	ID string    `json:"i"`
}

// Encode makes the opaque form of c.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads an opaque cursor; ok is false when s is not one.
func DecodeCursor(s string) (Cursor, bool) {
	var c Cursor
	if s == "" {
		return c, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.ID == "" || TextProblem(c.ID, 100) != "" {
		return Cursor{}, false
	}
	return c, true
}

// Page limits.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// PageSize clamps a requested page size.
func PageSize(n int) int {
	if n <= 0 {
		return DefaultPageSize
	}
	return min(n, MaxPageSize)
}
