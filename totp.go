package mfa

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Algorithm is the HMAC hash of the TOTP codes (RFC 6238 section 1.2).
type Algorithm int

// The algorithms authenticator apps support. The zero value is SHA1, the
// only one every app supports.
const (
	SHA1 Algorithm = iota
	SHA256
	SHA512
)

// String returns the name used in otpauth URIs: "SHA1", "SHA256" or "SHA512".
func (a Algorithm) String() string {
	switch a {
	case SHA1:
		return "SHA1"
	case SHA256:
		return "SHA256"
	case SHA512:
		return "SHA512"
	}
	return fmt.Sprintf("Algorithm(%d)", int(a))
}

func (a Algorithm) valid() bool { return a >= SHA1 && a <= SHA512 }

// hash returns the constructor of the algorithm's hash.
func (a Algorithm) hash() func() hash.Hash {
	switch a {
	case SHA256:
		return sha256.New
	case SHA512:
		return sha512.New
	}
	return sha1.New
}

// secretSize is the HMAC output size, the secret length RFC 4226 section 4
// recommends (pquerna/otp would use 20 bytes for every algorithm).
func (a Algorithm) secretSize() int {
	switch a {
	case SHA256:
		return sha256.Size
	case SHA512:
		return sha512.Size
	}
	return sha1.Size
}

// base32NoPad is the secret's text form in otpauth URIs and for manual entry.
var base32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)

// totpParams are the code parameters fixed by Config.
type totpParams struct {
	alg    Algorithm
	digits int
	period time.Duration
	skew   int
}

// newSecret reads a fresh secret of the algorithm's HMAC size from r.
func (p totpParams) newSecret(r io.Reader) ([]byte, error) {
	secret := make([]byte, p.alg.secretSize())
	if _, err := io.ReadFull(r, secret); err != nil {
		return nil, fmt.Errorf("mfa: reading random secret: %w", err)
	}
	return secret, nil
}

// keyURI returns the otpauth URI that enrols secret in an authenticator app
// (the Key Uri Format of Google Authenticator): otpauth://totp/ISSUER:ACCOUNT
// ?secret=…&issuer=…&algorithm=…&digits=…&period=…. It is built here
// rather than by pquerna/otp, whose query encoding leaves '&' in an issuer
// unescaped. checkLabel has vetted issuer and account.
func (p totpParams) keyURI(issuer, account string, secret []byte) string {
	label := url.URL{Path: "/" + issuer + ":" + account} // escapes the path as a URL must
	var b strings.Builder
	b.WriteString("otpauth://totp")
	b.WriteString(label.EscapedPath())
	b.WriteString("?secret=")
	b.WriteString(base32NoPad.EncodeToString(secret))
	b.WriteString("&issuer=")
	b.WriteString(strings.ReplaceAll(url.QueryEscape(issuer), "+", "%20"))
	b.WriteString("&algorithm=")
	b.WriteString(p.alg.String())
	b.WriteString("&digits=")
	b.WriteString(strconv.Itoa(p.digits))
	b.WriteString("&period=")
	b.WriteString(strconv.Itoa(int(p.period / time.Second)))
	return b.String()
}

// checkLabel validates an issuer or account name for the otpauth label
// "issuer:account": non-empty, at most 255 bytes of UTF-8 without ':' (it
// would make the label ambiguous) or control characters (apps show them
// raw).
func checkLabel(field, s string) error {
	if s == "" || len(s) > 255 || !utf8.ValidString(s) {
		return &InputError{Field: field, Problem: field + " must be 1 to 255 bytes of UTF-8"}
	}
	for _, r := range s {
		if r == ':' {
			return &InputError{Field: field, Problem: field + " may not contain ':'"}
		}
		if unicode.IsControl(r) {
			return &InputError{Field: field, Problem: field + " may not contain control characters"}
		}
	}
	return nil
}

// step returns the RFC 6238 time step of t.
func (p totpParams) step(t time.Time) int64 {
	return t.Unix() / int64(p.period/time.Second)
}

// parseCode checks the shape of a submitted TOTP code. Surrounding white
// space is trimmed. A code shorter than 6 or longer than 8 characters (not
// bytes) is invalid input; a code of the right length that is not all ASCII
// digits, or has fewer or more digits than configured, parses as ok=false,
// which the caller treats as a wrong code.
func (p totpParams) parseCode(code string) (value uint32, ok bool, err error) {
	code = strings.TrimSpace(code)
	if n := utf8.RuneCountInString(code); n < 6 || n > 8 {
		return 0, false, &InputError{Field: "code", Problem: "code must be 6 to 8 digits"}
	}
	if len(code) != p.digits {
		return 0, false, nil
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if c < '0' || c > '9' {
			return 0, false, nil
		}
		value = value*10 + uint32(c-'0')
	}
	return value, true, nil
}

// match returns the time step within ±skew of now whose code equals value,
// or -1. Every step is computed and compared in constant time, whether an
// earlier one matched or not. When two steps match (a one-in-a-million
// collision) the later one wins, which a replay check then holds against
// the newest step.
// buf is scratch space for hotp.
func (p totpParams) match(secret []byte, value uint32, now time.Time, buf []byte) int64 {
	mac := hmac.New(p.alg.hash(), secret)
	center := p.step(now)
	matched := int64(-1)
	for s := center - int64(p.skew); s <= center+int64(p.skew); s++ {
		if s < 0 {
			continue
		}
		code := hotp(mac, uint64(s), p.digits, buf)
		if subtle.ConstantTimeEq(int32(code), int32(value)) == 1 {
			matched = s
		}
	}
	return matched
}

// hotp computes the RFC 4226 code for counter with a keyed mac. buf is
// scratch space: with room for the mac's output, hotp allocates nothing.
func hotp(mac hash.Hash, counter uint64, digits int, buf []byte) uint32 {
	mac.Reset()
	mac.Write(binary.BigEndian.AppendUint64(buf[:0], counter))
	h := mac.Sum(buf[:0])
	off := h[len(h)-1] & 0x0f
	bin := binary.BigEndian.Uint32(h[off:]) & 0x7fffffff
	return bin % uint32(math.Pow10(digits))
}
