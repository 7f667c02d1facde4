// Package storetest is the conformance suite for mfa.Store
// implementations. Every store in this module runs it, and so can a
// third-party store (Redis, DynamoDB, …):
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) mfa.Store { return mystore.New(…) })
//	}
//
// The suite checks each method's documented contract (not-found, repeat
// calls, lockout arithmetic, nothing changed on error) and races
// goroutines against the operations that must happen at most once, and
// against the failure budget, which must hold exactly. The stores it gets
// may share one database: every case uses user IDs of its own.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
)

// Racers is the number of goroutines in most race cases; the budget races
// use BudgetRacers.
const (
	Racers       = 50
	BudgetRacers = 200
)

// T0 is the time the suite's clock starts at: a whole second, so that a
// store keeping time at second or millisecond precision compares exactly.
var T0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// throttle is the budget of most cases: 3 failures, 30 s doubling to 100 s,
// permanent after 4 lockouts.
var throttle = mfa.Throttle{MaxFailures: 3, Lockout: 30 * time.Second, MaxLockout: 100 * time.Second, MaxLockouts: 4}

// maxFactors is the most active factors a user may have in the cases.
const maxFactors = 3

// Run runs the suite. newStore is called once per case; the stores it
// returns may share their backing database.
func Run(t *testing.T, newStore func(t *testing.T) mfa.Store) {
	prefix := randomHex(6)
	var all []testCase
	for _, cs := range [][]testCase{stateCases, checkCases, factorCases, ticketCases, ceremonyCases, raceCases, eventCases} {
		all = append(all, cs...)
	}
	for _, c := range all {
		t.Run(c.name, func(t *testing.T) {
			h := &harness{t: t, store: newStore(t), ctx: context.Background(), prefix: prefix + "-" + c.name}
			c.run(h)
		})
	}
}

type testCase struct {
	name string
	run  func(h *harness)
}

type harness struct {
	t      *testing.T
	store  mfa.Store
	ctx    context.Context
	prefix string
	n      int
}

// user returns a user ID no other case uses.
func (h *harness) user() string {
	h.n++
	return fmt.Sprintf("%s-%d", h.prefix, h.n)
}

func (h *harness) get(userID string) mfa.State {
	h.t.Helper()
	st, err := h.store.Get(h.ctx, userID)
	require.NoError(h.t, err)
	return st
}

// factor returns a new TOTP factor created at T0. It is safe for
// concurrent use.
func (h *harness) factor(name string) mfa.Factor {
	return mfa.Factor{ID: "f-" + randomHex(12), Type: mfa.FactorTOTP, Name: name, Secret: randomBytes(20), CreatedAt: T0}
}

// pending returns a user with a pending factor.
func (h *harness) pending() (string, mfa.Factor) {
	h.t.Helper()
	u, f := h.user(), h.factor("Phone")
	require.NoError(h.t, h.store.SetPending(h.ctx, u, f, nil))
	return u, f
}

// enabled returns a user with MFA enabled through factor f at step 100
// and the given recovery codes.
func (h *harness) enabled(codes ...[]byte) (string, mfa.Factor) {
	h.t.Helper()
	u, f := h.pending()
	require.NoError(h.t, h.store.Enable(h.ctx, u, mfa.Enablement{FactorID: f.ID, Counter: 100, UsedAt: T0, RecoveryCodes: codes}, nil))
	f.Active, f.Counter, f.LastUsedAt = true, 100, T0
	return u, f
}

// second adds and confirms another factor (at step 100) for an enabled
// user, proving with factor proof's step step.
func (h *harness) second(u string, proof mfa.Factor, step int64) mfa.Factor {
	h.t.Helper()
	f := h.factor("Laptop")
	f.CreatedAt = T0.Add(time.Second) // after the first: factors list oldest first
	require.NoError(h.t, h.store.AddFactor(h.ctx, u, h.step(proof, step), f, maxFactors, nil))
	require.NoError(h.t, h.store.ConfirmFactor(h.ctx, u, mfa.Confirmation{FactorID: f.ID, Counter: 100, UsedAt: T0}, maxFactors, nil))
	f.Active, f.Counter = true, 100
	return f
}

// step is a proof of factor f at step s.
func (h *harness) step(f mfa.Factor, s int64) mfa.Proof {
	return mfa.Proof{FactorID: f.ID, Counter: s, UsedAt: T0}
}

// code is a proof of a recovery code by its hashes.
func code(hashes ...[]byte) mfa.Proof {
	return mfa.Proof{RecoveryCode: hashes, UsedAt: T0}
}

func (h *harness) reserve(userID string, enabled bool, now time.Time) (mfa.Reservation, error) {
	return h.store.ReserveAttempt(h.ctx, userID, mfa.Attempt{Enabled: enabled, Now: now, Throttle: throttle})
}

// fail takes n attempts from the user's budget at T0.
func (h *harness) fail(userID string, n int) {
	h.t.Helper()
	for i := 0; i < n; i++ {
		_, err := h.reserve(userID, true, T0)
		require.NoError(h.t, err)
	}
}

// factorOf returns the user's factor with this ID from st, or nil.
func factorOf(st mfa.State, id string) *mfa.Factor {
	for i := range st.Factors {
		if st.Factors[i].ID == id {
			return &st.Factors[i]
		}
	}
	return nil
}

// activeCount counts the active factors of st.
func activeCount(st mfa.State) int {
	n := 0
	for _, f := range st.Factors {
		if f.Active {
			n++
		}
	}
	return n
}

// race runs f in n goroutines released at once and returns their errors.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range errs {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return errs
}

// tally counts nil errors and requires every other error to match one of
// allowed.
func tally(t *testing.T, errs []error, allowed ...error) int {
	t.Helper()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || errors.Is(err, a)
		}
		assert.True(t, ok, "unexpected error: %v", err)
	}
	return wins
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

// hashes returns n random recovery-code hashes.
func hashes(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = randomBytes(32)
	}
	return out
}
