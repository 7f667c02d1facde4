package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/memstore"
	"github.com/identsphere/mfa/mfatest"
	"github.com/identsphere/mfa/sqlstore"
)

// A database made by the first release (migrations 0001 and 0002: one
// secret per user in mfa_users) upgrades in place: after the later
// migrations every user behaves exactly as before.
func TestUpgradeInPlace(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			db := b.open(t)
			prefix := testPrefix()
			t.Cleanup(func() { dropTables(db, prefix) })
			store, err := sqlstore.New(db, sqlstore.Config{TablePrefix: prefix})
			require.NoError(t, err)
			require.NoError(t, store.MigrateUpTo(ctx, 2))

			ring, err := mfa.ParseKeyRing("k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")
			require.NoError(t, err)
			now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
			step := now.Unix() / 30

			// The old rows, as the first release wrote them: sealed
			// secrets (minted here by a Service with the same ring) and
			// hashed recovery codes.
			minter, _ := mfatest.NewService(t, mfa.Config{Store: memstore.New(), Keys: ring})
			secret := func(user string) (sealed []byte, enr *mfa.Enrollment) {
				scratch := memstore.New()
				svc, _ := mfatest.NewService(t, mfa.Config{Store: scratch, Keys: ring})
				enr, err := svc.Setup(ctx, user, "")
				require.NoError(t, err)
				st, err := scratch.Get(ctx, user)
				require.NoError(t, err)
				return st.Factors[0].Secret, enr
			}
			q := func(query string, args ...any) {
				t.Helper()
				_, err := db.ExecContext(ctx, db.Rebind(query), args...)
				require.NoError(t, err)
			}
			table := func(name string) string { return prefix + name }
			codes := []string{"Code000001", "Code000002", "Code000003"}
			users := map[string]*mfa.Enrollment{}
			for _, u := range []struct {
				id                 string
				enabled            int
				lastStep           int64
				failures, lockouts int
				lockedUntil        int64
				usedCodes          []string
			}{
				{id: "enabled", enabled: 1, lastStep: step, usedCodes: codes[:1]},
				{id: "pending", enabled: 0},
				{id: "locked", enabled: 1, lastStep: step - 10, lockouts: 1, lockedUntil: now.Add(20 * time.Second).UnixMilli()},
				{id: "for-good", enabled: 1, lastStep: step - 10, lockouts: 20, lockedUntil: now.Add(-time.Hour).UnixMilli()},
				{id: "counting", enabled: 1, lastStep: step - 10, failures: 4},
			} {
				sealed, enr := secret(u.id)
				users[u.id] = enr
				q(`INSERT INTO `+table("users")+` (user_id, enabled, secret, last_step, failures, lockouts, locked_until) VALUES (?, ?, ?, ?, ?, ?, ?)`,
					u.id, u.enabled, sealed, u.lastStep, u.failures, u.lockouts, u.lockedUntil)
				if u.enabled == 1 {
					for i, h := range minter.RecoveryCodeHashes(u.id, codes) {
						used := 0
						if i < len(u.usedCodes) {
							used = 1
						}
						q(`INSERT INTO `+table("recovery_codes")+` (user_id, code_hash, used) VALUES (?, ?, ?)`, u.id, h, used)
					}
				}
			}
			token := "an-open-login-token-from-the-first-release-000000"
			hash := sha256.Sum256([]byte(token))
			q(`INSERT INTO `+table("tickets")+` (ticket_hash, user_id, expires_at) VALUES (?, ?, ?)`,
				hash[:], "enabled", now.Add(5*time.Minute).UnixMilli())

			require.NoError(t, store.Migrate(ctx), "the later migrations")
			svc, clock := mfatest.NewService(t, mfa.Config{Store: store, Keys: ring})
			clock.Set(now)
			code := func(user string, offset time.Duration) mfa.Credential {
				return mfa.Credential{Code: mfatest.Code(users[user], now.Add(offset))}
			}

			// The lockout still holds, for what is left of it; the lock for
			// good too; the failure count goes on.
			var limited *mfa.RateLimitError
			_, err = svc.Verify(ctx, "locked", code("locked", 0))
			require.ErrorAs(t, err, &limited)
			assert.False(t, limited.Permanent)
			_, err = svc.Verify(ctx, "for-good", code("for-good", 0))
			require.ErrorAs(t, err, &limited)
			assert.True(t, limited.Permanent)
			_, err = svc.Verify(ctx, "counting", mfa.Credential{Code: "000000"})
			assert.ErrorIs(t, err, mfa.ErrInvalidCode)
			_, err = svc.Verify(ctx, "counting", code("counting", 0))
			assert.ErrorAs(t, err, &limited, "the fifth failure of the old count locked the user")

			// The used step is still refused; the same secret works.
			_, err = svc.Verify(ctx, "enabled", code("enabled", 0))
			assert.ErrorIs(t, err, mfa.ErrReplay)
			_, err = svc.Verify(ctx, "enabled", code("enabled", 30*time.Second))
			assert.NoError(t, err)
			// The used recovery code stays used; the others work once.
			_, err = svc.Verify(ctx, "enabled", mfa.Credential{RecoveryCode: codes[0]})
			assert.ErrorIs(t, err, mfa.ErrInvalidCode)
			_, err = svc.Verify(ctx, "enabled", mfa.Credential{RecoveryCode: codes[1]})
			assert.NoError(t, err)
			st, err := svc.Status(ctx, "enabled")
			require.NoError(t, err)
			assert.Equal(t, 1, st.RecoveryCodesRemaining)
			require.Len(t, st.Factors, 1)
			assert.Equal(t, mfa.DefaultFactorName, st.Factors[0].Name)
			// The open login token still works.
			clock.Advance(30 * time.Second)
			_, err = svc.Challenge(ctx, token, code("enabled", 60*time.Second))
			assert.NoError(t, err)

			// A user who turned MFA off (the first release deleted the
			// rows) has none.
			_, err = svc.Verify(ctx, "disabled", mfa.Credential{Code: "123456"})
			assert.ErrorIs(t, err, mfa.ErrNotEnabled)

			// The pending setup still enables.
			_, err = svc.Enable(ctx, "pending", mfatest.Code(users["pending"], clock.Now()))
			assert.NoError(t, err)

		})
	}
}
