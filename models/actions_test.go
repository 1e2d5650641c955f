package models_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/jobs"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/models/dbtest"
	"github.com/stretchr/testify/require"
)

var sealerOnce sync.Once

// setup returns the package's database, able to seal secrets.
func setup(t *testing.T) *models.DB {
	t.Helper()
	db := dbtest.DB(t)
	sealerOnce.Do(func() {
		s, err := models.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
		require.NoError(t, err)
		db.Sealer = s
	})
	return db
}

func uniq(prefix string) string { return prefix + " " + models.NewID("")[20:] }

var staff = models.Actor{ID: "", Email: "staff@example.com"}

func mustPartner(t *testing.T, db *models.DB) *models.Partner {
	t.Helper()
	p, err := db.CreatePartner(context.Background(), staff, models.PartnerInput{Name: models.Ptr(uniq("Partner"))})
	require.NoError(t, err)
	return p
}

func mustWebhook(t *testing.T, db *models.DB, partnerID, url string) *models.Webhook {
	t.Helper()
	if url == "" {
		url = "http://127.0.0.1:9/hooks"
	}
	h, err := db.CreateWebhook(context.Background(), staff, models.WebhookInput{PartnerID: &partnerID, Name: models.Ptr(uniq("hook")),
		URL: &url, EventTypes: []string{"*"}}, nil)
	require.NoError(t, err)
	return h
}

// entries lists the audit entries of one object, newest first, as action strings.
func entries(t *testing.T, db *models.DB, objectID string) []string {
	t.Helper()
	es, err := db.FindAuditEntries(context.Background(), models.AuditFilter{ObjectID: objectID})
	require.NoError(t, err)
	out := []string{}
	for _, e := range es {
		require.Equal(t, staff.Email, e.ActorEmail, e.Action)
		out = append(out, e.Action)
	}
	return out
}

// TestActionAndAuditCommitTogether makes the audit insert fail (a trigger refuses entries whose
// summary names FAILAUDIT) and checks that each action's change is rolled back with it.
func TestActionAndAuditCommitTogether(t *testing.T) {
	db := setup(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `
		CREATE OR REPLACE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.summary LIKE '%FAILAUDIT%' THEN RAISE EXCEPTION 'audit refused'; END IF;
			RETURN NEW;
		END $$;
		CREATE OR REPLACE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit();`)
	require.NoError(t, err)

	t.Run("CreatePartner", func(t *testing.T) {
		name := uniq("FAILAUDIT")
		_, err := db.CreatePartner(ctx, staff, models.PartnerInput{Name: &name})
		require.ErrorContains(t, err, "audit refused")
		_, err = db.FindPartnerByName(ctx, name)
		require.ErrorIs(t, err, models.ErrNotFound, "the partner was not stored without its entry")
	})

	p := mustPartner(t, db)
	t.Run("UpdateWebhook", func(t *testing.T) {
		h := mustWebhook(t, db, p.ID, "")
		_, err := db.UpdateWebhook(ctx, staff, h.ID, models.WebhookInput{Name: models.Ptr(uniq("FAILAUDIT")), BatchWindow: models.Ptr(99),
			State: models.Ptr(models.WebhookPaused)}, nil)
		require.ErrorContains(t, err, "audit refused")
		got, err := db.FindWebhookByID(ctx, h.ID)
		require.NoError(t, err)
		require.Equal(t, h.Name, got.Name)
		require.Equal(t, h.BatchWindowSeconds, got.BatchWindowSeconds)
		require.Equal(t, models.WebhookActive, got.State, "the state change in the same action is rolled back too")
		require.Equal(t, []string{"webhook.created"}, entries(t, db, h.ID))
	})

	t.Run("PauseAndRotate", func(t *testing.T) {
		name := uniq("FAILAUDIT")
		h := mustWebhook(t, db, p.ID, "")
		_, err := db.Pool.Exec(ctx, `UPDATE webhooks SET name = $2 WHERE id = $1`, h.ID, name)
		require.NoError(t, err)
		require.ErrorContains(t, db.SetWebhookState(ctx, staff, h.ID, models.StateChange{State: models.WebhookPaused}), "audit refused")
		_, err = db.RotateWebhookSecret(ctx, staff, h.ID)
		require.ErrorContains(t, err, "audit refused")
		require.ErrorContains(t, db.DeleteWebhook(ctx, staff, h.ID), "audit refused")
		got, err := db.FindWebhookByID(ctx, h.ID)
		require.NoError(t, err, "not deleted")
		require.Equal(t, models.WebhookActive, got.State, "not paused")
		require.Equal(t, h.SecretEnc, got.SecretEnc, "not rotated")
		require.Nil(t, got.PreviousSecretEnc)
	})

	t.Run("OK", func(t *testing.T) {
		h := mustWebhook(t, db, p.ID, "")
		require.NoError(t, db.SetWebhookState(ctx, staff, h.ID, models.StateChange{State: models.WebhookPaused}))
		got, err := db.FindWebhookByID(ctx, h.ID)
		require.NoError(t, err)
		require.Equal(t, models.WebhookPaused, got.State)
		require.Equal(t, []string{"webhook.paused", "webhook.created"}, entries(t, db, h.ID))
	})
}

func TestWebhookActions(t *testing.T) {
	db := setup(t)
	ctx := context.Background()
	p := mustPartner(t, db)

	t.Run("CreatePaused", func(t *testing.T) {
		h, err := db.CreateWebhook(ctx, staff, models.WebhookInput{PartnerID: &p.ID, Name: models.Ptr(uniq("paused")),
			URL: models.Ptr("http://127.0.0.1:9/"), EventTypes: []string{"course.completed"}, State: models.Ptr(models.WebhookPaused)}, nil)
		require.NoError(t, err)
		require.Equal(t, models.WebhookPaused, h.State, "stored paused at once")
		require.Equal(t, []string{"course.completed"}, h.EventTypes)
		require.Equal(t, []string{"webhook.created"}, entries(t, db, h.ID))
	})

	t.Run("CreateTwiceWithOneToken", func(t *testing.T) {
		in := models.WebhookInput{PartnerID: &p.ID, Name: models.Ptr(uniq("twice")), URL: models.Ptr("http://127.0.0.1:9/"),
			EventTypes: []string{"*"}, CreateToken: uniq("tok")}
		var wg sync.WaitGroup
		ids := make([]string, 4)
		for i := range ids {
			wg.Go(func() {
				h, err := db.CreateWebhook(ctx, staff, in, nil)
				require.NoError(t, err)
				ids[i] = h.ID
			})
		}
		wg.Wait()
		for _, id := range ids {
			require.Equal(t, ids[0], id, "every submit lands on the first webhook")
		}
		require.Equal(t, []string{"webhook.created"}, entries(t, db, ids[0]), "one webhook, one entry")
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		_, err := db.CreateWebhook(ctx, staff, models.WebhookInput{PartnerID: models.Ptr("ptn_nope"), Name: models.Ptr(""),
			URL: models.Ptr("ftp://x"), EventTypes: []string{}, State: models.Ptr(models.WebhookDisabled)}, nil)
		require.Equal(t, models.EINVALID, models.ErrorCode(err))
		require.Equal(t, map[string]string{
			"partner_id":  "No such partner.",
			"name":        "Give the webhook a name the partner will recognise.",
			"url":         "Enter an absolute http(s) URL, like https://partner.example.com/hooks.",
			"event_types": "Choose at least one event type, or all of them.",
			"state":       "Choose active or paused.",
		}, models.FieldErrors(err))
		h := mustWebhook(t, db, p.ID, "")
		_, err = db.UpdateWebhook(ctx, staff, h.ID, models.WebhookInput{PartnerID: &p.ID, Secret: models.Ptr("whsec_x"),
			State: models.Ptr("gone"), Backlog: models.Ptr("later")}, nil)
		require.Equal(t, []string{"backlog", "partner_id", "secret", "state"}, keys(models.FieldErrors(err)))
		_, err = db.UpdateWebhook(ctx, staff, "wh_nope", models.WebhookInput{}, nil)
		require.ErrorIs(t, err, models.ErrNotFound)
		require.Equal(t, []string{"webhook.created"}, entries(t, db, h.ID), "nothing changed, nothing audited")
	})

	t.Run("UpdateWithStateAndBacklog", func(t *testing.T) {
		h := mustWebhook(t, db, p.ID, "")
		got, err := db.UpdateWebhook(ctx, staff, h.ID, models.WebhookInput{Name: models.Ptr(h.Name + " 2"), State: models.Ptr(models.WebhookPaused)}, nil)
		require.NoError(t, err)
		require.Equal(t, h.Name+" 2", got.Name)
		require.Equal(t, models.WebhookPaused, got.State)
		require.Equal(t, "Paused by staff@example.com", got.StateReason)
		_, err = db.Pool.Exec(ctx, `INSERT INTO events (id, type, action, occurred_at, received_at, data) VALUES ($1, 'course.completed', 'completed', now(), now(), '{}');
			`, "evt_"+h.ID)
		require.NoError(t, err)
		_, err = db.Pool.Exec(ctx, `INSERT INTO changes (webhook_id, event_id, state) VALUES ($1, $2, 'pending')`, h.ID, "evt_"+h.ID)
		require.NoError(t, err)
		got, err = db.UpdateWebhook(ctx, staff, h.ID, models.WebhookInput{State: models.Ptr(models.WebhookActive), Backlog: models.Ptr(models.BacklogDrop)}, nil)
		require.NoError(t, err)
		require.Equal(t, models.WebhookActive, got.State)
		var state string
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT state FROM changes WHERE webhook_id = $1`, h.ID).Scan(&state))
		require.Equal(t, "dropped", state, "the backlog was dropped as asked")
		require.Equal(t, []string{"webhook.resumed", "webhook.updated", "webhook.created"}, entries(t, db, h.ID),
			"a change of state alone is audited as pausing or resuming is, whichever surface asked")
		_, err = db.UpdateWebhook(ctx, staff, h.ID, models.WebhookInput{Name: &got.Name, State: models.Ptr(models.WebhookActive)}, nil)
		require.NoError(t, err)
		require.Len(t, entries(t, db, h.ID), 3, "an update that changes nothing writes no entry")
	})

	t.Run("PauseResumeReenable", func(t *testing.T) {
		h := mustWebhook(t, db, p.ID, "")
		require.NoError(t, db.SetWebhookState(ctx, staff, h.ID, models.StateChange{State: models.WebhookPaused}))
		require.NoError(t, db.SetWebhookState(ctx, staff, h.ID, models.StateChange{State: models.WebhookPaused}), "again: nothing to do")
		require.NoError(t, db.SetWebhookState(ctx, staff, h.ID, models.StateChange{State: models.WebhookActive}))
		require.NoError(t, db.SetWebhookState(ctx, staff, h.ID, models.StateChange{State: models.WebhookDisabled, Reason: "gone"}))
		got, err := db.FindWebhookByID(ctx, h.ID)
		require.NoError(t, err)
		require.Equal(t, "gone", got.StateReason)
		require.NoError(t, db.SetWebhookState(ctx, staff, h.ID, models.StateChange{State: models.WebhookActive, Backlog: models.BacklogDrop}))
		require.Equal(t, []string{"webhook.reenabled", "webhook.disabled", "webhook.resumed", "webhook.paused", "webhook.created"}, entries(t, db, h.ID))
		err = db.SetWebhookState(ctx, staff, h.ID, models.StateChange{State: models.WebhookActive, Backlog: "later"})
		require.Equal(t, map[string]string{"backlog": "Choose deliver or drop."}, models.FieldErrors(err))
	})

	t.Run("RevealRotateDelete", func(t *testing.T) {
		h := mustWebhook(t, db, p.ID, "")
		before, err := db.RevealWebhookSecret(ctx, staff, h.ID)
		require.NoError(t, err)
		require.Empty(t, before.Previous)
		rotated, err := db.RotateWebhookSecret(ctx, staff, h.ID)
		require.NoError(t, err)
		require.NotEqual(t, before.Current, rotated.Current)
		require.Equal(t, before.Current, rotated.Previous, "the old secret still signs")
		require.WithinDuration(t, time.Now().Add(models.RotationOverlap), *rotated.PreviousUntil, time.Minute)
		require.Equal(t, []string{before.Current, rotated.Current}, []string{rotated.Previous, rotated.Current})
		require.NoError(t, db.DeleteWebhook(ctx, staff, h.ID))
		_, err = db.FindWebhookByID(ctx, h.ID)
		require.ErrorIs(t, err, models.ErrNotFound)
		require.Equal(t, []string{"webhook.deleted", "webhook.secret_rotated", "webhook.secret_revealed", "webhook.created"}, entries(t, db, h.ID))
		require.ErrorIs(t, db.DeleteWebhook(ctx, staff, h.ID), models.ErrNotFound)
	})
}

func TestPartnerActions(t *testing.T) {
	db := setup(t)
	ctx := context.Background()
	p := mustPartner(t, db)
	got, err := db.UpdatePartner(ctx, staff, p.ID, models.PartnerInput{Description: models.Ptr("LMS vendor")})
	require.NoError(t, err)
	require.Equal(t, p.Name, got.Name, "a nil field is left as it is")
	require.Equal(t, "LMS vendor", got.Description)
	_, err = db.UpdatePartner(ctx, staff, p.ID, models.PartnerInput{Description: models.Ptr("LMS vendor")})
	require.NoError(t, err)
	_, err = db.CreatePartner(ctx, staff, models.PartnerInput{Name: &p.Name})
	require.Equal(t, map[string]string{"name": "A partner with this name already exists."}, models.FieldErrors(err))
	h := mustWebhook(t, db, p.ID, "")
	err = db.DeletePartner(ctx, staff, p.ID)
	require.Equal(t, models.ECONFLICT, models.ErrorCode(err))
	require.Equal(t, "the partner still has 1 webhooks and 0 users; delete or move them first", models.ErrorMessage(err))
	require.NoError(t, db.DeleteWebhook(ctx, staff, h.ID))
	require.NoError(t, db.DeletePartner(ctx, staff, p.ID))
	require.Equal(t, []string{"partner.deleted", "partner.updated", "partner.created"}, entries(t, db, p.ID))
}

func TestDeliveryActions(t *testing.T) {
	db := setup(t)
	ctx := context.Background()
	var hits int
	var mu sync.Mutex
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		hits++
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(rc.Close)
	p := mustPartner(t, db)
	h := mustWebhook(t, db, p.ID, rc.URL)
	sender := jobs.NewSender(db.Sealer, "test", 2*time.Second, true)
	send := func(ctx context.Context, d *models.Delivery, trigger string, now time.Time) (models.AttemptResult, error) {
		req, err := sender.RequestFor(d, trigger, now)
		if err != nil {
			return models.AttemptResult{}, err
		}
		return sender.Send(ctx, req), nil
	}

	t.Run("TestNotification", func(t *testing.T) {
		m, res, err := db.SendTestNotification(ctx, staff, h.ID, "course.completed", "", send)
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, res.Status)
		require.Equal(t, 1, hits)
		require.Contains(t, string(m.Payload), `"test":true`)
		require.Contains(t, string(m.Payload), `"action":"completed"`, "the action is the part of the type after its last dot")
		got, err := db.FindMessageByID(ctx, m.ID)
		require.NoError(t, err)
		require.Equal(t, models.MessageSucceeded, got.State)
		_, _, err = db.SendTestNotification(ctx, staff, h.ID, "no.such", "", send)
		require.Equal(t, map[string]string{"event_type": `"no.such" is not a catalogued event type.`}, models.FieldErrors(err))
		require.Equal(t, 1, hits, "nothing sent")
		_, _, err = db.SendTestNotification(ctx, staff, "wh_nope", "course.completed", "", send)
		require.ErrorIs(t, err, models.ErrNotFound)

		// Data typed by a person goes out instead of the sample, compacted; bad data is refused
		// by name and nothing is sent.
		m, _, err = db.SendTestNotification(ctx, staff, h.ID, "course.completed", "{\n  \"score\": 97,\n  \"note\": \"typed\"\n}", send)
		require.NoError(t, err)
		require.Equal(t, 2, hits)
		require.Contains(t, string(m.Payload), `"data":{"score":97,"note":"typed"}`)
		for data, want := range map[string]string{
			`{"score": 97,}`: "This is not valid JSON: invalid character '}' looking for beginning of object key string (at character 14).",
			`[1, 2]`:         `Enter a JSON object, such as {"title": "New Student Orientation"}.`,
			`null`:           `Enter a JSON object, such as {"title": "New Student Orientation"}.`,
		} {
			_, _, err = db.SendTestNotification(ctx, staff, h.ID, "course.completed", data, send)
			require.Equal(t, map[string]string{"data": want}, models.FieldErrors(err), data)
		}
		require.Equal(t, 2, hits, "nothing sent")
	})

	t.Run("Resend", func(t *testing.T) {
		m, err := db.CreateTestMessage(ctx, models.NewID("msg_"), h.ID, "course.completed", []byte(`{}`), "", time.Now().Add(-time.Hour))
		require.NoError(t, err)
		err = func() error { _, err := db.ResendMessage(ctx, staff, m.ID); return err }()
		require.Equal(t, "This message is being delivered right now; try again in a moment.", models.ErrorMessage(err))
		_, err = db.Pool.Exec(ctx, `UPDATE messages SET state = 'failed' WHERE id = $1`, m.ID)
		require.NoError(t, err)
		got, err := db.ResendMessage(ctx, staff, m.ID)
		require.NoError(t, err)
		require.Equal(t, models.MessagePending, got.State)
		require.True(t, got.ResendRequested)
		require.Equal(t, []string{"message.resent"}, entries(t, db, m.ID))
		_, err = db.ResendMessage(ctx, staff, "msg_nope")
		require.ErrorIs(t, err, models.ErrNotFound)
	})

	t.Run("ResendFailedRange", func(t *testing.T) {
		_, err := db.Pool.Exec(ctx, `
			INSERT INTO messages (id, webhook_id, kind, state, payload, created_at)
			VALUES ($1, $2, 'changes', 'failed', '{}', now() - interval '2 hours'), ($3, $2, 'changes', 'failed', '{}', now() - interval '2 days')`,
			models.NewID("msg_"), h.ID, models.NewID("msg_"))
		require.NoError(t, err)
		from, to := time.Now().Add(-3*time.Hour), time.Now()
		n, err := db.CountFailedMessages(ctx, h.ID, &from, &to)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		n, err = db.ResendFailedMessages(ctx, staff, h.ID, &from, &to)
		require.NoError(t, err)
		require.Equal(t, 1, n, "only the one made in the range")
		_, err = db.ResendFailedMessages(ctx, staff, h.ID, &to, &from)
		require.Equal(t, map[string]string{"from": "The start must come before the end."}, models.FieldErrors(err))
		_, err = db.ResendFailedMessages(ctx, staff, h.ID, nil, &to)
		require.Equal(t, map[string]string{"from": "Give both a start and an end."}, models.FieldErrors(err))
		_, err = db.ResendFailedMessages(ctx, staff, "wh_nope", &from, &to)
		require.ErrorIs(t, err, models.ErrNotFound)
		es := entries(t, db, h.ID)
		require.Equal(t, "webhook.resent_failed", es[0])
	})
}

func keys(m map[string]string) []string {
	out := []string{}
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// topKeys lists the keys of a JSON object in the order they were written.
func topKeys(t *testing.T, body []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	_, err := dec.Token()
	require.NoError(t, err)
	var out []string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		out = append(out, k.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return out
}

// TestTestNotificationBodies: a test notification is built by the code that builds real
// messages (the same fields in the same order, in the webhook's format) plus "test": true; the
// form's examples come from it too.
func TestTestNotificationBodies(t *testing.T) {
	db := setup(t)
	ctx := context.Background()
	p := mustPartner(t, db)
	send := func(_ context.Context, d *models.Delivery, trigger string, now time.Time) (models.AttemptResult, error) {
		return models.AttemptResult{MessageID: d.MessageID, WebhookID: d.Webhook.ID, Trigger: trigger, StartedAt: now, URL: d.Webhook.URL + d.URLSuffix,
			Error: "not sent: this test looks at the body"}, nil
	}
	for _, format := range []string{models.FormatBatch, models.FormatEvent} {
		t.Run(format, func(t *testing.T) {
			h, err := db.CreateWebhook(ctx, staff, models.WebhookInput{PartnerID: &p.ID, Name: models.Ptr(uniq(format)), URL: models.Ptr("http://127.0.0.1:9/"),
				EventTypes: []string{"*"}, Format: &format, AppendEventType: models.Ptr(format == models.FormatEvent)}, nil)
			require.NoError(t, err)
			m, _, err := db.SendTestNotification(ctx, staff, h.ID, "training.updated", "", send)
			require.NoError(t, err)
			example := []byte(models.ExampleBody(format))
			require.NotContains(t, topKeys(t, example), "test", "real messages carry no test mark")
			want := append(topKeys(t, example), "test")
			if format == models.FormatBatch {
				want = []string{"id", "type", "timestamp", "test", "changes"}
				require.Equal(t, []string{"id", "type", "timestamp", "changes"}, topKeys(t, example))
			}
			require.Equal(t, want, topKeys(t, m.Payload))
			var body map[string]any
			require.NoError(t, json.Unmarshal(m.Payload, &body))
			require.Equal(t, true, body["test"])
			if format == models.FormatEvent {
				require.Equal(t, "updated", body["action"], "the action is the part of the type after its last dot")
				require.Equal(t, "/training.updated", m.URLSuffix)
			} else {
				require.Equal(t, m.ID, body["id"], "a batch body's id is the message id")
			}
		})
	}
}

func TestCatalogueActions(t *testing.T) {
	db := setup(t)
	ctx := context.Background()
	id := uniq("course")
	c, created, err := db.UpsertCourse(ctx, staff, id, " Fire safety ")
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, "Fire safety", c.Title)
	_, created, err = db.UpsertCourse(ctx, staff, id, "Fire safety")
	require.NoError(t, err)
	require.False(t, created)
	_, err = db.ArchiveCourse(ctx, staff, id)
	require.NoError(t, err)
	got, err := db.ArchiveCourse(ctx, staff, id)
	require.NoError(t, err)
	require.NotNil(t, got.ArchivedAt)
	got, _, err = db.UpsertCourse(ctx, staff, id, "Fire safety")
	require.NoError(t, err)
	require.Nil(t, got.ArchivedAt, "putting an archived course back un-archives it")
	got, err = db.UpdateCourse(ctx, staff, id, "Fire safety 2")
	require.NoError(t, err)
	require.Equal(t, "Fire safety 2", got.Title)
	require.Equal(t, []string{"course.updated", "course.updated", "course.archived", "course.created"}, entries(t, db, id),
		"a put that changes nothing and a second archive write no entry")
	_, err = db.CreateCourse(ctx, staff, id, "Again")
	require.Equal(t, map[string]string{"id": "A course with this id already exists."}, models.FieldErrors(err))
	_, _, err = db.UpsertCourse(ctx, staff, id, " ")
	require.Equal(t, map[string]string{"title": "Enter the course's title."}, models.FieldErrors(err))
	_, err = db.ArchiveCourse(ctx, staff, "nope-"+id)
	require.ErrorIs(t, err, models.ErrNotFound)

	name := "test." + models.NewID("")[24:]
	_, err = db.CreateEventType(ctx, staff, models.EventTypeInput{Name: name, Sample: `{"a": 1}`})
	require.NoError(t, err)
	_, err = db.UpdateEventType(ctx, staff, name, models.EventTypeInput{Description: "changed", Sample: `[]`})
	require.Equal(t, []string{"sample"}, keys(models.FieldErrors(err)))
	_, err = db.UpdateEventType(ctx, staff, name, models.EventTypeInput{Description: "changed"})
	require.NoError(t, err)
	require.NoError(t, db.SetEventTypeDeprecated(ctx, staff, name, true))
	require.ErrorIs(t, db.SetEventTypeDeprecated(ctx, staff, name+"x", true), models.ErrNotFound)
	require.Equal(t, []string{"event_type.deprecated", "event_type.updated", "event_type.created"}, entries(t, db, name))
}

func TestPeopleActions(t *testing.T) {
	db := setup(t)
	ctx := context.Background()
	admin, err := db.CreateUser(ctx, staff, models.NewUser{Email: uniq("admin")[6:] + "@example.com", Role: models.RoleAdmin, Password: "correct horse battery"})
	require.NoError(t, err)
	u, err := db.CreateUser(ctx, staff, models.NewUser{Email: uniq("user")[5:] + "@example.com", Role: models.RoleStaff, Password: "correct horse battery"})
	require.NoError(t, err)
	_, err = db.CreateUser(ctx, staff, models.NewUser{Email: strings.ToUpper(u.Email), Role: models.RoleStaff, Password: "correct horse battery"})
	require.Equal(t, map[string]string{"email": "A user with this email already exists."}, models.FieldErrors(err))
	_, err = db.CreateUser(ctx, staff, models.NewUser{Email: "p-" + u.Email, Role: models.RolePartner, PartnerID: "ptn_nope", Password: "correct horse battery"})
	require.Equal(t, map[string]string{"partner_id": "No such partner."}, models.FieldErrors(err))
	_, err = db.SetUserDisabled(ctx, models.UserActor(admin), admin.ID, true)
	require.Equal(t, "You cannot disable your own account.", models.ErrorMessage(err))
	_, err = db.SetUserDisabled(ctx, staff, u.ID, true)
	require.NoError(t, err)
	reset, password, err := db.ResetUserPassword(ctx, staff, u.ID)
	require.NoError(t, err)
	require.True(t, reset.CheckPassword(password))
	require.Equal(t, u.SessionVersion+2, reset.SessionVersion, "disabling and the reset each ended the sessions")
	require.Equal(t, []string{"user.password_reset", "user.disabled", "user.created"}, entries(t, db, u.ID))

	_, err = db.ChangePassword(ctx, reset, models.PasswordChange{Current: "wrong", New: "short", Confirm: "other"})
	require.Equal(t, []string{"confirm", "current", "new"}, keys(models.FieldErrors(err)))
	changed, err := db.ChangePassword(ctx, reset, models.PasswordChange{Current: password, New: "a new long password", Confirm: "a new long password"})
	require.NoError(t, err)
	require.True(t, changed.CheckPassword("a new long password"))
	es, err := db.FindAuditEntries(ctx, models.AuditFilter{ObjectID: u.ID, ActorEmail: u.Email})
	require.NoError(t, err)
	require.Len(t, es, 1)
	require.Equal(t, "user.password_changed", es[0].Action)

	_, _, err = db.CreateAPIKey(ctx, staff, " ", "root")
	require.Equal(t, map[string]string{"name": "Name the key after who or what uses it.", "scope": "Choose ingest or admin."}, models.FieldErrors(err))
	k, plain, err := db.CreateAPIKey(ctx, models.UserActor(admin), "LMS", models.ScopeIngest)
	require.NoError(t, err)
	require.Equal(t, admin.ID, *k.CreatedBy)
	_, err = db.RevokeAPIKey(ctx, staff, k.ID)
	require.NoError(t, err)
	_, err = db.RevokeAPIKey(ctx, staff, k.ID)
	require.NoError(t, err)
	_, err = db.FindAPIKeyBySecret(ctx, plain)
	require.ErrorIs(t, err, models.ErrNotFound, "revoked")
	es, err = db.FindAuditEntries(ctx, models.AuditFilter{ObjectID: k.ID})
	require.NoError(t, err)
	require.Equal(t, []string{"api_key.revoked", "api_key.created"}, []string{es[0].Action, es[1].Action})
	require.Len(t, es, 2, "revoking twice is one change")
	require.Equal(t, admin.Email, es[1].ActorEmail)
}

func TestCreateWebhookNeedsEventTypes(t *testing.T) {
	db := setup(t)
	p := mustPartner(t, db)
	_, err := db.CreateWebhook(context.Background(), staff, models.WebhookInput{PartnerID: &p.ID, Name: models.Ptr(uniq("none")),
		URL: models.Ptr("http://127.0.0.1:9/")}, nil)
	require.Equal(t, map[string]string{"event_types": "Choose at least one event type, or all of them."}, models.FieldErrors(err),
		"no list is no choice: a webhook never subscribes to everything by leaving the field out")
}

func TestUpdateUser(t *testing.T) {
	db := setup(t)
	ctx := context.Background()
	admin, err := db.CreateUser(ctx, staff, models.NewUser{Email: uniq("admin")[6:] + "@example.com", Role: models.RoleAdmin, Password: "correct horse battery"})
	require.NoError(t, err)
	p := mustPartner(t, db)
	u, err := db.CreateUser(ctx, staff, models.NewUser{Email: uniq("user")[5:] + "@example.com", Name: "Ann", Role: models.RoleStaff, Password: "correct horse battery"})
	require.NoError(t, err)
	as := models.UserActor(admin)

	// A name alone: saved, audited, the sessions kept.
	got, err := db.UpdateUser(ctx, as, u.ID, models.UserChange{Name: " Ann Lee ", Role: models.RoleStaff})
	require.NoError(t, err)
	require.Equal(t, "Ann Lee", got.Name)
	es, err := db.FindAuditEntries(ctx, models.AuditFilter{ObjectID: u.ID})
	require.NoError(t, err)
	require.Equal(t, "user.updated", es[0].Action)
	require.JSONEq(t, `{"name": {"from": "Ann", "to": "Ann Lee"}}`, string(es[0].Details))
	stored, err := db.FindUserByID(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, u.SessionVersion, stored.SessionVersion)

	// A partner user needs a partner; with one, the role changes and the sessions end.
	_, err = db.UpdateUser(ctx, as, u.ID, models.UserChange{Name: "Ann Lee", Role: models.RolePartner})
	require.Equal(t, map[string]string{"partner_id": "Choose the partner this user belongs to."}, models.FieldErrors(err))
	_, err = db.UpdateUser(ctx, as, u.ID, models.UserChange{Name: "Ann Lee", Role: models.RolePartner, PartnerID: "ptn_nope"})
	require.Equal(t, map[string]string{"partner_id": "No such partner."}, models.FieldErrors(err))
	_, err = db.UpdateUser(ctx, as, u.ID, models.UserChange{Name: "Ann Lee", Role: models.RolePartner, PartnerID: p.ID})
	require.NoError(t, err)
	stored, err = db.FindUserByID(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, models.RolePartner, stored.Role)
	require.Equal(t, p.ID, *stored.PartnerID)
	require.Equal(t, u.SessionVersion+1, stored.SessionVersion, "new access from the next sign-in")

	// Back to staff: the partner goes with the role, whatever the form still carried.
	_, err = db.UpdateUser(ctx, as, u.ID, models.UserChange{Name: "Ann Lee", Role: models.RoleStaff, PartnerID: p.ID})
	require.NoError(t, err)
	stored, err = db.FindUserByID(ctx, u.ID)
	require.NoError(t, err)
	require.Nil(t, stored.PartnerID)
	es, err = db.FindAuditEntries(ctx, models.AuditFilter{ObjectID: u.ID})
	require.NoError(t, err)
	require.JSONEq(t, `{"role": {"from": "partner", "to": "staff"}, "partner_id": {"from": "`+p.ID+`", "to": ""}}`, string(es[0].Details))

	// Nothing changed: no entry. One's own role stays; a bad role is named.
	_, err = db.UpdateUser(ctx, as, u.ID, models.UserChange{Name: "Ann Lee", Role: models.RoleStaff})
	require.NoError(t, err)
	again, err := db.FindAuditEntries(ctx, models.AuditFilter{ObjectID: u.ID})
	require.NoError(t, err)
	require.Len(t, again, len(es))
	_, err = db.UpdateUser(ctx, as, admin.ID, models.UserChange{Name: "Me", Role: models.RoleStaff})
	require.Equal(t, map[string]string{"role": "You cannot change your own role; another admin can."}, models.FieldErrors(err))
	_, err = db.UpdateUser(ctx, as, u.ID, models.UserChange{Role: "root"})
	require.Equal(t, map[string]string{"role": "Choose admin, staff or partner."}, models.FieldErrors(err))
	_, err = db.UpdateUser(ctx, as, "usr_nope", models.UserChange{Role: models.RoleStaff})
	require.ErrorIs(t, err, models.ErrNotFound)
}
