package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "github.com/go-sql-driver/mysql"
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
func openDatabase(ctx context.Context, driver, dsn string) (*sqlx.DB, mfa.Store, error) {
	var db *sqlx.DB
	var err error
	switch driver {
	case "sqlite":
		if dsn == "" {
			dsn = "mfa-demo.db"
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

// The host's own tables; portable SQL for all three databases.
var hostSchema = []string{
	`CREATE TABLE IF NOT EXISTS demo_users (
		id            VARCHAR(64)  NOT NULL PRIMARY KEY,
		email         VARCHAR(255) NOT NULL UNIQUE,
		password_hash VARCHAR(100) NOT NULL,
		created_at    BIGINT       NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS demo_sessions (
		token_hash VARCHAR(64) NOT NULL PRIMARY KEY,
		user_id    VARCHAR(64) NOT NULL,
		expires_at BIGINT      NOT NULL
	)`,
}

func createHostTables(ctx context.Context, db *sqlx.DB) error {
	for _, stmt := range hostSchema {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("creating host tables: %w", err)
		}
	}
	return nil
}

// loadKeys returns the key ring that seals TOTP secrets and keys the
// recovery-code hashes: MFA_DEMO_KEYS ("id:base64,…", primary first) if
// set, else the ring in path, which is created with one random key on
// first run. A real host keeps its keys in a secret manager.
func loadKeys(path string) (*mfa.KeyRing, error) {
	if env := os.Getenv("MFA_DEMO_KEYS"); env != "" {
		return mfa.ParseKeyRing(env)
	}
	if text, err := os.ReadFile(path); err == nil {
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
	// Write a temporary file and link it into place, so that an instance
	// starting at the same time never reads a half-written key.
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
	return loadKeys(path) // ours, or the one another instance linked first
}
