package sqlstore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/sqlstore"
)

// collector is an AuditSink that records events by ID and can be down.
type collector struct {
	mu     sync.Mutex
	down   bool
	events []mfa.Event
}

func (c *collector) RecordEvent(_ context.Context, e mfa.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return errors.New("collector: 503")
	}
	c.events = append(c.events, e)
	return nil
}

func (c *collector) setDown(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = down
}

func (c *collector) types(userID string) []mfa.EventType {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []mfa.EventType
	for _, e := range c.events {
		if e.UserID == userID {
			out = append(out, e.Type)
		}
	}
	return out
}

// With the outbox, an event of a change waits in the database until the
// sink takes it: a sink that is down, a Service that stops (or crashes)
// before delivering, lose nothing; the next Service on the database
// delivers them, in order.
func TestOutboxSurvivesARestart(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			prefix := testPrefix()
			now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
			sink := &collector{down: true}
			first, err := mfa.New(mfa.Config{Issuer: "X", Store: newStore(t, b.open(t), prefix), Audit: sink, Logger: quietLogger,
				Now: func() time.Time { return now }, AuditPollInterval: 10 * time.Millisecond})
			require.NoError(t, err)
			enr, err := first.Setup(ctx, "u", "")
			require.NoError(t, err)
			_, err = first.Enable(ctx, "u", "000000")
			require.ErrorIs(t, err, mfa.ErrInvalidCode)
			codes, err := first.Enable(ctx, "u", totpCode(t, enr.Secret, now))
			require.NoError(t, err)
			_, err = first.Verify(ctx, "u", mfa.Credential{RecoveryCode: codes[0]})
			require.NoError(t, err)
			shutdown, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			first.Close(shutdown) // the sink is down: the events stay stored
			assert.Empty(t, sink.types("u"))

			sink.setDown(false)
			second, err := mfa.New(mfa.Config{Issuer: "X", Store: newStore(t, b.open(t), prefix), Audit: sink, Logger: quietLogger,
				Now: func() time.Time { return now.Add(time.Hour) }, AuditPollInterval: 10 * time.Millisecond})
			require.NoError(t, err)
			defer second.Close(ctx)
			want := []mfa.EventType{mfa.EventSetupStarted, mfa.EventChallengeFailed, mfa.EventEnabled, mfa.EventRecoveryCodeUsed, mfa.EventChallengeSucceeded}
			require.Eventually(t, func() bool { return len(sink.types("u")) == len(want) }, 10*time.Second, 10*time.Millisecond)
			assert.Equal(t, want, sink.types("u"), "every event, in order")
		})
	}
}

// Relays of two replicas on one PostgreSQL or MySQL database never
// deliver one user's events out of order or twice.
func TestRelaysAcrossReplicas(t *testing.T) {
	for _, b := range backends(t) {
		if b.name == "sqlite" {
			continue // one relay per SQLite database
		}
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			prefix := testPrefix()
			stores := []*sqlstore.Store{newStore(t, b.open(t), prefix), newStore(t, b.open(t), prefix)}
			want := map[string][]string{}
			for i := 0; i < 20; i++ {
				var batch []mfa.Event
				for u := 0; u < 5; u++ {
					e := mfa.Event{ID: testPrefix() + testPrefix(), Type: "test", UserID: string(rune('a' + u)), Time: time.Now()}
					batch = append(batch, e)
					want[e.UserID] = append(want[e.UserID], e.ID)
				}
				require.NoError(t, stores[i%2].AppendEvents(ctx, batch))
			}
			var mu sync.Mutex
			got := map[string][]string{}
			errs := race(func(i int) error {
				for {
					n, err := stores[i%2].RelayEvents(ctx, mfa.Relay{Now: time.Now(), Batch: 3, MaxAttempts: 3,
						Backoff: func(int) time.Duration { return time.Second },
						Deliver: func(_ context.Context, e mfa.Event) error {
							mu.Lock()
							defer mu.Unlock()
							got[e.UserID] = append(got[e.UserID], e.ID)
							return nil
						}})
					if err != nil || n == 0 {
						return err
					}
				}
			})
			wins(t, errs)
			assert.Equal(t, want, got)
		})
	}
}

// hungSink blocks every delivery until its context ends.
type hungSink struct{ entered chan struct{} }

func (h hungSink) RecordEvent(ctx context.Context, _ mfa.Event) error {
	select {
	case h.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

// Close, called twice at once while the sink hangs, cancels the delivery
// under way and returns when its context ends; the event stays stored, and
// the next relay delivers it.
func TestCloseCancelsAHungDelivery(t *testing.T) {
	b := backends(t)[0] // SQLite
	ctx := context.Background()
	store := newStore(t, b.open(t), testPrefix())
	sink := hungSink{entered: make(chan struct{}, 1)}
	svc, err := mfa.New(mfa.Config{Issuer: "X", Store: store, Audit: sink, Logger: quietLogger})
	require.NoError(t, err)
	_, err = svc.Setup(ctx, "u", "")
	require.NoError(t, err)
	<-sink.entered

	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			shutdown, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			assert.ErrorIs(t, svc.Close(shutdown), context.DeadlineExceeded)
		}()
	}
	wg.Wait()
	pending, err := store.PendingEvents(ctx, 10)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	assert.Equal(t, mfa.EventSetupStarted, pending[0].Type)

	// Nothing of the cancelled delivery holds the database: the next
	// Service delivers the event.
	good := &collector{}
	next, err := mfa.New(mfa.Config{Issuer: "X", Store: store, Audit: good, Logger: quietLogger})
	require.NoError(t, err)
	defer next.Close(ctx)
	assert.Eventually(t, func() bool { return len(good.types("u")) == 1 }, 5*time.Second, 10*time.Millisecond)
}

// Two relays (replicas) on one database: an event whose delivery failed
// waits Backoff(attempts) before it is tried again, whichever relay tries.
// Here the back-off is an hour, so the event is tried exactly once.
func TestRelayRespectsBackoffAcrossRelays(t *testing.T) {
	for _, b := range backends(t) {
		if b.name == "sqlite" {
			continue // one relay per process on SQLite
		}
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			prefix := testPrefix()
			stores := []*sqlstore.Store{newStore(t, b.open(t), prefix), newStore(t, b.open(t), prefix)}
			require.NoError(t, stores[0].AppendEvents(ctx, []mfa.Event{{ID: "E1", Type: mfa.EventChallengeFailed, UserID: "u", Time: time.Now()}}))

			var attempts atomic.Int64
			relay := mfa.Relay{
				Batch:       100,
				Deliver:     func(context.Context, mfa.Event) error { attempts.Add(1); return errors.New("collector: 503") },
				MaxAttempts: 100,
				Backoff:     func(int) time.Duration { return time.Hour },
			}
			var wg sync.WaitGroup
			stop := time.Now().Add(2 * time.Second)
			for _, s := range stores {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for time.Now().Before(stop) {
						r := relay
						r.Now = time.Now()
						_, err := s.RelayEvents(ctx, r)
						assert.NoError(t, err)
					}
				}()
			}
			wg.Wait()
			assert.EqualValues(t, 1, attempts.Load(), "a failed event waits its back-off, also from the other relay")
		})
	}
}
