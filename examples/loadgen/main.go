// Command loadgen drives full login flows (password, then the MFA
// challenge) against one or more running examples/server instances that
// share a database, for a fixed time, and checks the invariants while it
// does: no TOTP time step and no recovery code is ever accepted twice (each
// success is immediately replayed against another instance), and no
// request gets a 5xx. Some TOTP codes go to a recovery-code regeneration
// (POST /v1/auth/mfa/recovery-codes, replayed the same way) instead of a
// login. It talks to loopback addresses only and stops by itself.
//
//	go run ./examples/loadgen -targets http://127.0.0.1:8081,http://127.0.0.1:8082 -duration 20s
//
// It exits with status 1 when an invariant is broken.
//
// With -record FILE it also writes the oracle of a crash test: one JSON
// line (see record) per acknowledged answer that the HTTP contract says
// must be audited, with the user, the change and the audit events the
// contract requires for it, in the order the library writes them. An
// answer that never came (a connection reset when an instance is killed)
// is not in the file, whatever the server did before it died. A test
// compares the file with what an audit collector (-audit-url of the
// server) received: see examples/server/crash_test.go. While an instance
// is down, loadgen keeps going on the others and counts the requests
// without an answer.
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
	recordFile := flag.String("record", "", "write the acknowledged audited answers to this file as JSON lines (the oracle of a crash test)")
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
	if *recordFile != "" {
		f, err := os.Create(*recordFile)
		if err != nil {
			fail("-record: %v", err)
		}
		g.record = &recorder{f: f, enc: json.NewEncoder(f)}
	}

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
				switch g.flow(u, w) {
				case idle:
					time.Sleep(50 * time.Millisecond) // nothing left to prove with this user for now
				case unanswered:
					time.Sleep(100 * time.Millisecond) // an instance is down: do not spin
				}
				pool <- u
			}
		}(w)
	}
	wg.Wait()
	g.print(time.Since(start))
	if g.record != nil {
		if err := g.record.close(); err != nil {
			fail("-record: %v", err)
		}
		fmt.Printf("oracle:                  %d acknowledged answers, %d audit events expected, in %s\n",
			g.record.answers, g.record.events, *recordFile)
	}
	if g.stepsTwice.Load() > 0 || g.codesTwice.Load() > 0 || g.serverErrors.Load() > 0 {
		os.Exit(1)
	}
	if g.flows.Load() == 0 {
		fail("no login flow completed: the run proves nothing")
	}
}

type user struct {
	id       string
	email    string
	secret   string
	codes    []string
	lastStep int64
	home     int // the instance this user's logins start on
	// session is the access token of the user's latest session, for
	// POST /v1/auth/mfa/recovery-codes; it stays valid, since the only
	// change that ends sessions here (a regeneration) keeps its own.
	session string
	// totpUses counts the time steps used, to alternate logins and
	// regenerations.
	totpUses int
}

type gen struct {
	bases  []string
	client *http.Client
	record *recorder // nil without -record

	mu        sync.Mutex
	latencies []time.Duration
	stepsSeen map[string]bool // "email/step" accepted

	flows, totpFlows, recoveryFlows atomic.Int64
	regenerations                   atomic.Int64
	replaysRefused                  atomic.Int64
	stepsTwice, codesTwice          atomic.Int64
	serverErrors                    atomic.Int64
	unanswered                      atomic.Int64 // requests whose answer never came
}

const password = "load test password"

// The paths loadgen calls.
const (
	pathSignup     = "/v1/auth/signup"
	pathLogin      = "/v1/auth/login"
	pathSetup      = "/v1/auth/mfa/setup"
	pathEnable     = "/v1/auth/mfa/enable"
	pathChallenge  = "/v1/auth/mfa/challenge"
	pathRegenerate = "/v1/auth/mfa/recovery-codes"
)

// answer is a response that arrived in full: an acknowledgement.
type answer struct {
	status      int
	body        map[string]any
	sent, acked time.Time
}

// post sends body as JSON; an error means no answer came (the request may
// or may not have had its effect).
func (g *gen) post(base, path, bearer string, body any) (answer, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(b))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	a := answer{sent: time.Now()}
	res, err := g.client.Do(req)
	if err != nil {
		g.unanswered.Add(1)
		return answer{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		g.unanswered.Add(1)
		return answer{}, err
	}
	a.acked, a.status = time.Now(), res.StatusCode
	_ = json.Unmarshal(raw, &a.body)
	if res.StatusCode >= 500 {
		g.serverErrors.Add(1)
		fmt.Fprintf(os.Stderr, "5xx from %s%s: %s\n", base, path, raw)
	}
	return a, nil
}

// audited posts a request of u that checks a credential or changes u's
// MFA state and records its answer, if one came, in the oracle. method is
// the kind of credential it carries ("totp", "recovery_code"), if any.
func (g *gen) audited(u *user, base, path, bearer, method string, body any) (answer, error) {
	a, err := g.post(base, path, bearer, body)
	if err == nil && g.record != nil {
		g.record.write(u, base, path, method, a)
	}
	return a, err
}

func (g *gen) enrol(email string, i int) (*user, error) {
	base := g.bases[i%len(g.bases)]
	a, err := g.post(base, pathSignup, "", map[string]string{"email": email, "password": password})
	if err != nil || a.status != 201 {
		return nil, fmt.Errorf("signup: %d %v", a.status, err)
	}
	u := &user{email: email, home: i}
	u.id, _ = a.body["user_id"].(string)
	a, err = g.post(base, pathLogin, "", map[string]string{"email": email, "password": password})
	if err != nil || a.status != 200 {
		return nil, fmt.Errorf("login: %d %v", a.status, err)
	}
	u.session, _ = a.body["access_token"].(string)
	a, err = g.audited(u, base, pathSetup, u.session, "", map[string]any{})
	if err != nil || a.status != 200 {
		return nil, fmt.Errorf("setup: %d %v", a.status, err)
	}
	u.secret, _ = a.body["secret"].(string)
	now := time.Now()
	a, err = g.audited(u, g.bases[(i+1)%len(g.bases)], pathEnable, u.session, "totp", map[string]string{"code": code(u.secret, now)})
	if err != nil || a.status != 200 {
		return nil, fmt.Errorf("enable: %d %v", a.status, err)
	}
	u.codes = stringList(a.body["recovery_codes"])
	u.lastStep = now.Unix() / 30
	return u, nil
}

// outcome is what a flow did.
type outcome int

const (
	done       outcome = iota
	idle               // u has nothing to prove anything with now
	unanswered         // a request got no answer: an instance is down
)

// flow logs u in on one instance and completes the challenge on the next,
// with a TOTP code for a step not used yet or else a recovery code; then
// replays the same credential through the other instance, which must
// refuse it. Every other time step goes to a regeneration of the recovery
// codes instead of a login (with the session of the latest login),
// replayed the same way.
func (g *gen) flow(u *user, w int) outcome {
	now := time.Now()
	var cred map[string]string
	var step int64
	method := "totp"
	switch next := now.Unix()/30 + 1; {
	case u.lastStep < next: // the next step is inside the ±1 window
		step = next
		cred = map[string]string{"code": code(u.secret, now.Add(30*time.Second))}
	case len(u.codes) > 0:
		method = "recovery_code"
		cred = map[string]string{"recovery_code": u.codes[0]}
		u.codes = u.codes[1:]
	default:
		return idle
	}
	first := g.bases[(u.home+w)%len(g.bases)]
	second := g.bases[(u.home+w+1)%len(g.bases)]
	if step > 0 && u.session != "" && (u.totpUses+u.home)%2 == 1 {
		return g.regenerate(u, first, second, step, cred)
	}

	start := time.Now()
	ok, out := g.login(first, second, u, method, cred)
	elapsed := time.Since(start)
	if !ok {
		if step > 0 {
			u.lastStep = step // perhaps used by a login whose answer was lost: move on
		}
		return out
	}
	g.flows.Add(1)
	g.mu.Lock()
	g.latencies = append(g.latencies, elapsed)
	g.mu.Unlock()
	if step > 0 {
		g.accepted(u, step)
		g.totpFlows.Add(1)
	} else {
		g.recoveryFlows.Add(1)
	}
	// The replay, through the other instance.
	ok, out = g.login(second, first, u, method, cred)
	switch {
	case ok && step > 0:
		g.stepsTwice.Add(1)
	case ok:
		g.codesTwice.Add(1)
	case out == unanswered:
		return out // not known to be refused
	default:
		g.replaysRefused.Add(1)
		return done
	}
	fmt.Fprintf(os.Stderr, "VIOLATION: credential %v accepted twice for %s\n", keys(cred), u.email)
	return done
}

// accepted notes that u's TOTP step was accepted, and reports a step
// accepted twice.
func (g *gen) accepted(u *user, step int64) {
	g.mu.Lock()
	key := fmt.Sprintf("%s/%d", u.email, step)
	if g.stepsSeen[key] {
		g.stepsTwice.Add(1)
		fmt.Fprintf(os.Stderr, "VIOLATION: step %d accepted twice for %s\n", step, u.email)
	}
	g.stepsSeen[key] = true
	g.mu.Unlock()
	u.lastStep = step
	u.totpUses++
}

// regenerate replaces u's recovery codes on first with the TOTP code of
// step, then replays the code through second, which must refuse it.
func (g *gen) regenerate(u *user, first, second string, step int64, cred map[string]string) outcome {
	a, err := g.audited(u, first, pathRegenerate, u.session, "totp", cred)
	switch {
	case err != nil:
		u.lastStep = step
		u.codes = nil // perhaps replaced: wait for the next step rather than fail with them
		return unanswered
	case a.status != 200:
		u.lastStep = step
		return done
	}
	u.codes = stringList(a.body["recovery_codes"])
	g.accepted(u, step)
	g.regenerations.Add(1)
	a, err = g.audited(u, second, pathRegenerate, u.session, "totp", cred)
	switch {
	case err != nil:
		return unanswered
	case a.status == 200:
		g.stepsTwice.Add(1)
		fmt.Fprintf(os.Stderr, "VIOLATION: regeneration code for step %d accepted twice for %s\n", step, u.email)
	default:
		g.replaysRefused.Add(1)
	}
	return done
}

// login runs password login on a and the challenge on b; true on 200.
func (g *gen) login(a, b string, u *user, method string, cred map[string]string) (bool, outcome) {
	r, err := g.post(a, pathLogin, "", map[string]string{"email": u.email, "password": password})
	if err != nil {
		return false, unanswered
	}
	if r.status != 200 || r.body["status"] != "mfa_required" {
		return false, done
	}
	token, ok := r.body["mfa_token"].(string)
	if !ok {
		return false, done // an answer without a token: not a login this run can finish
	}
	body := map[string]string{"mfa_token": token}
	for k, v := range cred {
		body[k] = v
	}
	r, err = g.audited(u, b, pathChallenge, "", method, body)
	if err != nil {
		return false, unanswered
	}
	if r.status != 200 {
		return false, done
	}
	if s, _ := r.body["access_token"].(string); s != "" {
		u.session = s
	}
	return true, done
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
	fmt.Printf("regenerations:           %d\n", g.regenerations.Load())
	fmt.Printf("replays refused:         %d\n", g.replaysRefused.Load())
	fmt.Printf("steps accepted twice:    %d\n", g.stepsTwice.Load())
	fmt.Printf("recovery codes twice:    %d\n", g.codesTwice.Load())
	fmt.Printf("5xx responses:           %d\n", g.serverErrors.Load())
	fmt.Printf("requests without answer: %d\n", g.unanswered.Load())
}

// record is one line of the -record file: an acknowledged answer to a
// request that checked a credential or changed a user's MFA state, and
// the audit events the HTTP contract requires for it.
type record struct {
	// Seq numbers the lines in the order they were written; the answers
	// of one user are written in the order they came, and loadgen sends a
	// user's next request only after the answer to the previous one.
	Seq     int64  `json:"seq"`
	UserID  string `json:"user_id"`
	Email   string `json:"email"`
	Target  string `json:"target"`  // the instance that answered
	Request string `json:"request"` // "POST /v1/auth/mfa/challenge"
	// Method is the kind of credential the request carried: "totp" or
	// "recovery_code"; empty for none.
	Method string `json:"method,omitempty"`
	Status int    `json:"status"`
	// Change names what the answer reports: "setup", "enable",
	// "challenge", "regenerate_recovery_codes" or "failed_check".
	Change string `json:"change"`
	// Events are the audit events the contract requires for the answer,
	// in the order the library writes them, each of them with UserID.
	// A failed check that starts a lockout may also be audited as
	// auth.mfa.locked, which is not listed: loadgen cannot tell.
	Events []string  `json:"events"`
	Sent   time.Time `json:"sent"`
	Acked  time.Time `json:"acked"`
}

// The audit events of the contract that loadgen's requests cause.
const (
	eventSetupStarted       = "auth.mfa.setup_started"
	eventEnabled            = "auth.mfa.enabled"
	eventChallengeSucceeded = "auth.mfa.challenge_succeeded"
	eventChallengeFailed    = "auth.mfa.challenge_failed"
	eventRecoveryCodeUsed   = "auth.mfa.recovery_code_used"
	eventRegenerated        = "auth.mfa.recovery_codes_regenerated"
)

// required returns the change an answer of status to POST path with a
// credential of method reports and the audit events the contract requires
// for it; none for an answer that changed nothing (400, 404, 409, 5xx).
// A 401 or 429 of a check is a failed check, audited for the user the
// session or the mfa_token names: loadgen's tokens are fresh and its
// sessions valid, so its 401s are refused credentials.
func required(path, method string, status int) (string, []string) {
	check := path == pathEnable || path == pathChallenge || path == pathRegenerate
	switch {
	case check && (status == 401 || status == 429):
		return "failed_check", []string{eventChallengeFailed}
	case status != 200:
		return "", nil
	}
	var used []string
	if method == "recovery_code" {
		used = []string{eventRecoveryCodeUsed}
	}
	switch path {
	case pathSetup:
		return "setup", []string{eventSetupStarted}
	case pathEnable:
		return "enable", []string{eventEnabled}
	case pathChallenge:
		return "challenge", append(used, eventChallengeSucceeded)
	case pathRegenerate:
		return "regenerate_recovery_codes", append(used, eventRegenerated)
	}
	return "", nil
}

// recorder writes the -record file, one line per acknowledged answer that
// requires audit events.
type recorder struct {
	mu      sync.Mutex
	f       *os.File
	enc     *json.Encoder
	err     error
	answers int
	events  int
}

func (r *recorder) write(u *user, base, path, method string, a answer) {
	change, events := required(path, method, a.status)
	if len(events) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers++
	r.events += len(events)
	line := record{Seq: int64(r.answers), UserID: u.id, Email: u.email, Target: base, Request: "POST " + path,
		Method: method, Status: a.status, Change: change, Events: events, Sent: a.sent, Acked: a.acked}
	if err := r.enc.Encode(line); err != nil && r.err == nil {
		r.err = err
	}
}

func (r *recorder) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.f.Close(); r.err == nil {
		r.err = err
	}
	return r.err
}

func code(secret string, t time.Time) string {
	c, err := totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		fail("code: %v", err)
	}
	return c
}

// stringList returns the strings of a JSON array.
func stringList(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, s := range list {
		if s, ok := s.(string); ok {
			out = append(out, s)
		}
	}
	return out
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
