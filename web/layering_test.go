package web_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHandlersLeaveWritesToTheDomain holds the shape of web/: handlers decode, call one action of
// models and render. No handler writes the audit log, wakes the workers or touches the
// database's connections itself, so every action's audit entry and wake-up stay in the action's
// one transaction.
func TestHandlersLeaveWritesToTheDomain(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		if m := writesSQL.FindString(string(src)); m != "" {
			t.Errorf("%s writes to the database itself (%q): make it an action in models", name, m)
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, 0)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			switch sel.Sel.Name {
			case "Audit", "Pool", "Gorm", "SQL":
				if x, ok := sel.X.(*ast.SelectorExpr); ok && x.Sel.Name == "db" {
					t.Errorf("%s uses db.%s: handlers call the actions of models instead", name, sel.Sel.Name)
				}
			}
			return true
		})
		checked++
	}
	require.Greater(t, checked, 20, "the web package's sources were read")
}

// writesSQL finds SQL that writes, notifies or reaches the audit log.
var writesSQL = regexp.MustCompile(`(?i)pg_notify|\bnotify\s+hookrelay|audit_log|insert\s+into|delete\s+from|update\s+\w+\s+set\b`)
