// Package jobs does hookrelay's background work: closing batch windows, delivering messages
// with retries, verifying endpoints and removing old data.
package jobs

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"code.dny.dev/ssrf"
	"github.com/hookrelay/hookrelay/models"
)

// MaxResponseBody is how much of a receiver's answer is kept in the delivery log.
const MaxResponseBody = 64 << 10

// Sender makes the HTTP requests of deliveries, tests and verification calls.
type Sender struct {
	client    *http.Client
	sealer    *models.Sealer
	userAgent string
	timeout   time.Duration
}

// NewSender makes a Sender. Unless allowPrivate, a dial-time guard refuses loopback, private,
// link-local and other special-purpose addresses, so that DNS answers changed after the URL was
// saved cannot point a delivery inside the network.
func NewSender(sealer *models.Sealer, version string, timeout time.Duration, allowPrivate bool) *Sender {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = ssrf.New(ssrf.WithAnyPort()).Safe
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   timeout,
		MaxIdleConns:          1000,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: timeout,
		// Headers are logged in full; the body is cut at MaxResponseBody.
		MaxResponseHeaderBytes: MaxResponseBody,
		ForceAttemptHTTP2:      true,
	}
	return &Sender{
		client: &http.Client{
			Transport: transport,
			// Redirects are answers, not instructions: a 3xx is logged and never followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		sealer:    sealer,
		userAgent: "hookrelay/" + version,
		timeout:   timeout,
	}
}

// Success reports whether a status counts as delivered: 200 to 308, the platform's published
// contract.
func Success(status int) bool { return status >= 200 && status <= 308 }

// secrets returns the secrets that sign a request to w made at now: the current one and,
// during a rotation's overlap, the previous one (the rule lives in models.Sealer.SigningSecrets).
func (s *Sender) secrets(w *models.Webhook, now time.Time) ([]string, error) {
	ss, err := s.sealer.SigningSecrets(w, now)
	if err != nil {
		return nil, err
	}
	return ss.All(), nil
}

// Request describes one HTTP request to make.
type Request struct {
	MessageID string
	WebhookID string
	Trigger   string
	URL       string
	Method    string
	Body      []byte
	// Secrets sign the request, one signature each.
	Secrets       []string
	BasicAuthUser string
	BasicAuthPass string
}

// RequestFor builds the request of a delivery to its webhook.
func (s *Sender) RequestFor(d *models.Delivery, trigger string, now time.Time) (Request, error) {
	secrets, err := s.secrets(&d.Webhook, now)
	if err != nil {
		return Request{}, err
	}
	r := Request{MessageID: d.MessageID, WebhookID: d.Webhook.ID, Trigger: trigger, URL: d.Webhook.URL + d.URLSuffix,
		Method: d.Webhook.Method, Body: d.Payload, Secrets: secrets, BasicAuthUser: d.Webhook.BasicAuthUser}
	if d.Webhook.BasicAuthPasswordEnc != nil {
		p, err := s.sealer.Open(d.Webhook.BasicAuthPasswordEnc)
		if err != nil {
			return Request{}, fmt.Errorf("opening basic-auth password of webhook %s: %w", d.Webhook.ID, err)
		}
		r.BasicAuthPass = string(p)
	}
	return r, nil
}

// Send makes one attempt and reports it; it never returns an error, because every failure is
// an outcome to record.
func (s *Sender) Send(ctx context.Context, r Request) models.AttemptResult {
	start := time.Now()
	res := models.AttemptResult{MessageID: r.MessageID, WebhookID: r.WebhookID, Trigger: r.Trigger, StartedAt: start,
		URL: r.URL, Method: r.Method}
	if res.Method == "" {
		res.Method = http.MethodPost
	}
	fail := func(err error) models.AttemptResult {
		res.Duration = time.Since(start)
		res.Error = DescribeError(err, s.timeout)
		return res
	}
	sig, err := Sign(r.Secrets, r.MessageID, start, r.Body)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, res.Method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return fail(fmt.Errorf("invalid URL: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.userAgent)
	req.Header.Set("webhook-id", r.MessageID)
	req.Header.Set("webhook-timestamp", fmt.Sprint(start.Unix()))
	req.Header.Set("webhook-signature", sig)
	if r.BasicAuthUser != "" || r.BasicAuthPass != "" {
		req.SetBasicAuth(r.BasicAuthUser, r.BasicAuthPass)
	}
	res.RequestHeaders = req.Header.Clone()
	if res.RequestHeaders.Get("Authorization") != "" {
		res.RequestHeaders.Set("Authorization", "Basic [redacted]")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody+1))
	res.Duration = time.Since(start)
	res.Status = resp.StatusCode
	res.ResponseHeaders = resp.Header
	if len(body) > MaxResponseBody {
		body, res.Truncated = body[:MaxResponseBody], true
	}
	res.ResponseBody = body
	res.Success = Success(resp.StatusCode)
	if err != nil && !res.Truncated {
		res.Error = "reading the answer: " + DescribeError(err, s.timeout)
	}
	if resp.StatusCode >= 300 && resp.StatusCode <= 308 {
		res.Error = "redirect, not followed"
		if loc := resp.Header.Get("Location"); loc != "" {
			res.Error += " (Location: " + truncate(loc, 300) + ")"
		}
	}
	return res
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// RetryPolicy is the fixed exponential schedule of SPEC "Delivery"; it lives with the messages
// it schedules.
type RetryPolicy = models.RetryPolicy
