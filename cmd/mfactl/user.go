package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/identsphere/mfa"
)

// defaultMaxLockouts is the default of mfa.Throttle.MaxLockouts: the
// number of lockouts in a row after which a user is locked for good.
const defaultMaxLockouts = 20

// openUser parses the flags of a command on one user, opens the database
// and reads the user's state: an error when the user has none. unlock and
// delete act after this check, in an operation of their own; a user
// enrolled or deleted in between does no harm, as Unlock and DeleteUser
// of a user without state change nothing.
func (a *app) openUser(ctx context.Context, fs *flag.FlagSet, dbf *dbFlags, args []string) (*database, string, mfa.State, error) {
	rest, err := parse(fs, args, "USER")
	if err != nil {
		return nil, "", mfa.State{}, err
	}
	if err := dbf.check(fs.Name()); err != nil {
		return nil, "", mfa.State{}, err
	}
	d, err := a.open(ctx, dbf, false)
	if err != nil {
		return nil, "", mfa.State{}, err
	}
	if err := d.requireSchema(ctx); err != nil {
		d.close()
		return nil, "", mfa.State{}, err
	}
	user := rest[0]
	st, err := d.store.Get(ctx, user)
	if err != nil {
		d.close()
		return nil, "", mfa.State{}, err
	}
	if !hasState(st) {
		d.close()
		return nil, "", mfa.State{}, fmt.Errorf("user %q has no MFA state", user)
	}
	return d, user, st, nil
}

// hasState reports whether st is a user's state rather than the zero State
// Store.Get returns for a user without any.
func hasState(st mfa.State) bool {
	return st.Enabled || len(st.Factors) > 0 || st.RecoveryCodes > 0 ||
		st.Failures > 0 || st.Lockouts > 0 || !st.LockedUntil.IsZero()
}

// runStatus prints a user's MFA state: enabled or not, the authenticators,
// a pending setup, the recovery codes left and the lock state, from one
// Store.Get.
func runStatus(ctx context.Context, a *app, args []string) error {
	fs := newFlags("status")
	dbf := addDBFlags(fs)
	maxLockouts := fs.Int("max-lockouts", defaultMaxLockouts, "the host's Throttle.MaxLockouts: lockouts in a row that lock a user for good (negative: never)")
	d, user, st, err := a.openUser(ctx, fs, dbf, args)
	if err != nil {
		return err
	}
	defer d.close()

	var active, pending []mfa.Factor
	for _, f := range st.Factors {
		if f.Active {
			active = append(active, f)
		} else {
			pending = append(pending, f)
		}
	}
	w := a.stdout
	field := func(name, format string, args ...any) {
		fmt.Fprintf(w, "%-16s"+format+"\n", append([]any{name}, args...)...)
	}
	field("user", "%q", user)
	if st.Enabled {
		field("mfa", "enabled")
	} else {
		field("mfa", "not enabled")
	}
	if len(pending) == 0 {
		field("pending setup", "no")
	}
	for _, f := range pending {
		field("pending setup", "%s %q (%s), started %s", f.ID, f.Name, f.Type, timestamp(f.CreatedAt))
	}
	field("authenticators", "%d active", len(active))
	if len(active) > 0 {
		printFactors(w, active)
	}
	field("recovery codes", "%d remaining", st.RecoveryCodes)
	field("failures", "%d since the last success or lockout", st.Failures)
	field("lockouts", "%d in a row", st.Lockouts)
	field("lock", "%s", lockState(st, *maxLockouts, time.Now()))
	return nil
}

// printFactors prints a table of factors, indented.
func printFactors(w io.Writer, fs []mfa.Factor) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  ID\tNAME\tTYPE\tADDED\tLAST USED")
	for _, f := range fs {
		fmt.Fprintf(tw, "  %s\t%q\t%s\t%s\t%s\n", f.ID, f.Name, f.Type, timestamp(f.CreatedAt), timestamp(f.LastUsedAt))
	}
	tw.Flush()
}

// lockState describes the lock of a user with state st at now, with the
// predicate the stores use.
func lockState(st mfa.State, maxLockouts int, now time.Time) string {
	l := mfa.Throttle{MaxLockouts: maxLockouts}.Locked(st.Lockouts, st.LockedUntil, now)
	switch {
	case l == nil:
		return "not locked"
	case l.Permanent:
		return fmt.Sprintf("locked for good after %d lockouts in a row (mfactl unlock lifts it)", st.Lockouts)
	}
	return fmt.Sprintf("locked until %s (%s from now)", timestamp(st.LockedUntil), l.RetryAfter.Round(time.Second))
}

// timestamp formats t in UTC, or "never" for the zero time.
func timestamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// changeUser runs the command name on the user its arguments name: it
// reads the user's state (an error when there is none), then applies
// change through a Service, and returns the user and the state before.
func (a *app) changeUser(ctx context.Context, name string, args []string, change func(*mfa.Service, context.Context, string) error) (string, mfa.State, error) {
	fs := newFlags(name)
	dbf := addDBFlags(fs)
	d, user, st, err := a.openUser(ctx, fs, dbf, args)
	if err != nil {
		return "", mfa.State{}, err
	}
	defer d.close()
	svc, err := a.newService(d, nil, false)
	if err != nil {
		return "", mfa.State{}, err
	}
	defer closeService(svc)
	if err := change(svc, ctx, user); err != nil {
		return "", mfa.State{}, err
	}
	return user, st, nil
}

// runUnlock ends a user's lockout and clears the failure count
// (Service.Unlock), and prints the counts it cleared.
func runUnlock(ctx context.Context, a *app, args []string) error {
	user, st, err := a.changeUser(ctx, "unlock", args, (*mfa.Service).Unlock)
	if err != nil {
		return err
	}
	last := "never locked"
	switch now := time.Now(); {
	case st.LockedUntil.After(now):
		last = "locked until " + timestamp(st.LockedUntil)
	case !st.LockedUntil.IsZero():
		last = "last lockout ended " + timestamp(st.LockedUntil)
	}
	fmt.Fprintf(a.stdout, "unlocked %q (it had failures %d, lockouts %d, %s)\n", user, st.Failures, st.Lockouts, last)
	return nil
}

// runDelete removes all of a user's MFA state (Service.DeleteUser) without
// asking, and prints what it removed.
func runDelete(ctx context.Context, a *app, args []string) error {
	user, st, err := a.changeUser(ctx, "delete", args, (*mfa.Service).DeleteUser)
	if err != nil {
		return err
	}
	active := 0
	for _, f := range st.Factors {
		if f.Active {
			active++
		}
	}
	enabled := "MFA not enabled"
	if st.Enabled {
		enabled = "MFA enabled"
	}
	fmt.Fprintf(a.stdout, "deleted the MFA state of %q: %s, active authenticators %d, pending %d, recovery codes %d, failures %d, lockouts %d, and any open login challenges\n",
		user, enabled, active, len(st.Factors)-active, st.RecoveryCodes, st.Failures, st.Lockouts)
	return nil
}
