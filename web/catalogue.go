package web

import (
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

// catalogue is the event catalogue for everyone signed in, partners included: what each type
// means, whether it is deprecated and for what, and the body a receiver gets in each format.
func (s *Server) catalogue(w http.ResponseWriter, r *http.Request) {
	ts, err := s.db.FindEventTypes(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	groups, err := catalogueGroups(ts)
	if err != nil {
		s.error(w, r, err)
		return
	}
	u := currentUser(r)
	s.page(w, r, http.StatusOK, "Event catalogue", "catalogue",
		views.EventCatalogue(views.CatalogueProps{Groups: groups, CanEdit: u != nil && u.Role == models.RoleAdmin}))
}

// catalogueGroups groups types by object (the name before its last dot), objects in name
// order; within one, the types still offered come before the deprecated ones, each by name.
func catalogueGroups(ts []models.EventType) ([]views.CatalogueGroup, error) {
	known := map[string]bool{}
	for _, t := range ts {
		known[t.Name] = true
	}
	var groups []views.CatalogueGroup
	for i := range ts {
		t := &ts[i]
		ct := views.CatalogueType{Name: t.Name, Description: t.Description, Deprecated: t.Deprecated(),
			DeprecatedAt: t.DeprecatedAt, Replacement: linkTypes(t.Replacement, known), UpdatedAt: t.UpdatedAt}
		var err error
		if ct.Batch, err = models.SampleBody(t, models.FormatBatch); err != nil {
			return nil, err
		}
		if ct.Event, err = models.SampleBody(t, models.FormatEvent); err != nil {
			return nil, err
		}
		obj := t.Name
		if i := strings.LastIndex(t.Name, "."); i > 0 {
			obj = t.Name[:i]
		}
		g := slices.IndexFunc(groups, func(g views.CatalogueGroup) bool { return g.Object == obj })
		if g < 0 {
			groups = append(groups, views.CatalogueGroup{Object: obj})
			g = len(groups) - 1
		}
		groups[g].Types = append(groups[g].Types, ct)
	}
	slices.SortFunc(groups, func(a, b views.CatalogueGroup) int { return strings.Compare(a.Object, b.Object) })
	for _, g := range groups {
		slices.SortStableFunc(g.Types, func(a, b views.CatalogueType) int {
			if a.Deprecated != b.Deprecated {
				if a.Deprecated {
					return 1
				}
				return -1
			}
			return strings.Compare(a.Name, b.Name)
		})
	}
	return groups, nil
}

// typeName finds what may be an event type's name in a text, such as test.completed; a final
// dot is the sentence's, not the name's.
var typeName = regexp.MustCompile(`[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+`)

// linkTypes cuts text into parts where the names of known types become links.
func linkTypes(text string, known map[string]bool) []views.TextPart {
	return linkParts(text, typeName, func(name string) string {
		if !known[name] {
			return ""
		}
		return "#" + name
	})
}
