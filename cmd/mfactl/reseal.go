package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/identsphere/mfa"
)

// runReseal re-seals every TOTP secret under the primary key of the ring
// in -keys-file or MFA_KEYS, printing the counts after each batch and a
// summary that says whether older keys may go.
func runReseal(ctx context.Context, a *app, args []string) error {
	fs := newFlags("reseal")
	dbf := addDBFlags(fs)
	keysFile := fs.String("keys-file", "", "read the key ring from this file instead of $"+keysEnv)
	batch := fs.Int("batch", 100, "secrets read per batch")
	allowPlaintext := fs.Bool("allow-plaintext", false, "re-seal secrets stored in plaintext too (mfa.Config.AllowPlaintextSecrets), when migrating a deployment that had no key ring")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if err := dbf.check("reseal"); err != nil {
		return err
	}
	if *batch < 1 {
		return usagef("reseal: -batch must be at least 1")
	}
	keys, err := loadKeyRing(*keysFile)
	if err != nil {
		return fmt.Errorf("reseal: %w", err)
	}
	d, err := a.open(ctx, dbf, false)
	if err != nil {
		return err
	}
	defer d.close()
	if err := d.requireSchema(ctx); err != nil {
		return err
	}
	svc, err := a.newService(d, keys, *allowPlaintext)
	if err != nil {
		return err
	}
	defer closeService(svc)

	var last *mfa.ResealReport
	rep, err := svc.Reseal(ctx, *batch, func(r mfa.ResealReport) {
		if last == nil || r != *last { // the empty last batch repeats the counts
			fmt.Fprintf(a.stdout, "scanned %d, resealed %d\n", r.Scanned, r.Resealed)
		}
		last = &r
	})
	if err != nil {
		var keyErr *mfa.KeyError
		switch {
		case errors.As(err, &keyErr) && keyErr.Missing:
			return fmt.Errorf("%w; the ring must hold key %q too, behind the primary (%d scanned, %d resealed so far)", err, keyErr.KeyID, rep.Scanned, rep.Resealed)
		case errors.Is(err, mfa.ErrPlaintextSecret):
			return fmt.Errorf("%w; pass -allow-plaintext to re-seal it (%d scanned, %d resealed so far)", err, rep.Scanned, rep.Resealed)
		}
		return fmt.Errorf("%w (%d scanned, %d resealed so far)", err, rep.Scanned, rep.Resealed)
	}
	primary := keys.PrimaryID()
	fmt.Fprintf(a.stdout, "done: scanned %d, resealed %d; every TOTP secret is sealed under the primary key %s\n", rep.Scanned, rep.Resealed, primary)
	if rep.Resealed > 0 {
		fmt.Fprintf(a.stdout, "if a replica still runs with an older primary key, run reseal again once none does, until it re-seals nothing\n")
	}
	fmt.Fprintf(a.stdout, "before an older key leaves the ring, have users regenerate the recovery codes hashed under it: they stop working with it\n")
	return nil
}
