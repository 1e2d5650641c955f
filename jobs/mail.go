package jobs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hookrelay/hookrelay/models"
	gomail "github.com/wneessen/go-mail"
)

// MailConfig is how mail to partner contacts goes out. A zero SMTP means no mail.
type MailConfig struct {
	// SMTP is the server of HOOKRELAY_SMTP_URL; nil: no mail is sent (and none is queued).
	SMTP *SMTPServer
	// From is HOOKRELAY_MAIL_FROM.
	From string
	// BaseURL is the public URL that links in mails start with.
	BaseURL string
	// Timeout bounds one SMTP conversation (default 30 s).
	Timeout time.Duration
	// Retry is the schedule of tries after a failed one; when it runs out the mail is failed
	// (default 30 s doubling to 1 h, for about 5 days, as mail servers give up).
	Retry RetryPolicy
	// PollInterval bounds how long a mail queued by another instance waits when its
	// notification is missed (default 5 s).
	PollInterval time.Duration
	// TLS, when set, replaces the TLS settings (tests trust their own certificate with it).
	TLS *tls.Config
}

// SMTPServer is a parsed HOOKRELAY_SMTP_URL.
type SMTPServer struct {
	Host     string
	Port     int
	TLS      bool // smtps: TLS from the first byte; smtp: STARTTLS when the server offers it
	User     string
	Password string
}

// String shows the server without its password, for logs.
func (s SMTPServer) String() string {
	scheme := "smtp"
	if s.TLS {
		scheme = "smtps"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(s.Host, strconv.Itoa(s.Port))}
	if s.User != "" {
		u.User = url.User(s.User)
	}
	return u.String()
}

// ParseSMTPURL reads smtp://user:password@host:port or smtps://...; the port defaults to 587
// (submission) for smtp and 465 for smtps. The error never repeats the password.
func ParseSMTPURL(raw string) (*SMTPServer, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL; want smtp://user:password@host:port or smtps://...")
	}
	s := &SMTPServer{Host: u.Hostname()}
	switch u.Scheme {
	case "smtp":
		s.Port = 587
	case "smtps":
		s.Port, s.TLS = 465, true
	default:
		return nil, fmt.Errorf("scheme %q: want smtp:// or smtps://", u.Scheme)
	}
	if s.Host == "" {
		return nil, errors.New("no host; want smtp://user:password@host:port")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port %q: want 1 to 65535", p)
		}
		s.Port = n
	}
	if u.User != nil {
		s.User = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, errors.New("a path or query means nothing here; want smtp://user:password@host:port")
	}
	return s, nil
}

// DefaultMailRetry retries a mail for about 5 days, as mail servers do before they give up
// (RFC 5321 4.5.4.1).
var DefaultMailRetry = RetryPolicy{Base: 30 * time.Second, Max: time.Hour, Count: 120}

// mailer sends the queued mails; one per runner, in a loop of its own, so that a slow or
// hanging mail server never holds up a delivery.
type mailer struct {
	cfg    MailConfig
	client func() (*gomail.Client, error)
}

func newMailer(cfg MailConfig) *mailer {
	if cfg.SMTP == nil {
		return nil
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Retry.Base <= 0 {
		cfg.Retry = DefaultMailRetry
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	m := &mailer{cfg: cfg}
	m.client = func() (*gomail.Client, error) {
		s := cfg.SMTP
		opts := []gomail.Option{gomail.WithPort(s.Port), gomail.WithTimeout(cfg.Timeout), gomail.WithTLSPortPolicy(gomail.TLSOpportunistic)}
		if s.TLS {
			opts = append(opts, gomail.WithSSL())
		}
		if cfg.TLS != nil {
			opts = append(opts, gomail.WithTLSConfig(cfg.TLS))
		}
		if s.User != "" {
			opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(s.User), gomail.WithPassword(s.Password))
		}
		return gomail.NewClient(s.Host, opts...)
	}
	return m
}

// lease is how long a claimed mail stays with a live instance: past the conversation's
// timeout, so that only a stuck instance loses it.
func (m *mailer) lease() time.Duration { return 2*m.cfg.Timeout + 10*time.Second }

// send makes one SMTP conversation for one mail.
func (m *mailer) send(ctx context.Context, ml models.Mail) error {
	msg, err := m.compose(ml)
	if err != nil {
		return err
	}
	c, err := m.client()
	if err != nil {
		return fmt.Errorf("setting up the SMTP client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	return c.DialAndSendWithContext(ctx, msg)
}

// oneLine keeps text that goes into a mail on one line: a webhook name with a line break
// cannot add a header, nor fake a line of the body.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsControl(r) }), " ")
}

// MailText is the subject and plain-text body of a mail about a webhook. Nothing secret is in
// it: not the URL (whose path or query may carry a token), only its page's link.
func MailText(ml models.Mail, baseURL string) (subject, body string) {
	name, partner := oneLine(ml.WebhookName), oneLine(ml.PartnerName)
	since := ml.Since.UTC().Format("2006-01-02 15:04:05 UTC")
	link := strings.TrimRight(baseURL, "/") + "/webhooks/" + url.PathEscape(ml.WebhookID)
	var b strings.Builder
	if ml.Kind == models.MailWebhookEnabled {
		subject = fmt.Sprintf("Webhook %q is enabled again", name)
		fmt.Fprintf(&b, "The webhook %q of %s is enabled again: deliveries to it resume.\n\n", name, partner)
	} else {
		subject = fmt.Sprintf("Webhook %q is disabled", name)
		fmt.Fprintf(&b, "The webhook %q of %s is disabled: nothing is delivered to it until it is enabled again.\n"+
			"Changes for it keep being collected meanwhile.\n\n", name, partner)
	}
	fmt.Fprintf(&b, "Webhook: %s (%s)\n", name, ml.WebhookID)
	if ml.Reason != "" {
		fmt.Fprintf(&b, "Why:     %s\n", oneLine(ml.Reason))
	}
	fmt.Fprintf(&b, "Since:   %s\n", since)
	fmt.Fprintf(&b, "Page:    %s\n\n", link)
	if ml.Kind == models.MailWebhookDisabled {
		b.WriteString("Once the endpoint works again, ask your hookrelay contact to enable the webhook; you choose then\n" +
			"whether the changes collected meanwhile are delivered.\n\n")
	}
	b.WriteString("You get this mail because this address is a contact of " + partner + " in hookrelay.\n")
	return subject, b.String()
}

func (m *mailer) compose(ml models.Mail) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(m.cfg.From); err != nil {
		return nil, fmt.Errorf("sender %q: %w", m.cfg.From, err)
	}
	if err := msg.To(ml.Recipient); err != nil {
		return nil, fmt.Errorf("recipient %q: %w", ml.Recipient, err)
	}
	subject, body := MailText(ml, m.cfg.BaseURL)
	msg.Subject(subject)
	// The same Message-ID on every try: a mail server or reader that sees a repeat (sent, but
	// the server's answer was lost) can tell it is one.
	host := "hookrelay"
	if u, err := url.Parse(m.cfg.BaseURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	msg.SetMessageIDWithValue(fmt.Sprintf("hookrelay.mail.%d.%d@%s", ml.ID, ml.CreatedAt.Unix(), host))
	msg.SetDate()
	msg.SetGenHeader("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies
	msg.SetBodyString(gomail.TypeTextPlain, body)
	return msg, nil
}

// mailLoop sends the queued mails until ctx ends: one at a time, each bounded by the mail
// timeout, on a goroutine of its own so that deliveries never wait for it.
func (r *Runner) mailLoop(ctx context.Context) {
	m := r.mailer
	select {
	case <-ctx.Done():
		return
	case <-r.alive: // claims name this instance: its row must exist first
	}
	for ctx.Err() == nil {
		// One at a time: a stopping runner then waits for one conversation at most, and the
		// other instances take the rest meanwhile.
		now := time.Now()
		ms, err := r.db.ClaimDueMails(ctx, r.id, now, 1, m.lease())
		if err != nil && ctx.Err() == nil {
			r.log.Error("claiming mails", "err", err)
		}
		for _, ml := range ms {
			r.sendMail(ml)
		}
		if len(ms) > 0 {
			continue
		}
		wait := m.cfg.PollInterval
		if next, has, err := r.db.NextMailDue(ctx); err != nil {
			if ctx.Err() == nil {
				r.log.Error("finding next mail", "err", err)
			}
		} else if has {
			wait = min(wait, max(time.Until(next), 0))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-r.mailWake:
		case <-t.C:
		}
		t.Stop()
	}
}

// sendMail sends one claimed mail and records the outcome; it runs to the end even when the
// runner is stopping, bounded by the mail timeout, so that a sent mail is recorded as sent.
func (r *Runner) sendMail(ml models.Mail) {
	m := r.mailer
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.Timeout+10*time.Second)
	defer cancel()
	log := r.log.With("mail_id", ml.ID, "webhook_id", ml.WebhookID, "kind", ml.Kind)
	err := m.send(ctx, ml)
	now := time.Now()
	var next *time.Time
	errText := ""
	if err != nil {
		errText = err.Error()
		if t, ok := m.cfg.Retry.Next(ml.Attempts, now); ok {
			next = &t
		}
	}
	if ferr := r.db.FinishMail(ctx, r.id, ml.ID, now, errText, next); ferr != nil {
		// The lease runs out and another instance tries again.
		log.Error("recording mail", "err", ferr)
		return
	}
	switch {
	case err == nil:
		log.Info("mail sent", "attempts", ml.Attempts)
	case next != nil:
		log.Warn("mail not sent; retrying", "err", err, "attempts", ml.Attempts, "next_attempt_at", next)
	default:
		log.Error("mail not sent; giving up", "err", err, "attempts", ml.Attempts)
	}
}
