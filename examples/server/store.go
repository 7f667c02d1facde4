package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/memstore"
	"github.com/identsphere/mfa/sqlstore"
)

// openDatabase opens the host's database and the MFA store in it. The
// host's users and sessions live in the same database as the MFA state,
// so that instances sharing a PostgreSQL or MySQL database act as one app.
// With -driver memory the MFA state is in memory and the host's tables in
// an in-memory SQLite database.
func openDatabase(ctx context.Context, driver, dsn string, logger *slog.Logger) (*sqlx.DB, mfa.Store, error) {
	var db *sqlx.DB
	var err error
	switch driver {
	case "sqlite":
		if dsn == "" {
			dsn = "mfa-demo.db"
		}
		if err := ownerOnly(dsn, logger); err != nil {
			return nil, nil, err
		}
		db, err = sqlx.Open("sqlite", sqlstore.SQLiteDSN(dsn))
	case "memory":
		db, err = sqlx.Open("sqlite", ":memory:")
		if db != nil {
			db.SetMaxOpenConns(1) // one connection: one in-memory database
		}
	case "postgres":
		db, err = sqlx.Open("pgx", dsn)
	case "mysql":
		db, err = sqlx.Open("mysql", dsn)
	default:
		return nil, nil, fmt.Errorf("unknown -driver %q (want sqlite, postgres, mysql or memory)", driver)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("connecting to %s: %w", driver, err)
	}
	if err := createHostTables(ctx, db); err != nil {
		db.Close()
		return nil, nil, err
	}
	if driver == "memory" {
		return db, memstore.New(), nil
	}
	store, err := sqlstore.New(db, sqlstore.Config{})
	if err == nil {
		err = store.Migrate(ctx)
	}
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, store, nil
}

// ownerOnly makes the SQLite database file at path readable and writable
// by its owner only (0600): it creates the file empty when it does not
// exist yet, which SQLite accepts as a new database, and tightens the mode
// of an existing one and of its -wal and -shm files. SQLite gives the -wal
// and -shm files it creates the mode of the database file.
func ownerOnly(path string, logger *slog.Logger) error {
	if strings.HasPrefix(path, "file:") || strings.Contains(path, "?") || path == ":memory:" {
		return nil // a URI with options: the operator is in charge
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		info, err := os.Stat(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return err
		}
		if info.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(name, 0o600); err != nil {
				return err
			}
			logger.Info("made the database file readable by its owner only", "file", name, "was", info.Mode().Perm().String())
		}
	}
	return nil
}

// The host's own tables, in SQL that SQLite, PostgreSQL and MySQL all
// accept. The times of sessions and of the login throttle are Unix
// milliseconds from the app's clock, never the database's
// (demo_users.created_at is in seconds).
var hostSchema = []string{
	`CREATE TABLE IF NOT EXISTS demo_users (
		id            VARCHAR(64)  NOT NULL PRIMARY KEY,
		email         VARCHAR(255) NOT NULL UNIQUE,
		password_hash VARCHAR(100) NOT NULL,
		created_at    BIGINT       NOT NULL
	)`,
	// mfa_verified_at is when the session last verified MFA (the login
	// challenge or POST /v1/auth/mfa/verify), 0 if never: what
	// RequireStepUp reads.
	`CREATE TABLE IF NOT EXISTS demo_sessions (
		token_hash      VARCHAR(64) NOT NULL PRIMARY KEY,
		user_id         VARCHAR(64) NOT NULL,
		expires_at      BIGINT      NOT NULL,
		mfa_verified_at BIGINT      NOT NULL DEFAULT 0
	)`,
	// Password-login throttling per account (see throttle.go): failures
	// since the last success or lockout, lockouts since the last success,
	// and when the last lockout began.
	`CREATE TABLE IF NOT EXISTS demo_login_accounts (
		email     VARCHAR(255) NOT NULL PRIMARY KEY,
		failures  INTEGER      NOT NULL DEFAULT 0,
		lockouts  INTEGER      NOT NULL DEFAULT 0,
		locked_at BIGINT       NOT NULL DEFAULT 0
	)`,
	// Password-login throttling per client address: failures in the
	// window that began at window_start.
	`CREATE TABLE IF NOT EXISTS demo_login_addresses (
		address      VARCHAR(64) NOT NULL PRIMARY KEY,
		failures     INTEGER     NOT NULL DEFAULT 0,
		window_start BIGINT      NOT NULL DEFAULT 0
	)`,
}

// hostColumns are columns added after the first release of a table:
// databases created before get them with ALTER TABLE.
var hostColumns = []struct{ table, column, definition string }{
	{"demo_sessions", "mfa_verified_at", "BIGINT NOT NULL DEFAULT 0"},
}

// hostIndexes are the host tables' secondary indexes.
var hostIndexes = []struct{ name, table, columns string }{
	{"demo_sessions_user", "demo_sessions", "user_id"}, // ending a user's other sessions
}

// createHostTables creates the host's tables, columns and indexes that
// are missing. Instances starting together on PostgreSQL would race on the
// catalog (CREATE … IF NOT EXISTS is not safe there against a concurrent
// creation), so there the statements run on one connection that holds an
// advisory lock; MySQL and SQLite serialize DDL themselves.
func createHostTables(ctx context.Context, db *sqlx.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if db.DriverName() == "pgx" {
		const lock = "SELECT pg_advisory_lock(hashtext('demo host tables'))"
		if _, err := conn.ExecContext(ctx, lock); err != nil {
			return fmt.Errorf("locking the host tables: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext('demo host tables'))")
	}
	for _, stmt := range hostSchema {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("creating host tables: %w", err)
		}
	}
	for _, c := range hostColumns {
		if err := addColumn(ctx, conn, c.table, c.column, c.definition); err != nil {
			return fmt.Errorf("adding %s.%s: %w", c.table, c.column, err)
		}
	}
	for _, ix := range hostIndexes {
		if err := createIndex(ctx, conn, db.DriverName() == "mysql", ix.name, ix.table, ix.columns); err != nil {
			return fmt.Errorf("creating index %s: %w", ix.name, err)
		}
	}
	return nil
}

// addColumn adds a column to a table that lacks it. Instances starting
// together on MySQL may both try: when ALTER TABLE fails, the column being
// there after all is success.
func addColumn(ctx context.Context, conn *sql.Conn, table, column, definition string) error {
	probe := fmt.Sprintf("SELECT %s FROM %s WHERE 1 = 0", column, table)
	if _, err := conn.ExecContext(ctx, probe); err == nil {
		return nil
	}
	_, err := conn.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", table, column, definition))
	if err != nil {
		if _, probeErr := conn.ExecContext(ctx, probe); probeErr == nil {
			return nil
		}
	}
	return err
}

// createIndex creates an index unless it exists. MySQL has no CREATE
// INDEX IF NOT EXISTS (MariaDB has), so there an existing index's error
// (ER_DUP_KEYNAME) is success.
func createIndex(ctx context.Context, conn *sql.Conn, mysqlDB bool, name, table, columns string) error {
	ifNotExists := " IF NOT EXISTS"
	if mysqlDB {
		ifNotExists = ""
	}
	_, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE INDEX%s %s ON %s (%s)", ifNotExists, name, table, columns))
	var my *mysql.MySQLError
	if errors.As(err, &my) && my.Number == 1061 {
		return nil
	}
	return err
}

// insertIgnore returns an INSERT statement of columns into table that does
// nothing when a row with the same key exists: the one statement whose
// form differs between the databases.
func insertIgnore(db *sqlx.DB, table, columns string, values int) string {
	placeholders := strings.TrimSuffix(strings.Repeat("?, ", values), ", ")
	if db.DriverName() == "mysql" {
		return db.Rebind(fmt.Sprintf("INSERT IGNORE INTO %s (%s) VALUES (%s)", table, columns, placeholders))
	}
	return db.Rebind(fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT DO NOTHING", table, columns, placeholders))
}

// loadKeys returns the key ring that seals TOTP secrets and keys the
// recovery-code hashes: MFA_DEMO_KEYS ("id:base64,…", primary first) if
// set, else the ring in path, which is created with one random key on
// first run, readable by its owner only. A real host keeps its keys in a
// secret manager.
func loadKeys(path string, logger *slog.Logger) (*mfa.KeyRing, error) {
	if env := os.Getenv("MFA_DEMO_KEYS"); env != "" {
		return mfa.ParseKeyRing(env)
	}
	if text, err := os.ReadFile(path); err == nil {
		if info, err := os.Stat(path); err == nil && info.Mode().Perm()&0o077 != 0 {
			logger.Warn("the key file is readable by others than its owner: chmod 600 it", "file", path, "mode", info.Mode().Perm().String())
		}
		ring, err := mfa.ParseKeyRing(string(text))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return ring, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	// Write a temporary file (os.CreateTemp makes it 0600) and link it
	// into place, so that an instance starting at the same time never
	// reads a half-written key.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".mfa-demo-key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = fmt.Fprintf(tmp, "k%d:%s\n", time.Now().Unix(), base64.StdEncoding.EncodeToString(key))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	return loadKeys(path, logger) // ours, or the one another instance linked first
}
