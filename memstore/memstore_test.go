package memstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/memstore"
	"github.com/identsphere/mfa/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mfa.Store { return memstore.New() })
}

// ReserveAttempt hands out the user's factors without copying them, and Get
// copies them after releasing the store's lock; every change builds a new
// slice instead of writing to one a reader may hold. Run with -race (as
// CI does), this test fails if a change writes to a stored slice in place.
func TestFactorsAreCopyOnWrite(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	first := mfa.Factor{ID: "f0", Type: mfa.FactorTOTP, Name: "Phone", Secret: make([]byte, 20), CreatedAt: now}
	require.NoError(t, store.SetPending(ctx, "u", first, nil))
	require.NoError(t, store.Enable(ctx, "u", mfa.Enablement{FactorID: "f0", Counter: 1, UsedAt: now}, nil))

	const rounds = 2000
	var wg sync.WaitGroup
	read := func(do func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				assert.NoError(t, do())
			}
		}()
	}
	var seen int64
	read(func() error { // reads what the store handed out, as the Service does
		res, err := store.ReserveAttempt(ctx, "u", mfa.Attempt{Enabled: true, Now: now})
		for _, f := range res.Factors {
			seen += f.Counter + int64(f.Secret[0])
		}
		return err
	})
	read(func() error { _, err := store.Get(ctx, "u"); return err })
	wg.Add(1)
	go func() { // changes of every kind to the same user's factors
		defer wg.Done()
		secret := make([]byte, 20)
		for i := range rounds {
			step := int64(10*i + 2)
			assert.NoError(t, store.Accept(ctx, "u", mfa.Proof{FactorID: "f0", Counter: step, UsedAt: now}, nil))
			next := make([]byte, 20)
			next[0], next[1] = byte(i+1), byte((i+1)>>8)
			replaced, err := store.ReplaceSecret(ctx, "f0", secret, next)
			assert.NoError(t, err)
			assert.True(t, replaced)
			secret = next
			pending := mfa.Factor{ID: fmt.Sprintf("p%d", i), Type: mfa.FactorTOTP, Name: "Laptop", Secret: make([]byte, 20), CreatedAt: now}
			assert.NoError(t, store.AddFactor(ctx, "u", mfa.Proof{FactorID: "f0", Counter: step + 1, UsedAt: now}, pending, 5, nil))
		}
	}()
	wg.Wait()
	assert.Positive(t, seen)

	st, err := store.Get(ctx, "u")
	require.NoError(t, err)
	require.Len(t, st.Factors, 2, "the active factor and the last pending one")
	assert.Equal(t, int64(10*(rounds-1)+3), st.Factors[0].Counter)
	assert.Equal(t, []byte{rounds & 0xff, rounds >> 8}, st.Factors[0].Secret[:2], "the last secret")
	assert.Equal(t, fmt.Sprintf("p%d", rounds-1), st.Factors[1].ID)
}
