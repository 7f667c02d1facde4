package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/identsphere/mfa"
)

// keysEnv is the environment variable that holds the key ring, as the
// host's own configuration does: "id:base64,…", the primary first.
const keysEnv = "MFA_KEYS"

// runKeygen prints a new key ring entry "id:base64": 32 random bytes under
// an ID of the date and a random suffix ("k20261128-3fa2"), so that keys
// made on one day differ. The hint goes to stderr, so that
// MFA_KEYS="$(mfactl keygen),$MFA_KEYS" works.
func runKeygen(ctx context.Context, a *app, args []string) error {
	fs := newFlags("keygen")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	id := "k" + time.Now().UTC().Format("20060102") + "-" + hex.EncodeToString(randomBytes(2))
	entry := id + ":" + base64.StdEncoding.EncodeToString(randomBytes(32))
	if _, err := mfa.ParseKeyRing(entry); err != nil {
		return fmt.Errorf("keygen: the new entry does not parse: %w", err) // a bug
	}
	fmt.Fprintln(a.stdout, entry)
	fmt.Fprintf(a.stderr, "mfactl: new key %s: make it the first entry of %s on every replica, then run mfactl reseal\n", id, keysEnv)
	return nil
}

// randomBytes returns n bytes from crypto/rand, which never fails.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// loadKeyRing returns the key ring in the file path when it is set, else
// in the environment variable MFA_KEYS; an error when neither is given.
// Its errors name neither keys nor their bytes (ParseKeyRing's name an
// entry by position).
func loadKeyRing(path string) (*mfa.KeyRing, error) {
	if path != "" {
		text, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading the key ring: %w", err)
		}
		ring, err := mfa.ParseKeyRing(string(text))
		if err != nil {
			return nil, fmt.Errorf("key ring in %s: %w", path, err)
		}
		return ring, nil
	}
	text := os.Getenv(keysEnv)
	if text == "" {
		return nil, errors.New("no key ring given: set " + keysEnv + " (\"id:base64,…\", the primary first) or pass -keys-file")
	}
	ring, err := mfa.ParseKeyRing(text)
	if err != nil {
		return nil, fmt.Errorf("key ring in %s: %w", keysEnv, err)
	}
	return ring, nil
}
