// Package localpg runs a private PostgreSQL cluster for one process: the development server
// (`go run .` without DATABASE_URL) and the tests.
package localpg

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries says that the PostgreSQL server programs are not installed.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries (initdb, postgres) found on PATH or under /usr/lib/postgresql: install the PostgreSQL server (Debian: apt-get install postgresql) or set DATABASE_URL")

// searchRoot is where distribution packages put versioned server binaries.
var searchRoot = "/usr/lib/postgresql"

const superuser = "hookrelay"

// FindBinaries returns the directory holding initdb and postgres, preferring PATH, then the
// newest version under /usr/lib/postgresql.
func FindBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if resolved, err := filepath.EvalSymlinks(p); err == nil {
			dir = filepath.Dir(resolved)
		}
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob(filepath.Join(searchRoot, "*", "bin", "initdb"))
	sort.Slice(matches, func(i, j int) bool { return version(matches[i]) > version(matches[j]) })
	for _, m := range matches {
		dir := filepath.Dir(m)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	return "", ErrNoBinaries
}

func version(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// Cluster is a running private PostgreSQL server.
type Cluster struct {
	dir      string
	port     int
	password string
	cmd      *exec.Cmd
	exited   chan struct{}
	log      *slog.Logger
}

// Start initialises dir on first use and starts PostgreSQL on a free loopback port, returning
// once it accepts connections and has a database named "hookrelay".
func Start(ctx context.Context, dir string, log *slog.Logger) (*Cluster, error) {
	bin, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolving data directory: %w", err)
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	pwFile := filepath.Join(filepath.Dir(dir), filepath.Base(dir)+".password")
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := initialise(ctx, bin, dir, pwFile, cred, log); err != nil {
			return nil, err
		}
	}
	pw, err := os.ReadFile(pwFile)
	if err != nil {
		return nil, fmt.Errorf("reading private cluster password: %w", err)
	}
	if c := join(ctx, dir, strings.TrimSpace(string(pw)), log); c != nil {
		return c, nil
	}
	var lastErr error
	for range 3 { // a port found free can be taken before postgres binds it
		c, err := start(ctx, bin, dir, strings.TrimSpace(string(pw)), cred, log)
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// join returns the cluster already running on dir (another hookrelay process started it: a
// command such as "apikey create" while "serve" runs), or nil. Such a cluster is not ours to
// stop.
func join(ctx context.Context, dir, password string, log *slog.Logger) *Cluster {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return nil
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return nil
	}
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err != nil {
		return nil
	}
	c := &Cluster{dir: dir, port: port, password: password, log: log}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, c.URL("hookrelay"))
	if err != nil {
		return nil // a stale file: postgres itself deals with it on start
	}
	_ = conn.Close(cctx)
	log.Info("using the private PostgreSQL cluster another process started", "dir", dir, "port", port)
	return c
}

// credential is who runs PostgreSQL: it refuses to run as root, so root hands it to the
// "postgres" user (or "nobody").
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root, and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL as")
}

func initialise(ctx context.Context, bin, dir, pwFile string, cred *syscall.Credential, log *slog.Logger) error {
	log.Info("initialising private PostgreSQL cluster", "dir", dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("making data directory: %w", err)
	}
	password := rand.Text()
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing private cluster password: %w", err)
	}
	// initdb reads the password from a file that the server's user can read.
	tmpPw := dir + ".initpw"
	if err := os.WriteFile(tmpPw, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing initdb password: %w", err)
	}
	defer os.Remove(tmpPw)
	if cred != nil {
		if err := os.Chown(tmpPw, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("giving the initdb password file to the PostgreSQL user: %w", err)
		}
		if err := handOver(dir, cred); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", dir, "-U", superuser, "--pwfile", tmpPw,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-instructions")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		_ = os.RemoveAll(dir)
		return fmt.Errorf("initdb failed: %w\n%s", err, out.String())
	}
	return nil
}

// handOver gives dir to the server's user and makes sure it can reach it through the parents.
func handOver(dir string, cred *syscall.Credential) error {
	if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("giving %s to the PostgreSQL user: %w", dir, err)
	}
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(cred.Uid), int(cred.Gid))
	}); err != nil {
		return fmt.Errorf("giving %s to the PostgreSQL user: %w", dir, err)
	}
	for p := filepath.Dir(dir); p != "/" && p != "."; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("checking %s: %w", p, err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, fi.Mode().Perm()|0o011); err != nil {
				return fmt.Errorf("letting the PostgreSQL user through %s: %w", p, err)
			}
		}
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func start(ctx context.Context, bin, dir, password string, cred *syscall.Credential, log *slog.Logger) (*Cluster, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(filepath.Dir(dir), filepath.Base(dir)+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening PostgreSQL log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", dir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=200",
		"-c", "fsync=on", "-c", "logging_collector=off",
		// Autovacuum looks at each database every few seconds rather than every minute: a test
		// database fills from empty in seconds, and until its tables are analysed the planner
		// plans for empty tables (see migration 00029).
		"-c", "autovacuum_naptime=2s")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		// Its own process group, so a terminal's Ctrl-C reaches only us and we stop it in order.
		Setpgid: true,
		// If we are killed outright, the server shuts down rather than lingering.
		Pdeathsig: syscall.SIGINT,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting postgres: %w", err)
	}
	c := &Cluster{dir: dir, port: port, password: password, cmd: cmd, exited: make(chan struct{}), log: log}
	go func() { _ = cmd.Wait(); close(c.exited) }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			err = ensureDatabase(ctx, conn)
			conn.Close(ctx)
			if err != nil {
				_ = c.Stop()
				return nil, err
			}
			log.Info("private PostgreSQL running", "port", port, "dir", dir)
			return c, nil
		}
		select {
		case <-c.exited:
			return nil, fmt.Errorf("postgres exited while starting; its log %s ends:\n%s", logPath, tail(logPath))
		case <-ctx.Done():
			_ = c.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = c.Stop()
			return nil, fmt.Errorf("postgres did not accept connections within 60 s: %w; log %s ends:\n%s", err, logPath, tail(logPath))
		}
	}
}

func ensureDatabase(ctx context.Context, conn *pgx.Conn) error {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'hookrelay')`).Scan(&exists); err != nil {
		return fmt.Errorf("checking for the hookrelay database: %w", err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, `CREATE DATABASE hookrelay`); err != nil {
			return fmt.Errorf("creating the hookrelay database: %w", err)
		}
	}
	return nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// URL returns a connection URL for database on this cluster.
func (c *Cluster) URL(database string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(superuser, c.password),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)), Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

// Stop shuts the server down (fast shutdown: open sessions are ended, data is safe).
func (c *Cluster) Stop() error {
	if c.cmd == nil {
		return nil // joined, not started: its owner stops it
	}
	select {
	case <-c.exited:
		return nil
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return fmt.Errorf("stopping postgres: %w", err)
	}
	select {
	case <-c.exited:
		return nil
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return errors.New("postgres did not stop within 30 s and was killed")
	}
}
