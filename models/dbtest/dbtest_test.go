package dbtest_test

import (
	"context"
	"os"
	"testing"

	"github.com/hookrelay/hookrelay/models/dbtest"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

func TestFreshMigratedDatabase(t *testing.T) {
	db := dbtest.DB(t)
	var n int
	require.NoError(t, db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM users`).Scan(&n))
	require.Zero(t, n)
	pending, err := db.PendingMigrations(context.Background())
	require.NoError(t, err)
	require.Zero(t, pending)
}
