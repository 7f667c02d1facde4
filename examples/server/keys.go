package main

import (
	"log/slog"
	"net"
	"net/url"
	"strings"

	"github.com/identsphere/mfa"
	mfawebauthn "github.com/identsphere/mfa/webauthn"
)

// Security keys and passkeys (WebAuthn) need a relying party: an RP ID,
// which is a host name and never an IP address, and the origins whose
// pages may run the ceremonies. The demo takes both from its origins
// (-origin, by default http://ADDR and http://localhost:PORT):
//
//   - the RP ID is the host of the first origin whose host is a name, not
//     an IP address: localhost by default, app.example.com for
//     -origin https://app.example.com;
//   - keys work on the origins whose host is the RP ID or a name below it;
//     on the others (an IP address, another domain) the demo logs that
//     they do not.
//
// When no origin has a host name, the demo runs without security keys.
// Replicas that share a database must be started with the same -origin, so
// that a ceremony begun on one finishes on another: the origin of the page
// is checked by the instance that finishes the ceremony.

// relyingParty derives the WebAuthn relying party from the origins; ok is
// false when none of them has a host name. skipped lists the origins on
// which keys do not work.
func relyingParty(o *origins, displayName string) (rp mfawebauthn.Config, skipped []string, ok bool) {
	for _, origin := range o.list {
		if host := hostOf(origin); host != "" && net.ParseIP(host) == nil {
			rp.RPID = host
			break
		}
	}
	if rp.RPID == "" {
		return mfawebauthn.Config{}, o.list, false
	}
	rp.RPDisplayName = displayName
	for _, origin := range o.list {
		if host := hostOf(origin); host == rp.RPID || strings.HasSuffix(host, "."+rp.RPID) {
			rp.Origins = append(rp.Origins, origin)
		} else {
			skipped = append(skipped, origin)
		}
	}
	return rp, skipped, true
}

// newWebAuthn returns the WebAuthn of the Service (mfa.Config.WebAuthn)
// for the origins, or nil when keys cannot work on any of them.
func newWebAuthn(o *origins, displayName string, logger *slog.Logger) (mfa.WebAuthn, error) {
	rp, skipped, ok := relyingParty(o, displayName)
	if !ok {
		logger.Warn("security keys are off: no origin has a host name, and an IP address cannot be a WebAuthn RP ID; serve the pages on a name (-origin http://localhost:PORT or https://app.example.com)",
			"origins", strings.Join(o.list, ","))
		return nil, nil
	}
	wa, err := mfawebauthn.New(rp)
	if err != nil {
		return nil, err
	}
	logger.Info("security keys and passkeys", "rp_id", rp.RPID, "origins", strings.Join(rp.Origins, ","),
		"not_on", strings.Join(skipped, ","))
	for _, origin := range skipped {
		if net.ParseIP(hostOf(origin)) == nil {
			// An IP address is expected there (the default http://ADDR);
			// another domain is a configuration to look at.
			logger.Warn("security keys do not work on pages at this origin: its host is not the RP ID or a name below it",
				"rp_id", rp.RPID, "origin", origin)
		}
	}
	return wa, nil
}

// hostOf returns the host of an origin of parseOrigins, without brackets
// around an IPv6 address.
func hostOf(origin string) string {
	u, err := url.Parse(origin)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// pageURL is the address the demo prints for people to open. When it
// listens on loopback (or on every interface) and serves
// http://localhost:PORT, that is the one: security keys need the pages on
// a host name, not on 127.0.0.1. Otherwise it is http://ADDR.
func (cfg *config) pageURL(listening net.Addr) string {
	host, port, _ := net.SplitHostPort(listening.String())
	local := "http://localhost:" + port
	ip := net.ParseIP(host)
	if ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) && cfg.origins.allowed(local) {
		return local
	}
	return "http://" + listening.String()
}
