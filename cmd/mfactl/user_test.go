package main_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/mfatest"
)

// TestStatusUnlockDelete prepares users with the library: alice enabled
// with two authenticators, a used recovery code and a failed attempt; bob
// with a setup pending; carol locked out; dave locked for good. Then it
// runs status, unlock and delete on them and on an unknown user, and
// checks their effect with the library, and that no command touched the
// audit outbox.
func TestStatusUnlockDelete(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			d, c := b.migrated(t)
			keys, _, keyB64 := newKey(t, "k1")
			c.secret(keyB64)
			clock := mfatest.NewClock(start)
			throttle := mfa.Throttle{MaxFailures: 2, Lockout: 24 * time.Hour, MaxLockout: 24 * time.Hour}
			svc := service(t, d.store(t, false), keys, clock, throttle)

			alice, aliceCodes := enrol(t, svc, clock, "alice") // at 00:00:00
			c.enrolment(alice, aliceCodes)
			laptop, err := svc.AddFactor(ctx, "alice", "Laptop", mfa.Credential{Code: mfatest.Code(alice, clock.Now())}) // 00:00:30
			require.NoError(t, err)
			c.secret(laptop.Secret)
			clock.Advance(30 * time.Second)
			_, err = svc.ConfirmFactor(ctx, "alice", laptop.FactorID, mfatest.Code(laptop, clock.Now())) // 00:01:00
			require.NoError(t, err)
			_, err = svc.Verify(ctx, "alice", mfa.Credential{RecoveryCode: aliceCodes[0]})
			require.NoError(t, err)
			_, err = svc.Verify(ctx, "alice", mfa.Credential{Code: wrongCode(alice, clock.Now())})
			require.ErrorIs(t, err, mfa.ErrInvalidCode)

			bob, err := svc.Setup(ctx, "bob", "") // at 00:01:00
			require.NoError(t, err)
			c.secret(bob.Secret)

			carol, carolCodes := enrol(t, svc, clock, "carol") // at 00:01:00
			c.enrolment(carol, carolCodes)
			for range 2 {
				svc.Verify(ctx, "carol", mfa.Credential{Code: wrongCode(carol, clock.Now())})
			}
			_, err = svc.Verify(ctx, "carol", mfa.Credential{Code: mfatest.Code(carol, clock.Now())})
			require.ErrorIs(t, err, mfa.ErrRateLimited, "carol is locked until 2100-01-02T00:01:30Z")

			dave, daveCodes := enrol(t, svc, clock, "dave")
			c.enrolment(dave, daveCodes)
			for range 20 {
				for range 2 {
					svc.Verify(ctx, "dave", mfa.Credential{Code: wrongCode(dave, clock.Now())})
				}
				clock.Advance(24*time.Hour + time.Minute)
			}
			_, err = svc.Verify(ctx, "dave", mfa.Credential{Code: mfatest.Code(dave, clock.Now())})
			var limited *mfa.RateLimitError
			require.ErrorAs(t, err, &limited)
			require.True(t, limited.Permanent, "dave is locked for good")
			closeService(svc)

			outbox := d.store(t, false)
			kept, err := outbox.PendingEvents(ctx, 1000)
			require.NoError(t, err)
			require.NotEmpty(t, kept)

			// status
			out := ok(t, c.run(nil, "status", "alice"))
			assert.Regexp(t, regexp.MustCompile(`^user            "alice"
mfa             enabled
pending setup   no
authenticators  2 active
  ID +NAME +TYPE +ADDED +LAST USED
  `+alice.FactorID+` +"Phone" +totp +2100-01-01T00:00:00Z +2100-01-01T00:00:30Z
  `+laptop.FactorID+` +"Laptop" +totp +2100-01-01T00:00:30Z +2100-01-01T00:01:00Z
recovery codes  9 remaining
failures        1 since the last success or lockout
lockouts        0 in a row
lock            not locked
$`), out)

			out = ok(t, c.run(nil, "status", "bob"))
			assert.Equal(t, `user            "bob"
mfa             not enabled
pending setup   `+bob.FactorID+` "Authenticator app" (totp), started 2100-01-01T00:01:00Z
authenticators  0 active
recovery codes  0 remaining
failures        0 since the last success or lockout
lockouts        0 in a row
lock            not locked
`, out)

			out = ok(t, c.run(nil, "status", "carol"))
			assert.Contains(t, out, "failures        0 since the last success or lockout\nlockouts        1 in a row\n")
			assert.Regexp(t, `\nlock            locked until 2100-01-02T00:01:30Z \([0-9hms]+ from now\)\n$`, out)

			out = ok(t, c.run(nil, "status", "dave"))
			assert.Contains(t, out, "\nlockouts        20 in a row\nlock            locked for good after 20 lockouts in a row (mfactl unlock lifts it)\n")
			// A host whose Throttle.MaxLockouts is higher: dave's last
			// lockout is still running.
			out = ok(t, c.run(nil, "status", "-max-lockouts", "21", "dave"))
			assert.Regexp(t, `\nlock            locked until 2100-01-2\dT`, out)

			assert.Equal(t, `mfactl: user "zed" has no MFA state`, oneErrorLine(t, c.run(nil, "status", "zed"), 1))

			// unlock
			out = ok(t, c.run(nil, "unlock", "carol"))
			assert.Equal(t, "unlocked \"carol\" (it had failures 0, lockouts 1, locked until 2100-01-02T00:01:30Z)\n", out)
			out = ok(t, c.run(nil, "unlock", "dave"))
			assert.Contains(t, out, "unlocked \"dave\" (it had failures 0, lockouts 20, locked until 2100-01-2")
			assert.Equal(t, `mfactl: user "zed" has no MFA state`, oneErrorLine(t, c.run(nil, "unlock", "zed"), 1))
			out = ok(t, c.run(nil, "status", "dave"))
			assert.Contains(t, out, "\nfailures        0 since the last success or lockout\nlockouts        0 in a row\nlock            not locked\n")

			// delete
			out = ok(t, c.run(nil, "delete", "bob"))
			assert.Equal(t, "deleted the MFA state of \"bob\": MFA not enabled, active authenticators 0, pending 1, recovery codes 0, failures 0, lockouts 0, and any open login challenges\n", out)
			out = ok(t, c.run(nil, "delete", "alice"))
			assert.Equal(t, "deleted the MFA state of \"alice\": MFA enabled, active authenticators 2, pending 0, recovery codes 9, failures 1, lockouts 0, and any open login challenges\n", out)
			for _, user := range []string{"alice", "bob", "zed"} {
				assert.Equal(t, `mfactl: user "`+user+`" has no MFA state`, oneErrorLine(t, c.run(nil, "status", user), 1))
				assert.Equal(t, `mfactl: user "`+user+`" has no MFA state`, oneErrorLine(t, c.run(nil, "delete", user), 1))
			}

			// The commands delivered and deleted no event, and wrote one for
			// each unlock and delete, in order.
			after, err := outbox.PendingEvents(ctx, 1000)
			require.NoError(t, err)
			require.Len(t, after, len(kept)+4)
			assert.Equal(t, kept, after[:len(kept)])
			var added []string
			for _, e := range after[len(kept):] {
				added = append(added, string(e.Type)+" "+e.UserID)
			}
			assert.Equal(t, []string{"auth.mfa.unlocked carol", "auth.mfa.unlocked dave", "auth.mfa.user_deleted bob", "auth.mfa.user_deleted alice"}, added)

			// With the library: the unlocked users pass a check, the deleted
			// ones are gone.
			svc = service(t, d.store(t, true), keys, clock, throttle)
			clock.Advance(30 * time.Second)
			for user, enr := range map[string]*mfa.Enrollment{"carol": carol, "dave": dave} {
				_, err = svc.Verify(ctx, user, mfa.Credential{Code: mfatest.Code(enr, clock.Now())})
				assert.NoError(t, err, user)
			}
			for _, user := range []string{"alice", "bob"} {
				st, err := outbox.Get(ctx, user)
				require.NoError(t, err)
				assert.Equal(t, mfa.State{}, st, user)
			}
		})
	}
}

// eventIDs returns the IDs of events, in order.
func eventIDs(events []mfa.StoredEvent) []string {
	ids := []string{}
	for _, e := range events {
		ids = append(ids, e.ID)
	}
	return ids
}
