package localpg

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

func TestStartStopReuse(t *testing.T) {
	if _, err := FindBinaries(); err != nil {
		t.Skip(err)
	}
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "pg")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	c, err := Start(ctx, dir, log)
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, c.URL("hookrelay"))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)`)
	require.NoError(t, err)
	conn.Close(ctx)
	require.NoError(t, c.Stop())

	c, err = Start(ctx, dir, log)
	require.NoError(t, err, "the second start reuses the cluster")
	defer c.Stop()

	// A second process (a command while the server runs) uses the running cluster, and
	// leaves it running when it is done.
	other, err := Start(ctx, dir, log)
	require.NoError(t, err)
	require.Equal(t, c.URL("hookrelay"), other.URL("hookrelay"))
	require.NoError(t, other.Stop())
	conn, err = pgx.Connect(ctx, c.URL("hookrelay"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var v int
	require.NoError(t, conn.QueryRow(ctx, `SELECT v FROM kept`).Scan(&v))
	require.Equal(t, 7, v)
}

func TestNoBinaries(t *testing.T) {
	old := searchRoot
	searchRoot = t.TempDir()
	defer func() { searchRoot = old }()
	t.Setenv("PATH", t.TempDir())
	_, err := FindBinaries()
	require.ErrorIs(t, err, ErrNoBinaries)
	require.Contains(t, err.Error(), "apt-get install postgresql")
	_, err = Start(context.Background(), t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.ErrorIs(t, err, ErrNoBinaries)
}
