package mfa

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// A KeyRing holds the keys that seal TOTP secrets at rest (AES-256-GCM)
// and key the recovery-code hashes (HMAC-SHA-256 under a key derived with
// HKDF). The first key is the primary: new secrets are sealed under it.
// Every key in the ring opens what it sealed, so keys rotate online: add a
// new key in front, and secrets sealed under the old one keep working, are
// re-sealed under the new one on their next successful use, and
// Service.Reseal moves the rest; then drop the old key.
type KeyRing struct {
	keys []ringKey
}

type ringKey struct {
	id       string
	aead     cipher.AEAD
	recovery []byte // HMAC key for recovery-code hashes
}

// Key is one key of a KeyRing.
type Key struct {
	// ID names the key in every ciphertext it seals: 1 to 32 characters
	// from [A-Za-z0-9_-]. Never reuse an ID for different key bytes.
	ID string
	// Secret is 32 random bytes.
	Secret []byte
}

// KeyError says which key a sealed secret needs and why it did not open.
// It never contains key material or the secret.
type KeyError struct {
	KeyID string
	// Missing is true when the key ring has no key with this ID; otherwise
	// the key did not authenticate the ciphertext (wrong key bytes for the
	// ID, or the data was altered or copied from another user).
	Missing bool
}

func (e *KeyError) Error() string {
	if e.Missing {
		return fmt.Sprintf("mfa: secret is sealed under key %q, which is not in the key ring", e.KeyID)
	}
	return fmt.Sprintf("mfa: secret does not open under key %q (wrong key, or the data was altered)", e.KeyID)
}

// NewKeyRing builds a ring from keys, the first being the primary. Its
// errors name a key by its position, never by its ID or bytes.
func NewKeyRing(keys ...Key) (*KeyRing, error) {
	if len(keys) == 0 {
		return nil, errors.New("mfa: key ring: no keys")
	}
	r := &KeyRing{}
	seen := map[string]int{}
	for i, k := range keys {
		if !validKeyID(k.ID) {
			return nil, fmt.Errorf("mfa: key ring: entry %d: the ID must be 1 to 32 characters from [A-Za-z0-9_-]", i+1)
		}
		if first, ok := seen[k.ID]; ok {
			return nil, fmt.Errorf("mfa: key ring: entry %d: its ID is the ID of entry %d", i+1, first)
		}
		seen[k.ID] = i + 1
		if len(k.Secret) != 32 {
			return nil, fmt.Errorf("mfa: key ring: entry %d: the key must be 32 bytes, not %d", i+1, len(k.Secret))
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		recovery, err := hkdf.Key(sha256.New, k.Secret, nil, "identsphere/mfa recovery-code hash v1", 32)
		if err != nil {
			return nil, err
		}
		r.keys = append(r.keys, ringKey{id: k.ID, aead: aead, recovery: recovery})
	}
	return r, nil
}

// ParseKeyRing reads the text form of a key ring: entries "id:base64"
// (standard or URL alphabet, padding optional, 32 bytes decoded) separated
// by commas or white space, the primary first. It suits an environment
// variable such as MFA_KEYS="k2:…,k1:…". Its errors name an entry by its
// position, never by its text.
func ParseKeyRing(text string) (*KeyRing, error) {
	var keys []Key
	for i, entry := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
		id, b64, ok := strings.Cut(entry, ":")
		switch {
		case !ok:
			return nil, fmt.Errorf("mfa: key ring: entry %d: want id:base64", i+1)
		case !validKeyID(id):
			return nil, fmt.Errorf("mfa: key ring: entry %d: the ID must be 1 to 32 characters from [A-Za-z0-9_-] (ID and key swapped?)", i+1)
		}
		secret, err := decodeBase64(b64)
		if err != nil {
			return nil, fmt.Errorf("mfa: key ring: entry %d: the key is not base64", i+1)
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	return NewKeyRing(keys...)
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func validKeyID(id string) bool {
	if len(id) == 0 || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// PrimaryID returns the ID of the key new secrets are sealed under.
func (r *KeyRing) PrimaryID() string { return r.keys[0].id }

func (r *KeyRing) find(id string) *ringKey {
	for i := range r.keys {
		if r.keys[i].id == id {
			return &r.keys[i]
		}
	}
	return nil
}

// Sealed secrets: sealMagic, the key ID's length and the ID, the GCM nonce,
// then the ciphertext with its tag. The associated data binds the user ID,
// so a row copied to another user does not open.
const (
	sealMagic = "MFA\x01"
	sealAD    = "identsphere/mfa totp secret v1\x00"
)

// seal encrypts secret for userID under the primary key.
func (r *KeyRing) seal(rand io.Reader, userID string, secret []byte) ([]byte, error) {
	k := &r.keys[0]
	out := make([]byte, 0, len(sealMagic)+1+len(k.id)+k.aead.NonceSize()+len(secret)+k.aead.Overhead())
	out = append(out, sealMagic...)
	out = append(out, byte(len(k.id)))
	out = append(out, k.id...)
	nonce := out[len(out) : len(out)+k.aead.NonceSize()]
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return nil, fmt.Errorf("mfa: reading random nonce: %w", err)
	}
	out = out[:len(out)+len(nonce)]
	return k.aead.Seal(out, nonce, secret, associatedData(userID)), nil
}

// isSealed reports whether a stored secret is in the sealed form (and
// returns its key ID). A plaintext secret, stored before a key ring was
// configured, is 20, 32 or 64 raw bytes.
func isSealed(blob []byte) (keyID string, ok bool) {
	if !bytes.HasPrefix(blob, []byte(sealMagic)) || len(blob) < len(sealMagic)+1 {
		return "", false
	}
	n := int(blob[len(sealMagic)])
	// The length must be that of a sealed 20-, 32- or 64-byte secret, so
	// that a plaintext secret starting with the magic bytes (one in 2^32)
	// is told apart unless its length matches too.
	if !plainSecretSize(len(blob) - len(sealMagic) - 1 - n - gcmNonceSize - gcmTagSize) {
		return "", false
	}
	return string(blob[len(sealMagic)+1 : len(sealMagic)+1+n]), true
}

// The sizes of AES-GCM's standard nonce and tag.
const (
	gcmNonceSize = 12
	gcmTagSize   = 16
)

// open decrypts a sealed secret of userID with whichever key of the ring
// sealed it.
func (r *KeyRing) open(userID string, blob []byte) (secret []byte, keyID string, err error) {
	keyID, ok := isSealed(blob)
	if !ok {
		return nil, "", errors.New("mfa: stored secret is not in the sealed form")
	}
	k := r.find(keyID)
	if k == nil {
		return nil, keyID, &KeyError{KeyID: keyID, Missing: true}
	}
	rest := blob[len(sealMagic)+1+len(keyID):]
	if len(rest) < k.aead.NonceSize()+k.aead.Overhead() {
		return nil, keyID, &KeyError{KeyID: keyID}
	}
	secret, err = k.aead.Open(nil, rest[:k.aead.NonceSize()], rest[k.aead.NonceSize():], associatedData(userID))
	if err != nil {
		return nil, keyID, &KeyError{KeyID: keyID}
	}
	return secret, keyID, nil
}

func associatedData(userID string) []byte {
	return append([]byte(sealAD), userID...)
}

// storedSecret returns the form of secret the Store keeps: sealed under the
// primary key, or the plain bytes without a key ring.
func (s *Service) storedSecret(userID string, secret []byte) ([]byte, error) {
	if s.cfg.Keys == nil {
		return secret, nil
	}
	return s.cfg.Keys.seal(s.cfg.Rand, userID, secret)
}

// plainSecret opens a stored secret. stale reports a secret that is not
// sealed under the primary key (an older key, or plaintext from before the
// key ring was configured).
func (s *Service) plainSecret(userID string, stored []byte) (secret []byte, stale bool, err error) {
	keyID, sealed := isSealed(stored)
	switch {
	case s.cfg.Keys == nil && sealed:
		return nil, false, &KeyError{KeyID: keyID, Missing: true}
	case !sealed && !plainSecretSize(len(stored)):
		return nil, false, errors.New("mfa: stored secret is neither sealed nor a plain secret")
	case !sealed && s.cfg.Keys == nil:
		return stored, false, nil
	case !sealed && !s.cfg.AllowPlaintextSecrets:
		return nil, false, ErrPlaintextSecret
	case !sealed:
		s.cfg.Logger.Warn("mfa: opened a TOTP secret stored in plaintext; run Reseal, then turn Config.AllowPlaintextSecrets off", "user_id", userID)
		return stored, true, nil
	}
	secret, keyID, err = s.cfg.Keys.open(userID, stored)
	if err != nil {
		return nil, false, err
	}
	return secret, keyID != s.cfg.Keys.PrimaryID(), nil
}

func plainSecretSize(n int) bool { return n == 20 || n == 32 || n == 64 }

// ResealReport counts what Reseal did.
type ResealReport struct {
	// Scanned is the number of stored secrets read.
	Scanned int
	// Resealed is the number re-sealed under the primary key.
	Resealed int
}

// Reseal walks every stored TOTP secret in batches of batchSize and
// re-seals those not sealed under the primary key (sealed under an older
// key of the ring or, with Config.AllowPlaintextSecrets, plaintext from
// before the ring was configured). Run it after adding a new primary key;
// once it reports nothing left to do, the old key can be removed from the
// ring. It is safe while the service runs: a secret replaced concurrently
// is left alone. A secret that does not open stops the walk with a
// *KeyError naming its key. progress, if not nil, is called after each
// batch with the counts so far.
func (s *Service) Reseal(ctx context.Context, batchSize int, progress func(ResealReport)) (ResealReport, error) {
	var rep ResealReport
	if s.cfg.Keys == nil {
		return rep, errors.New("mfa: reseal: no key ring configured")
	}
	if batchSize <= 0 {
		return rep, errors.New("mfa: reseal: batchSize must be positive")
	}
	after := ""
	for {
		rows, err := s.store.ListSecrets(ctx, after, batchSize)
		if err != nil {
			return rep, s.storeErr("ListSecrets", err)
		}
		for _, row := range rows {
			rep.Scanned++
			if err := s.reseal(ctx, row, &rep); err != nil {
				return rep, err
			}
		}
		if progress != nil {
			progress(rep)
		}
		if len(rows) < batchSize {
			return rep, nil
		}
		after = rows[len(rows)-1].FactorID
	}
}

// reseal re-seals one stored secret under the primary key if it is not
// sealed under it already.
func (s *Service) reseal(ctx context.Context, row FactorSecret, rep *ResealReport) error {
	secret, stale, err := s.plainSecret(row.UserID, row.Secret)
	if err != nil {
		return fmt.Errorf("mfa: reseal: secret of factor %s: %w", row.FactorID, err)
	}
	if !stale {
		return nil
	}
	sealed, err := s.storedSecret(row.UserID, secret)
	if err != nil {
		return err
	}
	ok, err := s.store.ReplaceSecret(ctx, row.FactorID, row.Secret, sealed)
	if err != nil {
		return s.storeErr("ReplaceSecret", err)
	}
	if ok {
		rep.Resealed++
	}
	return nil
}
