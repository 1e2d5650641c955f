package models

import (
	"strings"

	"github.com/google/uuid"
)

// NewID returns a new identifier with a type prefix such as "evt_". The rest is a UUIDv7, so
// ids sort roughly by creation time.
func NewID(prefix string) string {
	return prefix + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", "")
}

// Ptr returns a pointer to v, for the optional fields of inputs.
func Ptr[T any](v T) *T { return &v }
