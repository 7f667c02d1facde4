package main_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/identsphere/mfa/sqlstore"
)

// The end-to-end tests build the real binary and run it as a user would.

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

func serverBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mfa-demo-bin")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "server")
		out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binary
}

// server is a running instance of the demo.
type server struct {
	URL string
	// Dir is the working folder: mfa-demo.db and mfa-demo.key are there.
	Dir  string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServer runs the binary in dir (its working folder: mfa-demo.db and
// the key file go there) on a free loopback port and waits until it
// listens. It is stopped with SIGTERM at the end of the test.
func startServer(t *testing.T, dir string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(serverBinary(t), append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	s := &server{Dir: dir, cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.logs
	require.NoError(t, cmd.Start())
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), "listening on "); ok {
				urls <- strings.Fields(rest)[0]
			}
		}
	}()
	go func() { s.done <- cmd.Wait() }()
	select {
	case s.URL = <-urls:
	case err := <-s.done:
		t.Fatalf("server exited before listening: %v\n%s", err, s.logs.String())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("server did not start\n%s", s.logs.String())
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop sends SIGTERM and requires a clean exit.
func (s *server) stop(t *testing.T) {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		assert.NoError(t, err, "graceful shutdown exits 0\n%s", s.logs.String())
		assert.Contains(t, s.logs.String(), "msg=stopped")
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		t.Errorf("server did not stop on SIGTERM")
	}
}

// client is a user agent with its own cookie jar.
type client struct {
	t      *testing.T
	base   string
	http   *http.Client
	bearer string
}

func newClient(t *testing.T, base string) *client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &client{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// newClientFrom is newClient whose connections come from the loopback
// address ip (any of 127.0.0.0/8 on Linux), so that the server sees a
// client address of its own.
func newClientFrom(t *testing.T, base string, ip net.IP) *client {
	c := newClient(t, base)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
	c.http.Transport = &http.Transport{DialContext: dialer.DialContext}
	return c
}

// randomLoopback returns a random address of 127.0.0.0/8 other than
// 127.0.0.1: a client address no earlier test run used, for tests whose
// per-address counts live in a database that outlives them.
func randomLoopback(t *testing.T) net.IP {
	b := make([]byte, 3)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return net.IPv4(127, b[0], b[1], b[2]|2)
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends one request, with body as JSON unless it is nil, and checks the
// exchange against docs/openapi.yaml (checkContract).
func (c *client) do(method, path string, body any) reply {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(c.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	require.NoError(c.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req)
}

// raw sends a body exactly as given (JSON or not), with Content-Type
// application/json.
func (c *client) raw(method, path, body string) reply {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/json")
	return c.send(req)
}

// send sends req, adding the client's bearer token, and checks the
// exchange against docs/openapi.yaml (checkContract).
func (c *client) send(req *http.Request) reply {
	c.t.Helper()
	r, err := c.exchange(req)
	require.NoError(c.t, err)
	return r
}

// exchange is send for goroutines other than the test's: it returns its
// error instead of ending the test (checkContract only reports).
func (c *client) exchange(req *http.Request) (reply, error) {
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return reply{}, err
	}
	checkContract(c.t, res, raw)
	r := reply{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			return r, fmt.Errorf("%v: %s", err, raw)
		}
	}
	return r, nil
}

// postAsync is post for goroutines other than the test's.
func (c *client) postAsync(path string, body any) (reply, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return reply{}, err
	}
	req, err := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.exchange(req)
}

func (c *client) post(path string, body any) reply {
	c.t.Helper()
	return c.do(http.MethodPost, path, body)
}

// want checks a reply's status and, for errors, the envelope's code.
func want(t *testing.T, r reply, status int, code string) {
	t.Helper()
	require.Equal(t, status, r.status, r.raw)
	if code == "" {
		return
	}
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	e, ok := r.body["error"].(map[string]any)
	require.True(t, ok, r.raw)
	assert.Equal(t, code, e["code"], r.raw)
	assert.NotEmpty(t, e["message"])
}

func code(t *testing.T, secret string, offset time.Duration) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, time.Now().Add(offset), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	require.NoError(t, err)
	return c
}

func uniqueEmail(name string) string {
	return fmt.Sprintf("%s-%d@example.com", name, time.Now().UnixNano())
}

const password = "correct horse battery"

// signupAndLogin creates a user and signs in; the client then holds the
// session cookie.
func (c *client) signupAndLogin(email string) {
	c.t.Helper()
	want(c.t, c.post("/v1/auth/signup", map[string]string{"email": email, "password": password}), 201, "")
	r := c.post("/v1/auth/login", map[string]string{"email": email, "password": password})
	want(c.t, r, 200, "")
	require.Equal(c.t, "ok", r.body["status"])
}

// enrol runs setup and enable and returns the secret and recovery codes.
func (c *client) enrol() (string, []string) {
	c.t.Helper()
	r := c.post("/v1/auth/mfa/setup", map[string]any{})
	want(c.t, r, 200, "")
	secret := r.body["secret"].(string)
	r = c.post("/v1/auth/mfa/enable", map[string]string{"code": code(c.t, secret, 0)})
	want(c.t, r, 200, "")
	var codes []string
	for _, v := range r.body["recovery_codes"].([]any) {
		codes = append(codes, v.(string))
	}
	return secret, codes
}

// database opens the SQLite database of a server started on its default
// driver, for tests that look at what the server stored or that stand in
// for time passing by moving a lockout into the past. SQLite's write-ahead
// log lets both processes use the file at once.
func (s *server) database(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(filepath.Join(s.Dir, "mfa-demo.db")))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// login signs in with email and password and returns the reply.
func (c *client) login(email, pw string) reply {
	c.t.Helper()
	return c.post("/v1/auth/login", map[string]string{"email": email, "password": pw})
}

// userID returns the ID of the client's user (GET /v1/auth/me).
func (c *client) userID() string {
	c.t.Helper()
	r := c.do(http.MethodGet, "/v1/auth/me", nil)
	want(c.t, r, 200, "")
	return r.body["user_id"].(string)
}

// errorMessage returns the message of an error reply.
func errorMessage(t *testing.T, r reply) string {
	t.Helper()
	e, ok := r.body["error"].(map[string]any)
	require.True(t, ok, r.raw)
	return e["message"].(string)
}

// retryAfter returns the Retry-After header of a reply in seconds,
// requiring it to be a positive whole number.
func retryAfter(t *testing.T, r reply) int {
	t.Helper()
	v := r.header.Get("Retry-After")
	require.Regexp(t, `^[1-9][0-9]*$`, v, "Retry-After in whole seconds")
	n, err := strconv.Atoi(v)
	require.NoError(t, err)
	return n
}
