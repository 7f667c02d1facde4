package mfa

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tool returns the path of an independent implementation installed from
// Debian, or skips (fails under CI=true, where .ci/run installs it).
func tool(t *testing.T, name, pkg string) string {
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed: CI must run the interop tests (.ci/run installs %s)", name, pkg)
	}
	t.Skipf("skipping: install Debian's %s to cross-check against %s", pkg, name)
	return ""
}

// The codes this package accepts are the codes oathtool computes, for every
// algorithm and length, on random secrets and times.
func TestInteropOathtool(t *testing.T) {
	oathtool := tool(t, "oathtool", "oathtool")
	for _, alg := range []Algorithm{SHA1, SHA256, SHA512} {
		for _, digits := range []int{6, 8} {
			p := totpParams{alg: alg, digits: digits, period: 30 * time.Second, skew: 1}
			for i := 0; i < 8; i++ {
				secret, err := p.newSecret(rand.Reader)
				require.NoError(t, err)
				n, err := rand.Int(rand.Reader, big.NewInt(4_000_000_000))
				require.NoError(t, err)
				at := time.Unix(n.Int64(), 0)
				out, err := exec.Command(oathtool, "--totp="+alg.String(), "-d", fmt.Sprint(digits), "-b",
					"-N", fmt.Sprintf("@%d", at.Unix()), base32NoPad.EncodeToString(secret)).CombinedOutput()
				require.NoError(t, err, string(out))
				theirs := strings.TrimSpace(string(out))

				value, ok, err := p.parseCode(theirs)
				require.NoError(t, err)
				require.True(t, ok)
				assert.Equal(t, p.step(at), p.match(secret, value, at, nil), "%s/%d: oathtool's code %s is accepted at its step", alg, digits, theirs)
				mac := hmac.New(alg.hash(), secret)
				assert.Equal(t, theirs, fmt.Sprintf("%0*d", digits, hotp(mac, uint64(p.step(at)), digits, nil)))
			}
		}
	}
}

// The setup QR code decodes with zbarimg to exactly the otpauth URI.
func TestInteropZbarimg(t *testing.T) {
	zbarimg := tool(t, "zbarimg", "zbar-tools")
	dir := t.TempDir()
	for i, c := range []struct {
		alg     Algorithm
		digits  int
		issuer  string
		account string
	}{
		{SHA1, 6, "Example", "alice@example.com"},
		{SHA256, 8, "Example & Co", "bob+tag@example.org"},
		{SHA512, 8, "Ünïcode Bank", "用户@example.cn"},
	} {
		p := totpParams{alg: c.alg, digits: c.digits, period: 30 * time.Second}
		secret, err := p.newSecret(rand.Reader)
		require.NoError(t, err)
		uri := p.keyURI(c.issuer, c.account, secret)
		png, err := qrPNG(uri)
		require.NoError(t, err)
		file := filepath.Join(dir, fmt.Sprintf("qr%d.png", i))
		require.NoError(t, os.WriteFile(file, png, 0o644))
		cmd := exec.CommandContext(context.Background(), zbarimg, "--raw", "-q", file)
		var stderr strings.Builder
		cmd.Stderr = &stderr // zbarimg chats about D-Bus there
		out, err := cmd.Output()
		require.NoError(t, err, stderr.String())
		assert.Equal(t, uri, strings.TrimSuffix(string(out), "\n"))
	}
}
