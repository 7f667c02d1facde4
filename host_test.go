package mfa_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/memstore"
)

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// This file shows how a host unit-tests its own login code against
// memstore with a fixed clock: no database, no sleeping.

// hostApp is a host's login code: passwords are its business, the second
// factor is the library's.
type hostApp struct {
	passwords map[string]string
	mfa       *mfa.Service
}

var errBadLogin = errors.New("wrong email or password")

// login returns "mfa_required" when the user has MFA on and gave no code,
// "ok" when signed in.
func (a *hostApp) login(ctx context.Context, user, password, code string) (string, error) {
	if a.passwords[user] != password {
		return "", errBadLogin
	}
	st, err := a.mfa.Status(ctx, user)
	if err != nil {
		return "", err
	}
	if !st.Enabled {
		return "ok", nil
	}
	if code == "" {
		return "mfa_required", nil
	}
	if err := verifyCode(a.mfa, ctx, user, code); err != nil {
		return "", err
	}
	return "ok", nil
}

func TestHostLoginWithFixedClock(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	svc, err := mfa.New(mfa.Config{
		Issuer: "Host",
		Store:  memstore.New(),
		Now:    func() time.Time { return now },
		Audit:  mfa.SlogAudit{Logger: discardLogger},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close(ctx) })
	app := &hostApp{passwords: map[string]string{"kim": "correct horse"}, mfa: svc}

	status, err := app.login(ctx, "kim", "correct horse", "")
	require.NoError(t, err)
	assert.Equal(t, "ok", status, "no MFA yet")

	enr, err := svc.Setup(ctx, "kim", "")
	require.NoError(t, err)
	_, err = svc.Enable(ctx, "kim", authenticatorApp(enr.Secret, now))
	require.NoError(t, err)

	status, err = app.login(ctx, "kim", "correct horse", "")
	require.NoError(t, err)
	assert.Equal(t, "mfa_required", status)

	// The clock is the test's: move it to the next step, not the wall clock.
	now = now.Add(30 * time.Second)
	status, err = app.login(ctx, "kim", "correct horse", authenticatorApp(enr.Secret, now))
	require.NoError(t, err)
	assert.Equal(t, "ok", status)

	_, err = app.login(ctx, "kim", "correct horse", authenticatorApp(enr.Secret, now))
	assert.ErrorIs(t, err, mfa.ErrReplay, "a code works once")
	_, err = app.login(ctx, "kim", "wrong", "")
	assert.ErrorIs(t, err, errBadLogin)
}

// slogTo returns a text logger writing to w.
func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
