package sqlstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/sqlstore"
)

// A counting driver wrapper: every statement a connection runs, and every
// transaction it begins, is counted, so that a test can hold each Store
// operation to the statement counts in the package doc.

type counts struct {
	statements atomic.Int64
	txs        atomic.Int64
}

type countingConnector struct {
	driver.Connector
	c *counts
}

func (cc countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := cc.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, c: cc.c}, nil
}

type dsnConnector struct {
	dsn string
	drv driver.Driver
}

func (d dsnConnector) Connect(context.Context) (driver.Conn, error) { return d.drv.Open(d.dsn) }
func (d dsnConnector) Driver() driver.Driver                        { return d.drv }

type countingConn struct {
	driver.Conn
	c *counts
}

func (cn *countingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	ex, ok := cn.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	res, err := ex.ExecContext(ctx, query, args)
	if err != driver.ErrSkip { // ErrSkip: database/sql prepares it instead
		cn.c.statements.Add(1)
	}
	return res, err
}

func (cn *countingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := cn.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	rows, err := q.QueryContext(ctx, query, args)
	if err != driver.ErrSkip {
		cn.c.statements.Add(1)
	}
	return rows, err
}

func (cn *countingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var st driver.Stmt
	var err error
	if p, ok := cn.Conn.(driver.ConnPrepareContext); ok {
		st, err = p.PrepareContext(ctx, query)
	} else {
		st, err = cn.Conn.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &countingStmt{Stmt: st, c: cn.c}, nil
}

func (cn *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	cn.c.txs.Add(1)
	if b, ok := cn.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return cn.Conn.Begin() //nolint:staticcheck // fallback for old drivers
}

func (cn *countingConn) Ping(ctx context.Context) error {
	if p, ok := cn.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (cn *countingConn) ResetSession(ctx context.Context) error {
	if r, ok := cn.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (cn *countingConn) CheckNamedValue(nv *driver.NamedValue) error {
	if c, ok := cn.Conn.(driver.NamedValueChecker); ok {
		return c.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

type countingStmt struct {
	driver.Stmt
	c *counts
}

func (s *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.c.statements.Add(1)
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.c.statements.Add(1)
	return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}

// openCounting opens driverName/dsn through the counting wrapper.
func openCounting(t *testing.T, driverName, dsn string) (*sqlx.DB, *counts) {
	probe, err := sql.Open(driverName, dsn)
	require.NoError(t, err)
	drv := probe.Driver()
	probe.Close()
	var connector driver.Connector = dsnConnector{dsn: dsn, drv: drv}
	if dc, ok := drv.(driver.DriverContext); ok {
		connector, err = dc.OpenConnector(dsn)
		require.NoError(t, err)
	}
	c := &counts{}
	db := sqlx.NewDb(sql.OpenDB(countingConnector{Connector: connector, c: c}), driverName)
	t.Cleanup(func() { db.Close() })
	return db, c
}

// The statement and transaction counts of every operation on its success
// path, per dialect; the package doc states the same numbers.
func TestStatementCounts(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			plain := b.open(t) // skips PostgreSQL and MySQL without their DSN
			driverName, dsn := dsnOf(t, b.name, plain)
			db, c := openCounting(t, driverName, dsn)
			store := newStore(t, db, "")
			ctx := context.Background()
			now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
			f, g := pendingFactor(), pendingFactor()
			codes := hashes(10)
			ticket := random(32)
			throttle := mfa.Throttle{MaxFailures: 5, Lockout: time.Minute, MaxLockout: time.Hour}

			// Accepting a proof is one statement where the dialect can join
			// the proof's row and the user's (PostgreSQL, MySQL), two in a
			// transaction on SQLite.
			accept, acceptTx := 1, 0
			if b.name == "sqlite" {
				accept, acceptTx = 2, 1
			}
			// pick returns mysql on MySQL, else other.
			pick := func(other, mysql int) int {
				if b.name == "mysql" {
					return mysql
				}
				return other
			}
			for _, op := range []struct {
				name       string
				statements int
				txs        int
				run        func() error
			}{
				{"SetPending", 4, 1, func() error { return store.SetPending(ctx, "u", f, nil) }},
				{"ReserveAttempt(pending)", 2, 1, func() error {
					_, err := store.ReserveAttempt(ctx, "u", mfa.Attempt{Now: now, Throttle: throttle})
					return err
				}},
				{"Enable", 4, 1, func() error {
					return store.Enable(ctx, "u", mfa.Enablement{FactorID: f.ID, Counter: 10, UsedAt: now, RecoveryCodes: codes}, nil)
				}},
				{"Get", 1, 0, func() error { _, err := store.Get(ctx, "u"); return err }},
				{"ReserveAttempt", 2, 1, func() error {
					_, err := store.ReserveAttempt(ctx, "u", mfa.Attempt{Enabled: true, Now: now, Throttle: throttle})
					return err
				}},
				{"Accept(step)", accept, acceptTx, func() error { return store.Accept(ctx, "u", step(f, 11), nil) }},
				{"Accept(recovery code)", accept, acceptTx, func() error { return store.Accept(ctx, "u", codeProof(codes[0]), nil) }},
				{"ResetThrottle", 1, 1, func() error { return store.ResetThrottle(ctx, "u", nil) }},
				{"ReplaceRecoveryCodes", accept + 2, 1, func() error { return store.ReplaceRecoveryCodes(ctx, "u", step(f, 12), hashes(10), nil) }},
				{"AddFactor", accept + 4, 1, func() error { return store.AddFactor(ctx, "u", step(f, 13), g, 5, nil) }},
				{"ConfirmFactor", 4, 1, func() error {
					return store.ConfirmFactor(ctx, "u", mfa.Confirmation{FactorID: g.ID, Counter: 13, UsedAt: now}, 5, nil)
				}},
				{"RemoveFactor", accept + 3, 1, func() error { _, err := store.RemoveFactor(ctx, "u", g.ID, step(f, 14), nil, nil); return err }},
				{"CreateTicket", 1, 0, func() error {
					return store.CreateTicket(ctx, mfa.Ticket{Hash: ticket, UserID: "u", ExpiresAt: now.Add(time.Minute)})
				}},
				{"LookupTicket", 1, 0, func() error { _, err := store.LookupTicket(ctx, ticket, now); return err }},
				{"ReserveTicket", 2, 1, func() error { _, err := store.ReserveTicket(ctx, ticket, now, 5); return err }},
				{"CompleteChallenge", accept + 1, 1, func() error { return store.CompleteChallenge(ctx, ticket, "u", step(f, 15), now, nil) }},
				{"DeleteExpiredTickets", 2, 0, func() error { _, err := store.DeleteExpiredTickets(ctx, now); return err }},
				{"ReplaceSecret", 1, 0, func() error { _, err := store.ReplaceSecret(ctx, f.ID, f.Secret, random(20)); return err }},
				{"ListSecrets", 1, 0, func() error { _, err := store.ListSecrets(ctx, "", 10); return err }},
				{"CreateCeremony", 1, 0, func() error {
					return store.CreateCeremony(ctx, mfa.Ceremony{Hash: ticket, UserID: "u", Purpose: mfa.CeremonySession, Data: []byte("s"), ExpiresAt: now.Add(time.Minute)})
				}},
				{"TakeCeremony", pick(1, 2), pick(0, 1), func() error { _, err := store.TakeCeremony(ctx, ticket, now); return err }},
				{"UserHandle", pick(1, 2), pick(0, 1), func() error { _, err := store.UserHandle(ctx, "u", random(32)); return err }},
				{"Disable", accept + 5, 1, func() error { return store.Disable(ctx, "u", step(f, 16), nil) }},
				{"Delete", 5, 1, func() error { return store.Delete(ctx, "u", nil) }},
			} {
				before, beforeTx := c.statements.Load(), c.txs.Load()
				require.NoError(t, op.run(), op.name)
				assert.EqualValues(t, op.statements, c.statements.Load()-before, "%s: statements", op.name)
				assert.EqualValues(t, op.txs, c.txs.Load()-beforeTx, "%s: transactions", op.name)
			}
		})
	}
}

// dsnOf returns the driver name and DSN the backend opened db with.
func dsnOf(t *testing.T, name string, db *sqlx.DB) (string, string) {
	switch name {
	case "postgres":
		return "pgx", envDSN(postgresEnv)
	case "mysql":
		return "mysql", envDSN(mysqlEnv)
	}
	return "sqlite", sqlstore.SQLiteDSN(t.TempDir() + "/count.db")
}

// On MySQL and MariaDB, accepting a proof keeps the IDs of the rows its
// joined UPDATE changes in an in-memory temporary table, never one on disk,
// which doubled the statement's time (schema version 6 and the order of
// the join; see acceptStatements).
func TestMySQLAcceptNeedsNoDiskTable(t *testing.T) {
	for _, b := range backends(t) {
		if b.name != "mysql" {
			continue
		}
		db := b.open(t)
		db.SetMaxOpenConns(1) // one session, whose status counts its statements
		store := newStore(t, db, "")
		ctx := context.Background()
		f := pendingFactor()
		codes := hashes(10)
		require.NoError(t, store.SetPending(ctx, "u", f, nil))
		require.NoError(t, store.Enable(ctx, "u", mfa.Enablement{FactorID: f.ID, Counter: 10, RecoveryCodes: codes}, nil))
		diskTables := func() int64 {
			var name string
			var n int64
			require.NoError(t, db.QueryRowx("SHOW SESSION STATUS LIKE 'Created_tmp_disk_tables'").Scan(&name, &n))
			return n
		}
		before := diskTables()
		require.NoError(t, store.Accept(ctx, "u", step(f, 11), nil))
		require.NoError(t, store.Accept(ctx, "u", codeProof(codes[0]), nil))
		assert.Equal(t, before, diskTables(), "temporary tables written to disk")
	}
}
