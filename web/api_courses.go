package web

import (
	"net/http"
	"time"

	"github.com/hookrelay/hookrelay/models"
)

type apiCourse struct {
	ID         string     `json:"id"`
	Title      string     `json:"title"`
	Archived   bool       `json:"archived"`
	ArchivedAt *time.Time `json:"archived_at"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

func toAPICourse(c *models.Course) apiCourse {
	return apiCourse{ID: c.ID, Title: c.Title, Archived: c.ArchivedAt != nil, ArchivedAt: c.ArchivedAt, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

func (s *Server) apiCoursePut(w http.ResponseWriter, r *http.Request) {
	f, ok := readJSONObject(w, r, 64<<10)
	if !ok {
		return
	}
	title := f.str("title")
	if err := f.ve.Err(); err != nil {
		s.apiError(w, r, err)
		return
	}
	if title == nil {
		title = new(string)
	}
	c, created, err := s.db.UpsertCourse(r.Context(), actor(r), r.PathValue("id"), *title)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, toAPICourse(c))
}

func (s *Server) apiCourseDelete(w http.ResponseWriter, r *http.Request) {
	c, err := s.db.ArchiveCourse(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPICourse(c))
}
