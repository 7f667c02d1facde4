package mfahttp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/identsphere/mfa"
	mfahttp "github.com/identsphere/mfa/http"
	"github.com/identsphere/mfa/memstore"
)

// FuzzHandlers sends arbitrary bodies to every POST endpoint of an enrolled
// user: the handler never panics, never answers 500 on memory, and every
// answer is JSON, with the error envelope unless it is a 200.
func FuzzHandlers(f *testing.F) {
	for _, seed := range []struct {
		path, contentType, body string
	}{
		{"/enable", "application/json", `{"code":"123456"}`},
		{"/setup", "application/json", ``},
		{"/challenge", "application/json", `{"mfa_token":"x","code":"123456"}`},
		{"/challenge", "application/json", `{"mfa_token":"x","recovery_code":"Yj7nKp2qA8"}`},
		{"/disable", "application/json; charset=utf-8", `{"recovery_code":"Yj7nKp2qA8"}`},
		{"/recovery-codes", "application/json", `{"code":123}`},
		{"/enable", "text/plain", `{"code":"123456"}`},
		{"/enable", "application/json", `{"code":"123456"} trailing`},
		{"/disable", "application/json", `{"code":null,"recovery_code":null}`},
		{"/challenge", "application/json", `{"mfa_token":"` + strings.Repeat("a", 300) + `","code":"1"}`},
		{"/factors", "application/json", `{"name":"Laptop","code":"123456"}`},
		{"/factors/f_x/confirm", "application/json", `{"code":"123456"}`},
		{"/verify", "application/json", `{"code":"123456","code":"654321"}`},
		{"/setup", "application/json", `{"name":"Phone\u0000"}`},
	} {
		f.Add(seed.path, seed.contentType, seed.body)
	}
	store := memstore.New()
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	svc, err := mfa.New(mfa.Config{Issuer: "Fuzz", Store: store, Now: func() time.Time { return now }, Audit: discard{}, Throttle: mfa.Throttle{MaxFailures: -1}})
	if err != nil {
		f.Fatal(err)
	}
	defer svc.Close(context.Background())
	ctx := context.Background()
	factor := mfa.Factor{ID: "f_u", Type: mfa.FactorTOTP, Name: "App", Secret: make([]byte, 20), CreatedAt: now}
	if err := store.SetPending(ctx, "u", factor, nil); err != nil {
		f.Fatal(err)
	}
	if err := store.Enable(ctx, "u", mfa.Enablement{FactorID: factor.ID, Counter: 1}, nil); err != nil {
		f.Fatal(err)
	}
	h, err := mfahttp.New(mfahttp.Config{
		Service:      svc,
		Authenticate: func(*http.Request) (string, error) { return "u", nil },
		CompleteLogin: func(w http.ResponseWriter, r *http.Request, v mfa.Verification) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"status":"ok"}`))
		},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path, contentType, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.URL.Path = path
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: status %d: %s", path, body, rec.Code, rec.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %q: not JSON: %s", path, body, rec.Body)
		}
		if rec.Code >= 300 {
			e, ok := out["error"].(map[string]any)
			if !ok || e["code"] == nil || e["message"] == nil {
				t.Fatalf("%s %q: no error envelope: %s", path, body, rec.Body)
			}
		}
	})
}
