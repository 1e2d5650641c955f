package web

import (
	"net/http"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/static"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler returns the whole HTTP surface of hookrelay: UI, API, health and static files.
func (s *Server) Handler() http.Handler {
	mux := s.routes()
	var h http.Handler = mux
	h = s.loadUser(h)
	h = s.cleanInput(mux.ServeMux, h)
	h = s.crossOrigin(h)
	h = s.securityHeaders(h)
	h = s.logRequests(h)
	return h
}

// Routes lists every route pattern ("GET /webhooks/{id}"), for tests that go through them all.
func (s *Server) Routes() []string { return s.routes().patterns }

// routeTable is a ServeMux that remembers its patterns.
type routeTable struct {
	*http.ServeMux
	patterns []string
}

func (t *routeTable) Handle(pattern string, h http.Handler) {
	t.patterns = append(t.patterns, pattern)
	t.ServeMux.Handle(pattern, h)
}

func (t *routeTable) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	t.Handle(pattern, http.HandlerFunc(h))
}

func (s *Server) routes() *routeTable {
	mux := &routeTable{ServeMux: http.NewServeMux()}

	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.cfg.Registry != nil {
		mux.Handle("GET /metrics", s.metricsAuth(promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})))
	}
	mux.Handle("GET /static/", static.Handler())

	// Signed out.
	mux.HandleFunc("GET /signin", s.signInForm)
	mux.HandleFunc("POST /signin", s.signIn)
	mux.HandleFunc("POST /signout", s.signOut)

	// Everyone signed in.
	mux.Handle("GET /{$}", s.anyone(s.dashboard))
	mux.Handle("GET /account/password", s.anyone(s.passwordForm))
	mux.Handle("POST /account/password", s.anyone(s.passwordChange))
	mux.Handle("GET /event-types", s.anyone(s.catalogue))

	// Webhooks: staff configure, partners see their own.
	mux.Handle("GET /webhooks", s.anyone(s.webhookList))
	mux.Handle("GET /webhooks/new", s.staff(s.webhookNew))
	mux.Handle("POST /webhooks", s.staff(s.webhookCreate))
	mux.Handle("GET /webhooks/{id}", s.anyone(s.webhookShow))
	mux.Handle("GET /webhooks/{id}/edit", s.staff(s.webhookEdit))
	mux.Handle("POST /webhooks/{id}", s.staff(s.webhookUpdate))
	mux.Handle("POST /webhooks/{id}/pause", s.staff(s.webhookPause))
	mux.Handle("POST /webhooks/{id}/resume", s.staff(s.webhookResume))
	mux.Handle("POST /webhooks/{id}/delete", s.staff(s.webhookDelete))
	mux.Handle("POST /webhooks/{id}/secret/reveal", s.anyone(s.webhookSecretReveal))
	mux.Handle("POST /webhooks/{id}/secret/rotate", s.staff(s.webhookSecretRotate))
	mux.Handle("GET /courses/search", s.staff(s.courseSearch))
	mux.Handle("POST /webhooks/{id}/test", s.anyone(s.webhookTestSend))
	mux.Handle("GET /webhooks/{id}/sample", s.anyone(s.webhookSample))
	mux.Handle("GET /webhooks/{id}/resend-failed", s.admin(s.resendFailedForm))
	mux.Handle("POST /webhooks/{id}/resend-failed", s.admin(s.resendFailed))

	// Delivery log and events.
	mux.Handle("GET /deliveries", s.anyone(s.deliveries))
	mux.Handle("GET /messages/{id}", s.anyone(s.messageShow))
	mux.Handle("POST /messages/{id}/resend", s.admin(s.messageResend))
	mux.Handle("GET /events", s.staff(s.eventList))
	mux.Handle("GET /events/{id}", s.staff(s.eventShow))

	// Admin.
	mux.Handle("GET /admin/partners", s.admin(s.partnerList))
	mux.Handle("GET /admin/partners/new", s.admin(s.partnerNew))
	mux.Handle("POST /admin/partners", s.admin(s.partnerCreate))
	mux.Handle("GET /admin/partners/{id}", s.admin(s.partnerShow))
	mux.Handle("GET /admin/partners/{id}/edit", s.admin(s.partnerEdit))
	mux.Handle("POST /admin/partners/{id}", s.admin(s.partnerUpdate))
	mux.Handle("POST /admin/partners/{id}/delete", s.admin(s.partnerDelete))
	mux.Handle("GET /admin/event-types", s.admin(s.eventTypeList))
	mux.Handle("GET /admin/event-types/new", s.admin(s.eventTypeNew))
	mux.Handle("POST /admin/event-types", s.admin(s.eventTypeCreate))
	mux.Handle("GET /admin/event-types/{name}", s.admin(s.eventTypeEdit))
	mux.Handle("POST /admin/event-types/{name}", s.admin(s.eventTypeUpdate))
	mux.Handle("POST /admin/event-types/{name}/deprecate", s.admin(s.eventTypeDeprecate(true)))
	mux.Handle("POST /admin/event-types/{name}/undeprecate", s.admin(s.eventTypeDeprecate(false)))
	mux.Handle("GET /admin/courses", s.admin(s.courseList))
	mux.Handle("POST /admin/courses", s.admin(s.courseCreate))
	mux.Handle("GET /admin/courses/{id}/edit", s.admin(s.courseEdit))
	mux.Handle("POST /admin/courses/{id}", s.admin(s.courseUpdate))
	mux.Handle("POST /admin/courses/{id}/archive", s.admin(s.courseArchive))
	mux.Handle("GET /admin/audit", s.admin(s.auditList))
	mux.Handle("GET /admin/users", s.admin(s.userList))
	mux.Handle("GET /admin/users/new", s.admin(s.userNew))
	mux.Handle("POST /admin/users", s.admin(s.userCreate))
	mux.Handle("GET /admin/users/{id}/edit", s.admin(s.userEdit))
	mux.Handle("POST /admin/users/{id}", s.admin(s.userUpdate))
	mux.Handle("POST /admin/users/{id}/disable", s.admin(s.userSetDisabled(true)))
	mux.Handle("POST /admin/users/{id}/enable", s.admin(s.userSetDisabled(false)))
	mux.Handle("POST /admin/users/{id}/password", s.admin(s.userResetPassword))
	mux.Handle("GET /admin/api-keys", s.admin(s.apiKeyList))
	mux.Handle("POST /admin/api-keys", s.admin(s.apiKeyCreate))
	mux.Handle("POST /admin/api-keys/{id}/revoke", s.admin(s.apiKeyRevoke))

	// JSON API: one table, which the OpenAPI document is checked against.
	for _, rt := range s.apiRoutes() {
		mux.Handle(rt.Method+" "+rt.Pattern, s.apiKey(rt.Scope, rt.handler))
	}
	mux.HandleFunc("GET /api/v1/openapi.json", serveOpenAPI)

	// Anything else a browser asks for is a 404 page; the API answers in problem+json.
	mux.Handle("/", http.HandlerFunc(s.notFound))
	return mux
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Path) >= 5 && r.URL.Path[:5] == "/api/" {
		writeProblem(w, Problem{Title: "Not found", Status: http.StatusNotFound, Detail: "No such API route."})
		return
	}
	s.errorPage(w, r, http.StatusNotFound, "Not found", "There is no page at this address.")
}

// APIRoute is one route of the JSON API.
type APIRoute struct {
	Method, Pattern, Scope string
	handler                http.HandlerFunc
}

func (s *Server) apiRoutes() []APIRoute {
	ingest, admin := models.ScopeIngest, models.ScopeAdmin
	return []APIRoute{
		{"POST", "/api/v1/events", ingest, s.apiEventCreate},
		{"GET", "/api/v1/events/{id}", ingest, s.apiEventGet},
		{"GET", "/api/v1/event-types", ingest, s.apiEventTypeList},
		{"PUT", "/api/v1/courses/{id}", ingest, s.apiCoursePut},
		{"DELETE", "/api/v1/courses/{id}", ingest, s.apiCourseDelete},
		{"GET", "/api/v1/partners", admin, s.apiPartnerList},
		{"POST", "/api/v1/partners", admin, s.apiPartnerCreate},
		{"GET", "/api/v1/partners/{id}", admin, s.apiPartnerGet},
		{"PATCH", "/api/v1/partners/{id}", admin, s.apiPartnerUpdate},
		{"DELETE", "/api/v1/partners/{id}", admin, s.apiPartnerDelete},
		{"GET", "/api/v1/webhooks", admin, s.apiWebhookList},
		{"POST", "/api/v1/webhooks", admin, s.apiWebhookCreate},
		{"GET", "/api/v1/webhooks/{id}", admin, s.apiWebhookGet},
		{"PATCH", "/api/v1/webhooks/{id}", admin, s.apiWebhookUpdate},
		{"DELETE", "/api/v1/webhooks/{id}", admin, s.apiWebhookDelete},
		{"POST", "/api/v1/webhooks/{id}/secret/reveal", admin, s.apiWebhookSecretReveal},
		{"POST", "/api/v1/webhooks/{id}/secret/rotate", admin, s.apiWebhookSecretRotate},
		{"POST", "/api/v1/webhooks/{id}/test", admin, s.apiWebhookTest},
		{"GET", "/api/v1/webhooks/{id}/messages", admin, s.apiWebhookMessages},
		{"POST", "/api/v1/webhooks/{id}/resend-failed", admin, s.apiResendFailed},
		{"GET", "/api/v1/messages/{id}", admin, s.apiMessageGet},
		{"POST", "/api/v1/messages/{id}/resend", admin, s.apiMessageResend},
	}
}

// APIRoutes lists the JSON API's routes (method, pattern and scope), for checking the
// OpenAPI document against them.
func (s *Server) APIRoutes() []APIRoute { return s.apiRoutes() }
