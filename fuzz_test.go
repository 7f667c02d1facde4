package mfa

import (
	"bytes"
	"crypto/rand"
	"math"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pquerna/otp"
)

// The fuzzers run their seeds as ordinary tests; `go test -fuzz FuzzX`
// explores further.

func FuzzParseCode(f *testing.F) {
	for _, s := range []string{"123456", " 012345\t", "1234567", "12345678", "12 456", "١٢٣٤٥٦", "1234é", "", "\x00\x00\x00\x00\x00\x00", "99999999"} {
		f.Add(s, uint8(6))
		f.Add(s, uint8(8))
	}
	f.Fuzz(func(t *testing.T, code string, d uint8) {
		digits := 6
		if d%2 == 1 {
			digits = 8
		}
		p := totpParams{digits: digits}
		value, ok, err := p.parseCode(code)
		trimmed := strings.TrimSpace(code)
		chars := utf8.RuneCountInString(trimmed) // lengths count characters, not bytes
		switch {
		case err != nil:
			if chars >= 6 && chars <= 8 {
				t.Fatalf("%q: refused as bad input at length %d", code, chars)
			}
		case ok:
			if len(trimmed) != digits || strings.Trim(trimmed, "0123456789") != "" {
				t.Fatalf("%q accepted as a %d-digit code", code, digits)
			}
			if float64(value) >= math.Pow10(digits) {
				t.Fatalf("%q: value %d out of range", code, value)
			}
		default:
			if chars < 6 || chars > 8 {
				t.Fatalf("%q: wrong length not reported as bad input", code)
			}
		}
	})
}

func FuzzParseRecoveryCode(f *testing.F) {
	for _, s := range []string{"Yj7nKp2qA8", " Yj7nKp2qA8\n", "Yj7nKp2qA", "Yj7n-p2qA8", "ÿj7nKp2qA8", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		code, err := parseRecoveryCode(in)
		if err != nil {
			if strings.Contains(err.Error(), strings.TrimSpace(in)) && strings.TrimSpace(in) != "" && len(strings.TrimSpace(in)) > 3 {
				t.Fatalf("the error echoes the input: %v", err)
			}
			return
		}
		if code != strings.TrimSpace(in) || len(code) != RecoveryCodeLength || strings.Trim(code, recoveryAlphabet) != "" {
			t.Fatalf("%q accepted as %q", in, code)
		}
	})
}

// FuzzKeyURI: for every issuer and account the Service accepts, the
// otpauth URI parses back (with pquerna/otp, as apps would) to exactly
// that issuer, account and secret.
func FuzzKeyURI(f *testing.F) {
	for _, s := range [][2]string{{"Example", "alice@example.com"}, {"Example Corp", "a b"}, {"A&B", "x?y#z"}, {"Ünïcode", "用户"}, {"100%", "%20"}, {"a/b", "c+d"}} {
		f.Add(s[0], s[1])
	}
	secret := bytes.Repeat([]byte{0x42}, 20)
	p := totpParams{alg: SHA1, digits: 6, period: 30 * time.Second}
	f.Fuzz(func(t *testing.T, issuer, account string) {
		if checkLabel("issuer", issuer) != nil || checkLabel("account", account) != nil {
			return // refused by New and Setup
		}
		uri := p.keyURI(issuer, account, secret)
		key, err := otp.NewKeyFromURL(uri)
		if err != nil {
			t.Fatalf("%q does not parse: %v", uri, err)
		}
		if key.Issuer() != issuer || key.AccountName() != account || key.Secret() != base32NoPad.EncodeToString(secret) {
			t.Fatalf("%q parses to issuer %q account %q; want %q, %q", uri, key.Issuer(), key.AccountName(), issuer, account)
		}
	})
}

func FuzzParseKeyRing(f *testing.F) {
	f.Add("k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")
	f.Add("k2:-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-, k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE")
	f.Add("k1:AQEB")
	f.Add(":::,,, ")
	f.Add("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=:k1")                     // ID and key swapped
	f.Add("k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=,k1:AQEBAQEBAQEBAQEB") // duplicate
	f.Add("k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB")                         // short key
	f.Add("k1:AQEBAQEB!QEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")                     // not base64
	f.Fuzz(func(t *testing.T, text string) {
		r, err := ParseKeyRing(text)
		if err != nil {
			// No error repeats 8 or more characters of an entry's key text,
			// or of an ID that is not a valid ID.
			for _, entry := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
				id, key, _ := strings.Cut(entry, ":")
				secret := []string{key}
				if !validKeyID(id) {
					secret = append(secret, id)
				}
				for _, s := range secret {
					for i := 0; i+8 <= len(s); i++ {
						if strings.Contains(err.Error(), s[i:i+8]) {
							t.Fatalf("%q: error %q repeats %q", text, err, s[i:i+8])
						}
					}
				}
			}
			return
		}
		if !validKeyID(r.PrimaryID()) {
			t.Fatalf("%q: primary ID %q", text, r.PrimaryID())
		}
		// A ring that parses seals and opens.
		sealed, err := r.seal(rand.Reader, "u", []byte("0123456789abcdefghij"))
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := r.open("u", sealed)
		if err != nil || string(got) != "0123456789abcdefghij" {
			t.Fatalf("round trip: %q, %v", got, err)
		}
	})
}

// FuzzOpenSealed: decoding a stored secret never panics and never yields a
// secret for anything but an authentic sealed blob of that user.
func FuzzOpenSealed(f *testing.F) {
	ring, err := NewKeyRing(Key{ID: "k1", Secret: bytes.Repeat([]byte{1}, 32)}, Key{ID: "old", Secret: bytes.Repeat([]byte{2}, 32)})
	if err != nil {
		f.Fatal(err)
	}
	secret := bytes.Repeat([]byte{7}, 20)
	// A fixed nonce: fuzzing runs this set-up in several processes, which
	// must agree on the authentic blob.
	valid, err := ring.seal(bytes.NewReader(make([]byte, 12)), "alice", secret)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid, "alice")
	f.Add(valid, "bob")
	f.Add(valid[:len(valid)-1], "alice")
	f.Add([]byte("MFA\x01\x02k1"), "alice")
	f.Add([]byte("MFA\x01\xffk1"), "alice")
	f.Add(secret, "alice")
	f.Fuzz(func(t *testing.T, blob []byte, user string) {
		s := &Service{cfg: Config{Keys: ring}}
		got, _, err := s.plainSecret(user, blob)
		if err != nil {
			return
		}
		_, sealed := isSealed(blob)
		switch {
		case sealed && !(bytes.Equal(blob, valid) && user == "alice"):
			t.Fatalf("a forged or moved blob opened for %q", user)
		case sealed && !bytes.Equal(got, secret):
			t.Fatalf("opened to the wrong secret")
		case !sealed && !bytes.Equal(got, blob):
			t.Fatalf("a plaintext secret changed on the way")
		}
	})
}
