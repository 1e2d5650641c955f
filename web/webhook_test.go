package web_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

func webhookForm(partnerID, name string) url.Values {
	return url.Values{
		"partner_id": {partnerID}, "name": {name}, "url": {"http://localhost:9/hooks"}, "method": {"POST"},
		"format": {"batch"}, "batch_window_seconds": {"10"}, "max_changes": {"100"},
		"event_types_mode": {"some"}, "event_types": {"course.completed", "badge.awarded"}, "courses_mode": {"all"},
		"token": {uniq("tok")},
	}
}

var locWebhook = regexp.MustCompile(`^/webhooks/(wh_[0-9a-f]+)$`)

func TestWebhookPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	staff, _ := signedIn(t, b, models.RoleStaff)
	partner := mustCreatePartner(t, b.db)

	t.Run("ErrNUL", func(t *testing.T) {
		f := webhookForm(partner.ID, "nul\x00name")
		resp, body := staff.post("/webhooks", f)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
		require.Contains(t, body, "NUL character")
		resp, _ = staff.get("/webhooks/wh_%00")
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	})

	t.Run("FailingNotice", func(t *testing.T) {
		h := mustCreateWebhook(t, b.db, partner.ID, models.WebhookInput{Name: ptr(uniq("failing"))})
		_, body := staff.get("/webhooks/" + h.ID)
		require.NotContains(t, body, `data-testid="failing-card"`)
		_, err := b.db.Pool.Exec(ctx, `UPDATE webhooks SET failing_since = now() WHERE id = $1`, h.ID)
		require.NoError(t, err)
		_, body = staff.get("/webhooks/" + h.ID)
		require.Contains(t, body, `data-testid="failing-card"`)
		require.Contains(t, body, "one request at a time")
	})

	t.Run("CreateOK", func(t *testing.T) {
		course, _, err := b.db.UpsertCourse(ctx, models.System, uniq("c"), "Fire safety")
		require.NoError(t, err)
		f := webhookForm(partner.ID, "LMS sync")
		f.Set("courses_mode", "some")
		f["courses"] = []string{course.ID}
		f.Set("basic_auth_user", "lms")
		f.Set("basic_auth_password", "pw secret")
		resp, body := staff.post("/webhooks", f)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
		m := locWebhook.FindStringSubmatch(resp.Header.Get("Location"))
		require.NotNil(t, m)
		h, err := b.db.FindWebhookByID(ctx, m[1])
		require.NoError(t, err)
		require.Equal(t, []string{"badge.awarded", "course.completed"}, h.EventTypes)
		require.Equal(t, []string{course.ID}, h.Courses)
		require.False(t, h.AllCourses)
		// Stored sealed: not the secret, not an encoding of it, and the instance key opens it.
		secretSecrets, err := testSealer.SigningSecrets(h, h.CreatedAt)
		require.NoError(t, err)
		secret := secretSecrets.Current
		require.True(t, strings.HasPrefix(secret, "whsec_"))
		requireSealed(t, h.SecretEnc, secret)
		requireSealed(t, h.BasicAuthPasswordEnc, "pw secret")

		resp, body = staff.get("/webhooks/" + h.ID)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, "LMS sync")
		require.Contains(t, body, `data-testid="secret-masked"`)
		require.NotContains(t, body, "whsec_A", "the secret is masked")

		_, body = staff.get("/webhooks?q=lms+sy")
		require.Contains(t, body, `data-testid="webhook-row-LMS sync"`)
		require.Contains(t, body, "2 event types · 1 course")

		entries, err := b.db.FindAuditEntries(ctx, models.AuditFilter{ObjectID: h.ID})
		require.NoError(t, err)
		require.Len(t, entries, 1)
		require.NotContains(t, string(entries[0].Details), "pw secret")
	})

	t.Run("DoubleSubmit", func(t *testing.T) {
		f := webhookForm(partner.ID, uniq("twice"))
		r1, _ := staff.post("/webhooks", f)
		r2, _ := staff.post("/webhooks", f)
		require.Equal(t, http.StatusSeeOther, r1.StatusCode)
		require.Equal(t, http.StatusSeeOther, r2.StatusCode)
		require.Equal(t, r1.Header.Get("Location"), r2.Header.Get("Location"), "the second submit lands on the same webhook")
		rows, _, err := b.db.FindWebhooks(ctx, models.WebhookFilter{Search: f.Get("name")})
		require.NoError(t, err)
		require.Len(t, rows, 1)
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		f := webhookForm(partner.ID, "")
		f.Set("url", "ftp://files.example.com")
		f.Set("batch_window_seconds", "3601")
		f.Set("max_changes", "zero")
		f.Set("append_event_type", "on")
		f.Set("description", `<script>alert("x")</script>`)
		f.Del("event_types")
		resp, body := staff.post("/webhooks", f)
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		for _, field := range []string{"name", "url", "batch_window_seconds", "max_changes", "append_event_type", "event_types"} {
			require.Contains(t, body, `data-testid="error-`+field+`"`, field)
		}
		require.Contains(t, body, "ftp://files.example.com", "the input is kept")
		require.NotContains(t, body, `<script>alert("x")</script>`)
		require.Contains(t, body, `&lt;script&gt;`)
	})

	t.Run("ErrPrivateTargetInProduction", func(t *testing.T) {
		// The same rule as production: only public https hosts.
		prod := strictServer(t, b)
		f := webhookForm(partner.ID, uniq("private"))
		for _, target := range []string{"https://127.0.0.1/hooks", "https://10.1.2.3/x", "https://169.254.169.254/latest/meta-data", "https://localhost/hooks", "http://partner.example.com/hooks", "https://no-such-host.invalid/hooks"} {
			f.Set("url", target)
			resp, body := prod.post("/webhooks", f)
			require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, target)
			require.Contains(t, body, `data-testid="error-url"`, target)
		}
	})

	t.Run("ErrDuplicateName", func(t *testing.T) {
		name := uniq("dup")
		mustCreateWebhook(t, b.db, partner.ID, models.WebhookInput{Name: &name})
		resp, body := staff.post("/webhooks", webhookForm(partner.ID, strings.ToUpper(name)))
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, body, "already has a webhook with this name")
	})

	t.Run("ErrDeprecatedType", func(t *testing.T) {
		f := webhookForm(partner.ID, uniq("dep"))
		f["event_types"] = []string{"question.answered"}
		resp, body := staff.post("/webhooks", f)
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, body, "is deprecated")
		_, body = staff.get("/webhooks/new")
		require.NotContains(t, body, `value="question.answered"`, "deprecated types are not offered")
	})

	t.Run("DeprecatedKept", func(t *testing.T) {
		h := mustCreateWebhook(t, b.db, partner.ID, models.WebhookInput{EventTypes: []string{"course.completed"}})
		_, err := b.db.Pool.Exec(ctx, `INSERT INTO webhook_event_types VALUES ($1, 'question.answered')`, h.ID)
		require.NoError(t, err)
		_, body := staff.get("/webhooks/" + h.ID)
		require.Contains(t, body, "question.answered")
		require.Contains(t, body, "deprecated")
		_, body = staff.get("/webhooks/" + h.ID + "/edit")
		require.Contains(t, body, `value="question.answered"`)
		f := webhookForm(partner.ID, h.Name)
		f["event_types"] = []string{"course.completed", "question.answered"}
		resp, body := staff.post("/webhooks/"+h.ID, f)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	})

	t.Run("EditPauseResumeRotateDelete", func(t *testing.T) {
		h := mustCreateWebhook(t, b.db, partner.ID, models.WebhookInput{})
		f := webhookForm(partner.ID, "renamed "+h.Name)
		f.Set("format", "event")
		f.Set("append_event_type", "on")
		f.Set("method", "PUT")
		resp, body := staff.post("/webhooks/"+h.ID, f)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
		got, err := b.db.FindWebhookByID(ctx, h.ID)
		require.NoError(t, err)
		require.Equal(t, "PUT", got.Method)
		require.True(t, got.AppendEventType)

		resp, _ = staff.post("/webhooks/"+h.ID+"/pause", url.Values{})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		got, _ = b.db.FindWebhookByID(ctx, h.ID)
		require.Equal(t, models.WebhookPaused, got.State)
		resp, _ = staff.post("/webhooks/"+h.ID+"/resume", url.Values{"backlog": {"drop"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		got, _ = b.db.FindWebhookByID(ctx, h.ID)
		require.Equal(t, models.WebhookActive, got.State)

		oldSecrets, err := b.db.RevealWebhookSecret(ctx, models.System, got.ID)
		require.NoError(t, err)
		old := oldSecrets.Current
		resp, _ = staff.post("/webhooks/"+h.ID+"/secret/rotate", url.Values{})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, "redirected after the POST: a reload does not rotate again")
		require.Equal(t, "/webhooks/"+h.ID, resp.Header.Get("Location"))
		newSecrets, err := b.db.RevealWebhookSecret(ctx, models.System, got.ID)
		require.NoError(t, err)
		require.NotEqual(t, old, newSecrets.Current)
		_, body = staff.get("/webhooks/" + h.ID)
		require.Contains(t, body, `data-testid="secret-value">`+newSecrets.Current+"<", "the new secret is shown once")
		require.Contains(t, body, old, "the previous secret is shown during the overlap")
		_, body = staff.get("/webhooks/" + h.ID)
		require.NotContains(t, body, newSecrets.Current, "and not again on reload")
		again, err := b.db.RevealWebhookSecret(ctx, models.System, got.ID)
		require.NoError(t, err)
		require.Equal(t, newSecrets.Current, again.Current, "reloading the page rotated nothing")
		resp, body = staff.do("POST", "/webhooks/"+h.ID+"/secret/reveal", url.Values{}, map[string]string{"HX-Request": "true"})
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NotContains(t, body, "<html", "htmx gets the fragment only")
		require.Contains(t, body, `data-testid="secret-value"`)

		entries, err := b.db.FindAuditEntries(ctx, models.AuditFilter{ObjectID: h.ID})
		require.NoError(t, err)
		var actions []string
		for _, e := range entries {
			actions = append(actions, e.Action)
			require.NotContains(t, string(e.Details), old, "never the secret itself")
		}
		require.Subset(t, actions, []string{"webhook.updated", "webhook.paused", "webhook.resumed", "webhook.secret_rotated", "webhook.secret_revealed"})

		resp, _ = staff.post("/webhooks/"+h.ID+"/delete", url.Values{})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, err = b.db.FindWebhookByID(ctx, h.ID)
		require.ErrorIs(t, err, models.ErrNotFound)
	})

	t.Run("ErrUnknownWebhook", func(t *testing.T) {
		for _, p := range []string{"/webhooks/wh_nope", "/webhooks/wh_nope/edit"} {
			resp, _ := staff.get(p)
			require.Equal(t, http.StatusNotFound, resp.StatusCode, p)
		}
	})

	t.Run("CourseTypeahead", func(t *testing.T) {
		id := uniq("typeahead")
		_, _, err := b.db.UpsertCourse(ctx, models.System, id, "Advanced Welding <b>Safety</b>")
		require.NoError(t, err)
		_, body := staff.get("/courses/search?course_q=welding")
		require.Contains(t, body, id)
		require.Contains(t, body, "&lt;b&gt;Safety", "titles are escaped")
		_, body = staff.get("/courses/search?course_q=" + url.QueryEscape("%' OR 1=1 --"))
		require.Contains(t, body, "No course matches")
	})
}

func TestPartnerSeesOnlyOwnWebhooks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	mine, theirs := mustCreatePartner(t, b.db), mustCreatePartner(t, b.db)
	u, pw := mustCreateUser(t, b.db, models.RolePartner, mine.ID)
	br := newBrowser(t, b)
	br.signIn(u.Email, pw)
	own := mustCreateWebhook(t, b.db, mine.ID, models.WebhookInput{Name: ptr("Ours")})
	other := mustCreateWebhook(t, b.db, theirs.ID, models.WebhookInput{Name: ptr("Theirs")})

	_, body := br.get("/webhooks?partner_id=" + theirs.ID)
	require.Contains(t, body, "Ours")
	require.NotContains(t, body, "Theirs")

	resp, body := br.get("/webhooks/" + own.ID)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotContains(t, body, `data-testid="edit"`, "partners read, staff edit")
	resp, body = br.post("/webhooks/"+own.ID+"/secret/reveal", url.Values{})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	secretSecrets, err := b.db.RevealWebhookSecret(ctx, models.System, own.ID)
	require.NoError(t, err)
	secret := secretSecrets.Current
	require.Contains(t, body, secret)

	for _, req := range []struct{ method, path string }{
		{"GET", "/webhooks/" + other.ID},
		{"POST", "/webhooks/" + other.ID + "/secret/reveal"},
	} {
		resp, body := br.do(req.method, req.path, url.Values{}, nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, req.path)
		require.NotContains(t, body, "Theirs")
	}
	for _, req := range []struct{ method, path string }{
		{"GET", "/webhooks/new"}, {"GET", "/webhooks/" + own.ID + "/edit"}, {"POST", "/webhooks/" + own.ID + "/pause"},
		{"POST", "/webhooks/" + own.ID + "/secret/rotate"}, {"POST", "/webhooks/" + own.ID + "/delete"}, {"GET", "/courses/search?course_q=a"},
	} {
		resp, _ := br.do(req.method, req.path, url.Values{}, nil)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, req.path)
	}
}

// requireSealed checks that stored holds plain neither as is nor in any common encoding, and
// that the instance's key opens it to plain: encrypted, not encoded.
func requireSealed(t *testing.T, stored []byte, plain string) {
	t.Helper()
	require.NotEmpty(t, stored)
	key := strings.TrimPrefix(plain, "whsec_")
	for _, enc := range []string{plain, key, base64.StdEncoding.EncodeToString([]byte(plain)), hex.EncodeToString([]byte(plain))} {
		require.NotContains(t, string(stored), enc)
	}
	for _, dec := range []func(string) ([]byte, error){base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString, hex.DecodeString} {
		if b, err := dec(string(stored)); err == nil {
			require.NotContains(t, string(b), key, "the stored bytes decode to the secret")
		}
	}
	opened, err := testSealer.Open(stored)
	require.NoError(t, err)
	require.Equal(t, plain, string(opened))
	other, err := models.NewSealer([]byte("another key of thirty-two bytes!"))
	require.NoError(t, err)
	_, err = other.Open(stored)
	require.Error(t, err, "another key cannot open it")
}
