// Package views holds hookrelay's templ components. Views take view models, never the
// database.
package views

import "strconv"

func itoa(n int) string { return strconv.Itoa(n) }
