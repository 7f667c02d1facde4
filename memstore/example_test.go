package memstore_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/memstore"
)

// A Service on the in-memory store: tests and single-process apps.
func Example() {
	svc, err := mfa.New(mfa.Config{Issuer: "Example", Store: memstore.New(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer svc.Close(context.Background())
	enr, _ := svc.Setup(context.Background(), "alice", "")
	st, _ := svc.Status(context.Background(), "alice")
	fmt.Println(len(enr.Secret), st.SetupPending)
	// Output: 32 true
}
