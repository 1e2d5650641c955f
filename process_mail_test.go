package main

import (
	"context"
	"io"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/models/dbtest"
	"github.com/stretchr/testify/require"
)

// inbox is an SMTP server in the test process that keeps every message it accepts.
type inbox struct {
	mu   sync.Mutex
	msgs []string // recipient, then the raw message
}

func (in *inbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &inboxSession{in: in}, nil }

func (in *inbox) received() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.msgs...)
}

type inboxSession struct {
	in *inbox
	to []string
}

func (s *inboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *inboxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *inboxSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	s.in.msgs = append(s.in.msgs, strings.Join(s.to, ",")+"\n"+string(b))
	return nil
}
func (s *inboxSession) Reset()        { s.to = nil }
func (s *inboxSession) Logout() error { return nil }

// TestMailFromTheBinary: hookrelay started with HOOKRELAY_SMTP_URL mails the partner's contact
// when a delivery answered 410 disables the webhook, with a link to the webhook's page, and
// says at start where mail goes; started without it, it says once that contacts are not
// mailed. The wiring of main.go, from the settings to the mail loop.
func TestMailFromTheBinary(t *testing.T) {
	ctx := context.Background()
	db := dbtest.DB(t)
	in := &inbox{}
	srv := smtp.NewServer(in)
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) }))
	defer gone.Close()
	webhookID := mustEventWebhook(t, gone.URL)
	w, err := db.FindWebhookByID(ctx, webhookID)
	require.NoError(t, err)
	contact := "ops-" + strings.ToLower(models.NewID("")[20:]) + "@partner.example"
	_, err = db.UpdatePartner(ctx, models.System, w.PartnerID, models.PartnerInput{ContactEmails: &[]string{contact}})
	require.NoError(t, err)

	inst := startInstance(t, "HOOKRELAY_SMTP_URL=smtp://"+ln.Addr().String(), "HOOKRELAY_MAIL_FROM=hookrelay@example.test")
	require.NotNil(t, postBatch(inst.url, mustIngestKey(t), 1, "mail"), "log:\n%s", inst.out.String())
	deadline := time.Now().Add(30 * time.Second)
	var got string
	for got == "" {
		for _, m := range in.received() {
			if strings.HasPrefix(m, contact+"\n") {
				got = m
			}
		}
		require.True(t, time.Now().Before(deadline), "no mail to %s; received %d mails; log:\n%s", contact, len(in.received()), inst.out.String())
		time.Sleep(20 * time.Millisecond)
	}
	msg, err := mail.ReadMessage(strings.NewReader(strings.SplitN(got, "\n", 2)[1]))
	require.NoError(t, err)
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	require.NoError(t, err)
	require.Equal(t, `Webhook "hook" is disabled`, msg.Header.Get("Subject"))
	require.Contains(t, string(body), "Page:    "+inst.url+"/webhooks/"+webhookID+"\r\n", "the link starts with the base URL")
	require.Contains(t, string(body), "Why:     "+models.GoneReason+"\r\n")
	require.Contains(t, inst.out.String(), "mail to partner contacts")
	require.NotContains(t, inst.out.String(), "HOOKRELAY_SMTP_URL is not set")

	off := startInstance(t)
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(off.out.String(), "HOOKRELAY_SMTP_URL is not set") {
		require.True(t, time.Now().Before(deadline), "no word about mail being off:\n%s", off.out.String())
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, 1, strings.Count(off.out.String(), "HOOKRELAY_SMTP_URL is not set"), "said once")
}
