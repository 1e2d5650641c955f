package jobs

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"time"

	"code.dny.dev/ssrf"
)

// TargetPolicy decides which webhook URLs may be saved (SPEC "Targets"). The same rule is
// enforced again when connecting, since DNS answers can change after saving.
type TargetPolicy struct {
	RequireHTTPS bool
	AllowPrivate bool
	Resolver     *net.Resolver
}

// CheckURL says why rawURL cannot be a webhook target, or "" when it can.
func (p TargetPolicy) CheckURL(ctx context.Context, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "Enter an absolute http(s) URL."
	}
	if p.RequireHTTPS && u.Scheme != "https" {
		return "Use https: plain http is not allowed in production."
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		r := p.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		addrs, err = r.LookupNetIP(ctx, "ip", host)
		if err != nil || len(addrs) == 0 {
			return fmt.Sprintf("The host %q does not resolve to an address; check the spelling.", host)
		}
	}
	if p.AllowPrivate {
		return ""
	}
	g := ssrf.New(ssrf.WithAnyPort())
	for _, a := range addrs {
		if err := g.SafeAddr(a.Unmap()); err != nil {
			return fmt.Sprintf("The host %q resolves to %s, a loopback, private, link-local or other non-public address; only public addresses can receive webhooks.", host, a)
		}
	}
	return ""
}
