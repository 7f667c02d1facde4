package main

import (
	"context"
	"fmt"
)

// runMigrate runs sqlstore's Migrate, creating a SQLite file if need be,
// and prints each schema version it applied, or that the schema was
// current already.
func runMigrate(ctx context.Context, a *app, args []string) error {
	fs := newFlags("migrate")
	dbf := addDBFlags(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if err := dbf.check("migrate"); err != nil {
		return err
	}
	d, err := a.open(ctx, dbf, true)
	if err != nil {
		return err
	}
	defer d.close()

	before, _ := d.store.Schema(ctx) // no table yet: nothing applied
	if err := d.store.Migrate(ctx); err != nil {
		return err
	}
	after, err := d.store.Schema(ctx)
	if err != nil {
		return fmt.Errorf("reading the schema versions: %w", err)
	}
	applied, latest := 0, 0
	for i, v := range after {
		if v.Applied && (i >= len(before) || !before[i].Applied) {
			fmt.Fprintf(a.stdout, "applied %s\n", v.Name)
			applied++
		}
		if v.Applied {
			latest = v.Version
		}
	}
	if applied == 0 {
		fmt.Fprintf(a.stdout, "schema already current: version %d, table prefix %s\n", latest, d.prefix)
	} else {
		fmt.Fprintf(a.stdout, "schema now at version %d, table prefix %s\n", latest, d.prefix)
	}
	return nil
}
