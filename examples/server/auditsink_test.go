package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
)

// TestHTTPAuditDelivery: -audit-url's sink POSTs the event's JSON form and
// counts only a 2xx answer as delivered; any other answer, a redirect
// included (never followed), is an error the relay retries.
func TestHTTPAuditDelivery(t *testing.T) {
	e := mfa.Event{ID: "EVENT0000000000000000000001", Type: mfa.EventChallengeSucceeded, UserID: "u_1",
		Time: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC), Operation: "challenge", Method: mfa.MethodTOTP,
		Request: mfa.RequestInfo{IP: "127.0.0.1"}}
	var mu sync.Mutex // guards status and got, shared with the collector
	status := http.StatusNoContent
	var got []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.Method+" "+r.Header.Get("Content-Type")+" "+r.Header.Get("Idempotency-Key")+" "+string(body))
		if status == http.StatusFound {
			http.Redirect(w, r, "/elsewhere", status)
			return
		}
		w.WriteHeader(status)
	}))
	set := func(s int) {
		mu.Lock()
		defer mu.Unlock()
		status, got = s, nil
	}
	posts := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return got
	}
	defer collector.Close()
	sink, err := newHTTPAudit(collector.URL + "/events")
	require.NoError(t, err)
	want, err := json.Marshal(e)
	require.NoError(t, err)

	for _, s := range []int{200, 201, 202, 204} {
		set(s)
		assert.NoError(t, sink.RecordEvent(context.Background(), e), "%d is delivered", s)
	}
	for _, s := range []int{http.StatusFound, 400, 404, 409, 500, 503} {
		set(s)
		err := sink.RecordEvent(context.Background(), e)
		assert.Error(t, err, "%d is not delivered", s)
		assert.Len(t, posts(), 1, "%d: one POST, no redirect followed", s)
	}
	require.NotEmpty(t, posts())
	assert.Equal(t, "POST application/json "+e.ID+" "+string(want), posts()[0], "the body is encoding/json of mfa.Event")

	collector.Close()
	assert.Error(t, sink.RecordEvent(context.Background(), e), "a refused connection is not a delivery")
}

func TestHTTPAuditURL(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:9000/events", "https://siem.example.com/ingest?source=mfa",
		"https://user:pw-secret@logs.example.com/", "http://user:pw-secret@localhost:9000/"} {
		_, err := newHTTPAudit(ok)
		assert.NoError(t, err, ok)
	}
	for _, bad := range []string{"", "127.0.0.1:9000", "ftp://example.com/", "http://", "http:///path", "https://user:pw-secret@/x",
		"http://example.com/#frag", "://x",
		"https://ingest:ab/cd-secret@logs.example.com/",            // does not parse: the error must not quote it
		"http://user:pw-secret@logs.example.com/",                  // a password in clear over the network
		"ftp://logs.example.com/?token=tok-secret&x=pw-secret",     // a token in the query string
		"https://user:pw-secret@logs.example.com/#tok-secret-frag", // a fragment
	} {
		_, err := newHTTPAudit(bad)
		assert.Error(t, err, bad)
		if err != nil {
			assert.NotContains(t, err.Error(), "secret", "credentials are never shown: %v", err)
		}
	}
	sink, err := newHTTPAudit("https://user:pw-secret@logs.example.com/ingest?api_key=key-secret")
	require.NoError(t, err)
	assert.Equal(t, "https://logs.example.com/ingest", sink.shown, "what logs show")
}
