package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/mfatest"
	"github.com/identsphere/mfa/sqlstore"
)

// bin is the mfactl binary TestMain builds, which the tests run as an
// operator would.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mfactl-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "mfactl")
	gotool, err := exec.LookPath("go")
	if err != nil {
		gotool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.Command(gotool, "build", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mfactl:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one run of mfactl left.
type result struct {
	stdout, stderr string
	code           int
}

// A cli runs mfactl for one test, on one database, and checks when the
// test ends that no output contained a secret the test registered.
type cli struct {
	t *testing.T
	// flags are -driver, -dsn and -prefix; nil for commands without a
	// database.
	flags   []string
	secrets []string
	outputs []string
}

// newCLI returns a cli for t on the database flags name.
func newCLI(t *testing.T, flags []string) *cli {
	c := &cli{t: t, flags: flags}
	t.Cleanup(func() {
		require.NotEmpty(t, c.outputs, "the test ran mfactl")
		for _, s := range c.secrets {
			for _, out := range c.outputs {
				assert.NotContains(t, out, s, "mfactl printed a secret")
			}
		}
	})
	return c
}

// secret registers strings no output may contain.
func (c *cli) secret(secrets ...string) { c.secrets = append(c.secrets, secrets...) }

// enrolment registers the secrets of an enrolment: the TOTP secret in
// base32 and the recovery codes.
func (c *cli) enrolment(enr *mfa.Enrollment, codes []string) {
	c.secret(enr.Secret)
	c.secret(codes...)
}

// run runs mfactl: the command's words, the database flags, then args,
// with env ("NAME=value") added to the environment, from which MFA_KEYS is
// removed.
func (c *cli) run(env []string, command string, args ...string) result {
	c.t.Helper()
	argv := append(append(strings.Fields(command), c.flags...), args...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, argv...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MFA_KEYS=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		c.t.Fatalf("running mfactl %s: %v", strings.Join(argv, " "), err)
	}
	c.outputs = append(c.outputs, stdout.String(), stderr.String())
	return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// ok asserts that r succeeded, and returns its stdout.
func ok(t *testing.T, r result) string {
	t.Helper()
	assert.Equal(t, 0, r.code, "exit status; stderr: %s", r.stderr)
	return r.stdout
}

// oneErrorLine asserts that r failed with status code, one line
// "mfactl: …" on stderr (and, for a usage error, the usage line after it)
// and nothing on stdout, and returns the first line.
func oneErrorLine(t *testing.T, r result, code int) string {
	t.Helper()
	assert.Equal(t, code, r.code, "exit status; stderr: %s", r.stderr)
	assert.Empty(t, r.stdout)
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	assert.True(t, strings.HasPrefix(lines[0], "mfactl: "), "stderr: %q", r.stderr)
	if code == 2 {
		if assert.Len(t, lines, 2, "stderr: %q", r.stderr) {
			assert.True(t, strings.HasPrefix(lines[1], "usage: mfactl "), "stderr: %q", r.stderr)
		}
	} else {
		assert.Len(t, lines, 1, "stderr: %q", r.stderr)
	}
	return lines[0]
}

// The environment variables that point the tests at real servers, as in
// package sqlstore.
const (
	postgresEnv = "MFA_TEST_POSTGRES_DSN"
	mysqlEnv    = "MFA_TEST_MYSQL_DSN"
)

// backend is one database the tests run mfactl against.
type backend struct {
	name string
	// db opens the backend for one test: the flags that point mfactl at
	// it, and a pool for the test's own use. Each test gets a database
	// (SQLite) or a table prefix (PostgreSQL, MySQL) of its own.
	db func(t *testing.T) *database
}

// database is one test's database.
type database struct {
	// flags are -driver, -dsn and -prefix for mfactl.
	flags []string
	db    *sqlx.DB
	// prefix is the table prefix.
	prefix string
}

// backends returns SQLite, PostgreSQL and MySQL. A test on PostgreSQL or
// MySQL without its variable is skipped with a message naming the
// variable, except under CI=true, where it fails.
func backends() []backend {
	bs := []backend{{name: "sqlite", db: func(t *testing.T) *database {
		path := filepath.Join(t.TempDir(), "mfa.db")
		db, err := sqlx.Open("sqlite", sqlstore.SQLiteDSN(path))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return &database{flags: []string{"-driver", "sqlite", "-dsn", path}, db: db, prefix: "mfa_"}
	}}}
	for _, s := range []struct{ name, env, driver string }{
		{"postgres", postgresEnv, "pgx"},
		{"mysql", mysqlEnv, "mysql"},
	} {
		bs = append(bs, backend{name: s.name, db: func(t *testing.T) *database {
			dsn := os.Getenv(s.env)
			if dsn == "" {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s is not set: CI must run the %s tests (.ci/run starts the server)", s.env, s.name)
				}
				t.Skipf("skipping %s: set %s to a %s DSN to run it (.ci/services.sh starts a throwaway server)", s.name, s.env, s.name)
			}
			db, err := sqlx.Open(s.driver, dsn)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			require.NoError(t, db.PingContext(context.Background()), "%s is set but the server does not answer", s.env)
			b := make([]byte, 4)
			rand.Read(b)
			prefix := "cli" + hex.EncodeToString(b) + "_"
			t.Cleanup(func() {
				for _, table := range []string{"users", "factors", "recovery_codes", "tickets", "events", "ceremonies", "schema_migrations"} {
					db.Exec("DROP TABLE IF EXISTS " + prefix + table)
				}
			})
			return &database{flags: []string{"-driver", s.name, "-dsn", dsn, "-prefix", prefix}, db: db, prefix: prefix}
		}})
	}
	return bs
}

// migrate migrates the schema with mfactl.
func (d *database) migrate(t *testing.T) {
	t.Helper()
	c := newCLI(t, d.flags)
	ok(t, c.run(nil, "migrate"))
}

// migrated returns the backend's database, migrated with mfactl, and a
// CLI on it.
func (b backend) migrated(t *testing.T) (*database, *cli) {
	t.Helper()
	d := b.db(t)
	d.migrate(t)
	return d, newCLI(t, d.flags)
}

// store returns a Store on the database, keeping events (the outbox on)
// unless noOutbox.
func (d *database) store(t *testing.T, noOutbox bool) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(d.db, sqlstore.Config{TablePrefix: d.prefix, DisableOutbox: noOutbox})
	require.NoError(t, err)
	return s
}

// start is the time on the clocks of the tests' Services: in the future,
// so that a lockout on that clock is still running on the real clock
// mfactl reads; midnight, the start of a time step.
var start = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

// downSink is an audit sink that is down: events stay in the outbox.
type downSink struct{}

func (downSink) RecordEvent(context.Context, mfa.Event) error {
	return errors.New("sink down")
}

// service returns a Service on store with keys and clock, whose audit sink
// is down, logging nothing. It is closed when the test ends.
func service(t *testing.T, store mfa.Store, keys *mfa.KeyRing, clock *mfatest.Clock, throttle mfa.Throttle) *mfa.Service {
	t.Helper()
	svc, err := mfa.New(mfa.Config{
		Issuer:           "Test",
		Store:            store,
		Keys:             keys,
		Throttle:         throttle,
		Audit:            downSink{},
		AuditMaxAttempts: 1000, // events stay pending, never set aside
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:              clock.Now,
	})
	require.NoError(t, err)
	t.Cleanup(func() { closeService(svc) })
	return svc
}

// closeService closes svc within a second: what its sink refuses stays in
// the outbox.
func closeService(svc *mfa.Service) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	svc.Close(ctx)
}

// enrol sets up and enables MFA for user, at the clock's time, and returns
// the enrolment and the recovery codes; the clock moves to the next time
// step.
func enrol(t *testing.T, svc *mfa.Service, clock *mfatest.Clock, user string) (*mfa.Enrollment, []string) {
	t.Helper()
	ctx := context.Background()
	enr, err := svc.Setup(ctx, user, "Phone")
	require.NoError(t, err)
	codes, err := svc.Enable(ctx, user, mfatest.Code(enr, clock.Now()))
	require.NoError(t, err)
	clock.Advance(30 * time.Second)
	return enr, codes
}

// enrolUsers enrols user0 … user<n-1> with enrol, tells c their secrets
// and codes, and returns their enrolments by user.
func enrolUsers(t *testing.T, c *cli, svc *mfa.Service, clock *mfatest.Clock, n int) map[string]*mfa.Enrollment {
	t.Helper()
	enrolments := map[string]*mfa.Enrollment{}
	for i := range n {
		user := fmt.Sprintf("user%d", i)
		enr, codes := enrol(t, svc, clock, user)
		c.enrolment(enr, codes)
		enrolments[user] = enr
	}
	return enrolments
}

// wrongCode returns a code that none of the steps enr's code is accepted
// at, at time at, matches.
func wrongCode(enr *mfa.Enrollment, at time.Time) string {
	right := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		right[mfatest.Code(enr, at.Add(d))] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if !right[c] {
			return c
		}
	}
	panic("unreachable: four codes, three steps")
}

// newKey returns a key ring of one new key named id, its text form for
// MFA_KEYS, and the key in base64, which no output may contain.
func newKey(t *testing.T, id string) (ring *mfa.KeyRing, text, b64 string) {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	ring, err := mfa.NewKeyRing(mfa.Key{ID: id, Secret: key})
	require.NoError(t, err)
	b64 = base64.StdEncoding.EncodeToString(key)
	return ring, id + ":" + b64, b64
}

// outboxRows returns every row of the outbox table but the payload, as
// text: what a delivery attempt would change.
func (d *database) outboxRows(t *testing.T) []string {
	t.Helper()
	rows, err := d.db.Query("SELECT seq, attempts, next_at, dead FROM " + d.prefix + "events ORDER BY seq")
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var seq, attempts, nextAt, dead int64
		require.NoError(t, rows.Scan(&seq, &attempts, &nextAt, &dead))
		out = append(out, fmt.Sprint(seq, attempts, nextAt, dead))
	}
	require.NoError(t, rows.Err())
	return out
}
