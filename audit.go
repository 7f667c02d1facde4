package mfa

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// EventType names an audit event.
type EventType string

// The audit events. Every state change and every failed check emits one.
const (
	EventSetupStarted             EventType = "auth.mfa.setup_started"
	EventEnabled                  EventType = "auth.mfa.enabled"
	EventDisabled                 EventType = "auth.mfa.disabled"
	EventChallengeSucceeded       EventType = "auth.mfa.challenge_succeeded"
	EventChallengeFailed          EventType = "auth.mfa.challenge_failed"
	EventRecoveryCodeUsed         EventType = "auth.mfa.recovery_code_used"
	EventRecoveryCodesRegenerated EventType = "auth.mfa.recovery_codes_regenerated"
	EventLocked                   EventType = "auth.mfa.locked"
	EventFactorAdded              EventType = "auth.mfa.factor_added"
	EventFactorRemoved            EventType = "auth.mfa.factor_removed"
	EventCloneSuspected           EventType = "auth.mfa.clone_suspected"
	EventUnlocked                 EventType = "auth.mfa.unlocked"     // Service.Unlock (an operator)
	EventUserDeleted              EventType = "auth.mfa.user_deleted" // Service.DeleteUser (the host)
)

// Reasons a check failed, in Event.Reason.
const (
	ReasonInvalidCode   = "invalid_code"   // the code did not match
	ReasonReplay        = "replay"         // the code matched a time step already used
	ReasonRateLimited   = "rate_limited"   // the user was locked out; the code was not checked
	ReasonInvalidTicket = "invalid_ticket" // the challenge token was unknown, expired or used

	ReasonInvalidCeremony = "invalid_ceremony" // a WebAuthn ceremony was unknown, expired, used, or another's
	ReasonCloneSuspected  = "clone_suspected"  // a security key's signature counter did not grow
)

// Event is one audit record. It never holds a secret, a code or a hash.
// Its JSON form (encoding/json) is the one SQL stores keep and sinks may
// forward: {"id", "type", "user_id", "time", …}.
type Event struct {
	// ID is unique to the event (at most 30 characters: the emitting
	// Service's random prefix, a hyphen and a sequence number), so that a sink that
	// may receive it twice (at-least-once delivery) can tell.
	ID   string    `json:"id"`
	Type EventType `json:"type"`
	// UserID is the user the event is about; empty for a refused login
	// token, which names no user.
	UserID string    `json:"user_id"`
	Time   time.Time `json:"time"`
	// Operation is the Service method that emitted the event: "setup",
	// "enable", "verify", "challenge", "add_factor", ….
	Operation string `json:"operation"`
	// Method is the kind of credential checked: MethodTOTP,
	// MethodRecoveryCode or MethodWebAuthn; empty for events without a
	// check.
	Method string `json:"method,omitempty"`
	// FactorID is the factor the event is about: the one added or
	// removed, or the one whose credential was checked; empty otherwise.
	FactorID string `json:"factor_id,omitempty"`
	// Reason says why a check failed (Reason… constants); empty otherwise.
	Reason string `json:"reason,omitempty"`
	// RetryAfter is the lockout length on EventLocked, and on a check a
	// lockout refused (in JSON: nanoseconds).
	RetryAfter time.Duration `json:"retry_after,omitempty"`
	// Permanent is set on EventLocked for a lockout that no longer ends by
	// itself, and on a check refused by one.
	Permanent bool `json:"permanent,omitempty"`
	// Request is the metadata the caller put in the context with
	// WithRequestInfo.
	Request RequestInfo `json:"request"`
}

// AuditSink receives audit events, from a goroutine of the Service's own,
// never from a request, in the order they happened for each user.
//
// With a Store that keeps events (an EventStore, such as sqlstore), an
// event whose RecordEvent returns an error is tried again later, with
// back-off, until it succeeds or Config.AuditMaxAttempts attempts failed,
// and survives restarts: delivery is at least once, so a sink tells
// repeats apart by Event.ID. With any other Store (memstore) events wait
// in a bounded in-memory queue and an error is logged, not retried.
type AuditSink interface {
	RecordEvent(ctx context.Context, e Event) error
}

// SlogAudit is the default AuditSink: it logs each event at level Info with
// the event type as the message.
type SlogAudit struct {
	Logger *slog.Logger
}

// RecordEvent logs e.
func (a SlogAudit) RecordEvent(ctx context.Context, e Event) error {
	attrs := []slog.Attr{
		slog.String("event_id", e.ID),
		slog.String("user_id", e.UserID),
		slog.Time("time", e.Time),
		slog.String("operation", e.Operation),
	}
	if e.Method != "" {
		attrs = append(attrs, slog.String("method", e.Method))
	}
	if e.FactorID != "" {
		attrs = append(attrs, slog.String("factor_id", e.FactorID))
	}
	if e.Reason != "" {
		attrs = append(attrs, slog.String("reason", e.Reason))
	}
	if e.RetryAfter > 0 {
		attrs = append(attrs, slog.Duration("retry_after", e.RetryAfter))
	}
	if e.Permanent {
		attrs = append(attrs, slog.Bool("permanent", true))
	}
	if e.Request.IP != "" {
		attrs = append(attrs, slog.String("ip", e.Request.IP))
	}
	if e.Request.UserAgent != "" {
		attrs = append(attrs, slog.String("user_agent", e.Request.UserAgent))
	}
	a.Logger.LogAttrs(ctx, slog.LevelInfo, string(e.Type), attrs...)
	return nil
}

// RequestInfo is the request metadata recorded with audit events.
type RequestInfo struct {
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

type ctxKey int

const requestInfoKey ctxKey = 0

// WithRequestInfo returns a context whose audit events carry info. The http
// adapter calls it for every request.
func WithRequestInfo(ctx context.Context, info RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey, info)
}

// RequestInfoFrom returns the metadata WithRequestInfo stored in ctx.
func RequestInfoFrom(ctx context.Context) (RequestInfo, bool) {
	info, ok := ctx.Value(requestInfoKey).(RequestInfo)
	return info, ok
}

// auditQueue delivers events to a sink from one goroutine through a bounded
// buffer. Emit never blocks: when the buffer is full the event is dropped,
// counted and the drop logged (at most once a second).
type auditQueue struct {
	sink   AuditSink
	logger *slog.Logger

	mu     sync.RWMutex // guards closed against sends on a closed channel
	closed bool
	events chan Event
	done   chan struct{}

	dropped     atomic.Uint64
	lastDropLog atomic.Int64 // unix seconds
}

func newAuditQueue(sink AuditSink, logger *slog.Logger, size int) *auditQueue {
	q := &auditQueue{
		sink:   sink,
		logger: logger,
		events: make(chan Event, size),
		done:   make(chan struct{}),
	}
	go q.run()
	return q
}

func (q *auditQueue) run() {
	defer close(q.done)
	for e := range q.events {
		if err := q.sink.RecordEvent(context.Background(), e); err != nil {
			q.logger.Error("mfa: audit sink failed", "event", string(e.Type), "user_id", e.UserID, "err", err)
		}
	}
}

// emit queues e without blocking.
func (q *auditQueue) emit(e Event) {
	q.mu.RLock()
	sent := false
	if !q.closed {
		select {
		case q.events <- e:
			sent = true
		default:
		}
	}
	q.mu.RUnlock()
	if sent {
		return
	}
	n := q.dropped.Add(1)
	now := time.Now().Unix()
	if last := q.lastDropLog.Load(); now > last && q.lastDropLog.CompareAndSwap(last, now) {
		q.logger.Warn("mfa: audit event dropped", "event", string(e.Type), "user_id", e.UserID, "dropped_total", n)
	}
}

// close stops accepting events and waits until the queued ones are
// delivered or ctx is done.
func (q *auditQueue) close(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.events)
	}
	q.mu.Unlock()
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
