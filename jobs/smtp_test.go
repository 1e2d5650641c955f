package jobs_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/hookrelay/hookrelay/jobs"
	"github.com/stretchr/testify/require"
)

// smtpServer is a real SMTP server on loopback (go-smtp, in the test process) that keeps what
// it accepts. refuse, when set, may answer a command with an error: it gets the command
// ("RCPT" or "DATA") and how many of that command came before, over all connections.
type smtpServer struct {
	addr       string
	user, pass string
	srv        *smtp.Server

	mu       sync.Mutex
	got      []gotMail
	commands map[string]int
	refuse   func(cmd string, n int) error
	authed   int
}

// gotMail is one accepted mail: the envelope and the parsed message.
type gotMail struct {
	From    string
	To      []string
	Header  mail.Header
	Subject string
	Body    string
	Raw     []byte
}

// startSMTP serves on addr ("127.0.0.1:0" for any port) until the test ends; its clients must
// log in as user/pass.
func startSMTP(t *testing.T, addr string, refuse func(cmd string, n int) error) *smtpServer {
	t.Helper()
	s := &smtpServer{user: "mailer", pass: "s3cret-smtp-password", refuse: refuse, commands: map[string]int{}}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &smtpSession{s: s}, nil }))
	s.srv.Domain = "localhost"
	// STARTTLS offered with a certificate the mailer trusts (mailConfig); logging in is refused
	// before it, so a mail that arrives went over TLS with the URL's credentials.
	cert, _ := smtpCert()
	s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	s.addr = ln.Addr().String()
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// url is the HOOKRELAY_SMTP_URL of the server.
func (s *smtpServer) url() string { return "smtp://" + s.user + ":" + s.pass + "@" + s.addr }

func (s *smtpServer) mails() []gotMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gotMail(nil), s.got...)
}

// mailsTo lists what reached addr, in order.
func (s *smtpServer) mailsTo(addr string) []gotMail {
	var out []gotMail
	for _, m := range s.mails() {
		for _, to := range m.To {
			if to == addr {
				out = append(out, m)
			}
		}
	}
	return out
}

func (s *smtpServer) count(cmd string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commands[cmd]
}

type smtpSession struct {
	s      *smtpServer
	authed bool
	from   string
	to     []string
}

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != ss.s.user || pass != ss.s.pass {
			return errors.New("invalid credentials")
		}
		ss.authed = true
		ss.s.mu.Lock()
		ss.s.authed++
		ss.s.mu.Unlock()
		return nil
	}), nil
}

func (ss *smtpSession) check(cmd string) error {
	ss.s.mu.Lock()
	n := ss.s.commands[cmd]
	ss.s.commands[cmd]++
	refuse := ss.s.refuse
	ss.s.mu.Unlock()
	if refuse != nil {
		return refuse(cmd, n)
	}
	return nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := ss.check("RCPT"); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := ss.check("DATA"); err != nil {
		return err
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	var body []byte
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body, err = io.ReadAll(quotedprintable.NewReader(msg.Body))
	} else {
		body, err = io.ReadAll(msg.Body)
	}
	if err != nil {
		return err
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.got = append(ss.s.got, gotMail{From: ss.from, To: append([]string(nil), ss.to...), Header: msg.Header,
		Subject: subject, Body: strings.ReplaceAll(string(body), "\r\n", "\n"), Raw: raw})
	ss.s.mu.Unlock()
	return nil
}

func (ss *smtpSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *smtpSession) Logout() error { return nil }

// refuseFirst answers the first n of cmd with code, then accepts.
func refuseFirst(cmd string, n, code int) func(string, int) error {
	return func(c string, i int) error {
		if c == cmd && i < n {
			return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: "not now"}
		}
		return nil
	}
}

// smtpCert is the test server's certificate (httptest's, for 127.0.0.1) and a pool that
// trusts it.
var smtpCert = sync.OnceValues(func() (tls.Certificate, *x509.CertPool) {
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	defer ts.Close()
	return ts.TLS.Certificates[0], ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
})

// mailConfig is a fast mail schedule for tests, to the server at smtpURL.
func mailConfig(t *testing.T, smtpURL string) jobs.MailConfig {
	t.Helper()
	s, err := jobs.ParseSMTPURL(smtpURL)
	require.NoError(t, err)
	_, pool := smtpCert()
	return jobs.MailConfig{SMTP: s, From: "hookrelay <noreply@hookrelay.test>", BaseURL: "https://hookrelay.test",
		TLS:     &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12},
		Timeout: 5 * time.Second, Retry: jobs.RetryPolicy{Base: 50 * time.Millisecond, Max: 200 * time.Millisecond, Count: 100},
		PollInterval: 200 * time.Millisecond}
}
