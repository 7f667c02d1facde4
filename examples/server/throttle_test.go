package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The login throttle's SQL, on every database the demo runs on, with a
// clock the test moves: the end-to-end tests cannot wait out lockouts.

// clock is a settable time source, safe for concurrent use.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testDatabases opens the demo's database on SQLite (a file) and, when
// their DSNs are set, on PostgreSQL and MySQL, as -driver would.
func testDatabases(t *testing.T) map[string]*sqlx.DB {
	t.Helper()
	dsns := map[string]string{
		"sqlite":   filepath.Join(t.TempDir(), "throttle.db"),
		"postgres": os.Getenv("MFA_TEST_POSTGRES_DSN"),
		"mysql":    os.Getenv("MFA_TEST_MYSQL_DSN"),
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	dbs := map[string]*sqlx.DB{}
	for driver, dsn := range dsns {
		if dsn == "" {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s DSN not set: CI must run the throttle on every database (.ci/run starts them)", driver)
			}
			t.Logf("skipping %s: set MFA_TEST_%s_DSN to run it", driver, map[string]string{"postgres": "POSTGRES", "mysql": "MYSQL"}[driver])
			continue
		}
		db, _, err := openDatabase(context.Background(), driver, dsn, logger)
		require.NoError(t, err, driver)
		t.Cleanup(func() { db.Close() })
		dbs[driver] = db
	}
	return dbs
}

func TestLoginThrottleSQL(t *testing.T) {
	ctx := context.Background()
	for driver, db := range testDatabases(t) {
		t.Run(driver, func(t *testing.T) {
			clk := &clock{now: time.Now().Truncate(time.Millisecond)}
			th := newLoginThrottle(db, clk.Now)
			unique := fmt.Sprintf("%d", time.Now().UnixNano())
			email := func(name string) string { return name + "-" + unique + "@example.com" }
			// Each case has a client address of its own: the database
			// outlives the test.
			address := func(n byte) string {
				return net.IPv4(10, n, byte(time.Now().UnixNano()), byte(time.Now().UnixNano()>>8)).String()
			}

			// fail reserves n attempts that all fail, requiring each to be
			// granted.
			fail := func(t *testing.T, email, addr string, n int) {
				t.Helper()
				for i := range n {
					attempt, wait, _, err := th.reserve(ctx, email, addr)
					require.NoError(t, err)
					require.NotNil(t, attempt, "attempt %d of %d", i+1, n)
					require.Zero(t, wait)
				}
			}
			refused := func(t *testing.T, email, addr string) (time.Duration, string) {
				t.Helper()
				attempt, wait, reason, err := th.reserve(ctx, email, addr)
				require.NoError(t, err)
				require.Nil(t, attempt)
				return wait, reason
			}

			t.Run("BackoffDoublesToTheCap", func(t *testing.T) {
				e, addr := email("backoff"), address(1)
				for _, want := range []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute} {
					fail(t, e, addr, 5)
					wait, reason := refused(t, e, addr)
					assert.Equal(t, want, wait)
					assert.Equal(t, "account", reason)
					clk.Add(want - time.Millisecond)
					wait, _ = refused(t, e, addr)
					assert.Equal(t, time.Millisecond, wait, "locked until the very end")
					clk.Add(time.Millisecond)
				}
			})

			t.Run("SuccessResets", func(t *testing.T) {
				e, addr := email("reset"), address(2)
				fail(t, e, addr, 5)
				wait, _ := refused(t, e, addr)
				require.Equal(t, 30*time.Second, wait)
				clk.Add(wait)
				attempt, _, _, err := th.reserve(ctx, e, addr)
				require.NoError(t, err)
				require.NoError(t, attempt.succeeded(ctx))
				fail(t, e, addr, 4)
				attempt, _, _, err = th.reserve(ctx, e, addr)
				require.NoError(t, err)
				require.NoError(t, attempt.succeeded(ctx), "the fifth attempt succeeds: no lockout")
				fail(t, e, addr, 5)
				wait, _ = refused(t, e, addr)
				assert.Equal(t, 30*time.Second, wait, "the lockouts before the success are forgotten")
			})

			t.Run("AddressWindow", func(t *testing.T) {
				addr := address(3)
				for i := range 3 * th.addressLimit { // successes give their attempt back
					attempt, wait, _, err := th.reserve(ctx, email(fmt.Sprint("ok", i)), addr)
					require.NoError(t, err)
					require.Zero(t, wait)
					require.NoError(t, attempt.succeeded(ctx))
				}
				for i := range th.addressLimit {
					fail(t, email(fmt.Sprint("nat", i)), addr, 1)
				}
				wait, reason := refused(t, email("nat-last"), addr)
				assert.Equal(t, 15*time.Minute, wait)
				assert.Equal(t, "client address", reason)
				clk.Add(14 * time.Minute)
				wait, _ = refused(t, email("nat-last"), addr)
				assert.Equal(t, time.Minute, wait)
				clk.Add(time.Minute)
				fail(t, email("nat-last"), addr, 1)
			})

			t.Run("AccountLockGivesTheAddressItsAttemptBack", func(t *testing.T) {
				e, addr := email("locked"), address(4)
				fail(t, e, addr, 5)
				for range 2 * th.addressLimit {
					_, reason := refused(t, e, addr)
					require.Equal(t, "account", reason)
				}
				fail(t, email("other"), addr, 1) // the address has room left
			})

			t.Run("ConcurrentAttemptsAreExact", func(t *testing.T) {
				e, addr := email("burst"), address(5)
				const n = 30
				var wg sync.WaitGroup
				var mu sync.Mutex
				granted, refusedCount := 0, 0
				var firstErr error
				for range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						attempt, wait, _, err := th.reserve(ctx, e, addr)
						mu.Lock()
						defer mu.Unlock()
						switch {
						case err != nil:
							firstErr = err
						case attempt != nil:
							granted++
						case wait > 0:
							refusedCount++
						}
					}()
				}
				wg.Wait()
				require.NoError(t, firstErr)
				t.Logf("%d concurrent attempts on a new account: %d granted, %d refused", n, granted, refusedCount)
				assert.Equal(t, 5, granted, "exactly the budget")
				assert.Equal(t, n-5, refusedCount)
			})
		})
	}
}

// TestAddressKey: IPv4 clients count per address, IPv6 clients per /64.
func TestAddressKey(t *testing.T) {
	assert.Equal(t, "2001:db8:1:2::/64", addressKey("2001:db8:1:2::1"))
	assert.Equal(t, addressKey("2001:db8:1:2::1"), addressKey("2001:db8:1:2:ffff::9"))
	assert.NotEqual(t, addressKey("2001:db8:1:2::1"), addressKey("2001:db8:1:3::1"))
	assert.Equal(t, "192.0.2.7", addressKey("192.0.2.7"))
	assert.Equal(t, "192.0.2.7", addressKey("::ffff:192.0.2.7"))
}

// TestConfigDefaults: without -origin the host serves http://ADDR and
// http://localhost:PORT; without -secure the cookie is Secure unless the
// address is a loopback one.
func TestConfigDefaults(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		secure bool
	}{
		{"127.0.0.1:8080", false},
		{"localhost:8080", false},
		{"[::1]:8080", false},
		{"127.0.0.2:8080", false},
		{"0.0.0.0:8080", true},
		{":8080", true},
		{"192.0.2.10:443", true},
		{"app.example.com:443", true},
	} {
		cfg := config{addr: tc.addr}
		require.NoError(t, cfg.resolve(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}))
		assert.Equal(t, tc.secure, cfg.secure, tc.addr)
	}
	cfg := config{addr: "0.0.0.0:8080"}
	require.NoError(t, cfg.secureFlag.Set("false"))
	require.NoError(t, cfg.resolve(&net.TCPAddr{IP: net.IPv4zero, Port: 8080}))
	assert.False(t, cfg.secure, "-secure=false wins")

	cfg = config{addr: "127.0.0.1:0"}
	require.NoError(t, cfg.resolve(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 41234}))
	assert.Equal(t, []string{"http://127.0.0.1:41234", "http://localhost:41234"}, cfg.origins.list)
	assert.True(t, cfg.origins.hosts["localhost:41234"])
	assert.False(t, cfg.origins.hosts["localhost"])

	o, err := parseOrigins("https://App.Example:443/, http://b.example:8080")
	require.NoError(t, err)
	assert.Equal(t, []string{"https://app.example", "http://b.example:8080"}, o.list)
	assert.True(t, o.hosts["app.example"])
	assert.True(t, o.hosts["app.example:443"])
	assert.False(t, o.hosts["app.example:80"])
	for _, bad := range []string{"", "app.example", "ftp://app.example", "https://app.example/path", "https://user@app.example", "https://app.example?x=1"} {
		_, err := parseOrigins(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func TestLoginThrottleFirstBurstFromNewAddress(t *testing.T) {
	for driver, db := range testDatabases(t) {
		t.Run(driver, func(t *testing.T) {
			th := newLoginThrottle(db, time.Now)
			refused := 0
			for round := range 20 {
				address := fmt.Sprintf("10.77.%d.%d", time.Now().UnixNano()%250, round)
				var mu sync.Mutex
				var wg sync.WaitGroup
				for i := range 16 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						_, wait, reason, err := th.reserve(context.Background(), fmt.Sprintf("burst-%d-%d-%d@example.com", time.Now().UnixNano(), round, i), address)
						require.NoError(t, err)
						if wait > 0 {
							mu.Lock()
							refused++
							mu.Unlock()
							t.Logf("refused by %s, wait %s", reason, wait.Round(time.Second))
						}
					}()
				}
				wg.Wait()
			}
			assert.Zero(t, refused, "16 first logins from a new address are under its limit of 100")
		})
	}
}
