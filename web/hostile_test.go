package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

// Hostile values, as they travel in a URL (already percent-encoded where they must be).
var (
	// hostilePath replaces one {placeholder} of a route.
	hostilePath = []string{"%FF", "%C0%AF", "%00", "a%00b", "%E2%82", "%ED%A0%80", strings.Repeat("a", 3000),
		strings.Repeat("%C3%A9", 150), "%2e%2e", "..%2F..%2Fetc", "%F0%9F%98%80", "%27%20OR%201%3D1%20--", "-1",
		"99999999999999999999", "%20", "%5C"}
	// hostileQuery is the value given to every query or form name at once.
	hostileQuery = []string{"%FF", "%00", "a%00b", "%zz", "%C0%AF", "%E2%82", "%ED%A0%80", strings.Repeat("a", 5000),
		strings.Repeat("%C3%A9", 1200), "%27", "%5C", "-1", "0", "99999999999999999999", "2026-13-45T99:99",
		"%7B%22a%22%3A%22%5Cu0000%22%7D", "%7B%22a%22%3A%22%5Cud800%22%7D", url.QueryEscape(cursorWith("a\x00b")),
		url.QueryEscape(cursorWith(strings.Repeat("é", 40)))}
	// oddValid are valid texts that handlers must still cope with, given one name at a time.
	oddValid = []string{strings.Repeat("%C3%A9", 101), "%27%22%3C%3E", "-1", "99999999999999999999", "%20", "*"}
)

func cursorWith(id string) string {
	return (models.Cursor{ID: id}).Encode()
}

// hostileJSON are JSON values given to every known field of an API body.
var hostileJSON = []string{`"a\u0000b"`, "\"\xff\xfe\"", `"\ud800"`, `"\udc00x"`, `"` + strings.Repeat("é", 40000) + `"`,
	`1e999`, `-1`, `99999999999999999999`, `null`, `[]`, `{}`, `true`, `[null, 1, "\u0000"]`, `{"\u0000": 1}`,
	`{"a": "` + "\xc3" + `"}`, `"2026-13-45T99:99:99Z"`, `["*", "\ud800"]`}

// oddJSON are given to one field at a time.
var oddJSON = []string{`"a\u0000b"`, `"\ud800"`, `-1`, `99999999999999999999`, `[]`, `"` + strings.Repeat("é", 101) + `"`}

// hostileBodies are whole API bodies, whatever the route.
var hostileBodies = []string{"", "null", "[]", "{", "\xff", `{"events": null}`, `{"events": [null]}`,
	`{"events": [{"type": "course.completed", "data": {"x": "` + "\xff" + `"}}]}`,
	`{"type": "course.completed", "data": {"x": "\ud800"}}`, `{"type": "course.completed", "data": {"\u0000": "\u0000"}}`,
	`{"type": "course.completed", "object_id": "` + strings.Repeat("\xe2\x82\xac", 67) + `"}`,
	strings.Repeat("[", 20000) + strings.Repeat("]", 20000)}

// fieldNames collects every query, form and JSON field name the handlers read, from their source,
// so that a new field is swept without anyone remembering to add it here.
func fieldNames(t *testing.T) []string {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	re := regexp.MustCompile(`(?:Get|PostFormValue|FormValue|str|boolean|integer|strings|has|text)\("([a-z_]+)"|(?:PostForm|\bf|\bm|\bq)\["([a-z_]+)"\]`)
	set := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			set[m[1]+m[2]] = true
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	require.Greater(t, len(names), 30, "the field names were found")
	return names
}

// sweepFixtures are real records for the placeholders of the routes, so that hostile query,
// form and JSON values reach the handlers behind the lookups.
type sweepFixtures map[string]string

func newSweepFixtures(t *testing.T, b *bundle, partnerID, eventID string) sweepFixtures {
	ctx := context.Background()
	other := mustCreatePartner(t, b.db)
	// A receiver that takes everything, so that the sweep's test notifications and resends
	// succeed and its webhooks do not crowd the dashboard's failing list other tests read.
	ok := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(ok.Close)
	h := mustCreateWebhook(t, b.db, partnerID, models.WebhookInput{URL: ptr(ok.URL + "/in")})
	u, _ := mustCreateUser(t, b.db, models.RoleStaff, "")
	k, _, err := b.db.CreateAPIKey(ctx, models.System, uniq("sweep"), models.ScopeIngest)
	require.NoError(t, err)
	c, _, err := b.db.UpsertCourse(ctx, models.System, uniq("course"), "Sweep course")
	require.NoError(t, err)
	et, err := b.db.CreateEventType(ctx, models.System, models.EventTypeInput{Name: "sweep." + strings.ReplaceAll(uniq("t"), "-", "_")})
	require.NoError(t, err)
	// Made two days ago, so that it stays off the first page of the logs other tests read.
	m, err := b.db.CreateTestMessage(ctx, models.NewID("msg_"), h.ID, "course.completed", []byte(`{}`), "", time.Now().Add(-48*time.Hour))
	require.NoError(t, err)
	return sweepFixtures{"webhooks": h.ID, "messages": m.ID, "events": eventID, "partners": other.ID,
		"courses": c.ID, "users": u.ID, "api-keys": k.ID, "event-types": et.Name}
}

var placeholder = regexp.MustCompile(`\{[a-z]+\}`)

// fill puts the fixture ids into a route pattern's placeholders, or value into the i-th one.
func (f sweepFixtures) fill(pattern string, i int, value string) string {
	n := -1
	return placeholder.ReplaceAllStringFunc(pattern, func(ph string) string {
		n++
		if n == i {
			return value
		}
		return f[fixtureKindBefore(pattern, ph)]
	})
}

func fixtureKindBefore(pattern, ph string) string {
	before := pattern[:strings.Index(pattern, ph)-1]
	return before[strings.LastIndex(before, "/")+1:]
}

// sweeper sends requests and collects every answer of 500 or more.
type sweeper struct {
	t        *testing.T
	eventID  string // one event for every route: events are never deleted
	base     string
	requests atomic.Int64
	mu       sync.Mutex
	failures []string
}

type sweepRequest struct {
	client      *http.Client
	method      string
	target      string // path and raw query
	contentType string
	body        []byte
	header      map[string]string
}

func (sw *sweeper) send(r sweepRequest) int {
	req, err := http.NewRequest(r.method, sw.base+r.target, bytes.NewReader(r.body))
	if err != nil {
		sw.t.Fatalf("making %s %s: %v", r.method, clipped(r.target), err)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	sw.requests.Add(1)
	resp, err := r.client.Do(req)
	if err != nil {
		sw.fail(fmt.Sprintf("%s %s: %v", r.method, clipped(r.target), err))
		return 0
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		sw.fail(fmt.Sprintf("%d for %s %s (%s) body %q: %s", resp.StatusCode, r.method, clipped(r.target), r.contentType,
			clipped(string(r.body)), clipped(string(body))))
	}
	return resp.StatusCode
}

func (sw *sweeper) fail(s string) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.failures = append(sw.failures, s)
}

func clipped(s string) string {
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}

// TestHostileInputSweep sends hostile values in the path, query, form and JSON of every route
// of the route table, signed in as admin and as partner (API routes with an admin key), and
// fails on any answer of 500 or more.
func TestHostileInputSweep(t *testing.T) {
	t.Parallel()
	b := &bundle{db: setup(t).db}
	b.db.Sealer = testSealer
	s := setupServer(t, b)
	b.srv = httptest.NewServer(s.Handler())
	t.Cleanup(b.srv.Close)
	names := fieldNames(t)
	_, adminKey, err := b.db.CreateAPIKey(context.Background(), models.System, uniq("sweep-admin"), models.ScopeAdmin)
	require.NoError(t, err)

	adminBr, _ := signedIn(t, b, models.RoleAdmin)
	partnerBr, partnerUser := signedIn(t, b, models.RolePartner)
	sw := &sweeper{t: t, base: b.srv.URL}
	status, ev := (&apiClient{t: t, base: b.srv.URL, key: adminKey}).call("POST", "/api/v1/events", `{"type": "course.completed", "object": "o", "object_id": "1"}`)
	require.Equal(t, http.StatusAccepted, status, ev)
	sw.eventID = ev["id"].(string)

	routes := s.Routes()
	// Signing in and out go last: they end the session, and failed sign-ins are throttled.
	last := func(p string) bool { return strings.HasSuffix(p, " /signin") || strings.HasSuffix(p, " /signout") }
	slices.SortStableFunc(routes, func(a, b string) int {
		switch {
		case last(a) && !last(b):
			return 1
		case !last(a) && last(b):
			return -1
		}
		return 0
	})

	var wg sync.WaitGroup
	work := make(chan string)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for route := range work {
				sweepRoute(t, sw, b, route, names, *partnerUser.PartnerID, adminKey, adminBr, partnerBr)
			}
		}()
	}
	for _, route := range routes {
		if last(route) {
			continue
		}
		work <- route
	}
	close(work)
	wg.Wait()
	for _, route := range routes {
		if last(route) {
			sweepRoute(t, sw, b, route, names, *partnerUser.PartnerID, adminKey, adminBr, partnerBr)
		}
	}
	t.Logf("%d routes, %d requests, %d answers of 5xx", len(routes), sw.requests.Load(), len(sw.failures))
	sort.Strings(sw.failures)
	for i, f := range sw.failures {
		if i == 40 {
			t.Errorf("... and %d more", len(sw.failures)-40)
			break
		}
		t.Error(f)
	}
}

func sweepRoute(t *testing.T, sw *sweeper, b *bundle, route string, names []string, partnerID, adminKey string, browsers ...*browser) {
	method, pattern, ok := strings.Cut(route, " ")
	if !ok {
		method, pattern = "GET", route
	}
	pattern = strings.ReplaceAll(pattern, "{$}", "")
	fx := newSweepFixtures(t, b, partnerID, sw.eventID)
	isAPI := strings.HasPrefix(pattern, "/api/")
	hasBody := method == "POST" || method == "PUT" || method == "PATCH"
	nPlaceholders := len(placeholder.FindAllString(pattern, -1))
	if strings.HasSuffix(pattern, "/") && pattern != "/" { // "GET /static/"
		pattern += "{file}"
		nPlaceholders++
	}
	var clients []*http.Client
	var header map[string]string
	if isAPI {
		clients = []*http.Client{http.DefaultClient}
		header = map[string]string{"Authorization": "Bearer " + adminKey}
	} else {
		for _, br := range browsers {
			clients = append(clients, br.c)
		}
	}
	base := fx.fill(pattern, -1, "")
	jsonCT, formCT := "application/json", "application/x-www-form-urlencoded"
	for _, c := range clients {
		req := func(target, ct string, body []byte) {
			sw.send(sweepRequest{client: c, method: method, target: target, contentType: ct, body: body, header: header})
		}
		emptyCT, emptyBody := "", []byte(nil)
		if hasBody && isAPI {
			emptyCT, emptyBody = jsonCT, []byte("{}")
		} else if hasBody {
			emptyCT, emptyBody = formCT, []byte("")
		}
		// The path.
		for i := range nPlaceholders {
			for _, v := range hostilePath {
				req(fx.fill(pattern, i, v), emptyCT, emptyBody)
			}
		}
		// The query: every name at once, then the odd but valid values spread over the names.
		for _, v := range hostileQuery {
			req(base+"?"+allNames(names, v), emptyCT, emptyBody)
		}
		if method == "GET" {
			for k := range oddValid {
				req(base+"?"+rotated(names, oddValid, k), emptyCT, emptyBody)
			}
		}
		if !hasBody {
			continue
		}
		if isAPI {
			for _, v := range hostileJSON {
				req(base, jsonCT, []byte(allJSON(names, v)))
			}
			for k := range oddJSON {
				req(base, jsonCT, []byte(rotatedJSON(names, oddJSON, k)))
			}
			for _, body := range hostileBodies {
				req(base, jsonCT, []byte(body))
			}
			// A JSON body is read as JSON whatever the Content-Type says.
			for _, ct := range []string{"", formCT, "text/plain; =", "APPLICATION/JSON; charset=latin1", "multipart/form-data"} {
				req(base, ct, []byte(`{"type": "a\u0000b", "name": "\ud800"}`))
				req(base, ct, []byte("\xff"))
			}
			continue
		}
		// The form: every name at once, then the odd values spread over the names, then the
		// encodings that slipped past earlier checks: capitals and multipart.
		for _, v := range hostileQuery {
			req(base, formCT, []byte(allNames(names, v)))
		}
		for k := range oddValid {
			req(base, formCT, []byte(rotated(names, oddValid, k)))
		}
		for _, v := range []string{"a%00b", "%FF", "%ED%A0%80"} {
			req(base, "APPLICATION/X-WWW-FORM-URLENCODED; charset=UTF-8", []byte(allNames(names, v)))
			mb, mct := multipartBody(names, v)
			req(base, mct, mb)
		}
		for _, ct := range []string{"text/plain; =", "multipart/form-data", "multipart/form-data; boundary=x", "application/json", ""} {
			req(base, ct, []byte("a=b\x00\xff"))
		}
		req(base+"?%zz=1", formCT, []byte("a=1"))
		if status := sw.send(sweepRequest{client: c, method: method, target: base, contentType: formCT,
			body: []byte("email=" + strings.Repeat("a", 1<<20))}); status != http.StatusRequestEntityTooLarge {
			sw.fail(fmt.Sprintf("%s %s: a 1 MiB form got %d, not 413", method, base, status))
		}
	}
}

func allNames(names []string, v string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + v
	}
	return strings.Join(parts, "&")
}

// rotated gives the i-th name the ((i+k) mod n)-th value, so that over n requests every name
// gets every value without a request per name and value.
func rotated(names, values []string, k int) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + values[(i+k)%len(values)]
	}
	return strings.Join(parts, "&")
}

func rotatedJSON(names, values []string, k int) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%q: %s", n, values[(i+k)%len(values)])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func allJSON(names []string, v string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%q: %s", n, v)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// multipartBody encodes every name with the (percent-decoded) value as multipart/form-data.
func multipartBody(names []string, v string) ([]byte, string) {
	dec, err := url.QueryUnescape(v)
	if err != nil {
		dec = v
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, n := range names {
		_ = mw.WriteField(n, dec)
	}
	_ = mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// TestInputRefusals pins down the answers to the hostile inputs of issue 11: a 4xx that names
// the field, and JSON read as JSON whatever the Content-Type.
func TestInputRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br, _ := signedIn(t, b, models.RoleAdmin)
	api := newAPI(t, b, models.ScopeAdmin)

	t.Run("ErrPathNotUTF8", func(t *testing.T) {
		resp, body := br.get("/webhooks/%FF")
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Contains(t, body, "not valid UTF-8")
		status, m := api.call("GET", "/api/v1/events/%C0%AF", nil)
		require.Equal(t, http.StatusBadRequest, status)
		require.Contains(t, fieldsOf(m), "path")
	})
	t.Run("ErrQueryNotUTF8", func(t *testing.T) {
		resp, body := br.get("/deliveries?webhook_id=%FF")
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Contains(t, body, "&#34;webhook_id&#34;")
	})
	t.Run("ObjectIDCutInsideACharacter", func(t *testing.T) {
		resp, _ := br.get("/deliveries?object_id=" + strings.Repeat("%E2%82%AC", 67)) // 201 bytes
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})
	t.Run("ErrMalformedQueryOnAForm", func(t *testing.T) {
		resp, _ := br.do("POST", "/webhooks?%zz=1", url.Values{"name": {"x"}}, nil)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	})
	t.Run("ErrMultipartNUL", func(t *testing.T) {
		mb, ct := multipartBody([]string{"name", "description"}, "a%00b")
		resp, body := br.doRaw("POST", "/admin/partners", ct, mb)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Contains(t, body, "NUL")
		require.Contains(t, body, "&#34;description&#34;", "the first bad field by name")
	})
	t.Run("ErrFormTooLarge", func(t *testing.T) {
		resp, body := br.doRaw("POST", "/signin", "application/x-www-form-urlencoded", []byte("email=a&password="+strings.Repeat("a", 65<<10)))
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		require.Contains(t, body, "64 KiB")
	})
	t.Run("ErrRawByteInEventData", func(t *testing.T) {
		resp, out := api.raw("POST", "/api/v1/events", []byte(`{"type": "course.completed", "data": {"note": "`+"\xff"+`"}}`))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(out))
		require.Contains(t, string(out), `"field":"data.note"`)
	})
	t.Run("ErrNULInCourseTitle", func(t *testing.T) {
		status, m := api.call("PUT", "/api/v1/courses/"+uniq("c"), `{"title": "a\u0000b"}`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Contains(t, fieldsOf(m)["title"], "NUL")
	})
	t.Run("JSONWhateverTheContentType", func(t *testing.T) {
		// The README's example: curl -d sends application/x-www-form-urlencoded.
		for _, ct := range []string{"application/x-www-form-urlencoded", "", "text/plain"} {
			req, err := http.NewRequest("POST", b.srv.URL+"/api/v1/events",
				strings.NewReader(`{"events": [{"type": "course.completed", "course_id": "7670fdbe"}, {"type": "badge.awarded"}]}`))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+api.key)
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			} else {
				req.Header["Content-Type"] = nil
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			var got struct{ Events []struct{ Type string } }
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
			resp.Body.Close()
			require.Equal(t, http.StatusAccepted, resp.StatusCode, ct)
			require.Len(t, got.Events, 2, ct)
			require.Equal(t, "badge.awarded", got.Events[1].Type, ct)
		}
	})
}
