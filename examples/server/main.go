// Command server is the demo host application for
// github.com/identsphere/mfa: a small web app with sign-up, login and
// sessions of its own that adds TOTP multi-factor authentication by
// mounting the library's handlers. It is also the project's end-to-end test
// bed.
//
//	go run ./examples/server                  # http://127.0.0.1:8080, data in mfa-demo.db
//	go run ./examples/server -driver postgres -dsn postgres://…
//
// Flags: -addr HOST:PORT, -driver sqlite|postgres|mysql|memory, -dsn DSN,
// -issuer NAME, -key-file PATH. The key ring that seals TOTP secrets and
// keys recovery-code hashes comes from the environment variable
// MFA_DEMO_KEYS ("id:base64,…", primary first) or from -key-file, which is
// created with a random key on first run.
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
	"syscall"
	"time"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "listen address (HOST:PORT; port 0 picks a free one)")
	flag.StringVar(&cfg.driver, "driver", "sqlite", "database: sqlite, postgres, mysql or memory")
	flag.StringVar(&cfg.dsn, "dsn", "", "SQLite file path (default mfa-demo.db), PostgreSQL URL or MySQL DSN")
	flag.StringVar(&cfg.issuer, "issuer", "MFA Demo", "issuer name shown in authenticator apps")
	flag.StringVar(&cfg.keyFile, "key-file", "mfa-demo.key", "file holding the key ring (id:base64), created on first run")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("server failed", "err", err)
		os.Exit(1)
	}
}

type config struct {
	addr, driver, dsn, issuer, keyFile string
}

// run serves until ctx is done, then shuts down: in-flight requests finish
// and queued audit events are delivered.
func run(ctx context.Context, cfg config, logger *slog.Logger) error {
	keys, err := loadKeys(cfg.keyFile)
	if err != nil {
		return err
	}
	app, err := openApp(ctx, cfg, keys, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		app.close(context.Background())
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
	fmt.Printf("mfa demo listening on http://%s (driver %s)\n", ln.Addr(), cfg.driver)
	logger.Info("listening", "addr", ln.Addr().String(), "driver", cfg.driver)

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
