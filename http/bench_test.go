package mfahttp_test

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/identsphere/mfa"
	mfahttp "github.com/identsphere/mfa/http"
	"github.com/identsphere/mfa/memstore"
)

// benchWriter is a reusable http.ResponseWriter, so that both benchmarks
// measure their handler and not the recorder.
type benchWriter struct {
	header http.Header
	status int
	n      int
}

func (w *benchWriter) Header() http.Header         { return w.header }
func (w *benchWriter) WriteHeader(status int)      { w.status = status }
func (w *benchWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *benchWriter) reset()                      { clear(w.header); w.status = 200; w.n = 0 }

// floorHandler is the least a JSON endpoint does: decode a small body and
// encode a reply of about 100 bytes.
func floorHandler(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Code string `json:"code"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Status    string `json:"status"`
		Enabled   bool   `json:"mfa_enabled"`
		Remaining int    `json:"recovery_codes_remaining"`
		Code      string `json:"code"`
		Echo      string `json:"echo"`
	}{"ok", true, 10, req.Code, "a reply of about one hundred bytes"})
}

// runFloorHTTP drives floorHandler n times.
func runFloorHTTP(n int) {
	w := &benchWriter{header: http.Header{}}
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	body := strings.NewReader("")
	for i := 0; i < n; i++ {
		body.Reset(`{"code":"123456"}`)
		req.Body = io.NopCloser(body)
		w.reset()
		floorHandler(w, req)
	}
	if w.n < 90 || w.n > 130 {
		panic("floor reply is not about 100 bytes")
	}
}

func BenchmarkFloorHTTPJSON(b *testing.B) {
	b.ReportAllocs()
	runFloorHTTP(b.N)
}

var (
	httpFloorOnce sync.Once
	httpFloorNs   float64
)

// BenchmarkHTTPStatus: GET / through the mfahttp handler on memstore,
// bearer-authenticated, for an enrolled user. It reports its ratio to
// BenchmarkFloorHTTPJSON, measured in the same process, as "x-floor".
func BenchmarkHTTPStatus(b *testing.B) {
	store := memstore.New()
	ctx := context.Background()
	factor := mfa.Factor{ID: "f_alice", Type: mfa.FactorTOTP, Name: "App", Secret: make([]byte, 20)}
	if err := store.SetPending(ctx, "alice", factor, nil); err != nil {
		b.Fatal(err)
	}
	if err := store.Enable(ctx, "alice", mfa.Enablement{FactorID: factor.ID, Counter: 1, RecoveryCodes: [][]byte{{1}, {2}}}, nil); err != nil {
		b.Fatal(err)
	}
	svc, err := mfa.New(mfa.Config{Issuer: "Bench", Store: store, Audit: discard{}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close(ctx)
	sessions := map[string]string{"s3cr3t-token": "alice"}
	h, err := mfahttp.New(mfahttp.Config{Service: svc, Authenticate: mfahttp.CookieOrBearer("identsphere_at", func(_ context.Context, token string) (string, error) {
		if u, ok := sessions[token]; ok {
			return u, nil
		}
		return "", mfahttp.ErrUnauthenticated
	})})
	if err != nil {
		b.Fatal(err)
	}
	w := &benchWriter{header: http.Header{}}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer s3cr3t-token")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.reset()
		h.ServeHTTP(w, req)
	}
	b.StopTimer()
	if w.status != 200 {
		b.Fatalf("status %d", w.status)
	}
	httpFloorOnce.Do(func() {
		const n = 20_000
		httpFloorNs = math.MaxFloat64
		for range 5 {
			start := time.Now()
			runFloorHTTP(n)
			httpFloorNs = min(httpFloorNs, float64(time.Since(start).Nanoseconds())/n)
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/httpFloorNs, "x-floor")
}
