package web_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

// preText is the text of the <pre> with data-testid id on page, unescaped.
func preText(t *testing.T, page, id string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<pre[^>]*data-testid="` + regexp.QuoteMeta(id) + `"[^>]*>(.*?)</pre>`).FindStringSubmatch(page)
	require.NotNil(t, m, "no <pre> %s on the page", id)
	return html.UnescapeString(m[1])
}

// TestEventCatalogue: everyone signed in reads every type at /event-types with its
// description, what replaces it when deprecated, and the body a receiver gets in each format,
// grouped by object with an anchor each; webhook pages link there; the API says the same.
func TestEventCatalogue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	admin, _ := signedIn(t, b, models.RoleAdmin)
	obj := "probe_" + strings.ReplaceAll(uniq("o"), "-", "_")
	made, gone := obj+".made", obj+".gone"
	sample := `{"title": "Ladder safety", "score": 87, "learner": {"email": "bob@example.com", "ids": [1, 2]}}`
	for _, f := range []url.Values{
		{"name": {made}, "description": {"A probe was made."}, "sample": {sample}},
		{"name": {gone}, "description": {"A probe went away."}, "sample": {`{"why": "retired"}`}},
	} {
		resp, body := admin.post("/admin/event-types", f)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	}
	// The admin names the replacement on the edit form and deprecates the type.
	resp, body := admin.post("/admin/event-types/"+gone, url.Values{"description": {"A probe went away."}, "sample": {`{"why": "retired"}`},
		"replacement": {strings.Repeat("x", 501)}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, body, "at most 500")
	resp, body = admin.post("/admin/event-types/"+gone, url.Values{"description": {"A probe went away."}, "sample": {`{"why": "retired"}`},
		"replacement": {"Use " + made + " with \"state\": \"retired\" instead."}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	resp, _ = admin.post("/admin/event-types/"+gone+"/deprecate", url.Values{})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)

	partnerBr, partnerUser := signedIn(t, b, models.RolePartner)
	hook := mustCreateWebhook(t, b.db, *partnerUser.PartnerID, models.WebhookInput{EventTypes: []string{made, "course.completed"}})

	t.Run("PartnerReadsEachTypeInBothFormats", func(t *testing.T) {
		resp, page := partnerBr.get("/event-types")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, page, `data-testid="nav-catalogue"`)
		require.Contains(t, page, `aria-current="page"`)
		require.Contains(t, page, `id="`+made+`"`, "each type has its anchor")
		require.Contains(t, page, "A probe was made.")

		var batch struct {
			Type    string `json:"type"`
			Changes []struct {
				Type     string          `json:"type"`
				Action   string          `json:"action"`
				Object   string          `json:"object"`
				ObjectID string          `json:"object_id"`
				Data     json.RawMessage `json:"data"`
			} `json:"changes"`
		}
		require.NoError(t, json.Unmarshal([]byte(preText(t, page, "batch-"+made)), &batch))
		require.Equal(t, "changes", batch.Type)
		require.Len(t, batch.Changes, 1)
		c := batch.Changes[0]
		require.Equal(t, []string{made, "made", obj}, []string{c.Type, c.Action, c.Object})
		require.JSONEq(t, sample, string(c.Data), "the batch body carries the type's sample as data")

		var event map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(preText(t, page, "event-"+made)), &event))
		require.JSONEq(t, `"`+made+`"`, string(event["type"]))
		require.JSONEq(t, sample, string(event["data"]), "the event body carries the type's sample as data")
		require.NotContains(t, event, "test", "a catalogue body is a real message, not a test notification")
		for _, k := range []string{"id", "timestamp", "action", "object", "object_id", "url", "course_id", "occurred_at"} {
			require.Contains(t, event, k, "the event format's fields (SPEC)")
		}

		require.NotContains(t, page, "/admin/event-types/"+made, "no edit link for partners")
	})

	t.Run("DeprecatedShowsItsReplacementAndComesLast", func(t *testing.T) {
		_, page := partnerBr.get("/event-types")
		dep := regexp.MustCompile(`(?s)data-testid="deprecation-` + regexp.QuoteMeta(gone) + `".*?</div>`).FindString(page)
		require.NotEmpty(t, dep)
		require.Contains(t, html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(dep, "")), "Use "+made+` with "state": "retired" instead.`)
		require.Contains(t, dep, `<a class="mono" href="#`+made+`">`+made+`</a>`, "the replacement's type links to its entry")
		require.NotContains(t, page, `data-testid="deprecation-`+made+`"`)
		// Grouped by object in name order; within one, deprecated types after the offered.
		require.Less(t, strings.Index(page, `id="`+made+`"`), strings.Index(page, `id="`+gone+`"`))
		require.Less(t, strings.Index(page, `id="objective.became_ok"`), strings.Index(page, `id="objective.became_nok"`))
		groups := regexp.MustCompile(`data-testid="group-([^"]+)"`).FindAllStringSubmatch(page, -1)
		require.Greater(t, len(groups), 5)
		for i := 1; i < len(groups); i++ {
			require.Less(t, groups[i-1][1], groups[i][1], "groups in name order")
		}
		// The seeded deprecated types name their replacement apart from their description.
		require.Contains(t, html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(page, "")), "Use objective.became_ok and the compliance report instead.")
		require.Contains(t, page, `<a class="mono" href="#objective.became_ok">objective.became_ok</a> and the compliance report`)
		require.NotContains(t, page, "Deprecated: use")
	})

	t.Run("AdminGetsEditLinks", func(t *testing.T) {
		resp, page := admin.get("/event-types")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, page, `href="/admin/event-types/`+made+`"`)
		require.Contains(t, page, `href="/admin/event-types"`)
		_, list := admin.get("/admin/event-types")
		require.Contains(t, html.UnescapeString(list), "Use "+made+` with "state": "retired" instead.`, "the admin list shows the replacement")
		staff, _ := signedIn(t, b, models.RoleStaff)
		resp, page = staff.get("/event-types")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NotContains(t, page, `data-testid="edit-`+made+`"`)
	})

	t.Run("SignedOutIsSentToSignIn", func(t *testing.T) {
		resp, _ := newBrowser(t, b).get("/event-types")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Contains(t, resp.Header.Get("Location"), "/signin")
	})

	t.Run("WebhookPageLinksToEntries", func(t *testing.T) {
		resp, page := partnerBr.get("/webhooks/" + hook.ID)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, page, `href="/event-types#`+made+`"`)
		require.Contains(t, page, `href="/event-types#course.completed"`)
	})

	t.Run("APIServesTheReplacement", func(t *testing.T) {
		api := newAPI(t, b, models.ScopeIngest)
		status, m := api.call("GET", "/api/v1/event-types", nil)
		require.Equal(t, http.StatusOK, status)
		byName := map[string]map[string]any{}
		for _, e := range m["event_types"].([]any) {
			e := e.(map[string]any)
			byName[e["name"].(string)] = e
		}
		require.Equal(t, "Use "+made+` with "state": "retired" instead.`, byName[gone]["replacement"])
		require.Equal(t, true, byName[gone]["deprecated"])
		require.Nil(t, byName[made]["replacement"])
		require.Equal(t, "Use objective.became_ok and the compliance report instead.", byName["objective.became_nok"]["replacement"])
		require.Equal(t, "A group member was no longer compliant with an objective.", byName["objective.became_nok"]["description"])
		et, err := b.db.FindEventTypeByName(ctx, "question.answered")
		require.NoError(t, err)
		require.Equal(t, "Too chatty for most receivers; use test.completed.", et.Replacement)
	})
}
