package mfa

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecoveryCodesShape(t *testing.T) {
	codes, err := newRecoveryCodes(rand.Reader)
	require.NoError(t, err)
	require.Len(t, codes, RecoveryCodeCount)
	seen := map[string]bool{}
	for _, c := range codes {
		assert.Len(t, c, RecoveryCodeLength)
		assert.Equal(t, "", strings.Trim(c, recoveryAlphabet), "only [A-Za-z0-9]")
		assert.False(t, seen[c], "codes are distinct")
		seen[c] = true
	}
}

// Bytes at or above 248 are drawn again rather than folded onto the
// alphabet, which would make its first eight characters likelier.
func TestRecoveryCodesRejectBiasedBytes(t *testing.T) {
	var src bytes.Buffer
	for i := 0; i < RecoveryCodeCount*RecoveryCodeLength; i++ {
		src.WriteByte(byte(248 + i%8)) // all rejected
		src.WriteByte(byte(i % 62))
	}
	src.Write(make([]byte, 1000)) // slack for the reader's chunking
	codes, err := newRecoveryCodes(&src)
	require.NoError(t, err)
	all := strings.Join(codes, "")
	for i := range all {
		assert.Equal(t, recoveryAlphabet[i%62], all[i], "position %d", i)
	}
}

func TestRecoveryCodesReadError(t *testing.T) {
	_, err := newRecoveryCodes(bytes.NewReader(make([]byte, 10)))
	assert.Error(t, err)
}

func TestParseRecoveryCode(t *testing.T) {
	code, err := parseRecoveryCode("  Yj7nKp2qA8\n")
	require.NoError(t, err)
	assert.Equal(t, "Yj7nKp2qA8", code)
	for _, bad := range []string{"", "Yj7nKp2qA", "Yj7nKp2qA8x", "Yj7n-p2qA8", "Yj7n p2qA8", "Yj7nKp2qAé"} {
		_, err := parseRecoveryCode(bad)
		assert.ErrorIs(t, err, ErrInvalidInput, "%q", bad)
		if bad != "" {
			assert.NotContains(t, err.Error(), bad, "the message never echoes the code")
		}
	}
}

func TestRecoveryHash(t *testing.T) {
	plain := newRecoveryHasher(nil)
	ring, err := NewKeyRing(Key{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)})
	require.NoError(t, err)
	keyed := newRecoveryHasher(ring)
	h := plain.hash("user-1", "Yj7nKp2qA8")
	assert.Len(t, h, sha256.Size)
	assert.Equal(t, h, plain.hash("user-1", "Yj7nKp2qA8"), "deterministic")
	assert.NotEqual(t, h, plain.hash("user-2", "Yj7nKp2qA8"), "bound to the user")
	assert.NotEqual(t, h, plain.hash("user-1", "Yj7nKp2qA9"))
	assert.NotEqual(t, h, keyed.hash("user-1", "Yj7nKp2qA8"), "keyed differs")
	// The user ID is length-prefixed: ("ab", "c…") and ("a", "bc…") differ.
	assert.NotEqual(t, plain.hash("ab", "cdefghijkl"), plain.hash("a", "bcdefghijk"))

	codes := []string{"AAAAAAAAAA", "BBBBBBBBBB", "CCCCCCCCCC"}
	all := keyed.hashAll("user-1", codes)
	for i, c := range codes {
		assert.Equal(t, keyed.hash("user-1", c), all[i])
	}
}

// The stored form of a recovery code never changes between releases (the
// codes users hold would stop working): without a key ring it is SHA-256
// over a label, the user ID's length and bytes, and the code.
func TestRecoveryHashFormatIsStable(t *testing.T) {
	want := sha256.Sum256([]byte("identsphere/mfa recovery code v1\x00" + "\x00\x00\x00\x05alice" + "ABCD2345EF"))
	assert.Equal(t, want[:], newRecoveryHasher(nil).hash("alice", "ABCD2345EF"))
}
