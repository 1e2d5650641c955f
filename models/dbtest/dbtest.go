// Package dbtest gives each test package its own fresh, migrated PostgreSQL database: on the
// server named by TEST_DATABASE_URL when set, else on a private cluster started for the package.
package dbtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/models/localpg"
	"github.com/jackc/pgx/v5"
)

var (
	dbURL  string
	once   sync.Once
	shared *models.DB
	errDB  error
)

// Main runs the package's tests against a fresh database and removes it afterwards. Call it
// from TestMain: func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }
func Main(m interface{ Run() int }) int {
	ctx := context.Background()
	admin := os.Getenv("TEST_DATABASE_URL")
	if admin == "" {
		dir, err := os.MkdirTemp("", "hookrelay-test-pg-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "dbtest:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		cluster, err := localpg.Start(ctx, dir+"/pg", slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			fmt.Fprintln(os.Stderr, "dbtest: starting a private PostgreSQL:", err)
			return 1
		}
		defer func() { _ = cluster.Stop() }()
		admin = cluster.URL("postgres")
	}
	name := "hookrelay_test_" + strings.ToLower(strings.TrimPrefix(models.NewID(""), ""))[20:]
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dbtest: connecting to", redact(admin)+":", err)
		return 1
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		fmt.Fprintln(os.Stderr, "dbtest: creating database:", err)
		return 1
	}
	conn.Close(ctx)
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	dbURL = u.String()

	code := m.Run()

	if shared != nil {
		// A test may leave a worker holding a connection (LISTEN); the drop below ends it.
		closed := make(chan struct{})
		go func() { shared.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(2 * time.Second):
		}
	}
	if conn, err := pgx.Connect(ctx, admin); err == nil {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(ctx)
	}
	return code
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "TEST_DATABASE_URL"
	}
	return u.Redacted()
}

// URL is the fresh database's connection URL.
func URL() string { return dbURL }

// DB returns the package's migrated database, shared by its tests.
func DB(t testing.TB) *models.DB {
	t.Helper()
	once.Do(func() {
		if dbURL == "" {
			errDB = fmt.Errorf("dbtest.Main did not run: call it from TestMain")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		shared, errDB = models.Open(ctx, dbURL, 30)
		if errDB == nil {
			errDB = shared.Migrate(ctx)
		}
	})
	if errDB != nil {
		t.Fatalf("dbtest: %v", errDB)
	}
	return shared
}
