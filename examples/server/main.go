// Command server is the demo host application for
// github.com/identsphere/mfa: a small web app with sign-up, login and
// sessions of its own that adds multi-factor authentication (authenticator
// apps, recovery codes, security keys and passkeys) by mounting the
// library's handlers. It is also the project's end-to-end test
// bed, and a reference integration: it does what a careful production host
// does (throttled password login, step-up before a password change,
// sessions that end when MFA changes, Host and Origin checks, owner-only
// files).
//
//	go run ./examples/server                  # http://localhost:8080, data in mfa-demo.db
//	go run ./examples/server -driver postgres -dsn postgres://…
//
// Flags: -addr HOST:PORT, -driver sqlite|postgres|mysql|memory, -dsn DSN,
// -issuer NAME, -key-file PATH, -origin LIST, -secure, -audit-url URL. The
// key ring that seals TOTP secrets and keys recovery-code hashes comes from the
// environment variable MFA_DEMO_KEYS ("id:base64,…", primary first) or
// from -key-file, which is created with a random key on first run.
//
// -origin lists the origins the pages are served from, comma-separated
// (default: http://HOST:PORT of -addr and http://localhost:PORT). Requests
// for any other host name, and state-changing requests from any other
// origin, get 403. The first of them whose host is a name (not an IP
// address) gives the WebAuthn RP ID: security keys work on the origins at
// that name or below it. -secure sets the session cookie's Secure
// attribute; it is on by default unless -addr is a loopback address.
//
// -audit-url URL delivers each audit event as an HTTP POST of one JSON
// object ({"id", "type", "user_id", "time", …}) to URL, an http:// or
// https:// address of any host (a log collector or SIEM); only a 2xx
// answer counts as delivered, anything else is retried later with
// back-off. On a SQL store the events wait in its outbox (mfa_events)
// until delivered, across restarts and kill -9; with -driver memory they
// wait in memory only, and an event the collector refuses is logged and
// lost. Without -audit-url events go to the log. See auditsink.go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/identsphere/mfa"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "listen address (HOST:PORT; port 0 picks a free one)")
	flag.StringVar(&cfg.driver, "driver", "sqlite", "database: sqlite, postgres, mysql or memory")
	flag.StringVar(&cfg.dsn, "dsn", "", "SQLite file path (default mfa-demo.db), PostgreSQL URL or MySQL DSN")
	flag.StringVar(&cfg.issuer, "issuer", "MFA Demo", "issuer name shown in authenticator apps")
	flag.StringVar(&cfg.keyFile, "key-file", "mfa-demo.key", "file holding the key ring (id:base64), created on first run")
	flag.StringVar(&cfg.origin, "origin", "", "comma-separated origins the pages are served from, such as https://app.example.com (default: http://ADDR and http://localhost:PORT)")
	flag.StringVar(&cfg.auditURL, "audit-url", "", "POST each audit event as JSON to this http(s) URL, retried until a 2xx answer or set aside after 10 tries (default: log the events)")
	flag.Var(&cfg.secureFlag, "secure", "set the Secure attribute on the session cookie (default: on unless -addr is a loopback address)")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("server failed", "err", err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	addr, driver, dsn, issuer, keyFile string
	// auditURL is -audit-url: the collector audit events are POSTed to.
	auditURL string
	// audit is the sink of auditURL, set by run; nil means the log.
	audit mfa.AuditSink
	// origin is -origin as given.
	origin string
	// secureFlag is -secure as given.
	secureFlag optionalBool

	// origins and secure are resolved by run once it listens: their
	// defaults depend on the address.
	origins *origins
	secure  bool
}

// resolve sets the origins and the cookie's Secure attribute from the
// flags, or from the address the server listens on.
func (cfg *config) resolve(listening net.Addr) error {
	list := cfg.origin
	if list == "" {
		list = defaultOrigins(listening)
	}
	var err error
	if cfg.origins, err = parseOrigins(list); err != nil {
		return err
	}
	cfg.secure = cfg.secureFlag.value
	if !cfg.secureFlag.set {
		cfg.secure = !loopback(cfg.addr)
	}
	return nil
}

// run serves until ctx is done, then shuts down: in-flight requests finish
// and queued audit events are delivered.
func run(ctx context.Context, cfg config, logger *slog.Logger) error {
	var err error
	if cfg.audit, err = auditSink(cfg.auditURL, cfg.driver, logger); err != nil {
		return err
	}
	keys, err := loadKeys(cfg.keyFile, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	if err := cfg.resolve(ln.Addr()); err != nil {
		ln.Close()
		return err
	}
	app, err := openApp(ctx, cfg, keys, logger)
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           app.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	fmt.Printf("mfa demo listening on %s (driver %s)\n", cfg.pageURL(ln.Addr()), cfg.driver)
	logger.Info("listening", "addr", ln.Addr().String(), "driver", cfg.driver,
		"origins", strings.Join(cfg.origins.list, ","), "secure_cookie", cfg.secure)
	plainHTTP := func(origin string) bool { return strings.HasPrefix(origin, "http://") }
	if cfg.secure && slices.ContainsFunc(cfg.origins.list, plainHTTP) {
		logger.Warn("Secure cookies with an http:// origin: browsers keep them only over HTTPS (and on localhost); serve the pages over HTTPS or pass -secure=false")
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		app.close(context.Background())
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if cerr := app.close(shutdownCtx); err == nil {
		err = cerr
	}
	if errors.Is(<-served, http.ErrServerClosed) && err == nil {
		logger.Info("stopped")
	}
	return err
}

// loopback reports whether the listen address addr (HOST:PORT) is on the
// loopback interface only: localhost or a loopback IP. An empty host
// listens on every interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// optionalBool is a boolean flag that remembers whether it was given, for
// a default that depends on other flags.
type optionalBool struct{ value, set bool }

func (b *optionalBool) String() string { return strconv.FormatBool(b.value) }

func (b *optionalBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	b.value, b.set = v, true
	return nil
}

// IsBoolFlag lets the flag be given as plain -secure.
func (b *optionalBool) IsBoolFlag() bool { return true }
