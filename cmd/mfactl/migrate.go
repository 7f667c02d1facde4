package main

import (
	"context"
	"fmt"
	"slices"
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

	before, _ := d.appliedVersions(ctx) // no table yet: nothing applied
	if err := d.store.Migrate(ctx); err != nil {
		return err
	}
	after, err := d.appliedVersions(ctx)
	if err != nil {
		return fmt.Errorf("reading the schema versions: %w", err)
	}
	known, err := knownMigrations(d.driver)
	if err != nil {
		return err
	}
	names := map[int]string{}
	for _, m := range known {
		names[m.version] = m.name
	}
	applied := 0
	for _, v := range after {
		if !slices.Contains(before, v) {
			name := names[v]
			if name == "" {
				name = fmt.Sprintf("version %d", v)
			}
			fmt.Fprintf(a.stdout, "applied %s\n", name)
			applied++
		}
	}
	latest := 0
	if len(after) > 0 {
		latest = after[len(after)-1]
	}
	if applied == 0 {
		fmt.Fprintf(a.stdout, "schema already current: version %d, table prefix %s\n", latest, d.prefix)
	} else {
		fmt.Fprintf(a.stdout, "schema now at version %d, table prefix %s\n", latest, d.prefix)
	}
	return nil
}
