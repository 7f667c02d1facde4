package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/identsphere/mfa"
)

// auditTimeout bounds one delivery to -audit-url: connecting, sending and
// reading the answer. A collector that takes longer has not received the
// event; it is tried again later. On PostgreSQL and MySQL a relay holds
// the user's events locked while it delivers, so this also bounds how long
// a hung collector holds up that user's audit trail.
const auditTimeout = 5 * time.Second

// httpAudit is the AuditSink of -audit-url: it POSTs each event, as the
// JSON object of mfa.Event ({"id", "type", "user_id", "time", …}), to a
// collector (a log shipper, a SIEM). Only a 2xx answer means delivered.
// Anything else (another status, a redirect, a timeout, a refused
// connection) is an error, so the library tries the event again later:
// with a SQL store the event waits in the store's outbox (mfa_events),
// across restarts and crashes, and is tried again after 1 s, 2 s, 4 s, …
// (at most 5 minutes apart) until it is delivered or, after
// Config.AuditMaxAttempts failures (10 by default), set aside: logged,
// kept, and listed by "mfactl events tail". A user's later events wait
// behind their earliest one, so that the collector gets each user's
// events in order. With -driver memory the error is logged and the event
// is lost.
//
// Delivery is at least once: a collector may receive an event twice (a
// crash after the collector answered and before the outbox row was
// deleted), and tells repeats apart by "id", which it also gets in the
// Idempotency-Key header.
type httpAudit struct {
	url    string // where events go
	shown  string // scheme, host and path only, for logs and errors
	client *http.Client
}

var _ mfa.AuditSink = (*httpAudit)(nil)

// newHTTPAudit returns the sink for -audit-url rawURL: an absolute http or
// https URL with a host. Any host is allowed, loopback or not. Credentials
// in the URL (https://user:pass@host/, or a token in the query string) are
// sent as written and never logged: errors and logs show the scheme, host
// and path only. A password goes over plain http only to a loopback host.
func newHTTPAudit(rawURL string) (*httpAudit, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the URL, which may hold a password
		}
		return nil, fmt.Errorf("-audit-url: %w", err)
	}
	shown := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	_, hasPassword := u.User.Password()
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("-audit-url %q: want an http:// or https:// URL", shown)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("-audit-url %q: the URL has no host", shown)
	case u.Fragment != "":
		return nil, fmt.Errorf("-audit-url %q: a URL with a #fragment is not sent as written", shown)
	case hasPassword && u.Scheme == "http" && !loopback(net.JoinHostPort(u.Hostname(), "0")):
		return nil, fmt.Errorf("-audit-url %q: a password is sent over plain http only to a loopback host; use https", shown)
	}
	return &httpAudit{
		url:   u.String(),
		shown: shown,
		client: &http.Client{
			Timeout: auditTimeout,
			// A redirect is not a delivery: following a 301, 302 or
			// 303 would turn the POST into a GET.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// RecordEvent POSTs e and returns nil on a 2xx answer.
func (a *httpAudit) RecordEvent(ctx context.Context, e mfa.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", e.ID)
	res, err := a.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the URL, which may hold a password
		}
		return fmt.Errorf("posting audit event %s to %s: %w", e.ID, a.shown, err)
	}
	// Read a little of the answer, so that the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4<<10))
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("posting audit event %s to %s: %s", e.ID, a.shown, res.Status)
	}
	return nil
}

// auditSink returns the AuditSink of -audit-url, or nil (the library's
// default: the log) without one.
func auditSink(rawURL, driver string, logger *slog.Logger) (mfa.AuditSink, error) {
	if rawURL == "" {
		return nil, nil
	}
	sink, err := newHTTPAudit(rawURL)
	if err != nil {
		return nil, err
	}
	if driver == "memory" {
		logger.Warn("audit events go to the collector from memory: with -driver memory an event the collector does not take is logged and lost, and a crash loses the queue", "audit_url", sink.shown)
	} else {
		logger.Info("audit events go to the collector, kept in the database until it takes them", "audit_url", sink.shown)
	}
	return sink, nil
}
