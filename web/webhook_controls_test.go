package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

// max_in_flight and ordered go through the form and the API alike: set, shown, and (for
// max_in_flight) put back to the instance's default with an empty field or null.
func TestWebhookDeliveryControls(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	admin, _ := signedIn(t, b, models.RoleAdmin)
	api := newAPI(t, b, models.ScopeAdmin)
	partner := mustCreatePartner(t, b.db)

	f := webhookForm(partner.ID, uniq("controls"))
	f.Set("max_in_flight", "7")
	f.Set("ordered", "on")
	resp, _ := admin.post("/webhooks", f)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	id := strings.TrimPrefix(resp.Header.Get("Location"), "/webhooks/")
	h, err := b.db.FindWebhookByID(ctx, id)
	require.NoError(t, err)
	require.Equal(t, 7, *h.MaxInFlight)
	require.True(t, h.Ordered)
	_, body := admin.get("/webhooks/" + id)
	require.Regexp(t, `data-testid="max-in-flight">\s*at most 7`, body)
	require.Regexp(t, `data-testid="ordered">\s*in order per object`, body)

	status, got := api.call("GET", "/api/v1/webhooks/"+id, nil)
	require.Equal(t, http.StatusOK, status)
	require.EqualValues(t, 7, got["max_in_flight"])
	require.Equal(t, true, got["ordered"])

	status, got = api.call("PATCH", "/api/v1/webhooks/"+id, `{"max_in_flight": null, "ordered": false}`)
	require.Equal(t, http.StatusOK, status)
	require.Nil(t, got["max_in_flight"], "null: the instance's default")
	require.Equal(t, false, got["ordered"])
	_, body = admin.get("/webhooks/" + id)
	require.Regexp(t, `data-testid="max-in-flight">\s*the default`, body)

	status, got = api.call("PATCH", "/api/v1/webhooks/"+id, `{"max_in_flight": 0}`)
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.Contains(t, fieldsOf(got), "max_in_flight")
}
