package mfa

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// Recovery codes: RecoveryCodeCount codes of RecoveryCodeLength characters
// from recoveryAlphabet, about 59.5 bits each.
const (
	RecoveryCodeCount  = 10
	RecoveryCodeLength = 10
	recoveryAlphabet   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	// recoveryReject is the smallest multiple of the alphabet size above a
	// byte's range: bytes at or above it are drawn again, so that every
	// character is equally likely (no modulo bias).
	recoveryReject = 256 - 256%len(recoveryAlphabet)
)

// newRecoveryCodes draws RecoveryCodeCount codes from r with rejection
// sampling.
func newRecoveryCodes(r io.Reader) ([]string, error) {
	var buf [RecoveryCodeCount * RecoveryCodeLength * 5 / 4]byte
	chars := make([]byte, 0, RecoveryCodeCount*RecoveryCodeLength)
	for len(chars) < cap(chars) {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return nil, fmt.Errorf("mfa: reading random recovery codes: %w", err)
		}
		for _, b := range buf {
			if int(b) >= recoveryReject {
				continue
			}
			chars = append(chars, recoveryAlphabet[int(b)%len(recoveryAlphabet)])
			if len(chars) == cap(chars) {
				break
			}
		}
	}
	codes := make([]string, RecoveryCodeCount)
	for i := range codes {
		codes[i] = string(chars[i*RecoveryCodeLength : (i+1)*RecoveryCodeLength])
	}
	return codes, nil
}

// parseRecoveryCode checks the shape of a submitted recovery code: after
// trimming surrounding white space, exactly RecoveryCodeLength characters
// from [A-Za-z0-9].
func parseRecoveryCode(code string) (string, error) {
	code = strings.TrimSpace(code)
	bad := len(code) != RecoveryCodeLength
	for i := 0; !bad && i < len(code); i++ {
		c := code[i]
		bad = !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9')
	}
	if bad {
		return "", &InputError{Field: "recovery_code", Problem: fmt.Sprintf("recovery_code must be %d letters and digits", RecoveryCodeLength)}
	}
	return code, nil
}

// recoveryHasher hashes recovery codes for storage: SHA-256 without a key
// ring, HMAC-SHA-256 under each ring key's derived recovery key with one,
// over a domain label, the user ID (prefixed with its length) and the code.
// Binding the user ID means one table dump cannot be attacked for every
// user at once, and a hash copied to another user's rows matches nothing.
type recoveryHasher struct {
	keys [][]byte // HMAC keys in ring order; nil: plain SHA-256
}

func newRecoveryHasher(ring *KeyRing) recoveryHasher {
	var h recoveryHasher
	if ring != nil {
		for _, k := range ring.keys {
			h.keys = append(h.keys, k.recovery)
		}
	}
	return h
}

const recoveryHashLabel = "identsphere/mfa recovery code v1\x00"

// hash returns the stored form of code for userID under the primary key.
func (h recoveryHasher) hash(userID, code string) []byte {
	return h.hashUnder(0, userID, code)
}

// hashes returns the hashes of code for userID under every key of the
// ring, the primary key's first: a code issued before a rotation still
// matches.
func (h recoveryHasher) hashes(userID, code string) [][]byte {
	n := max(len(h.keys), 1)
	out := make([][]byte, n)
	for k := range out {
		out[k] = h.hashUnder(k, userID, code)
	}
	return out
}

// hashAll hashes a batch under the primary key.
func (h recoveryHasher) hashAll(userID string, codes []string) [][]byte {
	out := make([][]byte, len(codes))
	for i, code := range codes {
		out[i] = h.hash(userID, code)
	}
	return out
}

// hashUnder returns the hash of code for userID under ring key k.
func (h recoveryHasher) hashUnder(k int, userID, code string) []byte {
	msg := make([]byte, 0, len(recoveryHashLabel)+4+len(userID)+len(code))
	msg = append(msg, recoveryHashLabel...)
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(userID)))
	msg = append(msg, userID...)
	msg = append(msg, code...)
	if h.keys == nil {
		sum := sha256.Sum256(msg)
		return sum[:]
	}
	mac := hmac.New(sha256.New, h.keys[k])
	mac.Write(msg)
	return mac.Sum(nil)
}

// RecoveryCodeHashes returns the form in which the Store keeps codes for
// userID (under the primary key of the ring), for hosts that bulk-load
// users or migrate recovery codes from another system straight into the
// store. Codes must have the shape Enable issues.
func (s *Service) RecoveryCodeHashes(userID string, codes []string) [][]byte {
	return s.recovery.hashAll(userID, codes)
}
