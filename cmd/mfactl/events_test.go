package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/mfatest"
)

// tailLine is one line of events tail.
type tailLine struct {
	ID          string        `json:"id"`
	Type        mfa.EventType `json:"type"`
	UserID      string        `json:"user_id"`
	Time        time.Time     `json:"time"`
	Attempts    int           `json:"attempts"`
	NextAttempt time.Time     `json:"next_attempt"`
	SetAside    bool          `json:"set_aside"`
}

// TestEventsTail writes events with the outbox on and the sink down, sets
// one aside after a failed delivery, and checks that events tail prints
// exactly the waiting and set-aside events, marked, in the outbox's order,
// within -n; and that neither it nor any other command delivered, retried
// or deleted one.
func TestEventsTail(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			d, c := b.migrated(t)
			keys, text, key64 := newKey(t, "k1")
			c.secret(key64)
			clock := mfatest.NewClock(start)
			store := d.store(t, false)
			svc := service(t, store, keys, clock, mfa.Throttle{})
			alice, codes := enrol(t, svc, clock, "alice")
			c.enrolment(alice, codes)
			bob, codes := enrol(t, svc, clock, "bob")
			c.enrolment(bob, codes)
			_, err := svc.Verify(ctx, "alice", mfa.Credential{Code: wrongCode(alice, clock.Now())})
			require.ErrorIs(t, err, mfa.ErrInvalidCode)
			carol, err := svc.Setup(ctx, "carol", "")
			require.NoError(t, err)
			c.secret(carol.Secret)
			closeService(svc)

			// One failed delivery sets alice's oldest event aside.
			var deadID string
			_, err = store.RelayEvents(ctx, mfa.Relay{
				Now:         start.Add(1000 * time.Hour),
				Batch:       1,
				Deliver:     func(context.Context, mfa.Event) error { return errors.New("sink down") },
				MaxAttempts: 1,
				Backoff:     func(int) time.Duration { return time.Hour },
				SetAside:    func(e mfa.Event, _ error) { deadID = e.ID },
			})
			require.NoError(t, err)
			kept, err := store.PendingEvents(ctx, 1000)
			require.NoError(t, err)
			require.Len(t, kept, 6, "setup and enable of alice and bob, the failed check, carol's setup")
			assert.Equal(t, deadID, kept[0].ID, "alice's first event, set aside")
			assert.True(t, kept[0].SetAside)
			assert.GreaterOrEqual(t, kept[0].Attempts, 1, "the Service tried it too, while the sink was down")
			outboxRows := d.outboxRows(t)

			lines := tail(t, c.run(nil, "events tail", "-n", "100"))
			require.Len(t, lines, len(kept))
			for i, l := range lines {
				assert.Equal(t, kept[i].ID, l.ID, "line %d: the outbox's order", i)
				assert.Equal(t, kept[i].SetAside, l.SetAside, "line %d: set_aside", i)
				assert.Equal(t, kept[i].Attempts, l.Attempts, "line %d: attempts", i)
				assert.NotEmpty(t, l.Type)
			}

			// -n bounds the events read, the oldest first; 20 by default.
			lines = tail(t, c.run(nil, "events tail", "-n", "3"))
			assert.Equal(t, eventIDs(kept[:3]), lineIDs(lines))
			assert.Len(t, tail(t, c.run(nil, "events tail")), 6)

			// No command delivered, retried or deleted an event; unlock and
			// delete added theirs, for the host's relays.
			c.run(nil, "status", "alice")
			c.run(nil, "unlock", "alice")
			c.run([]string{"MFA_KEYS=" + text}, "reseal")
			c.run(nil, "delete", "bob")
			after, err := store.PendingEvents(ctx, 1000)
			require.NoError(t, err)
			require.Len(t, after, len(kept)+2)
			assert.Equal(t, kept, after[:len(kept)])
			assert.Equal(t, []mfa.EventType{mfa.EventUnlocked, mfa.EventUserDeleted}, []mfa.EventType{after[6].Type, after[7].Type})
			assert.Equal(t, []string{"alice", "bob"}, []string{after[6].UserID, after[7].UserID})
			assert.Equal(t, outboxRows, d.outboxRows(t)[:len(kept)], "attempts and next attempt times are unchanged")
		})
	}
}

// tail parses the output of a successful events tail.
func tail(t *testing.T, r result) []tailLine {
	t.Helper()
	out := ok(t, r)
	assert.Empty(t, r.stderr)
	var lines []tailLine
	for _, text := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if text == "" {
			continue
		}
		var l tailLine
		require.NoError(t, json.Unmarshal([]byte(text), &l), "a JSON line: %s", text)
		require.Contains(t, text, `"set_aside":`)
		lines = append(lines, l)
	}
	return lines
}

func lineIDs(lines []tailLine) []string {
	ids := []string{}
	for _, l := range lines {
		ids = append(ids, l.ID)
	}
	return ids
}
