package models

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// What text the product accepts, decided here for every path, query, form and JSON string
// (the web layer applies it to every request before a handler sees it): valid UTF-8 (PostgreSQL
// refuses anything else), no NUL character (PostgreSQL text cannot hold one) and a length limit.

// TextProblem says what is wrong with s as text the product accepts (at most max bytes), or ""
// when nothing is.
func TextProblem(s string, max int) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8 text"
	case strings.ContainsRune(s, 0):
		return "must not contain a NUL character"
	case len(s) > max:
		return fmt.Sprintf("must be at most %d bytes", max)
	}
	return ""
}

// JSONTextProblem finds the first string of a valid JSON document that the product cannot take
// as text: invalid UTF-8, or an escaped lone surrogate (PostgreSQL's json types refuse both,
// and encoding/json would quietly turn them into U+FFFD), and unless allowNUL a NUL character
// (which jsonb refuses; a json column keeps the escape as posted). It returns the string's place, such as
// events[3].data.title, and the problem; "" when every string is fine.
func JSONTextProblem(body []byte, allowNUL bool) (field, problem string) {
	if utf8.Valid(body) && !bytes.Contains(bytes.ToLower(body), []byte(`\ud`)) && (allowNUL || !bytes.Contains(body, []byte(`\u0000`))) {
		return "", "" // the common case, without walking the document
	}
	type frame struct {
		obj     bool
		key     string
		idx     int
		wantKey bool
	}
	var st []frame
	path := func() string {
		var b strings.Builder
		for _, f := range st {
			switch {
			case f.obj && b.Len() == 0:
				b.WriteString(f.key)
			case f.obj:
				b.WriteString("." + f.key)
			default:
				fmt.Fprintf(&b, "[%d]", f.idx)
			}
		}
		if b.Len() == 0 {
			return "body"
		}
		return b.String()
	}
	beginValue := func() {
		if n := len(st); n > 0 && !st[n-1].obj {
			st[n-1].idx++
		}
	}
	endValue := func() {
		if n := len(st); n > 0 && st[n-1].obj {
			st[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return "", ""
		}
		raw := body[start:dec.InputOffset()]
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				beginValue()
				st = append(st, frame{obj: t == '{', wantKey: t == '{', idx: -1})
			} else {
				st = st[:len(st)-1]
				endValue()
			}
		case string:
			if n := len(st); n > 0 && st[n-1].obj && st[n-1].wantKey {
				st[n-1].key, st[n-1].wantKey = t, false
				if p := stringProblem(raw, t, allowNUL); p != "" {
					return path(), "has a name that " + p
				}
				continue
			}
			beginValue()
			if p := stringProblem(raw, t, allowNUL); p != "" {
				return path(), p
			}
			endValue()
		default:
			beginValue()
			endValue()
		}
	}
}

// rawStringProblem checks the raw bytes of one JSON string (with whatever separators came
// before it) for invalid UTF-8 and lone surrogate escapes.
func rawStringProblem(raw []byte) string {
	if !utf8.Valid(raw) {
		return "is not valid UTF-8 text"
	}
	hex := func(i int) (rune, bool) {
		if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
		return rune(n), err == nil
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		r, ok := hex(i)
		if !ok {
			i++ // some other escape: skip the escaped character
			continue
		}
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return "holds a lone surrogate escape (\\u" + strings.ToUpper(string(raw[i+2:i+6])) + ")"
		case r >= 0xD800 && r <= 0xDBFF:
			if lo, ok := hex(i + 6); !ok || lo < 0xDC00 || lo > 0xDFFF {
				return "holds a lone surrogate escape (\\u" + strings.ToUpper(string(raw[i+2:i+6])) + ")"
			}
			i += 11
		default:
			i += 5
		}
	}
	return ""
}

func stringProblem(raw []byte, decoded string, allowNUL bool) string {
	if !allowNUL && strings.ContainsRune(decoded, 0) {
		return "must not contain a NUL character"
	}
	return rawStringProblem(raw)
}
