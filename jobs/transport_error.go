package jobs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// DescribeError words a failed request (no answer, or an answer cut off) for the people who
// read the delivery log: "connection refused by 127.0.0.1:18401" rather than Go's
// `Post "http://…": dial tcp 127.0.0.1:18401: connect: connection refused`. Staff read it out
// to a partner on the phone, so it names what happened and where, and keeps Go's wording only
// for failures it does not know. timeout is the delivery timeout the request ran under.
func DescribeError(err error, timeout time.Duration) string {
	host := ""
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			host = u.Host
		}
	}
	addr := host
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Addr != nil {
		addr = oe.Addr.String()
	}
	var dnsErr *net.DNSError
	var recordErr tls.RecordHeaderError
	var unknownCA x509.UnknownAuthorityError
	var wrongHost x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	var alert tls.AlertError
	var ne net.Error
	switch {
	case errors.Is(err, ssrf.ErrProhibitedIP), errors.Is(err, ssrf.ErrProhibitedNetwork), errors.Is(err, ssrf.ErrProhibitedPort):
		return fmt.Sprintf("refused to connect: %s is a private, loopback or otherwise not public address", addr)
	case errors.As(err, &dnsErr):
		switch {
		case dnsErr.IsNotFound:
			return fmt.Sprintf("DNS failure: the host %s does not exist (no address found)", dnsErr.Name)
		case dnsErr.IsTimeout:
			return fmt.Sprintf("DNS failure: looking up %s timed out", dnsErr.Name)
		default:
			return fmt.Sprintf("DNS failure: looking up %s failed (%s)", dnsErr.Name, dnsErr.Err)
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused by " + addr
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by " + addr
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to " + addr
	case errors.As(err, &recordErr), errors.Is(err, http.ErrSchemeMismatch):
		return fmt.Sprintf("TLS handshake with %s failed: it did not answer in TLS (is it a plain http server?)", addr)
	case errors.As(err, &unknownCA):
		return fmt.Sprintf("TLS handshake with %s failed: its certificate is not signed by a trusted authority (self-signed?)", addr)
	case errors.As(err, &wrongHost):
		return fmt.Sprintf("TLS handshake with %s failed: its certificate is for %s, not for this host", addr, certNames(wrongHost.Certificate))
	case errors.As(err, &invalidCert):
		if invalidCert.Reason == x509.Expired {
			return fmt.Sprintf("TLS handshake with %s failed: its certificate has expired or is not valid yet", addr)
		}
		return fmt.Sprintf("TLS handshake with %s failed: its certificate is not valid (%s)", addr, invalidCert.Error())
	case errors.As(err, &alert):
		return fmt.Sprintf("TLS handshake with %s failed: the server refused it (%s)", addr, alert.Error())
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		if oe != nil && oe.Op == "dial" {
			return fmt.Sprintf("timed out: could not connect to %s within %s", addr, seconds(timeout))
		}
		return fmt.Sprintf("timed out: %s gave no answer within %s", addr, seconds(timeout))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("%s closed the connection without answering", addr)
	case ue != nil:
		return ue.Err.Error()
	default:
		return err.Error()
	}
}

func certNames(c *x509.Certificate) string {
	if c == nil {
		return "another host"
	}
	if len(c.DNSNames) > 0 {
		return strings.Join(c.DNSNames, ", ")
	}
	if len(c.IPAddresses) > 0 {
		ips := make([]string, len(c.IPAddresses))
		for i, ip := range c.IPAddresses {
			ips[i] = ip.String()
		}
		return strings.Join(ips, ", ")
	}
	return c.Subject.CommonName
}

// seconds words a duration as people read it: "15 s", "0.3 s".
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s"
}
