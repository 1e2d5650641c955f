package jobs_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/jobs"
	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

// TestTransportErrorsInWords makes real failed requests and reads what the delivery log would
// say: plain words naming what happened and where, none of Go's error plumbing.
func TestTransportErrorsInWords(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(block) })
	// A short timeout for the server that hangs; a long one for the rest, which must fail
	// for their own reason even on a busy machine.
	quick := jobs.NewSender(testSealer, "test", 300*time.Millisecond, true)
	patient := jobs.NewSender(testSealer, "test", 20*time.Second, true)
	send := func(url string) models.AttemptResult {
		sender := patient
		if url == hanging.URL {
			sender = quick
		}
		return sender.Send(context.Background(), jobs.Request{MessageID: "msg_x", URL: url, Method: "POST", Body: []byte(`{}`), Secrets: []string{models.GenerateSecret()}})
	}

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := closed.Addr().String()
	closed.Close()

	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(plain.Close)
	selfSigned := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(selfSigned.Close)
	hangUp, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { hangUp.Close() })
	go func() {
		for {
			c, err := hangUp.Accept()
			if err != nil {
				return
			}
			// Read the request whole, then hang up without a word.
			if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
				c.Close()
			}
		}
	}()

	for _, tc := range []struct {
		name, url, want string
	}{
		{"ClosedPort", "http://" + closedAddr + "/hook", "connection refused by " + closedAddr},
		{"Hangs", hanging.URL, "timed out: " + hanging.Listener.Addr().String() + " gave no answer within 0.3 s"},
		{"TLSAgainstPlain", strings.Replace(plain.URL, "http:", "https:", 1),
			"TLS handshake with " + plain.Listener.Addr().String() + " failed: it did not answer in TLS (is it a plain http server?)"},
		{"SelfSigned", selfSigned.URL,
			"TLS handshake with " + selfSigned.Listener.Addr().String() + " failed: its certificate is not signed by a trusted authority (self-signed?)"},
		{"HangsUp", "http://" + hangUp.Addr().String(), hangUp.Addr().String() + " closed the connection without answering"},
		{"NoSuchHost", "http://no-such-host.invalid/hook", "DNS failure: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := send(tc.url)
			require.False(t, res.Success)
			require.Zero(t, res.Status)
			if strings.HasSuffix(tc.want, ": ") {
				require.True(t, strings.HasPrefix(res.Error, tc.want), res.Error)
				require.Contains(t, res.Error, "no-such-host.invalid")
			} else {
				require.Equal(t, tc.want, res.Error)
			}
			for _, plumbing := range []string{`Post "`, "dial tcp", "net/http:", "x509:", "tls:"} {
				require.NotContains(t, res.Error, plumbing)
			}
		})
	}
}
