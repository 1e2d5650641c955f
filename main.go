// Command hookrelay is the webhook notification service of the learning platform: one binary
// serving the web UI, the JSON API and the background jobs against PostgreSQL.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hookrelay/hookrelay/jobs"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/models/localpg"
	"github.com/hookrelay/hookrelay/web"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// config is every setting of SPEC.md "Running it", read from the environment once, here.
type config struct {
	DatabaseURL     string
	Development     bool
	Addr            string
	BaseURL         string
	baseURLSet      bool
	DataDir         string
	SecretKey       []byte
	RetryBase       time.Duration
	RetryMax        time.Duration
	RetryCount      int
	DeliveryTimeout time.Duration
	VerifyInterval  time.Duration
	VerifyThreshold int
	Retention       time.Duration
	AllowPrivate    bool
	Workers         int
	PerWebhook      int
	MetricsToken    string
	TrustedProxies  []netip.Prefix
	SMTP            *jobs.SMTPServer // nil: no mail to partner contacts
	MailFrom        string
}

// loadConfig reads and validates the settings; every problem is reported at once.
func loadConfig(getenv func(string) string) (config, error) {
	var errs []error
	bad := func(name, value, want string) {
		errs = append(errs, fmt.Errorf("%s=%q is not valid: %s", name, value, want))
	}
	str := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	dur := func(name string, def, lo, hi time.Duration) time.Duration {
		v := getenv(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < lo || d > hi {
			bad(name, v, fmt.Sprintf("want a duration from %s to %s in Go syntax, such as 20s or 8h", lo, hi))
			return def
		}
		return d
	}
	integer := func(name string, def, lo, hi int) int {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			bad(name, v, fmt.Sprintf("want a whole number from %d to %d", lo, hi))
			return def
		}
		return n
	}
	boolean := func(name string, def bool) bool {
		v := getenv(name)
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad(name, v, "want true or false")
			return def
		}
		return b
	}

	c := config{DatabaseURL: strings.TrimSpace(getenv("DATABASE_URL"))}
	if c.DatabaseURL != "" {
		if _, err := pgxpool.ParseConfig(c.DatabaseURL); err != nil {
			errs = append(errs, fmt.Errorf("DATABASE_URL is not a valid PostgreSQL URL (want postgres://user:password@host:5432/dbname): %v", redactErr(err, c.DatabaseURL)))
		}
	}
	env := str("HOOKRELAY_ENV", map[bool]string{true: "development", false: "production"}[c.DatabaseURL == ""])
	switch env {
	case "development":
		c.Development = true
	case "production":
	default:
		bad("HOOKRELAY_ENV", env, "want development or production")
	}
	c.Addr = str("HOOKRELAY_ADDR", "127.0.0.1:8080")
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("HOOKRELAY_ADDR", c.Addr, "want host:port, such as 127.0.0.1:8080 or :8080")
	}
	c.baseURLSet = getenv("HOOKRELAY_BASE_URL") != ""
	c.BaseURL = strings.TrimRight(str("HOOKRELAY_BASE_URL", "http://"+c.Addr), "/")
	if !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		bad("HOOKRELAY_BASE_URL", c.BaseURL, "want an absolute http(s) URL")
	}
	c.DataDir = str("HOOKRELAY_DATA_DIR", ".hookrelay")
	if v := getenv("HOOKRELAY_SECRET_KEY"); v != "" {
		k, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(k) != 32 {
			errs = append(errs, errors.New("HOOKRELAY_SECRET_KEY is not valid: want base64 of exactly 32 random bytes (make one with: head -c32 /dev/urandom | base64)"))
		}
		c.SecretKey = k
	} else if !c.Development {
		errs = append(errs, errors.New("HOOKRELAY_SECRET_KEY is required in production: base64 of 32 random bytes, the same on every instance (make one with: head -c32 /dev/urandom | base64)"))
	}
	c.RetryBase = dur("HOOKRELAY_RETRY_BASE", 20*time.Second, time.Millisecond, 24*time.Hour)
	c.RetryMax = dur("HOOKRELAY_RETRY_MAX", time.Hour, time.Millisecond, 7*24*time.Hour)
	c.RetryCount = integer("HOOKRELAY_RETRY_COUNT", 10, 0, 100)
	c.DeliveryTimeout = dur("HOOKRELAY_DELIVERY_TIMEOUT", 15*time.Second, 10*time.Millisecond, 5*time.Minute)
	c.VerifyInterval = dur("HOOKRELAY_VERIFY_INTERVAL", 8*time.Hour, 100*time.Millisecond, 30*24*time.Hour)
	c.VerifyThreshold = integer("HOOKRELAY_VERIFY_THRESHOLD", jobs.DefaultVerifyThreshold, 1, 100)
	c.Retention = dur("HOOKRELAY_RETENTION", 720*time.Hour, time.Minute, 100*365*24*time.Hour)
	c.AllowPrivate = boolean("HOOKRELAY_ALLOW_PRIVATE_TARGETS", c.Development)
	c.Workers = integer("HOOKRELAY_WORKERS", jobs.DefaultWorkersPerCPU*runtime.NumCPU(), 1, 10000)
	c.PerWebhook = integer("HOOKRELAY_WEBHOOK_CONCURRENCY", jobs.DefaultPerWebhook, 1, models.MaxMaxInFlight)
	c.MetricsToken = str("HOOKRELAY_METRICS_TOKEN", "")
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		errs = append(errs, errors.New("HOOKRELAY_METRICS_TOKEN is not valid: use at least 16 random characters (head -c24 /dev/urandom | base64)"))
	}
	if v := strings.TrimSpace(getenv("HOOKRELAY_TRUSTED_PROXIES")); v != "" {
		ps, err := web.ParseTrustedProxies(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("HOOKRELAY_TRUSTED_PROXIES is not valid: %v", err))
		}
		c.TrustedProxies = ps
	}
	if v := strings.TrimSpace(getenv("HOOKRELAY_SMTP_URL")); v != "" {
		s, err := jobs.ParseSMTPURL(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("HOOKRELAY_SMTP_URL is not valid: %v", err))
		}
		c.SMTP = s
	}
	c.MailFrom = strings.TrimSpace(getenv("HOOKRELAY_MAIL_FROM"))
	switch {
	case c.MailFrom != "":
		if a, err := mail.ParseAddress(c.MailFrom); err != nil || strings.ContainsAny(c.MailFrom, "\r\n") {
			bad("HOOKRELAY_MAIL_FROM", c.MailFrom, "want an email address such as hookrelay@example.com or 'hookrelay <hookrelay@example.com>'")
		} else {
			c.MailFrom = a.String()
		}
	case c.SMTP != nil:
		errs = append(errs, errors.New("HOOKRELAY_MAIL_FROM is required with HOOKRELAY_SMTP_URL: the address mail to partner contacts comes from"))
	}
	return c, errors.Join(errs...)
}

// redactErr keeps a password in a bad DATABASE_URL out of the message.
func redactErr(err error, url string) string {
	msg := err.Error()
	if i := strings.Index(url, "://"); i >= 0 {
		if j := strings.Index(url[i+3:], "@"); j >= 0 {
			if k := strings.Index(url[i+3:i+3+j], ":"); k >= 0 {
				msg = strings.ReplaceAll(msg, url[i+3+k+1:i+3+j], "***")
			}
		}
	}
	return msg
}

const usage = `hookrelay: webhook notification service

Usage:
  hookrelay [serve]                 start the web UI, API and jobs (the default)
  hookrelay migrate                 apply database migrations and exit
  hookrelay user create --email E --role admin|staff|partner [--partner NAME] [--password-stdin]
  hookrelay apikey create --name N --scope ingest|admin

Settings are environment variables; see README.md.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "hookrelay: bad settings:\n%v\n", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	switch cmd {
	case "serve":
		err = serve(ctx, cfg, log, stdout)
	case "migrate":
		err = withDB(ctx, cfg, log, func(db *models.DB) error {
			fmt.Fprintln(stdout, "migrations applied")
			return nil
		})
	case "user":
		err = userCommand(ctx, cfg, log, args, stdin, stdout)
	case "apikey":
		err = apiKeyCommand(ctx, cfg, log, args, stdout)
	default:
		fmt.Fprintf(stderr, "hookrelay: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "hookrelay: %v\n\n%s", err, usage)
			return 2
		}
		fmt.Fprintf(stderr, "hookrelay: %v\n", err)
		return 1
	}
	return 0
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func newLogger(cfg config, w io.Writer) *slog.Logger {
	if cfg.Development {
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// withDB connects to the database (starting the private cluster when DATABASE_URL is unset),
// applies migrations, runs f and tears everything down again.
func withDB(ctx context.Context, cfg config, log *slog.Logger, f func(*models.DB) error) error {
	url := cfg.DatabaseURL
	if url == "" {
		cluster, err := localpg.Start(ctx, filepath.Join(cfg.DataDir, "pg"), log)
		if err != nil {
			return err
		}
		defer func() {
			if err := cluster.Stop(); err != nil {
				log.Error("stopping private PostgreSQL", "err", err)
			}
		}()
		url = cluster.URL("hookrelay")
	}
	db, err := models.Open(ctx, url, int32(10+4*runtime.NumCPU()))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Ping(ctx); err != nil {
		return fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	return f(db)
}

// secretKey returns the configured key, or in development the one kept in the data directory
// (made on first start).
func secretKey(cfg config) ([]byte, error) {
	if cfg.SecretKey != nil {
		return cfg.SecretKey, nil
	}
	path := filepath.Join(cfg.DataDir, "secret.key")
	if b, err := os.ReadFile(path); err == nil {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%s does not hold base64 of 32 bytes; delete it to make a new one", path)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading development key: %w", err)
	}
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("making data directory: %w", err)
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("writing development key: %w", err)
	}
	return k, nil
}

func serve(ctx context.Context, cfg config, log *slog.Logger, stdout io.Writer) error {
	key, err := secretKey(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	if !cfg.baseURLSet {
		// With port 0 the real port is known only now.
		cfg.BaseURL = "http://" + ln.Addr().String()
	}
	return withDB(ctx, cfg, log, func(db *models.DB) error {
		if err := firstAdmin(ctx, cfg, db, log, stdout); err != nil {
			return err
		}
		sealer, err := models.NewSealer(web.DeriveKey(key, "stored secrets"))
		if err != nil {
			return err
		}
		db.Sealer = sealer
		db.MailContacts = cfg.SMTP != nil
		if cfg.SMTP == nil {
			log.Info("HOOKRELAY_SMTP_URL is not set: partner contacts are not mailed when a webhook is disabled or enabled again, and no mail is queued")
		} else {
			log.Info("mail to partner contacts", "smtp", cfg.SMTP.String(), "from", cfg.MailFrom)
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		metrics := jobs.NewMetrics(reg, db)
		runner := jobs.NewRunner(db, sealer, jobs.Config{
			Metrics:         metrics,
			Workers:         cfg.Workers,
			PerWebhook:      cfg.PerWebhook,
			Retry:           jobs.RetryPolicy{Base: cfg.RetryBase, Max: cfg.RetryMax, Count: cfg.RetryCount},
			Timeout:         cfg.DeliveryTimeout,
			AllowPrivate:    cfg.AllowPrivate,
			Version:         version,
			VerifyInterval:  cfg.VerifyInterval,
			VerifyThreshold: cfg.VerifyThreshold,
			Retention:       cfg.Retention,
			Mail:            jobs.MailConfig{SMTP: cfg.SMTP, From: cfg.MailFrom, BaseURL: cfg.BaseURL},
		}, log)
		jobsCtx, stopJobs := context.WithCancel(context.Background())
		jobsDone := make(chan struct{})
		go func() { runner.Run(jobsCtx); close(jobsDone) }()
		defer func() {
			stopJobs()
			<-jobsDone
		}()
		srv := web.New(web.Config{
			Development:    cfg.Development,
			BaseURL:        cfg.BaseURL,
			SecretKey:      key,
			Version:        version,
			Targets:        jobs.TargetPolicy{RequireHTTPS: !cfg.Development, AllowPrivate: cfg.AllowPrivate},
			Sender:         runner.Sender(),
			Metrics:        metrics,
			Registry:       reg,
			MetricsToken:   cfg.MetricsToken,
			TrustedProxies: cfg.TrustedProxies,
			MailOn:         cfg.SMTP != nil,
			Ready: func(context.Context) error {
				select {
				case <-runner.Stopped():
					return errors.New("background jobs have stopped")
				default:
				}
				select {
				case <-runner.Running():
					return nil
				default:
					return errors.New("background jobs are not running yet")
				}
			},
		}, db, log)
		hs := &http.Server{
			Handler:           srv.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
		}
		served := make(chan error, 1)
		go func() { served <- hs.Serve(ln) }()
		log.Info("hookrelay listening", "addr", ln.Addr().String(), "url", cfg.BaseURL, "version", version)
		fmt.Fprintf(stdout, "hookrelay is running at %s\n", cfg.BaseURL)

		select {
		case err := <-served:
			return fmt.Errorf("serving HTTP: %w", err)
		case <-ctx.Done():
		}
		log.Info("shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := hs.Shutdown(shutdownCtx); err != nil {
			return fmt.Errorf("shutting down HTTP: %w", err)
		}
		return nil
	})
}

// firstAdmin makes an admin on a development database that has no users yet, and prints the
// credentials once.
func firstAdmin(ctx context.Context, cfg config, db *models.DB, log *slog.Logger, stdout io.Writer) error {
	n, err := db.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if !cfg.Development {
		log.Warn("no users yet: create the first admin with 'hookrelay user create --email E --role admin'")
		return nil
	}
	password := rand.Text()
	u, err := db.CreateUser(ctx, models.System, models.NewUser{Email: "admin@example.com", Name: "Administrator", Role: models.RoleAdmin, Password: password})
	if err != nil {
		return fmt.Errorf("creating first admin: %w", err)
	}
	fmt.Fprintf(stdout, "\nFirst admin created (shown only this once):\n  sign in at %s/signin\n  email:    %s\n  password: %s\n\n", cfg.BaseURL, u.Email, password)
	return nil
}

func userCommand(ctx context.Context, cfg config, log *slog.Logger, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError{"user: want 'user create'"}
	}
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	email := fs.String("email", "", "email address")
	role := fs.String("role", "", "admin, staff or partner")
	partner := fs.String("partner", "", "partner name, for partner users")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{"user create: " + err.Error()}
	}
	if *email == "" || *role == "" {
		return usageError{"user create: --email and --role are required"}
	}
	password := rand.Text()
	if *fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading password from standard input: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	}
	return withDB(ctx, cfg, log, func(db *models.DB) error {
		// A password given on standard input is the user's own; a generated one, printed here
		// for someone to pass on, must be changed at the first sign-in.
		in := models.NewUser{Email: *email, Role: *role, Password: password, OwnPassword: *fromStdin}
		if *partner != "" {
			p, err := db.FindPartnerByName(ctx, *partner)
			if errors.Is(err, models.ErrNotFound) {
				return fmt.Errorf("no partner named %q: create it in the web UI first", *partner)
			} else if err != nil {
				return err
			}
			in.PartnerID = p.ID
		}
		u, err := db.CreateUser(ctx, models.CommandLine, in)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created %s user %s\n", u.Role, u.Email)
		if !*fromStdin {
			fmt.Fprintf(stdout, "password (shown only this once): %s\n", password)
		}
		return nil
	})
}

func apiKeyCommand(ctx context.Context, cfg config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError{"apikey: want 'apikey create'"}
	}
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("name", "", "who or what uses the key")
	scope := fs.String("scope", "", "ingest or admin")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{"apikey create: " + err.Error()}
	}
	if *name == "" || *scope == "" {
		return usageError{"apikey create: --name and --scope are required"}
	}
	return withDB(ctx, cfg, log, func(db *models.DB) error {
		_, plain, err := db.CreateAPIKey(ctx, models.CommandLine, *name, *scope)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, plain)
		return nil
	})
}
