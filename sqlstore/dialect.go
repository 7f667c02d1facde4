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
	// insertIgnore inserts a row unless its key exists.
	insertIgnore string
	// forUpdate locks the rows a SELECT reads until the transaction ends;
	// empty on SQLite, whose write transactions lock the whole database.
	forUpdate string
	// returning: INSERT and DELETE take a RETURNING clause (not MySQL).
	returning bool
	// accept is how a proof is accepted together with clearing the user's
	// failure count (acceptCTE, acceptJoin, acceptTwoStatements).
	accept int
	// retryable reports a serialization failure, deadlock or busy database:
	// the transaction is run again, a bounded number of times.
	retryable func(error) bool
	// duplicate reports a unique-key violation.
	duplicate func(error) bool
}

// How a dialect accepts a proof and clears the failure count: one
// statement whose common table expression updates the proof's row
// (PostgreSQL), one UPDATE of two joined tables (MySQL), or two statements
// in the operation's transaction (SQLite).
const (
	acceptCTE = iota
	acceptJoin
	acceptTwoStatements
)

var (
	sqliteDialect = dialect{
		name:         "sqlite",
		bind:         sqlx.QUESTION,
		insertIgnore: "INSERT OR IGNORE INTO",
		returning:    true,
		accept:       acceptTwoStatements,
		retryable:    sqliteBusy,
		duplicate: func(err error) bool {
			return sqliteCode(err) == 2067 || strings.Contains(err.Error(), "UNIQUE constraint failed")
		},
	}
	postgresDialect = dialect{
		name:         "postgres",
		bind:         sqlx.DOLLAR,
		insertIgnore: "INSERT INTO",
		forUpdate:    " FOR UPDATE",
		returning:    true,
		accept:       acceptCTE,
		retryable:    func(err error) bool { return sqlState(err) == "40001" || sqlState(err) == "40P01" },
		duplicate:    func(err error) bool { return sqlState(err) == "23505" },
	}
	mysqlDialect = dialect{
		name:         "mysql",
		bind:         sqlx.QUESTION,
		insertIgnore: "INSERT IGNORE INTO",
		forUpdate:    " FOR UPDATE",
		accept:       acceptJoin,
		// ER_LOCK_DEADLOCK (1213) and ER_LOCK_WAIT_TIMEOUT (1205).
		retryable: func(err error) bool { return mysqlError(err, 1213) || mysqlError(err, 1205) },
		// ER_DUP_ENTRY.
		duplicate: func(err error) bool { return mysqlError(err, 1062) },
	}
)

// onConflictDoNothing ends dialect.insertIgnore's statement where the
// dialect needs it (PostgreSQL).
func (d dialect) onConflictDoNothing() string {
	if d.name == "postgres" {
		return " ON CONFLICT DO NOTHING"
	}
	return ""
}

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

// sqliteCode returns the extended result code of an error from
// modernc.org/sqlite or mattn/go-sqlite3, through the Code method both
// error types have, without importing either; 0 for other errors.
func sqliteCode(err error) int {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		return coded.Code()
	}
	return 0
}

// sqliteBusy matches SQLITE_BUSY and SQLITE_LOCKED with their extended
// codes.
func sqliteBusy(err error) bool {
	switch sqliteCode(err) & 0xff {
	case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
		return true
	}
	return strings.Contains(err.Error(), "database is locked")
}

// sqlState returns the SQLSTATE of a PostgreSQL error through the SQLState
// method of pgx's *pgconn.PgError (lib/pq's error has one too).
func sqlState(err error) string {
	var state interface{ SQLState() string }
	if errors.As(err, &state) {
		return state.SQLState()
	}
	return ""
}

// mysqlError reports a MySQL error with this number. go-sql-driver/mysql's
// *MySQLError has no method to ask, so its message ("Error 1213 (40001):
// …") is read.
func mysqlError(err error, number int) bool {
	return strings.Contains(err.Error(), fmt.Sprintf("Error %d", number))
}
