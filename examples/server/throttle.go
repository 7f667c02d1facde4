package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/identsphere/mfa"
)

// Password login is throttled in the database, so that every instance
// sharing it shares the counts:
//
//   - per account (the email address, whether or not an account has it,
//     so that a 429 does not tell which addresses exist): after 5
//     consecutive failures the account is locked for 30 seconds, doubling
//     with each further lockout up to 15 minutes; while it is locked every
//     login gets 429, even with the right password. A success resets it.
//   - per client address: at most 100 failures in a 15-minute window, a
//     looser limit so that many people behind one NAT are not locked out
//     together. IPv6 clients count per /64, the block one client usually
//     holds.
//
// An attempt is reserved (counted as a failure) before the password is
// checked, by one conditional UPDATE that counts and locks together, and
// handed back on success. So the budget is exact: however many requests
// arrive at once, on however many instances, no more passwords are checked
// than the limits allow. There is no read-then-write anywhere; a SELECT
// only follows a refused UPDATE, to tell the client how long to wait.

// loginThrottle counts failed password checks.
type loginThrottle struct {
	db  *sqlx.DB
	now func() time.Time
	// account is the per-account policy. mfa.Throttle's Backoff gives the
	// lockout lengths; MaxLockouts is not used (a password lockout always
	// ends by itself: a permanent one would let anyone lock anyone out).
	account mfa.Throttle
	// addressLimit failures per addressWindow per client address.
	addressLimit  int
	addressWindow time.Duration

	reserveAccountSQL, reserveAddressSQL string
}

func newLoginThrottle(db *sqlx.DB, now func() time.Time) *loginThrottle {
	t := &loginThrottle{
		db:            db,
		now:           now,
		account:       mfa.Throttle{MaxFailures: 5, Lockout: 30 * time.Second, MaxLockout: 15 * time.Minute},
		addressLimit:  100,
		addressWindow: 15 * time.Minute,
	}
	// One attempt on an account that is not locked: count it, and when
	// it is the MaxFailures-th, start a lockout instead (failures back to
	// 0, one more lockout, locked from now). MySQL evaluates the
	// assignments from left to right, each seeing the columns assigned
	// before it, so every assignment reads only columns assigned after it
	// (or itself); SQLite and PostgreSQL read the old values throughout.
	t.reserveAccountSQL = db.Rebind(fmt.Sprintf(`UPDATE demo_login_accounts
		SET locked_at = CASE WHEN failures + 1 >= %[1]d THEN ? ELSE locked_at END,
		    lockouts  = CASE WHEN failures + 1 >= %[1]d THEN lockouts + 1 ELSE lockouts END,
		    failures  = CASE WHEN failures + 1 >= %[1]d THEN 0 ELSE failures + 1 END
		WHERE email = ? AND locked_at + %[2]s <= ?`, t.account.MaxFailures, t.lockoutLengthSQL()))
	// One attempt from an address: a new window when the last one is
	// over, else one more failure if the window has room. The same
	// left-to-right order as above.
	t.reserveAddressSQL = db.Rebind(`UPDATE demo_login_addresses
		SET failures     = CASE WHEN window_start <= ? THEN 1 ELSE failures + 1 END,
		    window_start = CASE WHEN window_start <= ? THEN ? ELSE window_start END
		WHERE address = ? AND (window_start <= ? OR failures < ?)`)
	return t
}

// lockoutLengthSQL is an SQL expression for the length, in milliseconds,
// of an account's last lockout given its lockouts column: 0 for none, then
// the policy's back-off for the first, second, … lockout.
func (t *loginThrottle) lockoutLengthSQL() string {
	var b strings.Builder
	b.WriteString("(CASE lockouts WHEN 0 THEN 0")
	n := 1
	for ; t.account.Backoff(n-1) < t.account.MaxLockout; n++ {
		fmt.Fprintf(&b, " WHEN %d THEN %d", n, t.account.Backoff(n-1).Milliseconds())
	}
	fmt.Fprintf(&b, " ELSE %d END)", t.account.MaxLockout.Milliseconds())
	return b.String()
}

// lockoutLength is lockoutLengthSQL in Go.
func (t *loginThrottle) lockoutLength(lockouts int) time.Duration {
	if lockouts == 0 {
		return 0
	}
	return t.account.Backoff(lockouts - 1)
}

// loginAttempt is a reserved attempt: the caller checks the password, then
// calls succeeded or leaves it counted as a failure.
type loginAttempt struct {
	t              *loginThrottle
	email, address string
}

// reserve takes one attempt for email from address. When either is out of
// attempts it takes none and returns how long to wait (positive); the
// reason is for the log. An empty email (not an address at all, so no
// account can have it) counts for the address only.
func (t *loginThrottle) reserve(ctx context.Context, email, address string) (attempt *loginAttempt, wait time.Duration, reason string, err error) {
	address = addressKey(address)
	if wait, err := t.reserveAddress(ctx, address); err != nil || wait > 0 {
		return nil, wait, "client address", err
	}
	if email != "" {
		wait, err := t.reserveAccount(ctx, email)
		if err != nil || wait > 0 {
			// The password will not be checked: give the address its
			// attempt back.
			if rerr := t.releaseAddress(ctx, address); err == nil {
				err = rerr
			}
			return nil, wait, "account", err
		}
	}
	return &loginAttempt{t: t, email: email, address: address}, 0, "", nil
}

// succeeded records that the password was right: the account's failures
// and lockouts are forgotten, and the address gets its attempt back.
func (a *loginAttempt) succeeded(ctx context.Context) error {
	if a.email != "" {
		if _, err := a.t.db.ExecContext(ctx, a.t.db.Rebind(`DELETE FROM demo_login_accounts WHERE email = ?`), a.email); err != nil {
			return err
		}
	}
	return a.t.releaseAddress(ctx, a.address)
}

// reserveAccount takes one attempt of the account's budget, or returns how
// long its lockout still lasts.
func (t *loginThrottle) reserveAccount(ctx context.Context, email string) (time.Duration, error) {
	for range 3 {
		now := t.now().UnixMilli()
		res, err := t.db.ExecContext(ctx, t.reserveAccountSQL, now, email, now)
		if err != nil {
			return 0, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return 0, err
		}
		// Refused: the account is locked, or has no row yet.
		var row struct {
			Lockouts int   `db:"lockouts"`
			LockedAt int64 `db:"locked_at"`
		}
		err = t.db.GetContext(ctx, &row, t.db.Rebind(`SELECT lockouts, locked_at FROM demo_login_accounts WHERE email = ?`), email)
		if errors.Is(err, sql.ErrNoRows) {
			_, err = t.db.ExecContext(ctx, insertIgnore(t.db, "demo_login_accounts", "email", 1), email)
			if err != nil {
				return 0, err
			}
			continue
		} else if err != nil {
			return 0, err
		}
		if wait := time.UnixMilli(row.LockedAt).Add(t.lockoutLength(row.Lockouts)).Sub(t.now()); wait > 0 {
			return wait, nil
		}
		// The lockout ended between the two statements: try again.
	}
	return 0, errors.New("login throttle: could not reserve an attempt for the account")
}

// reserveAddress takes one attempt of the client address's budget, or
// returns how long until its window ends.
func (t *loginThrottle) reserveAddress(ctx context.Context, address string) (time.Duration, error) {
	for range 3 {
		now := t.now()
		cutoff := now.Add(-t.addressWindow).UnixMilli()
		res, err := t.db.ExecContext(ctx, t.reserveAddressSQL, cutoff, cutoff, now.UnixMilli(), address, cutoff, t.addressLimit)
		if err != nil {
			return 0, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return 0, err
		}
		// The UPDATE changed nothing: the address has no row yet, or its
		// window is full. (A row another request inserted meanwhile may
		// already count its first failures: that is not a full window.)
		var row struct {
			WindowStart int64 `db:"window_start"`
			Failures    int   `db:"failures"`
		}
		err = t.db.GetContext(ctx, &row, t.db.Rebind(`SELECT window_start, failures FROM demo_login_addresses WHERE address = ?`), address)
		if errors.Is(err, sql.ErrNoRows) {
			_, err = t.db.ExecContext(ctx, insertIgnore(t.db, "demo_login_addresses", "address", 1), address)
			if err != nil {
				return 0, err
			}
			continue
		} else if err != nil {
			return 0, err
		}
		if wait := time.UnixMilli(row.WindowStart).Add(t.addressWindow).Sub(t.now()); wait > 0 && row.Failures >= t.addressLimit {
			return wait, nil
		}
	}
	return 0, errors.New("login throttle: could not reserve an attempt for the client address")
}

// releaseAddress gives back an attempt the address did not use for a
// failure. Should its window have ended meanwhile, the next window is one
// failure short, which is harmless.
func (t *loginThrottle) releaseAddress(ctx context.Context, address string) error {
	_, err := t.db.ExecContext(ctx, t.db.Rebind(`UPDATE demo_login_addresses SET failures = failures - 1 WHERE address = ? AND failures > 0`), address)
	return err
}

// addressKey is what a client address counts under: an IPv4 address as it
// is (also when a dual-stack listener reports it IPv4-mapped), an IPv6
// address by its /64 prefix.
func addressKey(ip string) string {
	addr := net.ParseIP(ip)
	if addr == nil {
		return ip
	}
	if v4 := addr.To4(); v4 != nil {
		return v4.String()
	}
	prefix := &net.IPNet{IP: addr.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}
	return prefix.String()
}
