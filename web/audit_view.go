package web

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

// auditRow words an audit entry for people: the object it is about as a link, and its details
// as one line per field, "before → after" for a change, with the ids in them linked.
func auditRow(e models.AuditEntry) views.AuditRow {
	row := views.AuditRow{At: e.At, Actor: e.ActorEmail, Action: e.Action, ObjectType: e.ObjectType, ObjectID: e.ObjectID,
		Summary: e.Summary, ObjectHref: objectHref(e.ObjectType, e.ObjectID)}
	var details map[string]any
	if err := json.Unmarshal(e.Details, &details); err != nil || details == nil {
		if s := strings.TrimSpace(string(e.Details)); s != "" && s != "null" && s != "{}" {
			row.Changes = append(row.Changes, views.AuditChange{Field: "details", After: auditValue(s)})
		}
		return row
	}
	keys := make([]string, 0, len(details))
	for k := range details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		c := views.AuditChange{Field: strings.ReplaceAll(k, "_", " ")}
		if m, ok := details[k].(map[string]any); ok && hasFromTo(m) {
			c.Changed = true
			c.Before, c.After = auditValue(m["from"]), auditValue(m["to"])
			for _, extra := range []string{"backlog"} {
				if v, ok := m[extra]; ok && v != nil && v != "" {
					c.After = append(c.After, views.TextPart{Text: fmt.Sprintf(" (%s: %v)", extra, v)})
				}
			}
		} else {
			c.After = auditValue(details[k])
		}
		row.Changes = append(row.Changes, c)
	}
	return row
}

func hasFromTo(m map[string]any) bool {
	_, f := m["from"]
	_, t := m["to"]
	return f && t
}

// ids are the identifiers of objects with a page: events, messages, webhooks, partners, users.
var ids = regexp.MustCompile(`\b(evt|msg|wh|ptn|usr)_[0-9a-z]+\b`)

// auditValue writes one value of an entry's details, linking the ids in it.
func auditValue(v any) []views.TextPart {
	var s string
	switch x := v.(type) {
	case nil:
		s = "—"
	case string:
		s = x
		if s == "" {
			s = "—"
		}
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = fmt.Sprint(p)
		}
		s = strings.Join(parts, ", ")
		if s == "" {
			s = "none"
		}
	case bool, float64:
		s = fmt.Sprint(x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			s = fmt.Sprint(x)
		} else {
			s = string(b)
		}
	}
	return linkParts(s, ids, func(id string) string { return objectHref(strings.SplitN(id, "_", 2)[0], id) })
}

// linkParts cuts text into parts where each match of re that href gives an address for
// becomes a link to it.
func linkParts(text string, re *regexp.Regexp, href func(match string) string) []views.TextPart {
	var parts []views.TextPart
	at := 0
	for _, m := range re.FindAllStringIndex(text, -1) {
		match := text[m[0]:m[1]]
		h := href(match)
		if h == "" {
			continue
		}
		if m[0] > at {
			parts = append(parts, views.TextPart{Text: text[at:m[0]]})
		}
		parts = append(parts, views.TextPart{Text: match, Href: h})
		at = m[1]
	}
	if at < len(text) {
		parts = append(parts, views.TextPart{Text: text[at:]})
	}
	return parts
}

// objectHref is the page of an object an audit entry names, or "" when it has none.
func objectHref(kind, id string) string {
	if id == "" {
		return ""
	}
	switch kind {
	case "webhook", "wh":
		return "/webhooks/" + url.PathEscape(id)
	case "partner", "ptn":
		return "/admin/partners/" + url.PathEscape(id)
	case "user", "usr":
		return "/admin/users/" + url.PathEscape(id) + "/edit"
	case "message", "msg":
		return "/messages/" + url.PathEscape(id)
	case "event", "evt":
		return "/events/" + url.PathEscape(id)
	case "event_type":
		return "/admin/event-types/" + url.PathEscape(id)
	case "course":
		return "/admin/courses?q=" + url.QueryEscape(id)
	case "api_key":
		return "/admin/api-keys"
	}
	return ""
}
