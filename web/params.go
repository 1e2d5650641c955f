package web

import (
	"fmt"
	"strings"
	"time"
)

// timeLayouts are the forms a time filter may take: the browser's datetime-local, a date, or
// RFC 3339. Times without a zone are UTC.
var timeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02", time.RFC3339Nano}

// parseTimeParam reads an optional time filter; name is used in the message when it is bad.
func parseTimeParam(name, s string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return &t, nil
		}
	}
	return nil, fmt.Errorf("%q is not a time %s understands; use a date and time such as 2026-11-22T10:00", clip(s, 40), name)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return truncate(s, n) + "…"
}

// textParam reads a free-text filter, trimmed and bounded.
func textParam(s string) string {
	return truncate(strings.TrimSpace(s), 200)
}
