package memstore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
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

// ReserveAttempt hands out a user's factors without copying them, and Get
// copies them after releasing the store's lock; every change builds a new
// slice instead of writing to one a reader may hold. Readers of an enabled
// and of a pending user race every operation that changes factors. Run
// with -race (as CI does), this test fails if one of them writes to a
// stored slice in place.
func TestFactorsAreCopyOnWrite(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	totp := func(id string) mfa.Factor {
		return mfa.Factor{ID: id, Type: mfa.FactorTOTP, Name: "App", Secret: make([]byte, 20), CreatedAt: now}
	}
	require.NoError(t, store.SetPending(ctx, "u", totp("f0"), nil))
	require.NoError(t, store.Enable(ctx, "u", mfa.Enablement{FactorID: "f0", Counter: 1, UsedAt: now}, nil))

	const rounds = 4000
	var wg sync.WaitGroup
	var seen atomic.Int64
	for _, r := range []struct {
		user    string
		enabled bool
	}{{"u", true}, {"p", false}} {
		wg.Add(2)
		go func() { // reads what a reservation hands out, as the Service does
			defer wg.Done()
			var sum int64
			for range rounds {
				res, err := store.ReserveAttempt(ctx, r.user, mfa.Attempt{Enabled: r.enabled, Now: now})
				if r.enabled {
					assert.NoError(t, err)
				}
				for _, f := range res.Factors {
					sum += f.Counter + int64(f.Secret[0]) + 1
				}
			}
			seen.Add(sum)
		}()
		go func() {
			defer wg.Done()
			for range rounds {
				_, err := store.Get(ctx, r.user)
				assert.NoError(t, err)
			}
		}()
	}
	wg.Add(2)
	go func() { // every change to an enabled user's factors
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
			added := fmt.Sprintf("q%d", i)
			assert.NoError(t, store.AddFactor(ctx, "u", mfa.Proof{FactorID: "f0", Counter: step + 1, UsedAt: now}, totp(added), 5, nil))
			assert.NoError(t, store.ConfirmFactor(ctx, "u", mfa.Confirmation{FactorID: added, Counter: 1, UsedAt: now}, 5, nil))
			disabled, err := store.RemoveFactor(ctx, "u", added, mfa.Proof{FactorID: "f0", Counter: step + 2, UsedAt: now}, nil, nil)
			assert.NoError(t, err)
			assert.False(t, disabled)
		}
	}()
	go func() { // setup, enable and deletion of another user
		defer wg.Done()
		for i := range rounds {
			f := totp(fmt.Sprintf("g%d", i))
			assert.NoError(t, store.SetPending(ctx, "p", f, nil))
			assert.NoError(t, store.SetPending(ctx, "p", f, nil), "a second setup replaces the first")
			assert.NoError(t, store.Enable(ctx, "p", mfa.Enablement{FactorID: f.ID, Counter: 1, UsedAt: now}, nil))
			assert.NoError(t, store.Delete(ctx, "p", nil))
		}
	}()
	wg.Wait()
	assert.Positive(t, seen.Load(), "the readers saw factors")

	st, err := store.Get(ctx, "u")
	require.NoError(t, err)
	require.Len(t, st.Factors, 1, "every added factor was removed again")
	assert.Equal(t, int64(10*(rounds-1)+4), st.Factors[0].Counter)
	assert.Equal(t, []byte{rounds & 0xff, rounds >> 8}, st.Factors[0].Secret[:2], "the last secret")
}
