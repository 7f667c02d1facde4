package main_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/sqlstore"
)

// The crash tests: the demo delivers its audit events to a collector
// (-audit-url) while the load generator logs users in, the collector is
// down for a while (503), and an instance is killed with SIGKILL twice
// (once while the collector is down, once while the backlog drains) and
// restarted on the same database. The oracle is the load generator's
// record of acknowledged answers (-record), never the database: every
// change the contract says is audited and whose answer the client got
// must reach the collector, deduplicated by event ID (repeats are
// allowed, at-least-once), and each user's events must arrive in the order
// of the answers. The load generator runs as a subprocess, built like the
// server binary, so that the test drives it exactly as a person would
// (flags, exit status, the file it writes) and the test process only
// schedules, kills and counts.
//
// CI runs a small size (40 users, 8 workers, 20 s of load with a 12 s
// outage; about half a minute each). MFA_CRASH_FULL=1 runs the full size
// (200 users, 16 workers, 3 minutes of load with a 108 s outage); give go
// test -timeout 30m, and -v for the figures.

// crashSize is the load and the schedule of one crash test.
type crashSize struct {
	users, workers int
	duration       time.Duration
	// drainTimeout bounds the wait for the collector after the load.
	drainTimeout time.Duration
}

func crashTestSize() crashSize {
	if os.Getenv("MFA_CRASH_FULL") == "1" {
		return crashSize{users: 200, workers: 16, duration: 3 * time.Minute, drainTimeout: 10 * time.Minute}
	}
	return crashSize{users: 40, workers: 8, duration: 20 * time.Second, drainTimeout: 2 * time.Minute}
}

// TestCrashAuditPostgres runs two instances on one PostgreSQL database (a
// schema of its own) and kills each of them once, each time while the
// other goes on.
func TestCrashAuditPostgres(t *testing.T) {
	dsn := os.Getenv("MFA_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MFA_TEST_POSTGRES_DSN is not set: CI must run the crash test on PostgreSQL (.ci/run starts it)")
		}
		t.Skip("skipping: set MFA_TEST_POSTGRES_DSN to a PostgreSQL URL to run the crash test on two instances")
	}
	dsn = isolatedPostgres(t, dsn)
	runCrashTest(t, crashTestSize(), 2, "pgx", dsn, "-driver", "postgres", "-dsn", dsn)
}

// TestCrashAuditSQLite runs one instance on an SQLite file and kills it
// twice.
func TestCrashAuditSQLite(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "crash.db")
	runCrashTest(t, crashTestSize(), 1, "sqlite", sqlstore.SQLiteDSN(file), "-dsn", file)
}

// isolatedPostgres creates a schema of its own for the test in the
// database of dsn, dropped at the end, and returns dsn with that schema
// as its search_path: the relays of these instances then see no event of
// another test or run, and no other test's relay sees theirs.
func isolatedPostgres(t *testing.T, dsn string) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	schema := "crash_" + hex.EncodeToString(b)
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err, "MFA_TEST_POSTGRES_DSN is set but the server does not answer")
	t.Cleanup(func() { db.Exec("DROP SCHEMA " + schema + " CASCADE") })
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema // keyword/value form
}

// runCrashTest starts instances of the demo with -audit-url pointing at a
// collector, runs the load generator against them with the schedule of
// outage and kills, lets the relays drain, and compares the collector
// with the oracle. dbDriver and dbDSN open the database (database/sql)
// to look at the outbox.
func runCrashTest(t *testing.T, size crashSize, instances int, dbDriver, dbDSN string, args ...string) {
	col := newCollector(t)
	dir := t.TempDir() // the instances share the key file, as replicas share their keys
	args = append(args, "-audit-url", col.URL+"/events")
	servers := make([]*server, instances)
	for i := range servers {
		servers[i] = startServer(t, dir, args...)
	}
	all := append([]*server(nil), servers...) // restarts included, for their logs
	var targets []string
	for _, s := range servers {
		targets = append(targets, s.URL)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, s := range all {
				t.Logf("process %d log (last lines):\n%s", i, lastLines(s.logs.String(), 40))
			}
		}
	})

	record := filepath.Join(t.TempDir(), "oracle.jsonl")
	lg := startLoadgen(t, "-targets", strings.Join(targets, ","), "-record", record,
		"-users", fmt.Sprint(size.users), "-workers", fmt.Sprint(size.workers), "-duration", size.duration.String())
	select {
	case <-lg.running:
	case err := <-lg.done:
		t.Fatalf("loadgen ended before its run: %v\n%s", err, lg.out.String())
	case <-time.After(5 * time.Minute):
		t.Fatalf("loadgen did not finish enrolling\n%s", lg.out.String())
	}
	start := time.Now()

	// The schedule, in fractions of the run: the collector goes down, the
	// last instance is killed while it is down (its events wait in the
	// outbox with back-off), the collector comes back late in the run, and
	// the first instance is killed while the relays work through the
	// backlog (an event delivered but not yet deleted is delivered again).
	d := size.duration
	downFor := max(time.Second, d/20)
	var outageStart, outageEnd time.Time
	var restarted []time.Time
	schedule := []struct {
		at   time.Duration
		what string
		do   func()
	}{
		{d * 15 / 100, "collector down (503)", func() { col.setDown(true); outageStart = time.Now() }},
		{d * 35 / 100, "kill -9 the last instance", func() { servers[instances-1].kill(t) }},
		{d*35/100 + downFor, "restart it on the same database", func() {
			servers[instances-1] = servers[instances-1].restart(t, args...)
			all = append(all, servers[instances-1])
			restarted = append(restarted, time.Now())
		}},
		{d * 75 / 100, "collector up", func() { col.setDown(false); outageEnd = time.Now() }},
		{d * 80 / 100, "kill -9 the first instance", func() { servers[0].kill(t) }},
		{d*80/100 + downFor, "restart it on the same database", func() {
			servers[0] = servers[0].restart(t, args...)
			all = append(all, servers[0])
			restarted = append(restarted, time.Now())
		}},
	}
	for _, step := range schedule {
		select {
		case err := <-lg.done:
			t.Fatalf("loadgen ended early: %v\n%s", err, lg.out.String())
		case <-time.After(time.Until(start.Add(step.at))):
		}
		step.do()
		t.Logf("%6.1fs  %s", time.Since(start).Seconds(), step.what)
	}
	var lgErr error
	select {
	case lgErr = <-lg.done:
	case <-time.After(d + 2*time.Minute):
		t.Fatalf("loadgen did not stop\n%s", lg.out.String())
	}
	loadEnd := time.Now()
	t.Logf("loadgen:\n%s", lg.out.String())
	require.NoError(t, lgErr, "loadgen found a broken invariant or a 5xx")

	oracle := readOracle(t, record)
	// The run proves something only if changes were acknowledged while the
	// collector was down and after each restart.
	acked := func(from, to time.Time) int {
		n := 0
		for _, l := range oracle {
			if l.Acked.After(from) && l.Acked.Before(to) {
				n++
			}
		}
		return n
	}
	require.Len(t, restarted, 2)
	t.Logf("acknowledged during the outage: %d; after the restarts: %d and %d",
		acked(outageStart, outageEnd), acked(restarted[0], outageEnd), acked(restarted[1], loadEnd))
	require.Positive(t, acked(outageStart, outageEnd), "changes acknowledged while the collector was down")
	require.Positive(t, acked(restarted[0], outageEnd), "changes acknowledged after the first restart, during the outage")
	require.Positive(t, acked(restarted[1], loadEnd), "changes acknowledged after the second restart")
	var res crashResult
	deadline := loadEnd.Add(size.drainTimeout)
	for {
		res = compareAudit(oracle, col.arrivals())
		if res.missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	drainedAt := time.Now()

	// The outbox empties too: events of answers that never came, and
	// lockouts, go the same way; none is set aside.
	db, err := sql.Open(dbDriver, dbDSN)
	require.NoError(t, err)
	defer db.Close()
	var pending, setAside int
	for {
		require.NoError(t, db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(dead), 0) FROM mfa_events`).Scan(&pending, &setAside))
		if pending == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	t.Logf("requests acknowledged (audited): %d", res.answers)
	t.Logf("events expected:                 %d", res.expected)
	t.Logf("events received:                 %d distinct, %d deliveries, %d duplicates", res.distinct, res.deliveries, res.duplicates)
	t.Logf("events beyond the oracle:        %d (answers that never came, lockouts)", res.extra)
	t.Logf("missing:                         %d", res.missing)
	t.Logf("out of order (users):            %d", len(res.disorder))
	t.Logf("refused by the collector (503):  %d, at most %d for one event", col.refusedCount(), col.mostTries())
	// A relay tries a failing event after 1, 2, 4, … seconds: during an
	// outage of L seconds at most 1+log2(L+1) times, one more for the
	// poll's lag and one for a delivery cut short by the kill during the
	// outage (never settled, so tried again at once). More means that
	// relays tried it more often than the back-off allows, which brings
	// the dead letter closer.
	outage := outageEnd.Sub(outageStart).Seconds()
	assert.LessOrEqual(t, col.mostTries(), 3+int(math.Log2(outage+1)), "no event is tried more often than its back-off allows (a %.0fs outage)", outage)
	t.Logf("time to drain:                   %s after the load ended, %s after the collector came back",
		drainedAt.Sub(loadEnd).Round(10*time.Millisecond), drainedAt.Sub(outageEnd).Round(10*time.Millisecond))
	t.Logf("outbox at the end:               %d pending, %d set aside", pending, setAside)

	assert.Zero(t, res.missing, "every acknowledged change reaches the collector: %v", firstOf(res.missingByUser, 10))
	assert.Empty(t, res.disorder[:min(len(res.disorder), 10)], "each user's events arrive in the order of the answers")
	assert.Zero(t, col.invalidCount(), "every delivery is one JSON object of mfa.Event")
	assert.Zero(t, pending, "the outbox drains")
	assert.Zero(t, setAside, "no event is set aside")
	assert.Positive(t, col.refusedCount(), "the outage was seen by the relays")
	for i, s := range all {
		assert.NotContains(t, s.logs.String(), "set aside", "process %d", i)
	}
}

// lastLines returns the last n lines of text.
func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// firstOf returns up to n entries of m, for a message.
func firstOf(m map[string][]string, n int) map[string][]string {
	out := map[string][]string{}
	for k, v := range m {
		if len(out) == n {
			break
		}
		out[k] = v
	}
	return out
}

// kill ends the instance with SIGKILL: no shutdown, no drain.
func (s *server) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, s.cmd.Process.Kill())
	<-s.done
}

// restart starts the binary again in the same folder and on the same
// address, with args.
func (s *server) restart(t *testing.T, args ...string) *server {
	t.Helper()
	u, err := url.Parse(s.URL)
	require.NoError(t, err)
	n := startServer(t, s.Dir, append(args, "-addr", u.Host)...)
	require.Equal(t, s.URL, n.URL)
	return n
}

// collector is the audit collector of the crash tests: a loopback HTTP
// server that keeps every event POSTed to it, in the order they arrived,
// or answers 503 while it is down.
type collector struct {
	*httptest.Server
	mu       sync.Mutex
	down     bool
	received []arrival
	refused  int // POSTs answered 503
	// refusedByID counts the 503s of each event: its failed attempts.
	refusedByID map[string]int
	invalid     int // POSTs that were not one mfa.Event
}

// arrival is one delivery of an event.
type arrival struct {
	id, typ, userID string
}

func newCollector(t *testing.T) *collector {
	c := &collector{refusedByID: map[string]int{}}
	c.Server = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.Close)
	return c
}

func (c *collector) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	c.mu.Lock()
	defer c.mu.Unlock()
	var e mfa.Event
	if c.down {
		c.refused++
		if json.Unmarshal(body, &e) == nil {
			c.refusedByID[e.ID]++
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
		dec.Decode(&e) != nil || dec.More() || e.ID == "" || e.Type == "" || r.Header.Get("Idempotency-Key") != e.ID {
		c.invalid++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	c.received = append(c.received, arrival{id: e.ID, typ: string(e.Type), userID: e.UserID})
	w.WriteHeader(http.StatusNoContent)
}

func (c *collector) setDown(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = down
}

func (c *collector) arrivals() []arrival {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]arrival(nil), c.received...)
}

func (c *collector) refusedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refused
}

// mostTries returns the most 503s one event got.
func (c *collector) mostTries() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	most := 0
	for _, n := range c.refusedByID {
		most = max(most, n)
	}
	return most
}

func (c *collector) invalidCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.invalid
}

// oracleLine is one line of loadgen's -record file.
type oracleLine struct {
	Seq     int64     `json:"seq"`
	UserID  string    `json:"user_id"`
	Request string    `json:"request"`
	Status  int       `json:"status"`
	Change  string    `json:"change"`
	Events  []string  `json:"events"`
	Sent    time.Time `json:"sent"`
	Acked   time.Time `json:"acked"`
}

func readOracle(t *testing.T, path string) []oracleLine {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var lines []oracleLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l oracleLine
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), sc.Text())
		require.NotEmpty(t, l.UserID, sc.Text())
		lines = append(lines, l)
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, lines, "loadgen acknowledged nothing")
	return lines
}

// crashResult compares the collector with the oracle.
type crashResult struct {
	answers, expected                int
	deliveries, distinct, duplicates int
	extra, missing                   int
	missingByUser                    map[string][]string // user: the types missing, once each missing event
	disorder                         []string            // a description per user whose events came out of order
}

// compareAudit checks arrivals against the oracle. Per user, the events
// the oracle requires, in the order of the answers (and within an answer,
// in the order the library writes them), must be a subsequence of the
// user's events in the order of their first arrival, repeats removed:
// every one arrived (counted per type), and none before an event of an
// earlier answer. Events beyond the oracle (of answers that never came, or
// auth.mfa.locked) may come anywhere.
func compareAudit(oracle []oracleLine, arrivals []arrival) crashResult {
	res := crashResult{answers: len(oracle), deliveries: len(arrivals), missingByUser: map[string][]string{}}
	want := map[string][]oracleLine{}
	for _, l := range oracle {
		want[l.UserID] = append(want[l.UserID], l)
		res.expected += len(l.Events)
	}
	seen := map[string]bool{}
	got := map[string][]string{} // user: types in order of first arrival
	for _, a := range arrivals {
		if seen[a.id] {
			res.duplicates++
			continue
		}
		seen[a.id] = true
		got[a.userID] = append(got[a.userID], a.typ)
	}
	res.distinct = len(seen)
	users := make([]string, 0, len(want))
	for u := range want {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		lines := want[u]
		sort.Slice(lines, func(i, j int) bool { return lines[i].Seq < lines[j].Seq })
		var expected []string
		for i, l := range lines {
			if i > 0 && l.Sent.Before(lines[i-1].Acked) {
				res.disorder = append(res.disorder, fmt.Sprintf("%s: loadgen sent seq %d before the answer to seq %d came; the oracle has no order", u, l.Seq, lines[i-1].Seq))
			}
			expected = append(expected, l.Events...)
		}
		// Counts per type.
		have := map[string]int{}
		for _, typ := range got[u] {
			have[typ]++
		}
		need := map[string]int{}
		for _, typ := range expected {
			need[typ]++
		}
		for typ, n := range need {
			for ; n > have[typ]; n-- {
				res.missing++
				res.missingByUser[u] = append(res.missingByUser[u], typ)
			}
		}
		// Order: expected is a subsequence of got.
		i := 0
		for _, typ := range got[u] {
			if i < len(expected) && typ == expected[i] {
				i++
			}
		}
		if i < len(expected) && len(res.missingByUser[u]) == 0 {
			res.disorder = append(res.disorder, fmt.Sprintf("%s: expected %v, arrived %v", u, expected, got[u]))
		}
	}
	res.extra = res.distinct - res.expected + res.missing
	return res
}

// loadgenRun is a running load generator.
type loadgenRun struct {
	out     *syncBuffer
	running chan struct{} // closed once enrolment is over and the run began
	done    chan error
}

var (
	loadgenOnce sync.Once
	loadgenBin  string
	loadgenErr  error
)

// startLoadgen builds examples/loadgen once and runs it with args; it is
// killed at the end of the test if it is still running.
func startLoadgen(t *testing.T, args ...string) *loadgenRun {
	t.Helper()
	loadgenOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mfa-loadgen-bin")
		if err != nil {
			loadgenErr = err
			return
		}
		loadgenBin = filepath.Join(dir, "loadgen")
		out, err := exec.Command("go", "build", "-o", loadgenBin, "../loadgen").CombinedOutput()
		if err != nil {
			loadgenErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, loadgenErr)
	cmd := exec.Command(loadgenBin, args...)
	lg := &loadgenRun{out: &syncBuffer{}, running: make(chan struct{}), done: make(chan error, 1)}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = lg.out
	require.NoError(t, cmd.Start())
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			fmt.Fprintln(lg.out, sc.Text())
			if strings.HasPrefix(sc.Text(), "running ") {
				once.Do(func() { close(lg.running) })
			}
		}
	}()
	exited := make(chan struct{})
	go func() {
		<-scanned // all output read before Wait closes the pipe
		err := cmd.Wait()
		close(exited)
		lg.done <- err
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	})
	return lg
}

// TestCompareAudit checks the crash tests' comparison itself: a missing
// event and a reordering are found; repeats and events beyond the oracle
// are allowed.
func TestCompareAudit(t *testing.T) {
	at := func(s int) time.Time { return time.Date(2026, 11, 28, 9, 0, s, 0, time.UTC) }
	oracle := []oracleLine{
		{Seq: 1, UserID: "u1", Events: []string{"setup"}, Sent: at(0), Acked: at(1)},
		{Seq: 2, UserID: "u1", Events: []string{"used", "ok"}, Sent: at(2), Acked: at(3)},
		{Seq: 3, UserID: "u1", Events: []string{"failed"}, Sent: at(4), Acked: at(5)},
	}
	ev := func(id, typ string) arrival { return arrival{id: id, typ: typ, userID: "u1"} }
	fine := []arrival{ev("a", "setup"), ev("x", "ok"), ev("b", "used"), ev("a", "setup"), ev("c", "ok"), ev("b", "used"), ev("d", "failed"), ev("e", "locked")}
	res := compareAudit(oracle, fine)
	assert.Zero(t, res.missing)
	assert.Empty(t, res.disorder)
	assert.Equal(t, 2, res.duplicates)
	assert.Equal(t, 2, res.extra, "x and e")
	assert.Equal(t, 4, res.expected)

	res = compareAudit(oracle, []arrival{ev("a", "setup"), ev("b", "used"), ev("d", "failed")})
	assert.Equal(t, 1, res.missing)
	assert.Equal(t, []string{"ok"}, res.missingByUser["u1"])

	res = compareAudit(oracle, []arrival{ev("a", "setup"), ev("d", "failed"), ev("b", "used"), ev("c", "ok")})
	assert.Zero(t, res.missing)
	assert.Len(t, res.disorder, 1, "failed came before the answer it follows")

	overlapping := append([]oracleLine(nil), oracle...)
	overlapping[2].Sent = at(2)
	res = compareAudit(overlapping, fine)
	assert.Len(t, res.disorder, 1, "an oracle whose answers overlap is refused")
}

// Instances that start at the same moment on an empty PostgreSQL database
// all come up: creating the host's tables and migrating the library's are
// safe when they race.
func TestInstancesStartTogetherOnPostgres(t *testing.T) {
	dsn := os.Getenv("MFA_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MFA_TEST_POSTGRES_DSN not set: CI must run this test (.ci/run starts PostgreSQL)")
		}
		t.Skip("set MFA_TEST_POSTGRES_DSN to run it")
	}
	bin := serverBinary(t)
	for range 3 {
		fresh, dir := isolatedPostgres(t, dsn), t.TempDir()
		results := make(chan string, 4)
		for range cap(results) {
			cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-driver", "postgres", "-dsn", fresh)
			cmd.Dir = dir
			stderr := &syncBuffer{}
			cmd.Stderr = stderr
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					if strings.Contains(sc.Text(), "listening on ") {
						results <- ""
						return
					}
				}
				results <- "exited before listening: " + stderr.String()
			}()
		}
		for range cap(results) {
			select {
			case failure := <-results:
				assert.Empty(t, failure)
			case <-time.After(30 * time.Second):
				t.Fatal("an instance did not start")
			}
		}
	}
}
