// Package sqlstore is an mfa.Store in SQLite, PostgreSQL or MySQL/MariaDB,
// on a host-provided *sqlx.DB (or *sql.DB with NewDB). It imports no driver:
// the host opens the database with the driver of its choice —
// modernc.org/sqlite (pure Go, the embedded default), pgx's stdlib, or
// go-sql-driver/mysql — and passes it in. Any number of Stores, in any
// number of processes, may share one database: every guarantee of mfa.Store
// is carried by a conditional statement or a row lock inside one
// transaction, never by a read followed by a write, and holds at
// PostgreSQL's READ COMMITTED and MySQL's REPEATABLE READ. Serialization
// failures, deadlocks and busy errors are retried a bounded number of times
// (Config.MaxRetries); other database errors are returned wrapped, for
// mfa.Service to report as mfa.ErrStore.
//
// # Schema
//
// Migrate creates the tables (safe to call from every replica at start-up);
// hosts with their own migration tool can apply the files in Migrations
// instead (migrations/<dialect>/NNNN_*.sql, written with the default prefix
// "mfa_"). Config.TablePrefix replaces the prefix.
//
// mfa_users: one row per user who started setup.
//
//	user_id       the host's user ID (primary key; byte-exact on MySQL)
//	enabled       1 once Enable succeeded, else 0 (the secret is pending)
//	secret        the TOTP secret: raw bytes as mfa.Service passes them
//	last_step     the highest TOTP time step accepted (replay protection)
//	failures      attempts since the last success or lockout
//	lockouts      lockouts since the last success (the back-off doubles)
//	locked_until  end of the lockout, Unix milliseconds (0: none); compared
//	              with the time the library passes in, never the database
//	              clock
//
// mfa_recovery_codes: one row per recovery code of the current batch.
//
//	user_id    the user (primary key with code_hash)
//	code_hash  SHA-256 or HMAC-SHA-256 of the code, bound to the user ID
//	used       1 once the code was consumed; the row stays until the next
//	           batch replaces the user's rows
//
// mfa_schema_migrations: the versions Migrate applied.
//
// # Statements per operation
//
// Each operation is one transaction or one autocommitted statement. The
// counts, held by TestStatementCounts through a counting driver, exclude
// BEGIN and COMMIT; "tx" marks a transaction.
//
//	operation             PostgreSQL  MySQL  SQLite
//	Get                   1           1      1       SELECT
//	SetPending            1           1      1       upsert
//	ReserveAttempt        1 tx        2 tx   1 tx    UPDATE … RETURNING (MySQL: UPDATE, SELECT);
//	                                                 +1 UPDATE when it starts a lockout
//	Enable                3 tx        3 tx   3 tx    conditional UPDATE, DELETE, one 10-row INSERT
//	AdvanceStep           1           1      1       conditional UPDATE
//	ConsumeRecoveryCode   1           1      1       conditional UPDATE (marks the code used)
//	ResetThrottle         1           1      1       UPDATE
//	ReplaceRecoveryCodes  3 tx        3 tx   3 tx    conditional UPDATE, DELETE, INSERT
//	Disable (TOTP)        3 tx        3 tx   3 tx    conditional DELETE, DELETE codes, DELETE tickets
//	CreateTicket          1           1      1       INSERT
//	ReserveTicket         1 tx        2 tx   1 tx    UPDATE … RETURNING (MySQL: UPDATE, SELECT)
//	CompleteChallenge     2 tx        2 tx   2 tx    DELETE ticket, conditional UPDATE
//	DeleteExpiredTickets  1           1      1       DELETE
//	ReplaceSecret         1           1      1       conditional UPDATE
//	ListSecrets           1           1      1       SELECT by primary key
//	Delete                3 tx        3 tx   3 tx    DELETEs
//
// A statement that changes nothing is followed by one SELECT that says why
// (not enabled, replay, …); that path only serves refused requests. With
// go-sql-driver/mysql, add interpolateParams=true to the DSN: without it
// every statement with arguments is a prepare, an execute and a close, three
// round trips instead of one.
//
// # SQLite
//
// Open the file with SQLiteDSN(path): write-ahead logging, a busy timeout
// and BEGIN IMMEDIATE transactions, so that concurrent writers queue rather
// than fail.
package sqlstore
