package main

import (
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRelyingParty: the RP ID is the host of the first origin whose host
// is a name; keys work on the origins on that host or below it. By
// default (http://ADDR and http://localhost:PORT) that is localhost, on
// http://localhost:PORT only; with no host name at all there are no keys.
func TestRelyingParty(t *testing.T) {
	for _, tc := range []struct {
		origins string
		rpID    string
		keysOn  []string
		skipped []string
	}{
		{"http://127.0.0.1:8080,http://localhost:8080", "localhost", []string{"http://localhost:8080"}, []string{"http://127.0.0.1:8080"}},
		{"http://localhost:8080,http://localhost:8081", "localhost", []string{"http://localhost:8080", "http://localhost:8081"}, nil},
		{"https://app.example.com", "app.example.com", []string{"https://app.example.com"}, nil},
		{"http://192.0.2.10:8080, https://example.com, https://login.example.com:8443, https://example.org", "example.com",
			[]string{"https://example.com", "https://login.example.com:8443"}, []string{"http://192.0.2.10:8080", "https://example.org"}},
		{"http://[::1]:8080,http://localhost:8080", "localhost", []string{"http://localhost:8080"}, []string{"http://[::1]:8080"}},
	} {
		o, err := parseOrigins(tc.origins)
		require.NoError(t, err)
		rp, skipped, ok := relyingParty(o, "MFA Demo")
		require.True(t, ok, tc.origins)
		assert.Equal(t, tc.rpID, rp.RPID, tc.origins)
		assert.Equal(t, "MFA Demo", rp.RPDisplayName)
		assert.Equal(t, tc.keysOn, rp.Origins, tc.origins)
		assert.Equal(t, tc.skipped, skipped, tc.origins)
		wa, err := newWebAuthn(o, "MFA Demo", slog.New(slog.NewTextHandler(io.Discard, nil)))
		require.NoError(t, err, tc.origins)
		assert.NotNil(t, wa, tc.origins)
	}

	o, err := parseOrigins("http://192.0.2.10:8080,http://127.0.0.1:8080")
	require.NoError(t, err)
	_, _, ok := relyingParty(o, "MFA Demo")
	assert.False(t, ok, "an IP address cannot be an RP ID")
	wa, err := newWebAuthn(o, "MFA Demo", slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	assert.Nil(t, wa, "no keys, and a nil interface: the Service takes it as none")
}

// TestPageURL: the demo prints http://localhost:PORT when it listens on
// loopback or every interface and serves that origin; otherwise its
// address.
func TestPageURL(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		ip     net.IP
		origin string
		want   string
	}{
		{"127.0.0.1:0", net.IPv4(127, 0, 0, 1), "", "http://localhost:41234"},
		{"[::1]:0", net.IPv6loopback, "", "http://localhost:41234"},
		{"0.0.0.0:41234", net.IPv4zero, "", "http://localhost:41234"},
		{"127.0.0.1:0", net.IPv4(127, 0, 0, 1), "https://app.example.com", "http://127.0.0.1:41234"},
		{"192.0.2.10:41234", net.IPv4(192, 0, 2, 10), "", "http://192.0.2.10:41234"},
	} {
		cfg := config{addr: tc.addr, origin: tc.origin}
		listening := &net.TCPAddr{IP: tc.ip, Port: 41234}
		require.NoError(t, cfg.resolve(listening))
		assert.Equal(t, tc.want, cfg.pageURL(listening), "%s %s", tc.addr, tc.origin)
	}
}
