// Command loadgen drives full login flows (password, then the MFA
// challenge) against one or more running examples/server instances that
// share a database, for a fixed time, and checks the invariants while it
// does: no TOTP time step and no recovery code is ever accepted twice (each
// success is immediately replayed against another instance), and no
// request gets a 5xx. It talks to loopback addresses only and stops by
// itself.
//
//	go run ./examples/loadgen -targets http://127.0.0.1:8081,http://127.0.0.1:8082 -duration 20s
//
// It exits with status 1 when an invariant is broken.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

func main() {
	targets := flag.String("targets", "http://127.0.0.1:8080", "comma-separated base URLs of instances sharing one database (loopback only)")
	users := flag.Int("users", 100, "users to enrol before the run")
	workers := flag.Int("workers", 8, "concurrent login flows")
	duration := flag.Duration("duration", 20*time.Second, "length of the measured run (at most 10m)")
	flag.Parse()

	bases := strings.Split(*targets, ",")
	for _, b := range bases {
		u, err := url.Parse(b)
		if err != nil || !loopback(u.Hostname()) {
			fail("target %q: only loopback addresses are allowed", b)
		}
	}
	if *duration > 10*time.Minute {
		fail("-duration is capped at 10m")
	}
	g := &gen{bases: bases, client: &http.Client{Timeout: 10 * time.Second}, stepsSeen: map[string]bool{}}

	fmt.Printf("enrolling %d users on %s ...\n", *users, strings.Join(bases, ", "))
	pool := make(chan *user, *users)
	var wg sync.WaitGroup
	sem := make(chan struct{}, *workers)
	run := fmt.Sprint(time.Now().UnixNano())
	for i := 0; i < *users; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			u, err := g.enrol(fmt.Sprintf("load-%s-%d@example.com", run, i), i)
			if err != nil {
				fail("enrolling: %v", err)
			}
			pool <- u
		}(i)
	}
	wg.Wait()

	fmt.Printf("running %s with %d workers ...\n", *duration, *workers)
	deadline := time.Now().Add(*duration)
	start := time.Now()
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for time.Now().Before(deadline) {
				u := <-pool
				if !g.flow(u, w) {
					time.Sleep(50 * time.Millisecond) // nothing left to prove with this user for now
				}
				pool <- u
			}
		}(w)
	}
	wg.Wait()
	g.print(time.Since(start))
	if g.stepsTwice.Load() > 0 || g.codesTwice.Load() > 0 || g.serverErrors.Load() > 0 {
		os.Exit(1)
	}
}

type user struct {
	email    string
	secret   string
	codes    []string
	lastStep int64
	home     int // the instance this user's logins start on
}

type gen struct {
	bases  []string
	client *http.Client

	mu        sync.Mutex
	latencies []time.Duration
	stepsSeen map[string]bool // "email/step" accepted

	flows, totpFlows, recoveryFlows atomic.Int64
	replaysRefused                  atomic.Int64
	stepsTwice, codesTwice          atomic.Int64
	serverErrors                    atomic.Int64
}

const password = "load test password"

func (g *gen) post(base, path, bearer string, body any) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := g.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	if res.StatusCode >= 500 {
		g.serverErrors.Add(1)
		fmt.Fprintf(os.Stderr, "5xx from %s%s: %s\n", base, path, raw)
	}
	return res.StatusCode, out, nil
}

func (g *gen) enrol(email string, i int) (*user, error) {
	base := g.bases[i%len(g.bases)]
	if st, _, err := g.post(base, "/v1/auth/signup", "", map[string]string{"email": email, "password": password}); err != nil || st != 201 {
		return nil, fmt.Errorf("signup: %d %v", st, err)
	}
	st, out, err := g.post(base, "/v1/auth/login", "", map[string]string{"email": email, "password": password})
	if err != nil || st != 200 {
		return nil, fmt.Errorf("login: %d %v", st, err)
	}
	session, _ := out["access_token"].(string)
	st, out, err = g.post(base, "/v1/auth/mfa/setup", session, map[string]any{})
	if err != nil || st != 200 {
		return nil, fmt.Errorf("setup: %d %v", st, err)
	}
	u := &user{email: email, secret: out["secret"].(string), home: i}
	now := time.Now()
	st, out, err = g.post(g.bases[(i+1)%len(g.bases)], "/v1/auth/mfa/enable", session, map[string]string{"code": code(u.secret, now)})
	if err != nil || st != 200 {
		return nil, fmt.Errorf("enable: %d %v", st, err)
	}
	for _, c := range out["recovery_codes"].([]any) {
		u.codes = append(u.codes, c.(string))
	}
	u.lastStep = now.Unix() / 30
	return u, nil
}

// flow logs u in on one instance and completes the challenge on the next,
// with a TOTP code for a step not used yet or else a recovery code; then
// replays the same credential through the other instance, which must
// refuse it. It reports false when u has nothing left to log in with now.
func (g *gen) flow(u *user, w int) bool {
	now := time.Now()
	var cred map[string]string
	var step int64
	switch next := now.Unix()/30 + 1; {
	case u.lastStep < next: // the next step is inside the ±1 window
		step = next
		cred = map[string]string{"code": code(u.secret, now.Add(30*time.Second))}
	case len(u.codes) > 0:
		cred = map[string]string{"recovery_code": u.codes[0]}
		u.codes = u.codes[1:]
	default:
		return false
	}
	first := g.bases[(u.home+w)%len(g.bases)]
	second := g.bases[(u.home+w+1)%len(g.bases)]

	start := time.Now()
	ok := g.login(first, second, u, cred)
	elapsed := time.Since(start)
	if !ok {
		return true
	}
	g.flows.Add(1)
	g.mu.Lock()
	g.latencies = append(g.latencies, elapsed)
	if step > 0 {
		key := fmt.Sprintf("%s/%d", u.email, step)
		if g.stepsSeen[key] {
			g.stepsTwice.Add(1)
			fmt.Fprintf(os.Stderr, "VIOLATION: step %d accepted twice for %s\n", step, u.email)
		}
		g.stepsSeen[key] = true
	}
	g.mu.Unlock()
	if step > 0 {
		u.lastStep = step
		g.totpFlows.Add(1)
	} else {
		g.recoveryFlows.Add(1)
	}
	// The replay, through the other instance.
	if g.login(second, first, u, cred) {
		if step > 0 {
			g.stepsTwice.Add(1)
		} else {
			g.codesTwice.Add(1)
		}
		fmt.Fprintf(os.Stderr, "VIOLATION: credential %v accepted twice for %s\n", keys(cred), u.email)
	} else {
		g.replaysRefused.Add(1)
	}
	return true
}

// login runs password login on a and the challenge on b; true on 200.
func (g *gen) login(a, b string, u *user, cred map[string]string) bool {
	st, out, err := g.post(a, "/v1/auth/login", "", map[string]string{"email": u.email, "password": password})
	if err != nil || st != 200 || out["status"] != "mfa_required" {
		return false
	}
	body := map[string]string{"mfa_token": out["mfa_token"].(string)}
	for k, v := range cred {
		body[k] = v
	}
	st, _, err = g.post(b, "/v1/auth/mfa/challenge", "", body)
	return err == nil && st == 200
}

func (g *gen) print(elapsed time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	sort.Slice(g.latencies, func(i, j int) bool { return g.latencies[i] < g.latencies[j] })
	pct := func(p float64) time.Duration {
		if len(g.latencies) == 0 {
			return 0
		}
		return g.latencies[int(p*float64(len(g.latencies)-1))]
	}
	fmt.Printf("\ninstances:               %d\n", len(g.bases))
	fmt.Printf("login flows:             %d in %s (%.1f/s), %d with TOTP, %d with a recovery code\n",
		g.flows.Load(), elapsed.Round(time.Millisecond), float64(g.flows.Load())/elapsed.Seconds(), g.totpFlows.Load(), g.recoveryFlows.Load())
	fmt.Printf("flow latency:            p50 %s, p99 %s (login + challenge, across instances)\n", pct(0.50).Round(time.Millisecond), pct(0.99).Round(time.Millisecond))
	fmt.Printf("replays refused:         %d\n", g.replaysRefused.Load())
	fmt.Printf("steps accepted twice:    %d\n", g.stepsTwice.Load())
	fmt.Printf("recovery codes twice:    %d\n", g.codesTwice.Load())
	fmt.Printf("5xx responses:           %d\n", g.serverErrors.Load())
}

func code(secret string, t time.Time) string {
	c, err := totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		fail("code: %v", err)
	}
	return c
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", args...)
	os.Exit(1)
}
