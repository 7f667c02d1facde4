package mfa

import (
	"context"
	"sync/atomic"
	"time"
)

// An EventStore is a Store that can keep audit events itself, as a
// transactional outbox (sqlstore is one): it writes the events that a
// state-changing method is given in the same atomic operation as the
// change, only when the change succeeds, and AppendEvents those of refused
// checks before the refusal is answered. A crash then loses no event of a
// change that happened. The Service delivers stored events to its
// AuditSink through RelayEvents instead of its in-memory queue.
type EventStore interface {
	Store

	// KeepsEvents reports whether the store keeps events; a store
	// configured not to returns false, and the Service uses its in-memory
	// queue.
	KeepsEvents() bool

	// AppendEvents writes events durably, in their order.
	AppendEvents(ctx context.Context, events []Event) error

	// RelayEvents delivers the pending events of one user, through
	// r.Deliver, one at a time in the order they were written: of the
	// users whose oldest pending event may be tried at r.Now and that no
	// other relay (in this process or another) is delivering, the one with
	// the oldest such event. It removes each event Deliver accepts. When
	// Deliver fails it stops: the event counts a failed attempt and waits
	// r.Backoff(attempts) before it is tried again, holding back that
	// user's later events, or, once it failed r.MaxAttempts times, is set
	// aside for good (a dead letter, reported to r.SetAside) so that the
	// user's later events go on. It returns how many events it handed to
	// Deliver, delivered or not: 0 when there was nothing to try.
	RelayEvents(ctx context.Context, r Relay) (tried int, err error)

	// PendingEvents returns up to limit of the events it keeps, waiting
	// for delivery or set aside, oldest first (in the order they were
	// written), for an operator's view; it changes nothing.
	PendingEvents(ctx context.Context, limit int) ([]StoredEvent, error)
}

// StoredEvent is an event an EventStore keeps until it is delivered.
type StoredEvent struct {
	Event
	// Attempts is the number of failed deliveries so far.
	Attempts int `json:"attempts"`
	// NextAttempt is when it may be tried again; zero when it may be tried
	// now.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// SetAside is set once Attempts reached the relay's MaxAttempts: it is
	// kept for an operator, never tried again.
	SetAside bool `json:"set_aside"`
}

// Relay is the argument of EventStore.RelayEvents.
type Relay struct {
	// Now is the time of the relay's pass.
	Now time.Time
	// Batch is the most events of one user to deliver in one call.
	Batch int
	// Deliver delivers one event; an error means it was not delivered.
	Deliver func(ctx context.Context, e Event) error
	// MaxAttempts is the number of failed attempts after which an event
	// is set aside.
	MaxAttempts int
	// Backoff returns how long an event waits after its attempts-th failed
	// attempt.
	Backoff func(attempts int) time.Duration
	// SetAside is told of an event set aside and the error of its last
	// attempt.
	SetAside func(e Event, err error)
}

// relay delivers the events an EventStore keeps to the sink: right after
// each change that wrote events (wake), and every AuditPollInterval for
// events that wait for a retry or were written by another replica.
type relay struct {
	s    *Service
	wake chan struct{}
	ctx  context.Context // of the passes; cancelled by close
	stop context.CancelFunc
	done chan struct{}
	dead atomic.Uint64 // events set aside
}

func (s *Service) startRelay() *relay {
	ctx, stop := context.WithCancel(context.Background())
	r := &relay{s: s, wake: make(chan struct{}, 1), ctx: ctx, stop: stop, done: make(chan struct{})}
	go r.run()
	return r
}

// notify asks the relay for a pass soon; it never blocks. A nil relay
// (Config.NoAuditRelay) has nothing to do.
func (r *relay) notify() {
	if r == nil {
		return
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *relay) run() {
	defer close(r.done)
	poll := time.NewTicker(r.s.cfg.AuditPollInterval)
	defer poll.Stop()
	for {
		r.deliverAll(r.ctx)
		select {
		case <-r.ctx.Done():
			return
		case <-r.wake:
		case <-poll.C:
		}
	}
}

// deliverAll runs passes until nothing is left to deliver now, ctx is done
// or the store fails.
func (r *relay) deliverAll(ctx context.Context) error {
	for ctx.Err() == nil {
		n, err := r.s.events.RelayEvents(ctx, Relay{
			Now:         r.s.cfg.Now(),
			Batch:       100,
			Deliver:     r.s.cfg.Audit.RecordEvent,
			MaxAttempts: r.s.cfg.AuditMaxAttempts,
			Backoff:     auditBackoff,
			SetAside: func(e Event, err error) {
				r.s.cfg.Logger.Error("mfa: audit event set aside after failed deliveries", "event_id", e.ID, "event", string(e.Type),
					"user_id", e.UserID, "set_aside_total", r.dead.Add(1), "err", err)
			},
		})
		if err != nil && ctx.Err() == nil {
			r.s.cfg.Logger.Warn("mfa: relaying audit events", "err", err)
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
	return ctx.Err()
}

// close stops the relay's own passes (cancelling a delivery under way,
// which stays pending), then delivers what can be delivered until ctx is
// done. It may be called more than once, concurrently too.
func (r *relay) close(ctx context.Context) error {
	r.stop()
	select {
	case <-r.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return r.deliverAll(ctx)
}

// auditBackoff is the wait after an event's attempts-th failed delivery: 1
// second, doubling, capped at 5 minutes.
func auditBackoff(attempts int) time.Duration {
	d := time.Second
	for i := 1; i < attempts && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}
