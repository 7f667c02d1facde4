package main_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
)

// TestUsage: bad command lines exit with status 2, one line saying what is
// wrong and the usage; help exits with 0. None needs a database.
func TestUsage(t *testing.T) {
	db := []string{"-driver", "sqlite", "-dsn", filepath.Join(t.TempDir(), "x.db")}
	for _, tc := range []struct {
		name string
		args []string
		want string // in the first line of stderr
	}{
		{"unknown flag", append([]string{"status", "-bogus"}, db...), "flag provided but not defined: -bogus"},
		{"missing driver", []string{"status", "-dsn", "x.db", "alice"}, "missing -driver"},
		{"unknown driver", []string{"status", "-driver", "oracle", "-dsn", "x", "alice"}, `unknown -driver "oracle"`},
		{"missing dsn", []string{"unlock", "-driver", "postgres", "alice"}, "missing -dsn"},
		{"bad prefix", append([]string{"status", "-prefix", "mfa;drop"}, append(db, "alice")...), `bad -prefix: sqlstore: TablePrefix "mfa;drop"`},
		{"missing user", append([]string{"status"}, db...), "status: missing USER"},
		{"extra argument", append(append([]string{"delete"}, db...), "alice", "bob"), `delete: unexpected argument "bob"`},
		{"flag after the user", []string{"unlock", "alice", "-driver", "sqlite"}, `unlock: unexpected argument "-driver" (flags go before the arguments)`},
		{"events without tail", append([]string{"events"}, db...), `events: unknown subcommand "-driver" (want tail)`},
		{"events alone", []string{"events"}, "events: missing subcommand tail"},
		{"events tail extra", append(append([]string{"events", "tail"}, db...), "more"), `events tail: unexpected argument "more"`},
		{"events tail -n 0", append([]string{"events", "tail", "-n", "0"}, db...), "-n must be at least 1"},
		{"reseal -batch 0", append([]string{"reseal", "-batch", "0"}, db...), "-batch must be at least 1"},
		{"migrate extra", append(append([]string{"migrate"}, db...), "now"), `migrate: unexpected argument "now"`},
		{"keygen extra", []string{"keygen", "k1"}, `keygen: unexpected argument "k1"`},
		{"keygen flag", []string{"keygen", "-driver", "sqlite"}, "flag provided but not defined: -driver"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCLI(t, nil)
			r := c.run(nil, tc.args[0], tc.args[1:]...)
			assert.Contains(t, oneErrorLine(t, r, 2), tc.want)
		})
	}

	t.Run("no command", func(t *testing.T) {
		r := newCLI(t, nil).run(nil, "")
		assert.Equal(t, 2, r.code)
		assert.Contains(t, r.stderr, "usage: mfactl COMMAND")
		assert.Empty(t, r.stdout)
	})
	t.Run("unknown command", func(t *testing.T) {
		r := newCLI(t, nil).run(nil, "frobnicate")
		assert.Equal(t, 2, r.code)
		assert.True(t, strings.HasPrefix(r.stderr, "mfactl: unknown command \"frobnicate\"\nusage: mfactl COMMAND"), "stderr: %q", r.stderr)
		assert.Empty(t, r.stdout)
	})
	t.Run("help", func(t *testing.T) {
		r := newCLI(t, nil).run(nil, "help")
		assert.Equal(t, 0, r.code)
		for _, cmd := range []string{"keygen", "migrate", "reseal", "status", "unlock", "delete", "events"} {
			assert.Contains(t, r.stdout, "\n  "+cmd+" ")
		}
	})
	t.Run("command help", func(t *testing.T) {
		for _, cmd := range []string{"status", "events"} {
			r := newCLI(t, nil).run(nil, cmd, "-h")
			assert.Equal(t, 0, r.code)
			assert.Contains(t, r.stdout, "usage: mfactl "+cmd)
			assert.Contains(t, r.stdout, "-dsn string")
			assert.Empty(t, r.stderr)
		}
	})
}

// TestKeygen: keygen prints one key ring entry that ParseKeyRing takes,
// under a dated ID, different each time, and the next step on stderr.
func TestKeygen(t *testing.T) {
	c := newCLI(t, nil)
	first := c.run(nil, "keygen")
	second := c.run(nil, "keygen")
	for _, r := range []result{first, second} {
		out := ok(t, r)
		require.True(t, strings.HasSuffix(out, "\n") && strings.Count(out, "\n") == 1, "one line: %q", out)
		entry := strings.TrimSuffix(out, "\n")
		ring, err := mfa.ParseKeyRing(entry)
		require.NoError(t, err)
		id, _, _ := strings.Cut(entry, ":")
		assert.Regexp(t, regexp.MustCompile(`^k[0-9]{8}-[0-9a-f]{4}$`), id)
		assert.Equal(t, id, ring.PrimaryID())
		assert.Contains(t, r.stderr, "mfactl reseal")
		assert.NotContains(t, r.stderr, entry[len(id)+1:], "the key is printed once, on stdout")
	}
	assert.NotEqual(t, first.stdout, second.stdout)

	// Two entries make a ring, as MFA_KEYS="$(mfactl keygen),$MFA_KEYS".
	_, err := mfa.ParseKeyRing(strings.TrimSpace(first.stdout) + "," + strings.TrimSpace(second.stdout))
	assert.NoError(t, err)
}

// TestMigrate: migrate applies every schema version once; the second run
// applies nothing and says the schema is current. The schema it made
// serves a Store. A schema one version behind is refused by the other
// commands and upgraded by migrate.
func TestMigrate(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			d := b.db(t)
			c := newCLI(t, d.flags)
			out := ok(t, c.run(nil, "migrate"))
			assert.Equal(t, "applied 0001_init.sql\napplied 0002_tickets.sql\napplied 0003_factors.sql\napplied 0004_events.sql\n"+
				"applied 0005_webauthn.sql\napplied 0006_recovery_code_ids.sql\nschema now at version 6, table prefix "+d.prefix+"\n", out)

			out = ok(t, c.run(nil, "migrate"))
			assert.Equal(t, "schema already current: version 6, table prefix "+d.prefix+"\n", out)

			st, err := d.store(t, false).Get(context.Background(), "alice")
			require.NoError(t, err)
			assert.False(t, st.Enabled)

			_, err = d.db.Exec("DROP TABLE " + d.prefix + "events")
			require.NoError(t, err)
			_, err = d.db.Exec("DELETE FROM " + d.prefix + "schema_migrations WHERE version = 4")
			require.NoError(t, err)
			assert.Equal(t, "mfactl: the MFA schema lacks migration 0004_events.sql: run mfactl migrate",
				oneErrorLine(t, c.run(nil, "status", "alice"), 1))
			out = ok(t, c.run(nil, "migrate"))
			assert.Equal(t, "applied 0004_events.sql\nschema now at version 6, table prefix "+d.prefix+"\n", out)
		})
	}
}

// TestNoSchema: every command but migrate refuses a database without the
// schema under its prefix, and a SQLite file that does not exist, which it
// does not create.
func TestNoSchema(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			d := b.db(t)
			require.NoError(t, d.db.Ping()) // creates the SQLite file
			_, keys, _ := newKey(t, "k1")
			c := newCLI(t, d.flags)
			for _, args := range [][]string{{"status", "alice"}, {"unlock", "alice"}, {"delete", "alice"}, {"events tail"}, {"reseal"}} {
				r := c.run([]string{"MFA_KEYS=" + keys}, args[0], args[1:]...)
				assert.Contains(t, oneErrorLine(t, r, 1), "no MFA schema with table prefix \""+d.prefix+"\"", args[0])
			}
		})
	}
	t.Run("missing sqlite file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "typo.db")
		c := newCLI(t, []string{"-driver", "sqlite", "-dsn", path})
		r := c.run(nil, "status", "alice")
		assert.Equal(t, "mfactl: sqlite database "+path+": no such file or directory (run mfactl migrate to create it)", oneErrorLine(t, r, 1))
		assert.NoFileExists(t, path)
	})
}

// TestBadDSN: a DSN the driver cannot parse, a server that does not answer
// and a refused password fail every command with status 1 and one line
// that says what is wrong, without the password.
func TestBadDSN(t *testing.T) {
	const password = "s3cretPW"
	cases := []struct {
		name, driver, dsn string
		want              string // in the message
	}{
		{"postgres unreachable", "postgres", "postgres://u:" + password + "@127.0.0.1:1/x", "mfactl: connecting to postgres: "},
		{"postgres bad port", "postgres", "postgres://u:" + password + "@127.0.0.1:notaport/x", "mfactl: bad -dsn for postgres: "},
		{"postgres bad sslmode", "postgres", "postgres://u:" + password + "@127.0.0.1:1/x?sslmode=sometimes", "sslmode is invalid"},
		{"postgres keywords unreachable", "postgres", "host=127.0.0.1 port=1 user=u password=" + password + " dbname=x", "mfactl: connecting to postgres: "},
		{"postgres keywords bad port", "postgres", "host=127.0.0.1 port=x user=u password=" + password, "invalid port"},
		{"mysql unreachable", "mysql", "u:" + password + "@tcp(127.0.0.1:1)/x", "mfactl: connecting to mysql: "},
		{"mysql no database part", "mysql", "u:" + password + "@tcp(127.0.0.1:1)x", "mfactl: bad -dsn for mysql: invalid DSN: missing the slash separating the database name"},
		{"mysql bad timeout", "mysql", "u:" + password + "@tcp(127.0.0.1:1)/x?timeout=soon", `mfactl: bad -dsn for mysql: time: invalid duration "soon"`},
	}
	if dsn := os.Getenv(mysqlEnv); dsn != "" {
		cfg, err := mysql.ParseDSN(dsn)
		require.NoError(t, err)
		cfg.Passwd = password
		cases = append(cases, struct{ name, driver, dsn, want string }{"mysql wrong password", "mysql", cfg.FormatDSN(), "Access denied"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCLI(t, []string{"-driver", tc.driver, "-dsn", tc.dsn})
			c.secret(password)
			for _, args := range [][]string{{"migrate"}, {"status", "alice"}, {"unlock", "alice"}, {"delete", "alice"}, {"events tail"}, {"reseal"}} {
				env := []string{"MFA_KEYS=k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
				r := c.run(env, args[0], args[1:]...)
				assert.Contains(t, oneErrorLine(t, r, 1), tc.want, args[0])
			}
		})
	}
}
