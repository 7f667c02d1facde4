package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/identsphere/mfa"
)

// outboxEvent is one line of events tail: the event's own JSON form
// (mfa.Event), and whether it was set aside after too many failed
// deliveries.
type outboxEvent struct {
	mfa.Event
	SetAside bool `json:"set_aside"`
}

// runEvents runs "events tail": it prints the oldest -n events of the
// outbox, waiting or set aside, as JSON lines, oldest first, with the
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
	pending, setAside, err := d.store.PendingEvents(ctx, *n)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(a.stdout)
	for _, e := range mergeByTime(pending, setAside) {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("writing events: %w", err)
		}
	}
	return nil
}

// mergeByTime interleaves the two lists PendingEvents returns, each in
// the outbox's order, by event time. On a tie the set-aside event goes
// first: an event is set aside only when it is the oldest of its user's.
func mergeByTime(pending, setAside []mfa.Event) []outboxEvent {
	out := make([]outboxEvent, 0, len(pending)+len(setAside))
	for len(pending) > 0 || len(setAside) > 0 {
		if len(setAside) == 0 || (len(pending) > 0 && pending[0].Time.Before(setAside[0].Time)) {
			out = append(out, outboxEvent{Event: pending[0]})
			pending = pending[1:]
		} else {
			out = append(out, outboxEvent{Event: setAside[0], SetAside: true})
			setAside = setAside[1:]
		}
	}
	return out
}
