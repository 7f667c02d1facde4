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
// Upgrading: migrations move existing data in place (TestUpgradeInPlace
// holds that on every dialect). Migration 0003 (several authenticators per
// user) moves each user's secret and last time step into mfa_factors and
// drops those columns from mfa_users, which a release before it still
// reads: stop every replica of the old release, migrate, then start the
// new one, rather than rolling the upgrade through replicas one by one.
// Migration 0006 changes only MySQL: it rebuilds mfa_recovery_codes with a
// new primary key, and MySQL/MariaDB hold writes to that table (enabling,
// using or regenerating recovery codes, disabling) until the rebuild ends.
// With many users, run it (mfactl migrate) before deploying the release
// rather than from the replicas' start-up.
//
// mfa_users: one row per user who started setup or was given a WebAuthn
// user handle.
//
//	user_id           the host's user ID (primary key; byte-exact on MySQL)
//	enabled           1 once Enable succeeded, else 0 (setup is pending)
//	failures          attempts since the last success or lockout
//	lockouts          lockouts since the last success (the back-off doubles)
//	locked_until      end of the lockout, Unix milliseconds (0: none); compared
//	                  with the time the library passes in, never the database
//	                  clock
//	webauthn_handle   the user's random WebAuthn user handle (NULL until
//	                  the first security key)
//
// mfa_factors: one row per authenticator, active or pending.
//
//	factor_id      opaque random ID (primary key)
//	user_id        the user
//	type           "totp" or "webauthn"
//	name           the user's name for it, 1 to 64 characters
//	active         1 once confirmed, else 0 (at most one pending per user)
//	secret         TOTP: the secret as mfa.Service passes it (sealed);
//	               WebAuthn: the credential data the WebAuthn module keeps
//	credential_id  WebAuthn credential ID (unique), NULL for TOTP
//	counter        the last TOTP time step or signature counter accepted
//	               (replay protection, per factor)
//	created_at     Unix milliseconds
//	last_used_at   Unix milliseconds of the last accepted credential (0:
//	               never)
//
// mfa_recovery_codes: one row per recovery code of the current batch.
//
//	user_id    the user (primary key with code_hash; on MySQL a unique key,
//	           beside a BIGINT id, since migration 0006)
//	code_hash  SHA-256 or HMAC-SHA-256 of the code, bound to the user ID
//	used       1 once the code was consumed; the row stays until the next
//	           batch replaces the user's rows
//
// mfa_tickets: login challenge tickets (hash of the token, user, expiry,
// attempts).
//
// mfa_ceremonies: open WebAuthn ceremonies (hash of the ceremony ID, user,
// purpose, the WebAuthn module's session data, expiry); each is taken, and
// deleted, once.
//
// mfa_events: the audit outbox. Each event (its JSON form) is inserted by
// the transaction of the change it records and waits, in insertion order
// (seq), until a relay delivered it; attempts, next_at and dead track
// failed deliveries and events set aside. Config.DisableOutbox leaves the
// table empty and events to the Service's in-memory queue.
//
// mfa_schema_migrations: the versions Migrate applied.
//
// # Statements per operation
//
// Each operation is one transaction or one autocommitted statement. The
// counts, held by TestStatementCounts through a counting driver, exclude
// BEGIN and COMMIT; "tx" marks a transaction; "accept" is the statement
// that accepts a proof and clears the failure count: one on PostgreSQL (a
// common table expression) and MySQL (an UPDATE of two joined tables, the
// user's row first, so that MariaDB keeps its temporary table in memory), two
// on SQLite.
//
//	operation             statements             what
//	Get                   1                      SELECT user LEFT JOIN factors
//	SetPending            4 tx                   INSERT-if-missing, SELECT … FOR UPDATE, DELETE, INSERT
//	ReserveAttempt        2 tx                   conditional UPDATE, SELECT; +1 UPDATE when it starts a lockout
//	Enable                4 tx                   conditional UPDATEs of user and factor, DELETE, one 10-row INSERT
//	Accept                accept                 (a transaction on SQLite)
//	ReplaceRecoveryCodes  accept + 2 tx          DELETE, INSERT
//	AddFactor             accept + 4 tx          SELECT … FOR UPDATE, SELECT factors, DELETE, INSERT
//	ConfirmFactor         4 tx                   SELECT … FOR UPDATE, SELECT factors, UPDATE factor, UPDATE user
//	RemoveFactor          accept + 3 tx          SELECT … FOR UPDATE, SELECT factors, DELETE (every table for the last)
//	Disable               accept + 5 tx          DELETEs in every table
//	ResetThrottle         1 tx                   UPDATE (an operator's unlock)
//	CreateTicket          1                      INSERT
//	LookupTicket          1                      SELECT
//	ReserveTicket         2 tx                   conditional UPDATE, SELECT
//	CompleteChallenge     accept + 1 tx          conditional DELETE of the ticket
//	DeleteExpiredTickets  2                      DELETE of tickets, DELETE of ceremonies
//	CreateCeremony        1                      INSERT
//	TakeCeremony          1                      DELETE … RETURNING (MySQL: 2 tx, SELECT … FOR UPDATE, DELETE)
//	UserHandle            1                      upsert RETURNING (MySQL: 2 tx, upsert then SELECT)
//	ReplaceSecret         1                      conditional UPDATE
//	ListSecrets           1                      SELECT by primary key
//	Delete                5 tx                   DELETEs in every table
//	AppendEvents          1                      INSERT
//
// With the outbox, an operation given events adds one multi-row INSERT to
// its transaction (Accept on PostgreSQL and MySQL becomes one). A
// statement that changes nothing is followed by one SELECT that says why
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
