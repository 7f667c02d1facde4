package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
)

// eventCases check the contract of an mfa.EventStore: the events of a
// change are kept when, and only when, the change happens, and the relay
// delivers them once each, in order per user, retrying with back-off and
// setting aside an event that keeps failing. They skip a store that keeps
// no events (memstore).

// events returns the store as an EventStore, skipping the case for a
// store that keeps no events; it first delivers what earlier cases left.
func (h *harness) events() mfa.EventStore {
	h.t.Helper()
	es, ok := h.store.(mfa.EventStore)
	if !ok || !es.KeepsEvents() {
		h.t.Skip("the store keeps no audit events")
	}
	h.relayAll(es, T0, func(mfa.Event) error { return nil })
	return es
}

// event returns a new event of userID.
func (h *harness) event(userID string, t mfa.EventType) mfa.Event {
	return mfa.Event{ID: randomHex(12), Type: t, UserID: userID, Time: T0, Operation: "storetest", Request: mfa.RequestInfo{IP: "192.0.2.1"}}
}

// relayAll runs the relay at now until nothing is left to try and returns
// the events delivered.
func (h *harness) relayAll(es mfa.EventStore, now time.Time, deliver func(mfa.Event) error) []mfa.Event {
	h.t.Helper()
	var got []mfa.Event
	for {
		n, err := es.RelayEvents(h.ctx, mfa.Relay{
			Now: now, Batch: 3, MaxAttempts: 3,
			Backoff: func(attempts int) time.Duration { return time.Duration(attempts) * 10 * time.Second },
			Deliver: func(_ context.Context, e mfa.Event) error {
				if err := deliver(e); err != nil {
					return err
				}
				got = append(got, e)
				return nil
			},
		})
		require.NoError(h.t, err)
		if n == 0 {
			return got
		}
	}
}

// eventsOf returns the events of stored events.
func eventsOf(stored []mfa.StoredEvent) []mfa.Event {
	out := make([]mfa.Event, len(stored))
	for i, e := range stored {
		out[i] = e.Event
	}
	return out
}

// ids returns the IDs of the events of users.
func ids(events []mfa.Event, users ...string) []string {
	var out []string
	for _, e := range events {
		for _, u := range users {
			if e.UserID == u {
				out = append(out, e.ID)
			}
		}
	}
	return out
}

var errSink = errors.New("storetest: the sink is down")

var eventCases = []testCase{
	{"EventsAreKeptWithTheirChange", func(h *harness) {
		es := h.events()
		u, f := h.user(), h.factor("Phone")
		var want []string
		// op runs a Store method with one new event and remembers the
		// event when the method succeeds.
		op := func(name string, wantOK bool, run func(events []mfa.Event) error) {
			e := h.event(u, mfa.EventType("storetest."+name))
			err := run([]mfa.Event{e})
			if wantOK {
				require.NoError(h.t, err, name)
				want = append(want, e.ID)
			} else {
				require.Error(h.t, err, name)
			}
		}
		codes := hashes(3)
		op("set_pending", true, func(ev []mfa.Event) error { return h.store.SetPending(h.ctx, u, f, ev) })
		op("enable", true, func(ev []mfa.Event) error {
			return h.store.Enable(h.ctx, u, mfa.Enablement{FactorID: f.ID, Counter: 100, UsedAt: T0, RecoveryCodes: codes}, ev)
		})
		op("set_pending_refused", false, func(ev []mfa.Event) error { return h.store.SetPending(h.ctx, u, h.factor("X"), ev) })
		op("enable_refused", false, func(ev []mfa.Event) error {
			return h.store.Enable(h.ctx, u, mfa.Enablement{FactorID: f.ID, Counter: 101, UsedAt: T0}, ev)
		})
		op("accept", true, func(ev []mfa.Event) error { return h.store.Accept(h.ctx, u, h.step(f, 101), ev) })
		op("accept_replay", false, func(ev []mfa.Event) error { return h.store.Accept(h.ctx, u, h.step(f, 101), ev) })
		op("accept_code", true, func(ev []mfa.Event) error { return h.store.Accept(h.ctx, u, code(codes[0]), ev) })
		op("replace_codes", true, func(ev []mfa.Event) error {
			return h.store.ReplaceRecoveryCodes(h.ctx, u, h.step(f, 102), hashes(2), ev)
		})
		op("replace_codes_refused", false, func(ev []mfa.Event) error {
			return h.store.ReplaceRecoveryCodes(h.ctx, u, h.step(f, 102), hashes(2), ev)
		})
		g := h.factor("Laptop")
		op("add_factor", true, func(ev []mfa.Event) error { return h.store.AddFactor(h.ctx, u, h.step(f, 103), g, maxFactors, ev) })
		op("confirm_factor", true, func(ev []mfa.Event) error {
			return h.store.ConfirmFactor(h.ctx, u, mfa.Confirmation{FactorID: g.ID, Counter: 5, UsedAt: T0}, maxFactors, ev)
		})
		ticket := h.ticket(u)
		op("complete_refused", false, func(ev []mfa.Event) error { return h.store.CompleteChallenge(h.ctx, ticket, u, h.step(f, 103), T0, ev) })
		op("complete", true, func(ev []mfa.Event) error { return h.store.CompleteChallenge(h.ctx, ticket, u, h.step(f, 104), T0, ev) })

		// A removal writes ifDisabled only when it disables, after events.
		notLast := h.event(u, "storetest.if_disabled_not_written")
		op("remove_factor", true, func(ev []mfa.Event) error {
			_, err := h.store.RemoveFactor(h.ctx, u, f.ID, h.step(g, 6), ev, []mfa.Event{notLast})
			return err
		})
		last := h.event(u, "storetest.if_disabled")
		op("remove_last_factor", true, func(ev []mfa.Event) error {
			disabled, err := h.store.RemoveFactor(h.ctx, u, g.ID, h.step(g, 7), ev, []mfa.Event{last})
			assert.True(h.t, disabled)
			return err
		})
		want = append(want, last.ID)
		op("disable_refused", false, func(ev []mfa.Event) error { return h.store.Disable(h.ctx, u, h.step(g, 8), ev) })
		op("reset_throttle", true, func(ev []mfa.Event) error { return h.store.ResetThrottle(h.ctx, u, ev) })
		op("delete", true, func(ev []mfa.Event) error { return h.store.Delete(h.ctx, u, ev) })

		got := h.relayAll(es, T0, func(mfa.Event) error { return nil })
		assert.Equal(h.t, want, ids(got, u), "the events of every change, in order, and none of a refusal")
		for _, e := range got {
			if e.UserID == u {
				assert.Equal(h.t, "192.0.2.1", e.Request.IP, "kept whole")
				assert.True(h.t, e.Time.Equal(T0))
			}
		}
		assert.Empty(h.t, h.relayAll(es, T0, func(mfa.Event) error { return nil }), "delivered events are gone")
	}},
	{"RelayDeliversInOrderPerUser", func(h *harness) {
		es := h.events()
		u, v := h.user(), h.user()
		var want []mfa.Event
		for i := 0; i < 7; i++ {
			e, f := h.event(u, "storetest.u"), h.event(v, "storetest.v")
			require.NoError(h.t, es.AppendEvents(h.ctx, []mfa.Event{e, f}))
			want = append(want, e, f)
		}
		got := h.relayAll(es, T0, func(mfa.Event) error { return nil })
		assert.Equal(h.t, ids(want, u), ids(got, u))
		assert.Equal(h.t, ids(want, v), ids(got, v))
		kept, err := es.PendingEvents(h.ctx, 100)
		require.NoError(h.t, err)
		assert.Empty(h.t, ids(eventsOf(kept), u, v))
	}},
	{"RelayRetriesThenSetsAside", func(h *harness) {
		es := h.events()
		u, v := h.user(), h.user()
		poison, after, other := h.event(u, "storetest.poison"), h.event(u, "storetest.after"), h.event(v, "storetest.other")
		require.NoError(h.t, es.AppendEvents(h.ctx, []mfa.Event{poison, after, other}))
		refuse := func(e mfa.Event) error {
			if e.ID == poison.ID {
				return errSink
			}
			return nil
		}
		got := h.relayAll(es, T0, refuse)
		assert.Equal(h.t, []string{other.ID}, ids(got, u, v), "a failing event holds back its user's later events only")
		kept, err := es.PendingEvents(h.ctx, 100)
		require.NoError(h.t, err)
		assert.Equal(h.t, []string{poison.ID, after.ID}, ids(eventsOf(kept), u))
		for _, e := range kept {
			if e.ID == poison.ID {
				assert.Equal(h.t, 1, e.Attempts)
				assert.True(h.t, e.NextAttempt.Equal(T0.Add(10*time.Second)), "retried after its back-off")
				assert.False(h.t, e.SetAside)
			}
		}

		assert.Empty(h.t, ids(h.relayAll(es, T0.Add(9*time.Second), refuse), u), "it waits out its back-off")
		assert.Empty(h.t, ids(h.relayAll(es, T0.Add(10*time.Second), refuse), u), "second failed attempt")
		var setAside []mfa.Event
		n, err := es.RelayEvents(h.ctx, mfa.Relay{Now: T0.Add(time.Hour), Batch: 3, MaxAttempts: 3,
			Backoff:  func(int) time.Duration { return time.Second },
			Deliver:  func(_ context.Context, e mfa.Event) error { return refuse(e) },
			SetAside: func(e mfa.Event, err error) { setAside = append(setAside, e); assert.ErrorIs(h.t, err, errSink) },
		})
		require.NoError(h.t, err)
		assert.Equal(h.t, 1, n)
		assert.Equal(h.t, []string{poison.ID}, ids(setAside, u), "the third failure sets it aside")
		assert.Equal(h.t, []string{after.ID}, ids(h.relayAll(es, T0.Add(time.Hour), refuse), u), "then the user's later events go on")
		kept, err = es.PendingEvents(h.ctx, 100)
		require.NoError(h.t, err)
		require.Equal(h.t, []string{poison.ID}, ids(eventsOf(kept), u), "the dead letter stays visible")
		for _, e := range kept {
			if e.ID == poison.ID {
				assert.True(h.t, e.SetAside)
				assert.Equal(h.t, 3, e.Attempts)
			}
		}
	}},
	{"RaceRelaysKeepEachUsersOrder", func(h *harness) {
		es := h.events()
		const users, perUser, relays = 6, 15, 4
		var all []string
		want := map[string][]string{}
		for i := 0; i < perUser; i++ {
			var batch []mfa.Event
			for u := 0; u < users; u++ {
				user := fmt.Sprintf("%s-race-%d", h.prefix, u)
				e := h.event(user, "storetest.race")
				batch = append(batch, e)
				want[user] = append(want[user], e.ID)
			}
			require.NoError(h.t, es.AppendEvents(h.ctx, batch))
		}
		for u := range want {
			all = append(all, u)
		}
		var mu sync.Mutex
		got := map[string][]string{}
		errs := race(relays, func(int) error {
			for {
				n, err := es.RelayEvents(h.ctx, mfa.Relay{Now: T0, Batch: 2, MaxAttempts: 3,
					Backoff: func(int) time.Duration { return time.Second },
					Deliver: func(_ context.Context, e mfa.Event) error {
						mu.Lock()
						got[e.UserID] = append(got[e.UserID], e.ID)
						mu.Unlock()
						return nil
					}})
				if err != nil || n == 0 {
					return err
				}
			}
		})
		tally(h.t, errs)
		for _, u := range all {
			assert.Equal(h.t, want[u], got[u], "user %s: every event once, in order, with %d relays", u, relays)
		}
	}},
}
