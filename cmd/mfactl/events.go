package main

import (
	"context"
	"encoding/json"
	"fmt"
)

// runEvents runs "events tail": it prints the oldest -n events of the
// outbox, waiting or set aside, as JSON lines in delivery order (each
// event's JSON form with attempts, next_attempt and set_aside), with the
// store's PendingEvents, which changes nothing. It starts no Service, so
// nothing is delivered or deleted.
func runEvents(ctx context.Context, a *app, args []string) error {
	fs := newFlags("events tail")
	dbf := addDBFlags(fs)
	n := fs.Int("n", 20, "the most events to print")
	switch {
	case len(args) == 0:
		return usagef("events: missing subcommand tail")
	case args[0] == "-h" || args[0] == "-help" || args[0] == "--help":
		return &helpRequest{fs}
	case args[0] != "tail":
		return usagef("events: unknown subcommand %q (want tail)", args[0])
	}
	if _, err := parse(fs, args[1:]); err != nil {
		return err
	}
	if err := dbf.check("events tail"); err != nil {
		return err
	}
	if *n < 1 {
		return usagef("events tail: -n must be at least 1")
	}
	d, err := a.open(ctx, dbf, false)
	if err != nil {
		return err
	}
	defer d.close()
	if err := d.requireSchema(ctx); err != nil {
		return err
	}
	kept, err := d.store.PendingEvents(ctx, *n)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(a.stdout)
	for _, e := range kept {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("writing events: %w", err)
		}
	}
	return nil
}
