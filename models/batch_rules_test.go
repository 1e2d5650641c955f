package models

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// change makes a pending change; object and id "" mean none.
func change(id int64, object, objectID string, data string) pendingChange {
	p := pendingChange{changeID: id, ChangePayload: ChangePayload{EventID: "evt_" + string(rune('a'+id)), Type: "training.updated",
		Action: "update", OccurredAt: time.Date(2026, 11, 22, 10, 0, int(id), 0, time.UTC), Data: json.RawMessage(data)}}
	if object != "" {
		p.Object = &object
	}
	if objectID != "" {
		p.ObjectID = &objectID
	}
	return p
}

func TestCollapse(t *testing.T) {
	for _, tc := range []struct {
		name         string
		pending      []pendingChange
		kept         []int64
		superseded   []int64
		supersededBy []string
	}{
		{name: "Empty"},
		{name: "OneObjectKeepsTheLast", pending: []pendingChange{change(0, "training", "1", `{}`), change(1, "training", "1", `{}`), change(2, "training", "1", `{}`)},
			kept: []int64{2}, superseded: []int64{0, 1}, supersededBy: []string{"evt_c", "evt_c"}},
		{name: "ObjectsApart", pending: []pendingChange{change(0, "training", "1", `{}`), change(1, "training", "2", `{}`), change(2, "training", "1", `{}`)},
			kept: []int64{1, 2}, superseded: []int64{0}, supersededBy: []string{"evt_c"}},
		{name: "SameIDOtherObject", pending: []pendingChange{change(0, "training", "1", `{}`), change(1, "course", "1", `{}`)},
			kept: []int64{0, 1}},
		{name: "NoObjectIDNeverCollapsed", pending: []pendingChange{change(0, "", "", `{}`), change(1, "", "", `{}`), change(2, "training", "", `{}`), change(3, "training", "", `{}`)},
			kept: []int64{0, 1, 2, 3}},
		{name: "IDWithoutObject", pending: []pendingChange{change(0, "", "7", `{}`), change(1, "", "7", `{}`), change(2, "badge", "7", `{}`)},
			kept: []int64{1, 2}, superseded: []int64{0}, supersededBy: []string{"evt_b"}},
		{name: "KeptInTheirOrder", pending: []pendingChange{change(0, "a", "1", `{}`), change(1, "", "", `{}`), change(2, "a", "2", `{}`), change(3, "a", "1", `{}`)},
			kept: []int64{1, 2, 3}, superseded: []int64{0}, supersededBy: []string{"evt_d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kept, superseded, by := collapse(tc.pending)
			var keptIDs []int64
			for _, k := range kept {
				keptIDs = append(keptIDs, k.changeID)
			}
			require.Equal(t, tc.kept, keptIDs)
			require.Equal(t, tc.superseded, superseded)
			require.Equal(t, tc.supersededBy, by)
		})
	}
}

func TestBuildMessages(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 10, 500, time.UTC)
	big := `{"blob":"` + strings.Repeat("x", 300<<10) + `"}` // about 300 KiB
	many := func(n int, data string) []pendingChange {
		var out []pendingChange
		for i := range n {
			out = append(out, change(int64(i), "", "", data))
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		kept    []pendingChange
		w       flushWebhook
		changes []int // changes per message, in order
	}{
		{name: "OneBatch", kept: many(3, `{}`), w: flushWebhook{format: FormatBatch, maxChanges: 100}, changes: []int{3}},
		{name: "MaxChanges", kept: many(10, `{}`), w: flushWebhook{format: FormatBatch, maxChanges: 4}, changes: []int{4, 4, 2}},
		{name: "MaxChangesOne", kept: many(2, `{}`), w: flushWebhook{format: FormatBatch, maxChanges: 1}, changes: []int{1, 1}},
		{name: "OneMiB", kept: many(7, big), w: flushWebhook{format: FormatBatch, maxChanges: 100}, changes: []int{3, 3, 1}},
		{name: "EventFormat", kept: many(3, big), w: flushWebhook{format: FormatEvent, maxChanges: 100}, changes: []int{1, 1, 1}},
		{name: "Nothing", w: flushWebhook{format: FormatBatch, maxChanges: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := buildMessages(tc.kept, tc.w, now)
			require.NoError(t, err)
			var got []int
			var ids []int64
			for _, m := range msgs {
				got = append(got, len(m.changeIDs))
				ids = append(ids, m.changeIDs...)
				require.LessOrEqual(t, len(m.payload), MaxMessageBytes, "at most 1 MiB a message")
				require.True(t, strings.HasPrefix(m.id, "msg_"))
				if tc.w.format == FormatEvent {
					var body EventPayload
					require.NoError(t, json.Unmarshal(m.payload, &body))
					require.Equal(t, tc.kept[m.changeIDs[0]].EventID, body.ID, "the event body's id is the event id")
					continue
				}
				var body BatchPayload
				require.NoError(t, json.Unmarshal(m.payload, &body))
				require.Equal(t, m.id, body.ID, "the batch body's id is the message id")
				require.Equal(t, "changes", body.Type)
				require.Equal(t, now.Truncate(time.Second), body.Timestamp)
				require.Len(t, body.Changes, len(m.changeIDs))
				for i, c := range body.Changes {
					require.Equal(t, tc.kept[m.changeIDs[i]].EventID, c.EventID, "each change once, in order")
				}
			}
			require.Equal(t, tc.changes, got)
			for i, id := range ids {
				require.Equal(t, int64(i), id, "every kept change in exactly one message, in order")
			}
		})
	}
	t.Run("AppendEventType", func(t *testing.T) {
		msgs, err := buildMessages(many(1, `{}`), flushWebhook{format: FormatEvent, maxChanges: 100, appendEventType: true}, now)
		require.NoError(t, err)
		require.Equal(t, "/training.updated", msgs[0].urlSuffix)
		require.Equal(t, []string{"training.updated"}, msgs[0].eventTypes)
	})
}
