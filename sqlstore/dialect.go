package sqlstore

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
)

// dialect holds everything that differs between the databases. The rest of
// the package is written once, in portable SQL with ? placeholders.
type dialect struct {
	name string
	// bind is the placeholder style, for sqlx.Rebind.
	bind int
	// returning: UPDATE … RETURNING exists (PostgreSQL, SQLite 3.35+). Where
	// it does not (MySQL, MariaDB), the row is read back inside the same
	// transaction after the UPDATE locked it.
	returning bool
	// setPending stores a pending secret unless MFA is enabled; it affects
	// no row when it is.
	setPending string
	// retryable reports a serialization failure, deadlock or busy database:
	// the transaction is run again, a bounded number of times.
	retryable func(error) bool
}

// setPendingOnConflict is the upsert of SQLite and PostgreSQL; its WHERE
// makes it affect no row when MFA is enabled.
const setPendingOnConflict = `INSERT INTO mfa_users (user_id, secret) VALUES (?, ?)
	ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret WHERE mfa_users.enabled = 0`

var (
	sqliteDialect = dialect{
		name:       "sqlite",
		bind:       sqlx.QUESTION,
		returning:  true,
		setPending: setPendingOnConflict,
		retryable:  sqliteBusy,
	}
	postgresDialect = dialect{
		name:       "postgres",
		bind:       sqlx.DOLLAR,
		returning:  true,
		setPending: setPendingOnConflict,
		retryable:  postgresRetryable,
	}
	mysqlDialect = dialect{
		name: "mysql",
		bind: sqlx.QUESTION,
		// Affects 0 rows when enabled: the secret is set to itself.
		setPending: `INSERT INTO mfa_users (user_id, secret) VALUES (?, ?)
			ON DUPLICATE KEY UPDATE secret = IF(enabled = 0, VALUES(secret), secret)`,
		retryable: mysqlRetryable,
	}
)

// dialectFor maps a database/sql driver name to its dialect.
func dialectFor(driverName string) (dialect, error) {
	switch driverName {
	case "sqlite", "sqlite3":
		return sqliteDialect, nil
	case "pgx", "pgx/v5", "postgres", "postgresql":
		return postgresDialect, nil
	case "mysql":
		return mysqlDialect, nil
	}
	return dialect{}, fmt.Errorf("sqlstore: unsupported driver %q (want sqlite, pgx, postgres or mysql; or set Config.Dialect)", driverName)
}

// sqliteBusy matches SQLITE_BUSY and SQLITE_LOCKED (with their extended
// codes) from modernc.org/sqlite and mattn/go-sqlite3, by the Code method
// both error types have, without importing either.
func sqliteBusy(err error) bool {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		switch coded.Code() & 0xff {
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return true
		}
	}
	return strings.Contains(err.Error(), "database is locked")
}

// postgresRetryable matches serialization_failure and deadlock_detected by
// SQLSTATE, through the SQLState method of pgx's *pgconn.PgError (lib/pq's
// error has one too).
func postgresRetryable(err error) bool {
	var state interface{ SQLState() string }
	if errors.As(err, &state) {
		switch state.SQLState() {
		case "40001", "40P01":
			return true
		}
	}
	return false
}

// mysqlRetryable matches ER_LOCK_DEADLOCK (1213) and ER_LOCK_WAIT_TIMEOUT
// (1205). go-sql-driver/mysql's *MySQLError has no method to ask, so its
// message ("Error 1213 (40001): …") is read.
func mysqlRetryable(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Error 1213") || strings.Contains(msg, "Error 1205")
}
