package main_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/mfatest"
)

// TestReseal rotates keys: secrets sealed under key A, the ring becomes
// "B,A", reseal moves every secret to B, and afterwards the ring of B
// alone opens every secret (a second reseal finds nothing to do, and every
// user passes a check). A ring without A, no ring or a malformed one fail
// with one line that names the key, never its bytes.
func TestReseal(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			d, c := b.migrated(t)
			ringA, textA, a64 := newKey(t, "kA")
			ringB, textB, b64 := newKey(t, "kB")
			c.secret(a64, b64)
			clock := mfatest.NewClock(start)
			svc := service(t, d.store(t, false), ringA, clock, mfa.Throttle{})
			enrolments := enrolUsers(t, c, svc, clock, 5)
			pending, err := svc.Setup(ctx, "pending", "")
			require.NoError(t, err)
			c.secret(pending.Secret)
			closeService(svc)

			line := oneErrorLine(t, c.run([]string{"MFA_KEYS=" + textB}, "reseal", "-batch", "2"), 1)
			assert.Contains(t, line, `sealed under key "kA", which is not in the key ring; the ring must hold key "kA" too, behind the primary (1 scanned, 0 resealed so far)`)
			assert.Equal(t, "mfactl: reseal: no key ring given: set MFA_KEYS (\"id:base64,…\", the primary first) or pass -keys-file",
				oneErrorLine(t, c.run(nil, "reseal"), 1))
			assert.Equal(t, "mfactl: reseal: key ring in MFA_KEYS: mfa: key ring: entry 2: want id:base64",
				oneErrorLine(t, c.run([]string{"MFA_KEYS=" + textB + ",kA"}, "reseal"), 1))

			out := ok(t, c.run([]string{"MFA_KEYS=" + textB + "," + textA}, "reseal", "-batch", "2"))
			assert.Equal(t, `scanned 2, resealed 2
scanned 4, resealed 4
scanned 6, resealed 6
done: scanned 6, resealed 6; every TOTP secret is sealed under the primary key kB
if a replica still runs with an older primary key, run reseal again once none does, until it re-seals nothing
before an older key leaves the ring, have users regenerate the recovery codes hashed under it: they stop working with it
`, out)

			// B alone opens every secret: reseal from a key file (which
			// takes precedence over MFA_KEYS) finds nothing to do.
			keysFile := filepath.Join(t.TempDir(), "keys")
			require.NoError(t, os.WriteFile(keysFile, []byte(textB+"\n"), 0o600))
			out = ok(t, c.run([]string{"MFA_KEYS=" + textA}, "reseal", "-keys-file", keysFile))
			assert.Equal(t, `scanned 6, resealed 0
done: scanned 6, resealed 0; every TOTP secret is sealed under the primary key kB
before an older key leaves the ring, have users regenerate the recovery codes hashed under it: they stop working with it
`, out)

			// And every user passes a check with the ring of B alone.
			svc = service(t, d.store(t, true), ringB, clock, mfa.Throttle{})
			clock.Advance(30 * time.Second)
			for user, enr := range enrolments {
				_, err := svc.Verify(ctx, user, mfa.Credential{Code: mfatest.Code(enr, clock.Now())})
				assert.NoError(t, err, user)
			}
			_, err = svc.Enable(ctx, "pending", mfatest.Code(pending, clock.Now()))
			assert.NoError(t, err)
		})
	}
}

// TestResealPlaintext migrates a deployment that had no key ring: reseal
// refuses plaintext secrets unless -allow-plaintext, then seals them all,
// and a Service that refuses plaintext accepts every user's code.
func TestResealPlaintext(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			d, c := b.migrated(t)
			ring, text, key64 := newKey(t, "k1")
			c.secret(key64)
			clock := mfatest.NewClock(start)
			svc := service(t, d.store(t, false), nil, clock, mfa.Throttle{})
			enrolments := enrolUsers(t, c, svc, clock, 3)
			closeService(svc)

			env := []string{"MFA_KEYS=" + text}
			line := oneErrorLine(t, c.run(env, "reseal"), 1)
			assert.Contains(t, line, "stored in plaintext, refused")
			assert.Contains(t, line, "pass -allow-plaintext to re-seal it (1 scanned, 0 resealed so far)")

			r := c.run(env, "reseal", "-allow-plaintext")
			out := ok(t, r)
			assert.Contains(t, out, "scanned 3, resealed 3\ndone: scanned 3, resealed 3; every TOTP secret is sealed under the primary key k1\n")
			assert.Contains(t, r.stderr, "level=WARN", "the library warns of each plaintext secret")

			svc = service(t, d.store(t, true), ring, clock, mfa.Throttle{})
			for user, enr := range enrolments {
				_, err := svc.Verify(ctx, user, mfa.Credential{Code: mfatest.Code(enr, clock.Now())})
				assert.NoError(t, err, user)
			}
		})
	}
}
