package sqlstore_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/sqlstore"
)

// Each benchmark runs once per backend as a sub-benchmark (/sqlite,
// /postgres, /mysql where its DSN is set). Enable reports its ratio to
// FloorEnableTx, and AdvanceStep and ConsumeRecoveryCode (Store.Accept of a
// time step and of a recovery code) theirs to FloorWrite (one
// single-statement committed UPDATE), as the metric "x-floor", with the
// floor measured in the same run on the same database.

type benchDB struct {
	db     *sqlx.DB
	store  *sqlstore.Store
	prefix string
}

func forEachBackend(b *testing.B, run func(b *testing.B, env benchDB)) {
	for _, be := range backends(b) {
		b.Run(be.name, func(b *testing.B) {
			db := be.open(b)
			prefix := testPrefix()
			run(b, benchDB{db: db, store: newStore(b, db, prefix), prefix: prefix})
		})
	}
}

func (e benchDB) sql(q string) string {
	return e.db.Rebind(strings.ReplaceAll(q, "mfa_", e.prefix))
}

// enabledUser enrols userID directly with codes recovery-code hashes,
// inserted 500 rows a statement, and returns its factor.
func (e benchDB) enabledUser(b *testing.B, userID string, codes [][]byte) mfa.Factor {
	ctx := context.Background()
	f := pendingFactor()
	if err := e.store.SetPending(ctx, userID, f, nil); err != nil {
		b.Fatal(err)
	}
	if err := e.store.Enable(ctx, userID, mfa.Enablement{FactorID: f.ID, Counter: 1}, nil); err != nil {
		b.Fatal(err)
	}
	tx := e.db.MustBegin()
	for start := 0; start < len(codes); start += 500 {
		chunk := codes[start:min(start+500, len(codes))]
		args := make([]any, 0, 2*len(chunk))
		for _, h := range chunk {
			args = append(args, userID, h)
		}
		q := "INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES " + strings.TrimSuffix(strings.Repeat("(?, ?), ", len(chunk)), ", ")
		tx.MustExec(e.sql(q), args...)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return f
}

// floorWrite returns one single-statement committed UPDATE of one row.
func (e benchDB) floorWrite(b *testing.B) func(i int) {
	ctx := context.Background()
	e.enabledUser(b, "floor", nil)
	q := e.sql("UPDATE mfa_users SET failures = ? WHERE user_id = ?")
	return func(i int) {
		if _, err := e.db.ExecContext(ctx, q, i, "floor"); err != nil {
			b.Fatal(err)
		}
	}
}

// pendingUsers stores n users prefix0 … prefix(n-1), each with a pending
// TOTP factor whose ID is "f-" and the user's, in one transaction.
func (e benchDB) pendingUsers(b *testing.B, prefix string, n int) {
	secret := random(20)
	tx := e.db.MustBegin()
	user := e.sql("INSERT INTO mfa_users (user_id) VALUES (?)")
	factor := e.sql("INSERT INTO mfa_factors (factor_id, user_id, type, name, secret, created_at) VALUES (?, ?, 'totp', 'Phone', ?, 1)")
	for i := 0; i < n; i++ {
		id := prefix + strconv.Itoa(i)
		tx.MustExec(user, id)
		tx.MustExec(factor, "f-"+id, id, secret)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// floorEnableTx returns one hand-written enable transaction, the least the
// schema needs, of pending user floor<i>: update the user's row and the
// factor's row, delete the user's codes, insert ten codes with one
// statement. The n pending users are stored first, as the operation's own
// are, so that floor and operation write the same kind of rows; enabling
// one user again and again rewrites the same few rows, a different cost
// (15% lower on SQLite, twice as high on MySQL, when measured).
func (e benchDB) floorEnableTx(b *testing.B, n int) func(i int) {
	ctx := context.Background()
	e.pendingUsers(b, "floor", n)
	update := e.sql("UPDATE mfa_users SET enabled = 1, failures = 0 WHERE user_id = ?")
	activate := e.sql("UPDATE mfa_factors SET active = 1, counter = ? WHERE factor_id = ?")
	del := e.sql("DELETE FROM mfa_recovery_codes WHERE user_id = ?")
	insert := e.sql("INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES " + strings.TrimSuffix(strings.Repeat("(?, ?), ", 10), ", "))
	return func(i int) {
		user := "floor" + strconv.Itoa(i)
		args := make([]any, 0, 20)
		for _, h := range hashes(10) {
			args = append(args, user, h)
		}
		tx, err := e.db.BeginTxx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, update, user); err != nil {
			b.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, activate, i, "f-"+user); err != nil {
			b.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, del, user); err != nil {
			b.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, insert, args...); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// measure runs op b.N times under the benchmark timer, interleaved in
// blocks of 32 with as many runs of floor outside it, and reports the ratio
// of the two as "x-floor". Interleaving puts both under the same disk and
// server conditions, which drift more than the difference being measured;
// blocks keep the timer's own cost (it reads memory statistics) out of the
// figures.
func measure(b *testing.B, op, floor func(i int)) {
	const block = 32
	b.ReportAllocs()
	b.ResetTimer()
	var floorTime time.Duration
	for done := 0; done < b.N; done += block {
		end := min(done+block, b.N)
		for i := done; i < end; i++ {
			op(i)
		}
		b.StopTimer()
		start := time.Now()
		for i := done; i < end; i++ {
			floor(i)
		}
		floorTime += time.Since(start)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed())/float64(floorTime), "x-floor")
}

func BenchmarkFloorSelect1(b *testing.B) {
	forEachBackend(b, func(b *testing.B, env benchDB) {
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			var one int
			if err := env.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkFloorWrite(b *testing.B) {
	forEachBackend(b, func(b *testing.B, env benchDB) {
		op := env.floorWrite(b)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			op(i)
		}
	})
}

func BenchmarkFloorEnableTx(b *testing.B) {
	forEachBackend(b, func(b *testing.B, env benchDB) {
		op := env.floorEnableTx(b, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			op(i)
		}
	})
}

// BenchmarkEnable: Store.Enable of a pending user with ten code hashes,
// against FloorEnableTx. The pending users are stored before the timer
// starts.
func BenchmarkEnable(b *testing.B) {
	forEachBackend(b, func(b *testing.B, env benchDB) {
		ctx := context.Background()
		env.pendingUsers(b, "user", b.N)
		batches := make([][][]byte, b.N)
		for i := range batches {
			batches[i] = hashes(10)
		}
		measure(b, func(i int) {
			user := "user" + strconv.Itoa(i)
			if err := env.store.Enable(ctx, user, mfa.Enablement{FactorID: "f-" + user, Counter: 5, RecoveryCodes: batches[i]}, nil); err != nil {
				b.Fatal(err)
			}
		}, env.floorEnableTx(b, b.N))
	})
}

// BenchmarkAdvanceStep: Store.Accept of a newer time step, against
// FloorWrite.
func BenchmarkAdvanceStep(b *testing.B) {
	forEachBackend(b, func(b *testing.B, env benchDB) {
		ctx := context.Background()
		f := env.enabledUser(b, "u", nil)
		measure(b, func(i int) {
			if err := env.store.Accept(ctx, "u", step(f, int64(2+i)), nil); err != nil {
				b.Fatal(err)
			}
		}, env.floorWrite(b))
	})
}

// BenchmarkConsumeRecoveryCode: Store.Accept of a valid recovery code, which
// uses it up and clears the failure count, against FloorWrite. Users hold ten codes each, as real users do, inserted
// before the timer starts.
func BenchmarkConsumeRecoveryCode(b *testing.B) {
	forEachBackend(b, func(b *testing.B, env benchDB) {
		ctx := context.Background()
		codes := hashes(b.N)
		users := make([]string, (b.N+9)/10)
		for u := range users {
			users[u] = fmt.Sprintf("user-%d", u)
			env.enabledUser(b, users[u], codes[u*10:min(u*10+10, b.N)])
		}
		measure(b, func(i int) {
			if err := env.store.Accept(ctx, users[i/10], codeProof(codes[i]), nil); err != nil {
				b.Fatal(err)
			}
		}, env.floorWrite(b))
	})
}

// outboxEvents returns n events of userID, as the Service writes them.
func outboxEvents(userID string, n int) []mfa.Event {
	events := make([]mfa.Event, n)
	for i := range events {
		events[i] = mfa.Event{ID: fmt.Sprintf("%x", random(12)), Type: mfa.EventChallengeSucceeded, UserID: userID,
			Time: time.Now(), Operation: "verify", Method: mfa.MethodTOTP, Request: mfa.RequestInfo{IP: "192.0.2.1", UserAgent: "bench"}}
	}
	return events
}

// BenchmarkOutbox: the cost of the audit outbox. Each operation runs with
// the events the Service writes with it (Enable: auth.mfa.enabled;
// AdvanceStep: challenge_succeeded; ConsumeRecoveryCode: recovery_code_used
// and challenge_succeeded), against the same operation without events,
// interleaved on the same database: "x-floor" is the outbox's factor.
func BenchmarkOutbox(b *testing.B) {
	forEachBackend(b, func(b *testing.B, env benchDB) {
		ctx := context.Background()
		b.Run("Enable", func(b *testing.B) {
			run := testPrefix() // the function runs more than once: new users each time
			pending := func(set string) []mfa.Factor {
				fs := make([]mfa.Factor, b.N)
				for i := range fs {
					fs[i] = pendingFactor()
					if err := env.store.SetPending(ctx, fmt.Sprintf("%s%s-%d", run, set, i), fs[i], nil); err != nil {
						b.Fatal(err)
					}
				}
				return fs
			}
			with, without := pending("with"), pending("without")
			enable := func(set string, fs []mfa.Factor, events int) func(int) {
				return func(i int) {
					user := fmt.Sprintf("%s%s-%d", run, set, i)
					if err := env.store.Enable(ctx, user, mfa.Enablement{FactorID: fs[i].ID, Counter: 5, RecoveryCodes: hashes(10)}, outboxEvents(user, events)); err != nil {
						b.Fatal(err)
					}
				}
			}
			measure(b, enable("with", with, 1), enable("without", without, 0))
		})
		b.Run("AdvanceStep", func(b *testing.B) {
			with, without := testPrefix()+"with", testPrefix()+"without"
			f, g := env.enabledUser(b, with, nil), env.enabledUser(b, without, nil)
			measure(b, func(i int) {
				if err := env.store.Accept(ctx, with, step(f, int64(2+i)), outboxEvents(with, 1)); err != nil {
					b.Fatal(err)
				}
			}, func(i int) {
				if err := env.store.Accept(ctx, without, step(g, int64(2+i)), nil); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run("ConsumeRecoveryCode", func(b *testing.B) {
			run := testPrefix()
			codes := map[string][][]byte{}
			for _, set := range []string{"with", "without"} {
				codes[set] = hashes(b.N)
				for u := 0; u*10 < b.N; u++ {
					env.enabledUser(b, fmt.Sprintf("%s%s-%d", run, set, u), codes[set][u*10:min(u*10+10, b.N)])
				}
			}
			consume := func(set string, events int) func(int) {
				return func(i int) {
					user := fmt.Sprintf("%s%s-%d", run, set, i/10)
					if err := env.store.Accept(ctx, user, codeProof(codes[set][i]), outboxEvents(user, events)); err != nil {
						b.Fatal(err)
					}
				}
			}
			measure(b, consume("with", 2), consume("without", 0))
		})
	})
}

// BenchmarkCeremony: the store side of a WebAuthn ceremony, each against
// FloorWrite. Begin is Store.CreateCeremony (one INSERT); Finish is
// Store.TakeCeremony of a ceremony stored before the timer starts (one
// DELETE … RETURNING; on MySQL a locking SELECT and a DELETE in a
// transaction).
func BenchmarkCeremony(b *testing.B) {
	forEachBackend(b, func(b *testing.B, env benchDB) {
		ctx := context.Background()
		expires := time.Now().Add(time.Hour)
		floor := env.floorWrite(b)
		ceremony := func(hash []byte) mfa.Ceremony {
			return mfa.Ceremony{Hash: hash, UserID: "u", Purpose: mfa.CeremonyLogin, Data: random(300), ExpiresAt: expires}
		}
		b.Run("Begin", func(b *testing.B) {
			ids := hashes(b.N)
			measure(b, func(i int) {
				if err := env.store.CreateCeremony(ctx, ceremony(ids[i])); err != nil {
					b.Fatal(err)
				}
			}, floor)
		})
		b.Run("Finish", func(b *testing.B) {
			ids := hashes(b.N)
			for _, id := range ids {
				if err := env.store.CreateCeremony(ctx, ceremony(id)); err != nil {
					b.Fatal(err)
				}
			}
			measure(b, func(i int) {
				if _, err := env.store.TakeCeremony(ctx, ids[i], time.Now()); err != nil {
					b.Fatal(err)
				}
			}, floor)
		})
	})
}
