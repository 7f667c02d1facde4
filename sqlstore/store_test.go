package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/mfatest"
	"github.com/identsphere/mfa/sqlstore"
	"github.com/identsphere/mfa/storetest"
)

func TestConformance(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			db := b.open(t)
			store := newStore(t, db, "")
			storetest.Run(t, func(t *testing.T) mfa.Store { return store })
		})
	}
}

// Two pools on one database stand for two replicas: every race has
// exactly one winner across them.
func TestTwoPoolsOneWinner(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			prefix := testPrefix()
			a := newStore(t, b.open(t), prefix)
			c := newStore(t, b.open(t), prefix)
			stores := []*sqlstore.Store{a, c}
			ctx := context.Background()
			f := pendingFactor()
			require.NoError(t, a.SetPending(ctx, "u", f, nil))

			codes := hashes(10)
			enables := race(func(i int) error {
				return stores[i%2].Enable(ctx, "u", mfa.Enablement{FactorID: f.ID, Counter: 10, RecoveryCodes: codes}, nil)
			})
			assert.Equal(t, 1, wins(t, enables, mfa.ErrAlreadyEnabled, mfa.ErrReplay), "enable")

			advances := race(func(i int) error { return stores[i%2].Accept(ctx, "u", step(f, 11), nil) })
			assert.Equal(t, 1, wins(t, advances, mfa.ErrReplay), "accept a step")

			consumes := race(func(i int) error { return stores[i%2].Accept(ctx, "u", codeProof(codes[4]), nil) })
			assert.Equal(t, 1, wins(t, consumes, mfa.ErrInvalidCode), "use a recovery code")

			reserves := race(func(i int) error {
				_, err := stores[i%2].ReserveAttempt(ctx, "u", mfa.Attempt{Enabled: true, Now: storetest.T0, Throttle: mfa.Throttle{MaxFailures: 5, Lockout: time.Minute, MaxLockout: time.Hour}})
				return err
			})
			assert.Equal(t, 5, wins(t, reserves, mfa.ErrRateLimited), "failure budget")

			st, err := c.Get(ctx, "u")
			require.NoError(t, err)
			assert.EqualValues(t, 11, st.Factors[0].Counter)
			assert.Equal(t, 9, st.RecoveryCodes)
			assert.Equal(t, 1, st.Lockouts)
		})
	}
}

func TestMigrateIdempotentAndConcurrent(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			prefix := testPrefix()
			db := b.open(t)
			t.Cleanup(func() { dropTables(db, prefix) })
			pools := []*sqlx.DB{db, b.open(t), b.open(t), b.open(t)}
			errs := make([]error, len(pools))
			var wg sync.WaitGroup
			for i, pool := range pools {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := sqlstore.New(pool, sqlstore.Config{TablePrefix: prefix})
					if err == nil {
						err = s.Migrate(context.Background())
					}
					errs[i] = err
				}()
			}
			wg.Wait()
			for _, err := range errs {
				assert.NoError(t, err)
			}
			s, err := sqlstore.New(db, sqlstore.Config{TablePrefix: prefix})
			require.NoError(t, err)
			require.NoError(t, s.Migrate(context.Background()), "a second run is a no-op")
			var versions int
			require.NoError(t, db.Get(&versions, "SELECT COUNT(*) FROM "+prefix+"schema_migrations"))
			files, err := sqlstore.Migrations.ReadDir("migrations/" + b.name)
			require.NoError(t, err)
			assert.Equal(t, len(files), versions, "each version applied once")
		})
	}
}

func TestFaults(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			db := b.open(t)
			store := newStore(t, db, "")

			t.Run("UniqueKeyCollisionRollsBack", func(t *testing.T) {
				f := pendingFactor()
				require.NoError(t, store.SetPending(ctx, "dup", f, nil))
				h := random(32)
				batch := append(hashes(8), h, h) // the INSERT fails on its last row
				err := store.Enable(ctx, "dup", mfa.Enablement{FactorID: f.ID, Counter: 5, RecoveryCodes: batch}, nil)
				require.Error(t, err)
				assert.False(t, errors.Is(err, mfa.ErrInvalidCode) || errors.Is(err, mfa.ErrAlreadyEnabled), "a database error, not an outcome: %v", err)
				st, err := store.Get(ctx, "dup")
				require.NoError(t, err)
				assert.False(t, st.Enabled, "the UPDATEs before the failing INSERT were rolled back")
				assert.Zero(t, st.RecoveryCodes)
				require.Len(t, st.Factors, 1)
				assert.False(t, st.Factors[0].Active, "the factor is still pending")
				assert.Equal(t, f.Secret, st.Factors[0].Secret)
				assert.Zero(t, st.Factors[0].Counter)
				require.NoError(t, store.Enable(ctx, "dup", mfa.Enablement{FactorID: f.ID, Counter: 5, RecoveryCodes: hashes(10)}, nil))
			})

			t.Run("FailedReplaceKeepsOldBatch", func(t *testing.T) {
				f := pendingFactor()
				require.NoError(t, store.SetPending(ctx, "batch", f, nil))
				old := hashes(10)
				require.NoError(t, store.Enable(ctx, "batch", mfa.Enablement{FactorID: f.ID, Counter: 5, RecoveryCodes: old}, nil))
				h := random(32)
				// The DELETE of the old batch runs, then the INSERT fails on
				// its duplicate row: the transaction must undo both.
				err := store.ReplaceRecoveryCodes(ctx, "batch", step(f, 6), append(hashes(8), h, h), nil)
				require.Error(t, err)
				st, err := store.Get(ctx, "batch")
				require.NoError(t, err)
				assert.Equal(t, 10, st.RecoveryCodes)
				assert.EqualValues(t, 5, st.Factors[0].Counter, "the step is not used by a failed operation")
				assert.NoError(t, store.Accept(ctx, "batch", codeProof(old[0]), nil), "the previous batch is intact")
			})

			t.Run("CancelledContext", func(t *testing.T) {
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				_, err := store.Get(cctx, "u")
				assert.ErrorIs(t, err, context.Canceled)
				assert.ErrorIs(t, store.SetPending(cctx, "u", pendingFactor(), nil), context.Canceled)
				_, err = store.Get(ctx, "u")
				assert.NoError(t, err)
			})

			t.Run("ClosedDatabase", func(t *testing.T) {
				closed := b.open(t)
				s, err := sqlstore.New(closed, sqlstore.Config{})
				require.NoError(t, err)
				require.NoError(t, closed.Close())
				svc, err := mfa.New(mfa.Config{Issuer: "X", Store: s, Audit: nopSink{}})
				require.NoError(t, err)
				defer svc.Close(ctx)
				_, err = svc.Setup(ctx, "u", "")
				assert.ErrorIs(t, err, mfa.ErrStore)
				assert.ErrorContains(t, err, "database is closed", "the cause is kept for the host's logs")
				_, err = svc.Status(ctx, "u")
				assert.ErrorIs(t, err, mfa.ErrStore)
			})
		})
	}
}

func TestConfig(t *testing.T) {
	db := sqlx.NewDb(&sql.DB{}, "sqlite")
	for _, bad := range []string{"1abc", "a-b", "a b", "x;DROP", "abcdefghijklmnopqrstuvwxyz0123456789"} {
		_, err := sqlstore.New(db, sqlstore.Config{TablePrefix: bad})
		assert.Error(t, err, bad)
	}
	_, err := sqlstore.New(sqlx.NewDb(&sql.DB{}, "oracle"), sqlstore.Config{})
	assert.ErrorContains(t, err, "unsupported driver")
	_, err = sqlstore.New(sqlx.NewDb(&sql.DB{}, "oracle"), sqlstore.Config{Dialect: "postgres"})
	assert.NoError(t, err)
	_, err = sqlstore.New(nil, sqlstore.Config{})
	assert.Error(t, err)
}

func TestMigrationFilesAreEmbedded(t *testing.T) {
	for _, d := range []string{"sqlite", "postgres", "mysql"} {
		text, err := sqlstore.Migrations.ReadFile("migrations/" + d + "/0001_init.sql")
		require.NoError(t, err)
		assert.Contains(t, string(text), "CREATE TABLE mfa_users")
		assert.Contains(t, string(text), "CREATE TABLE mfa_recovery_codes")
		text, err = sqlstore.Migrations.ReadFile("migrations/" + d + "/0003_factors.sql")
		require.NoError(t, err)
		assert.Contains(t, string(text), "CREATE TABLE mfa_factors")
	}
}

type nopSink struct{}

func (nopSink) RecordEvent(context.Context, mfa.Event) error { return nil }

func race(f func(i int) error) []error {
	errs := make([]error, storetest.Racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func wins(t *testing.T, errs []error, allowed ...error) int {
	t.Helper()
	n := 0
	for _, err := range errs {
		if err == nil {
			n++
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || errors.Is(err, a)
		}
		assert.True(t, ok, "unexpected error: %v", err)
	}
	return n
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func hashes(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = random(32)
	}
	return out
}

// A login ticket minted through one replica (its own pool and Service) is
// completed through another on the same database, once; a time step used
// on one is refused on the other.
func TestTicketAcrossReplicas(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			prefix := testPrefix()
			clock := mfatest.NewClock(time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC))
			replica := func() *mfa.Service {
				svc, err := mfa.New(mfa.Config{Issuer: "X", Store: newStore(t, b.open(t), prefix), Audit: nopSink{}, Now: clock.Now})
				require.NoError(t, err)
				t.Cleanup(func() { svc.Close(ctx) })
				return svc
			}
			a, c := replica(), replica()

			enr, err := a.Setup(ctx, "u", "")
			require.NoError(t, err)
			_, err = c.Enable(ctx, "u", totpCode(t, enr.Secret, clock.Now()))
			require.NoError(t, err)
			clock.Advance(30 * time.Second)
			now := clock.Now()

			token, err := a.StartChallenge(ctx, "u")
			require.NoError(t, err)
			code := totpCode(t, enr.Secret, now)
			v, err := c.Challenge(ctx, token, mfa.Credential{Code: code})
			require.NoError(t, err)
			assert.Equal(t, "u", v.UserID)
			_, err = a.Challenge(ctx, token, mfa.Credential{Code: totpCode(t, enr.Secret, now.Add(30*time.Second))})
			assert.ErrorIs(t, err, mfa.ErrInvalidTicket, "used on the other replica")

			token, err = c.StartChallenge(ctx, "u")
			require.NoError(t, err)
			_, err = a.Challenge(ctx, token, mfa.Credential{Code: code})
			assert.ErrorIs(t, err, mfa.ErrReplay, "the step was used on the other replica")
		})
	}
}

func totpCode(t *testing.T, secret string, at time.Time) string {
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	require.NoError(t, err)
	return code
}

func TestSQLiteDSN(t *testing.T) {
	assert.Equal(t, "app.db?_busy_timeout=10000&_journal_mode=WAL&_txlock=immediate", sqlstore.SQLiteDSN("app.db"))
	assert.Equal(t, "file:app.db?mode=rwc&_busy_timeout=10000&_journal_mode=WAL&_txlock=immediate", sqlstore.SQLiteDSN("file:app.db?mode=rwc"))
}

// Schema says which migrations a database has: none before Migrate (an
// error: no table), the older ones after an older release's, all after
// Migrate.
func TestSchema(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			prefix := testPrefix()
			db := b.open(t)
			t.Cleanup(func() { dropTables(db, prefix) })
			s, err := sqlstore.New(db, sqlstore.Config{TablePrefix: prefix})
			require.NoError(t, err)
			_, err = s.Schema(ctx)
			assert.Error(t, err, "never migrated")

			require.NoError(t, s.MigrateUpTo(ctx, 2))
			versions, err := s.Schema(ctx)
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(versions), 5)
			assert.Equal(t, sqlstore.SchemaVersion{Version: 3, Name: "0003_factors.sql"}, versions[2])
			for _, v := range versions {
				assert.Equal(t, v.Version <= 2, v.Applied, v.Name)
			}
			require.NoError(t, s.Migrate(ctx))
			versions, err = s.Schema(ctx)
			require.NoError(t, err)
			for _, v := range versions {
				assert.True(t, v.Applied, v.Name)
			}
		})
	}
}
