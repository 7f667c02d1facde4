package mfa_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/memstore"
)

// TestNothingSecretInLogsEventsOrErrors runs the whole life cycle —
// setup, enable, challenge, disable, regenerate, recovery codes, each with
// successes and failures — with the default slog audit sink and logger
// writing to one buffer, then searches the buffer and every error message
// for every secret, code, token and hash, in every encoding they take.
func TestNothingSecretInLogsEventsOrErrors(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	keys := ring(t, key("k1", 9))
	svc, err := mfa.New(mfa.Config{Issuer: "Hygiene", Store: memstore.New(), Keys: keys, Now: func() time.Time { return now }, Logger: slogTo(&logs)})
	require.NoError(t, err)

	var secrets []string // everything that must never appear
	var errs []error
	record := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	enr, err := svc.Setup(ctx, "hy", "")
	require.NoError(t, err)
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(enr.Secret)
	require.NoError(t, err)
	secrets = append(secrets, enr.Secret, hex.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw))

	_, err = svc.Enable(ctx, "hy", "000000")
	record(err)
	good := authenticatorApp(enr.Secret, now)
	codes, err := svc.Enable(ctx, "hy", good)
	require.NoError(t, err)
	secrets = append(secrets, good)
	secrets = append(secrets, codes...)
	for _, c := range codes {
		sum := sha256.Sum256([]byte(c))
		secrets = append(secrets, hex.EncodeToString(sum[:]))
	}

	// Challenges: success with TOTP, replay, wrong code, recovery code,
	// forged token.
	for i, cred := range []mfa.Credential{
		{Code: authenticatorApp(enr.Secret, now.Add(30*time.Second))},
		{Code: authenticatorApp(enr.Secret, now.Add(30*time.Second))},
		{Code: "000000"},
		{RecoveryCode: codes[0]},
		{RecoveryCode: codes[0]},
	} {
		token, err := svc.StartChallenge(ctx, "hy")
		require.NoError(t, err)
		secrets = append(secrets, token)
		sum := sha256.Sum256([]byte(token))
		secrets = append(secrets, hex.EncodeToString(sum[:]), base64.StdEncoding.EncodeToString(sum[:]))
		_, err = svc.Challenge(ctx, token, cred)
		record(err)
		if cred.Code != "" && i != 2 {
			secrets = append(secrets, cred.Code)
		}
	}
	_, err = svc.Challenge(ctx, "forged-token-value", mfa.Credential{Code: "123456"})
	record(err)

	// Regenerate: a failure, then a success; disable: failures, then a
	// success with a fresh recovery code; lockout on a second user.
	now = now.Add(60 * time.Second)
	_, err = svc.RegenerateRecoveryCodes(ctx, "hy", mfa.Credential{Code: "999999"})
	record(err)
	regenCode := authenticatorApp(enr.Secret, now)
	fresh, err := svc.RegenerateRecoveryCodes(ctx, "hy", mfa.Credential{Code: regenCode})
	require.NoError(t, err)
	secrets = append(secrets, regenCode)
	secrets = append(secrets, fresh...)
	record(svc.Disable(ctx, "hy", mfa.Credential{RecoveryCode: codes[1]})) // the old batch
	record(svc.Disable(ctx, "hy", mfa.Credential{Code: "12345"}))          // bad shape
	require.NoError(t, svc.Disable(ctx, "hy", mfa.Credential{RecoveryCode: fresh[2]}))

	enr2, err := svc.Setup(ctx, "locked", "")
	require.NoError(t, err)
	secrets = append(secrets, enr2.Secret)
	for i := 0; i < 6; i++ {
		_, err = svc.Enable(ctx, "locked", "000000")
		record(err)
	}
	require.NoError(t, svc.Close(ctx))

	text := logs.String()
	require.Contains(t, text, "auth.mfa.enabled", "the audit events were logged")
	require.Contains(t, text, "auth.mfa.locked")
	require.Contains(t, text, "reason=replay")
	require.GreaterOrEqual(t, len(errs), 8)
	for _, s := range secrets {
		assert.NotContains(t, text, s, "logs")
		for _, err := range errs {
			assert.NotContains(t, fmt.Sprint(err), s, "error %v", err)
		}
	}
}
