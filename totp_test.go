package mfa

import (
	"crypto/hmac"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	pqhotp "github.com/pquerna/otp/hotp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RFC 6238 Appendix B: each algorithm with its own seed length.
var rfc6238Seeds = map[Algorithm][]byte{
	SHA1:   []byte("12345678901234567890"),
	SHA256: []byte("12345678901234567890123456789012"),
	SHA512: []byte("1234567890123456789012345678901234567890123456789012345678901234"),
}

var rfc6238Vectors = []struct {
	unix int64
	alg  Algorithm
	code string
}{
	{59, SHA1, "94287082"}, {59, SHA256, "46119246"}, {59, SHA512, "90693936"},
	{1111111109, SHA1, "07081804"}, {1111111109, SHA256, "68084774"}, {1111111109, SHA512, "25091201"},
	{1111111111, SHA1, "14050471"}, {1111111111, SHA256, "67062674"}, {1111111111, SHA512, "99943326"},
	{1234567890, SHA1, "89005924"}, {1234567890, SHA256, "91819424"}, {1234567890, SHA512, "93441116"},
	{2000000000, SHA1, "69279037"}, {2000000000, SHA256, "90698825"}, {2000000000, SHA512, "38618901"},
	{20000000000, SHA1, "65353130"}, {20000000000, SHA256, "77737706"}, {20000000000, SHA512, "47863826"},
}

func TestRFC6238Vectors(t *testing.T) {
	require.Len(t, rfc6238Vectors, 18)
	for _, v := range rfc6238Vectors {
		t.Run(fmt.Sprintf("%s/%d", v.alg, v.unix), func(t *testing.T) {
			p := totpParams{alg: v.alg, digits: 8, period: 30 * time.Second, skew: 0}
			now := time.Unix(v.unix, 0)
			value, ok, err := p.parseCode(v.code)
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, p.step(now), p.match(rfc6238Seeds[v.alg], value, now, nil))

			mac := hmac.New(v.alg.hash(), rfc6238Seeds[v.alg])
			assert.Equal(t, v.code, fmt.Sprintf("%08d", hotp(mac, uint64(p.step(now)), 8, nil)))
		})
	}
}

func TestRFC4226Vectors(t *testing.T) {
	want := []uint32{755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489}
	mac := hmac.New(SHA1.hash(), []byte("12345678901234567890"))
	for counter, code := range want {
		assert.Equal(t, code, hotp(mac, uint64(counter), 6, nil), "counter %d", counter)
	}
}

// Our HMAC path agrees with pquerna/otp on random secrets and times.
func TestHOTPMatchesPquerna(t *testing.T) {
	for _, alg := range []Algorithm{SHA1, SHA256, SHA512} {
		for _, digits := range []int{6, 8} {
			p := totpParams{alg: alg, digits: digits, period: 30 * time.Second}
			for i := 0; i < 50; i++ {
				secret, err := p.newSecret(rand.Reader)
				require.NoError(t, err)
				counter := uint64(i) * 7919
				want, err := pqhotp.GenerateCodeCustom(base32NoPad.EncodeToString(secret), counter, pqhotp.ValidateOpts{Digits: otp.Digits(digits), Algorithm: otpAlgorithm(alg)})
				require.NoError(t, err)
				mac := hmac.New(alg.hash(), secret)
				assert.Equal(t, want, fmt.Sprintf("%0*d", digits, hotp(mac, counter, digits, nil)))
			}
		}
	}
}

func TestParseCode(t *testing.T) {
	p := totpParams{digits: 6}
	for _, c := range []struct {
		in       string
		value    uint32
		ok       bool
		badInput bool
	}{
		{"123456", 123456, true, false},
		{" 012345\t", 12345, true, false},
		{"", 0, false, true},
		{"12345", 0, false, true},
		{"123456789", 0, false, true},
		{"   12345   ", 0, false, true},
		{"12 456", 0, false, false},  // inner space: right length, not a code
		{"12345a", 0, false, false},  // non-digit
		{"1234567", 0, false, false}, // 7 digits with 6 configured
		{"١٢٣٤٥٦", 0, false, false},  // six Arabic-Indic digits: 6 characters, not a code
		{"1234é", 0, false, true},    // 5 characters in 6 bytes
		{"12345\u0661", 0, false, false},
	} {
		value, ok, err := p.parseCode(c.in)
		if c.badInput {
			assert.ErrorIs(t, err, ErrInvalidInput, "%q", c.in)
			continue
		}
		assert.NoError(t, err, "%q", c.in)
		assert.Equal(t, c.ok, ok, "%q", c.in)
		assert.Equal(t, c.value, value, "%q", c.in)
	}
}

func TestMatchWindow(t *testing.T) {
	p := totpParams{alg: SHA1, digits: 6, period: 30 * time.Second, skew: 1}
	secret := rfc6238Seeds[SHA1]
	now := time.Unix(1_700_000_000, 0)
	mac := hmac.New(SHA1.hash(), secret)
	step := p.step(now)
	for offset := int64(-3); offset <= 3; offset++ {
		code := hotp(mac, uint64(step+offset), 6, nil)
		got := p.match(secret, code, now, nil)
		if offset >= -1 && offset <= 1 {
			assert.Equal(t, step+offset, got, "offset %d accepted", offset)
		} else {
			assert.Equal(t, int64(-1), got, "offset %d refused", offset)
		}
	}
	p.skew = 0
	assert.Equal(t, int64(-1), p.match(secret, hotp(mac, uint64(step-1), 6, nil), now, nil))
}

func TestSecretSizeFollowsAlgorithm(t *testing.T) {
	for alg, size := range map[Algorithm]int{SHA1: 20, SHA256: 32, SHA512: 64} {
		secret, err := totpParams{alg: alg}.newSecret(rand.Reader)
		require.NoError(t, err)
		assert.Len(t, secret, size, "%s", alg)
	}
}

func TestKeyURI(t *testing.T) {
	p := totpParams{alg: SHA256, digits: 8, period: 30 * time.Second}
	secret := rfc6238Seeds[SHA256]
	uri := p.keyURI("Example Corp", "alice@example.com", secret)
	key, err := otp.NewKeyFromURL(uri)
	require.NoError(t, err)
	assert.Equal(t, "totp", key.Type())
	assert.Equal(t, "Example Corp", key.Issuer())
	assert.Equal(t, "alice@example.com", key.AccountName())
	assert.Equal(t, base32NoPad.EncodeToString(secret), key.Secret())
	assert.NotContains(t, key.Secret(), "=")
	assert.Equal(t, otp.AlgorithmSHA256, key.Algorithm())
	assert.Equal(t, otp.DigitsEight, key.Digits())
	assert.EqualValues(t, 30, key.Period())
	assert.True(t, strings.HasPrefix(uri, "otpauth://totp/Example%20Corp:alice@example.com?"), uri)
}

// otpAlgorithm maps an Algorithm to pquerna/otp's, the independent
// implementation the tests check against.
func otpAlgorithm(a Algorithm) otp.Algorithm {
	switch a {
	case SHA256:
		return otp.AlgorithmSHA256
	case SHA512:
		return otp.AlgorithmSHA512
	}
	return otp.AlgorithmSHA1
}
