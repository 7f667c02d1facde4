package sqlstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/sqlstore"
)

// The environment variables that point the suites at real servers;
// .ci/run starts the servers and sets them.
const (
	postgresEnv = "MFA_TEST_POSTGRES_DSN"
	mysqlEnv    = "MFA_TEST_MYSQL_DSN"
)

// backend is one database the suites run against.
type backend struct {
	name string
	// open returns a new pool on the backend's one database: two calls give
	// two pools sharing it, as two replicas would.
	open func(t testing.TB) *sqlx.DB
}

// backends returns SQLite, PostgreSQL and MySQL. Opening PostgreSQL or
// MySQL without its variable skips the test with a message naming the
// variable, except under CI=true, where a missing server is a failure.
func backends(t testing.TB) []backend {
	dir := t.TempDir()
	bs := []backend{{name: "sqlite", open: func(t testing.TB) *sqlx.DB {
		db, err := sqlx.Open("sqlite", sqlstore.SQLiteDSN(filepath.Join(dir, "mfa.db")))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	}}}
	for _, s := range []struct{ name, env, driver string }{
		{"postgres", postgresEnv, "pgx"},
		{"mysql", mysqlEnv, "mysql"},
	} {
		dsn := os.Getenv(s.env)
		bs = append(bs, backend{name: s.name, open: func(t testing.TB) *sqlx.DB {
			if dsn == "" {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s is not set: CI must run the %s suite (.ci/run starts the server)", s.env, s.name)
				}
				t.Skipf("skipping %s: set %s to a %s DSN to run it (.ci/services.sh starts a throwaway server)", s.name, s.env, s.name)
			}
			db, err := sqlx.Open(s.driver, dsn)
			require.NoError(t, err)
			db.SetMaxOpenConns(40)
			db.SetMaxIdleConns(40)
			t.Cleanup(func() { db.Close() })
			require.NoError(t, db.PingContext(context.Background()), "%s is set but the server does not answer", s.env)
			return db
		}})
	}
	return bs
}

// newStore returns a migrated Store on db with a table prefix of its own,
// so that runs never see each other's rows; its tables are dropped at the
// end of the test.
func newStore(t testing.TB, db *sqlx.DB, prefix string) *sqlstore.Store {
	if prefix == "" {
		prefix = testPrefix()
	}
	s, err := sqlstore.New(db, sqlstore.Config{TablePrefix: prefix})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	t.Cleanup(func() { dropTables(db, prefix) })
	return s
}

func testPrefix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return "t" + hex.EncodeToString(b) + "_"
}

func dropTables(db *sqlx.DB, prefix string) {
	for _, table := range []string{"users", "factors", "recovery_codes", "tickets", "events", "ceremonies", "schema_migrations"} {
		db.Exec("DROP TABLE IF EXISTS " + prefix + table)
	}
}

func envDSN(name string) string { return os.Getenv(name) }

// pendingFactor returns a new pending TOTP factor.
func pendingFactor() mfa.Factor {
	return mfa.Factor{ID: "f-" + hex.EncodeToString(random(12)), Type: mfa.FactorTOTP, Name: "Phone", Secret: random(20), CreatedAt: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
}

// step is a proof of factor f at time step s.
func step(f mfa.Factor, s int64) mfa.Proof {
	return mfa.Proof{FactorID: f.ID, Counter: s, UsedAt: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
}

// codeProof is a proof of a recovery code by its hash.
func codeProof(hash []byte) mfa.Proof {
	return mfa.Proof{RecoveryCode: [][]byte{hash}, UsedAt: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
}
