package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // the host picks the driver

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/sqlstore"
)

// A Service on an embedded SQLite file. PostgreSQL and MySQL work the same
// way with sqlx.Open("pgx", dsn) or sqlx.Open("mysql", dsn).
func Example() {
	dir, _ := os.MkdirTemp("", "mfa-example")
	defer os.RemoveAll(dir)
	db, err := sqlx.Open("sqlite", sqlstore.SQLiteDSN(filepath.Join(dir, "app.db")))
	if err != nil {
		panic(err)
	}
	defer db.Close()

	ctx := context.Background()
	store, err := sqlstore.New(db, sqlstore.Config{}) // tables mfa_users, mfa_factors, …
	if err != nil {
		panic(err)
	}
	if err := store.Migrate(ctx); err != nil {
		panic(err)
	}
	svc, err := mfa.New(mfa.Config{Issuer: "Example", Store: store, Audit: nopSink{}})
	if err != nil {
		panic(err)
	}
	defer svc.Close(ctx)

	if _, err := svc.Setup(ctx, "alice", ""); err != nil {
		panic(err)
	}
	st, _ := svc.Status(ctx, "alice")
	fmt.Printf("enabled=%v pending=%v\n", st.Enabled, st.SetupPending)
	// Output: enabled=false pending=true
}
