package models

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// DefaultAction is the action of an event of type eventType that names none: the part of the
// type after its last dot, or the whole type when it has none (SPEC "Ingestion API").
func DefaultAction(eventType string) string {
	return eventType[strings.LastIndex(eventType, ".")+1:]
}

// objectOf is the object an event type is about: the part before its last dot ("" when none).
func objectOf(eventType string) string {
	return eventType[:max(0, strings.LastIndex(eventType, "."))]
}

// newTestMessage makes the body of a test notification of type t to w: the type's sample data
// as one change of a made-up object, in w's format, marked "test": true.
func newTestMessage(w *Webhook, t *EventType, now time.Time) (newMessage, error) {
	ts := now.UTC().Truncate(time.Second)
	object, objectID := objectOf(t.Name), "test-"+NewID("")[24:]
	sample := t.Sample
	if len(sample) == 0 {
		sample = json.RawMessage("{}")
	}
	c := ChangePayload{EventID: NewID("evt_test_"), Type: t.Name, Action: DefaultAction(t.Name), Object: &object, ObjectID: &objectID,
		OccurredAt: ts, Data: sample}
	m := newMessage{id: NewID("msg_"), eventTypes: []string{t.Name}}
	var err error
	if w.Format == FormatEvent {
		m.payload, err = json.Marshal(struct {
			EventPayload
			Test bool `json:"test"`
		}{c.event(ts), true})
		if w.AppendEventType {
			m.urlSuffix = "/" + t.Name
		}
	} else {
		m.payload, err = json.Marshal(struct {
			ID        string          `json:"id"`
			Type      string          `json:"type"`
			Timestamp time.Time       `json:"timestamp"`
			Test      bool            `json:"test"`
			Changes   []ChangePayload `json:"changes"`
		}{m.id, "changes", ts, true, []ChangePayload{c}})
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
