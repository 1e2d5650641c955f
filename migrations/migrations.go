// Package migrations holds hookrelay's schema as numbered SQL files embedded in the binary.
// models.Migrate applies them.
package migrations

import "embed"

// FS holds the numbered SQL migrations (goose format).
//
//go:embed *.sql
var FS embed.FS
