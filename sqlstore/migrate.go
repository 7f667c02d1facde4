package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Migrations holds the schema as plain SQL files, one folder per dialect
// (migrations/sqlite, migrations/postgres, migrations/mysql), named
// NNNN_description.sql and written with the default "mfa_" table prefix.
// Hosts that run goose or golang-migrate can apply them instead of Migrate.
//
//go:embed migrations
var Migrations embed.FS

type migration struct {
	version int
	name    string
	stmts   []string
}

// migrations returns the dialect's migrations in order, with the store's
// prefix.
func (s *Store) migrations() ([]migration, error) {
	dir := path.Join("migrations", s.d.name)
	entries, err := fs.ReadDir(Migrations, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("sqlstore: bad migration file name %q", e.Name())
		}
		text, err := fs.ReadFile(Migrations, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: version, name: e.Name(), stmts: splitStatements(strings.ReplaceAll(string(text), "mfa_", s.prefix))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// SchemaVersion is one migration that sqlstore ships for a dialect.
type SchemaVersion struct {
	Version int
	Name    string // the file name, such as "0003_factors.sql"
	Applied bool   // recorded in <prefix>schema_migrations
}

// Schema lists the migrations of the store's dialect, oldest first, and
// which of them the database has; an error when it has no
// <prefix>schema_migrations table (never migrated, or another prefix).
func (s *Store) Schema(ctx context.Context) ([]SchemaVersion, error) {
	ms, err := s.migrations()
	if err != nil {
		return nil, err
	}
	var applied []int
	if err := s.db.SelectContext(ctx, &applied, "SELECT version FROM "+s.prefix+"schema_migrations"); err != nil {
		return nil, s.wrap("schema", err)
	}
	out := make([]SchemaVersion, len(ms))
	for i, m := range ms {
		out[i] = SchemaVersion{Version: m.version, Name: m.name, Applied: slices.Contains(applied, m.version)}
	}
	return out, nil
}

// splitStatements splits a migration file at semicolons that end a line,
// dropping comment lines.
func splitStatements(text string) []string {
	var stmts []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			stmts = append(stmts, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if rest := strings.TrimSpace(cur.String()); rest != "" {
		stmts = append(stmts, rest)
	}
	return stmts
}

// Migrate creates or upgrades the schema. It is idempotent, and safe when
// several replicas start at once: PostgreSQL serialises them with a
// transaction-scoped advisory lock, MySQL with GET_LOCK, SQLite with its
// write lock; each applied version is recorded in the table
// <prefix>schema_migrations. On PostgreSQL and SQLite a failing migration
// leaves nothing behind; MySQL cannot roll back DDL, so there a failure
// may leave part of one version applied.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := s.migrations()
	if err != nil {
		return err
	}
	// Replicas starting together contend for the lock; SQLite may answer
	// "busy" at once instead of waiting, so those are retried for a while.
	for attempt := 1; ; attempt++ {
		err := s.migrate(ctx, ms)
		if err == nil || attempt == 50 || !s.d.retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(min(attempt, 10)) * 10 * time.Millisecond):
		}
	}
}

func (s *Store) migrate(ctx context.Context, ms []migration) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	defer conn.Close()

	lockName := s.prefix + "schema_migrations"
	if s.d.name == "mysql" {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 60)", lockName).Scan(&got); err != nil {
			return fmt.Errorf("sqlstore: migrate: lock: %w", err)
		}
		if got.Int64 != 1 {
			return errors.New("sqlstore: migrate: timed out waiting for the migration lock")
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(?)", lockName)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	defer tx.Rollback()
	if s.d.name == "postgres" {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(crc32.ChecksumIEEE([]byte(lockName)))); err != nil {
			return fmt.Errorf("sqlstore: migrate: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+lockName+" (version INTEGER NOT NULL PRIMARY KEY)"); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	applied := map[int]bool{}
	rows, err := tx.QueryContext(ctx, "SELECT version FROM "+lockName)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("sqlstore: migrate: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		for _, stmt := range m.stmts {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("sqlstore: migrate %s: %w", m.name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, sqlx.Rebind(s.d.bind, "INSERT INTO "+lockName+" (version) VALUES (?)"), m.version); err != nil {
			return fmt.Errorf("sqlstore: migrate %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	return nil
}
