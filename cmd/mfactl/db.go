package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/sqlstore"
)

// connectTimeout bounds the first contact with the database, so that an
// unreachable server fails the command instead of hanging it.
const connectTimeout = 15 * time.Second

// dbFlags are the flags of every command that opens the database.
type dbFlags struct {
	driver, dsn, prefix string
}

// addDBFlags adds -driver, -dsn and -prefix to fs.
func addDBFlags(fs *flag.FlagSet) *dbFlags {
	f := &dbFlags{}
	fs.StringVar(&f.driver, "driver", "", "the database: sqlite, postgres or mysql (required)")
	fs.StringVar(&f.dsn, "dsn", "", "a SQLite file path, a PostgreSQL URL or a MySQL DSN (required)")
	fs.StringVar(&f.prefix, "prefix", "mfa_", "the prefix of the MFA tables (sqlstore.Config.TablePrefix)")
	return f
}

// check reports a missing or unknown flag value as a usage error.
func (f *dbFlags) check(cmd string) error {
	switch {
	case f.driver == "":
		return usagef("%s: missing -driver (sqlite, postgres or mysql)", cmd)
	case f.driver != "sqlite" && f.driver != "postgres" && f.driver != "mysql":
		return usagef("%s: unknown -driver %q (want sqlite, postgres or mysql)", cmd, f.driver)
	case f.dsn == "":
		return usagef("%s: missing -dsn", cmd)
	}
	return nil
}

// database is an open database and the MFA store in it.
type database struct {
	db     *sqlx.DB
	store  *sqlstore.Store
	driver string
	prefix string
}

// open connects to the database the flags name and returns the store on
// it, with the outbox off: a Service on it delivers none of the host's
// events. The file of a SQLite database must exist unless create is set
// (migrate), so that a mistyped path is not taken for an empty database.
func (a *app) open(ctx context.Context, f *dbFlags, create bool) (*database, error) {
	a.secrets = append(a.secrets, dsnPasswords(f.driver, f.dsn)...)
	var db *sqlx.DB
	var err error
	switch f.driver {
	case "sqlite":
		db, err = sqlx.Open("sqlite", sqlstore.SQLiteDSN(f.dsn)) // opens no file yet
	case "postgres":
		db, err = sqlx.Open("pgx", f.dsn)
	case "mysql":
		db, err = sqlx.Open("mysql", f.dsn)
	}
	if err != nil {
		return nil, fmt.Errorf("bad -dsn for %s: %w", f.driver, err)
	}
	store, err := sqlstore.New(db, sqlstore.Config{TablePrefix: f.prefix})
	if err != nil {
		db.Close()
		return nil, usagef("bad -prefix: %v", err) // the driver is one sqlstore knows
	}
	if f.driver == "sqlite" && !create {
		if _, err := os.Stat(f.dsn); err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlite database %s: %w (run mfactl migrate to create it)", f.dsn, errors.Unwrap(err))
		}
	}
	pingCtx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		var parseErr *pgconn.ParseConfigError // pgx parses the DSN on first use
		switch {
		case errors.As(err, &parseErr):
			return nil, fmt.Errorf("bad -dsn for %s: %w", f.driver, err)
		case f.driver == "sqlite":
			return nil, fmt.Errorf("opening sqlite database %s: %w", f.dsn, err)
		}
		return nil, fmt.Errorf("connecting to %s: %w", f.driver, err)
	}
	return &database{db: db, store: store, driver: f.driver, prefix: f.prefix}, nil
}

// close closes the database.
func (d *database) close() { d.db.Close() }

// requireSchema returns an error unless every migration this mfactl knows
// was applied: a wrong -prefix or a database never migrated would
// otherwise fail with a missing table, and an old schema in stranger ways.
func (d *database) requireSchema(ctx context.Context) error {
	versions, err := d.store.Schema(ctx)
	if err != nil || len(versions) == 0 || !versions[0].Applied {
		return fmt.Errorf("no MFA schema with table prefix %q in this database (wrong -prefix? run mfactl migrate)", d.prefix)
	}
	for _, v := range versions {
		if !v.Applied {
			return fmt.Errorf("the MFA schema lacks migration %s: run mfactl migrate", v.Name)
		}
	}
	return nil
}

// newService returns a Service on the store for the commands that need
// one, logging only warnings, to stderr. With keys nil it gets a ring of
// one throwaway key: Status, Unlock and DeleteUser never open a secret or
// hash a code, and without a ring mfa.New would warn that secrets are
// stored in plaintext, which it cannot know of the database.
func (a *app) newService(d *database, keys *mfa.KeyRing, allowPlaintext bool) (*mfa.Service, error) {
	if keys == nil {
		ring, err := mfa.NewKeyRing(mfa.Key{ID: "unused", Secret: randomBytes(32)})
		if err != nil {
			return nil, err
		}
		keys = ring
	}
	return mfa.New(mfa.Config{
		Issuer:                "mfactl",
		Store:                 d.store,
		Keys:                  keys,
		AllowPlaintextSecrets: allowPlaintext,
		NoAuditRelay:          true, // the host's relays deliver unlock's and delete's events
		Logger:                slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
}

// closeService closes svc; the events of its changes wait in the outbox
// for the host's relays.
func closeService(svc *mfa.Service) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	svc.Close(ctx)
}

// keywordPassword matches the password of a PostgreSQL keyword/value DSN.
var keywordPassword = regexp.MustCompile(`password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// dsnPasswords returns the password in dsn in the forms an error message
// may repeat it, for redaction. Drivers keep passwords out of their
// messages as a rule; this is the second line of defence, and works on a
// DSN too malformed for the driver to parse.
func dsnPasswords(driver, dsn string) []string {
	var out []string
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	switch driver {
	case "postgres":
		if u, err := url.Parse(dsn); err == nil && u.User != nil {
			pw, _ := u.User.Password()
			add(pw)
		}
		for _, m := range keywordPassword.FindAllStringSubmatch(dsn, -1) {
			add(m[1])
			add(strings.Trim(m[1], "'"))
		}
	case "mysql":
		if cfg, err := mysql.ParseDSN(dsn); err == nil {
			add(cfg.Passwd)
		}
	}
	// user:password@… in a URL or a MySQL DSN, parsed or not.
	if driver != "sqlite" {
		rest := dsn
		if _, after, ok := strings.Cut(rest, "://"); ok {
			rest = after
		}
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				add(pw)
				if dec, err := url.PathUnescape(pw); err == nil {
					add(dec)
				}
			}
		}
	}
	return out
}
