package web

import (
	"net/http"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

// courseSearch answers the webhook form's type-ahead with up to 20 matching courses.
func (s *Server) courseSearch(w http.ResponseWriter, r *http.Request) {
	q := textParam(r.URL.Query().Get("course_q"))
	var chips []views.CourseChip
	if q != "" {
		cs, _, err := s.db.FindCourses(r.Context(), models.CourseFilter{Search: q, Limit: 20})
		if err != nil {
			s.error(w, r, err)
			return
		}
		for _, c := range cs {
			chips = append(chips, views.CourseChip{ID: c.ID, Title: c.Title})
		}
	}
	s.fragment(w, r, http.StatusOK, views.CourseResults(chips, q))
}
