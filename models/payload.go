package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ChangePayload is one change as delivered in a "batch" message.
type ChangePayload struct {
	EventID    string          `json:"event_id"`
	Type       string          `json:"type"`
	Action     string          `json:"action"`
	Object     *string         `json:"object"`
	ObjectID   *string         `json:"object_id"`
	URL        *string         `json:"url"`
	CourseID   *string         `json:"course_id"`
	OccurredAt time.Time       `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// BatchPayload is the body of a "batch" message.
type BatchPayload struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	// Test marks a test notification; absent from real messages.
	Test    bool            `json:"test,omitempty"`
	Changes []ChangePayload `json:"changes"`
}

// EventPayload is the body of an "event" message: one change.
type EventPayload struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Timestamp  time.Time       `json:"timestamp"`
	Action     string          `json:"action"`
	Object     *string         `json:"object"`
	ObjectID   *string         `json:"object_id"`
	URL        *string         `json:"url"`
	CourseID   *string         `json:"course_id"`
	OccurredAt time.Time       `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
	// Test marks a test notification; absent from real messages.
	Test bool `json:"test,omitempty"`
}

// DefaultAction is the action of an event of type eventType that names none: the part of the
// type after its last dot, or the whole type when it has none (SPEC "Ingestion API").
func DefaultAction(eventType string) string {
	return eventType[strings.LastIndex(eventType, ".")+1:]
}

// objectOf is the object an event type is about: the part before its last dot ("" when none).
func objectOf(eventType string) string {
	return eventType[:max(0, strings.LastIndex(eventType, "."))]
}

// newTestMessage makes the body of a test notification of type t to w: data (the type's sample
// data when nil) as one change of a made-up object, in w's format, marked "test": true.
func newTestMessage(w *Webhook, t *EventType, data json.RawMessage, now time.Time) (newMessage, error) {
	ts := now.UTC().Truncate(time.Second)
	object, objectID := objectOf(t.Name), "test-"+NewID("")[24:]
	sample := data
	if sample == nil {
		sample = t.Sample
	}
	if len(sample) == 0 {
		sample = json.RawMessage("{}")
	}
	c := ChangePayload{EventID: NewID("evt_test_"), Type: t.Name, Action: DefaultAction(t.Name), Object: &object, ObjectID: &objectID,
		OccurredAt: ts, Data: sample}
	m := newMessage{id: NewID("msg_"), eventTypes: []string{t.Name}}
	var err error
	if w.Format == FormatEvent {
		body := c.event(ts)
		body.Test = true
		m.payload, err = json.Marshal(body)
		if w.AppendEventType {
			m.urlSuffix = "/" + t.Name
		}
	} else {
		m.payload, err = json.Marshal(BatchPayload{ID: m.id, Type: "changes", Timestamp: ts, Test: true, Changes: []ChangePayload{c}})
	}
	if err != nil {
		return m, fmt.Errorf("encoding test message: %w", err)
	}
	return m, nil
}

// event is the body of an "event" message carrying change c, made at ts.
func (c ChangePayload) event(ts time.Time) EventPayload {
	return EventPayload{ID: c.EventID, Type: c.Type, Timestamp: ts, Action: c.Action, Object: c.Object,
		ObjectID: c.ObjectID, URL: c.URL, CourseID: c.CourseID, OccurredAt: c.OccurredAt, Data: c.Data}
}

// exampleAt is when the example messages were made.
var exampleAt = time.Date(2026, 11, 22, 10, 0, 10, 0, time.UTC)

// ExampleBody is a message body in format as receivers get it, made by the same code as real
// messages, for the webhook form to show.
func ExampleBody(format string) string {
	object, objectID, url := "training", "345345", "https://lms.example.com/t/345345"
	b, err := exampleBody(format, ChangePayload{EventID: "evt_01j9…", Type: "training.updated", Action: "update", Object: &object,
		ObjectID: &objectID, URL: &url, OccurredAt: exampleAt.Add(-10 * time.Second), Data: json.RawMessage(`{"title": "New Student Orientation"}`)})
	if err != nil {
		panic(err) // fixed input: only on a programming error
	}
	return b
}

// SampleBody is the body a receiver gets in format for one event of type t whose data is the
// type's sample, made by the same code as real messages, for the event catalogue. The event
// is about an object of the type's object (its name before the last dot) with a made-up id,
// and carries no URL or course, which real events have when the platform posts them.
func SampleBody(t *EventType, format string) (string, error) {
	object, objectID := objectOf(t.Name), "345345"
	c := ChangePayload{EventID: "evt_01j9…", Type: t.Name, Action: DefaultAction(t.Name),
		OccurredAt: exampleAt.Add(-10 * time.Second), Data: t.Sample}
	if object != "" {
		c.Object, c.ObjectID = &object, &objectID
	}
	if len(c.Data) == 0 {
		c.Data = json.RawMessage("{}")
	}
	return exampleBody(format, c)
}

// exampleBody is the body of a message in format carrying the one change c, pretty-printed.
func exampleBody(format string, c ChangePayload) (string, error) {
	var v any = BatchPayload{ID: "msg_01j9…", Type: "changes", Timestamp: exampleAt, Changes: []ChangePayload{c}}
	if format == FormatEvent {
		v = c.event(exampleAt)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encoding an example %s body of %s: %w", format, c.Type, err)
	}
	return string(b), nil
}

// jsonObject reads s as the data of a change: a JSON object of at most limit bytes whose texts
// PostgreSQL can store. It says what is wrong in words for the person who typed it.
func jsonObject(s string, limit int) (json.RawMessage, string) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &obj); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Sprintf("This is not valid JSON: %s (at character %d).", se.Error(), se.Offset)
		}
		return nil, "Enter a JSON object, such as {\"title\": \"New Student Orientation\"}."
	} else if obj == nil {
		return nil, "Enter a JSON object, such as {\"title\": \"New Student Orientation\"}."
	}
	if len(s) > limit {
		return nil, fmt.Sprintf("Keep it under %d KiB.", limit>>10)
	}
	if field, p := JSONTextProblem([]byte(s), false); p != "" {
		return nil, fmt.Sprintf("%s %s.", field, p)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return nil, "This is not valid JSON."
	}
	return b.Bytes(), ""
}
