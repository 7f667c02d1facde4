package qrdecode_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/examples/internal/qrdecode"
	"github.com/identsphere/mfa/memstore"
)

// The enrolment QR code decodes, with ZXing's decoder, to exactly the
// otpauth URI, for short and long labels and every algorithm.
func TestEnrolmentQRCodeDecodesToURI(t *testing.T) {
	for _, c := range []struct {
		issuer, account string
		alg             mfa.Algorithm
		digits          int
	}{
		{"Example", "alice@example.com", mfa.SHA1, 6},
		{"A much longer issuer name", "someone.with.a.long.address@subdomain.example.org", mfa.SHA512, 8},
		{"Ünïcode & Co", "用户@example.cn", mfa.SHA256, 8},
	} {
		svc, err := mfa.New(mfa.Config{
			Issuer: c.issuer, Store: memstore.New(), Algorithm: c.alg, Digits: c.digits,
			Account: func(context.Context, string) (string, error) { return c.account, nil },
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		require.NoError(t, err)
		enr, err := svc.Setup(context.Background(), "u1", "")
		require.NoError(t, err)
		text, err := qrdecode.PNG(enr.QRCode)
		require.NoError(t, err)
		assert.Equal(t, enr.URI, text)
		text, err = qrdecode.DataURL(enr.QRCodeDataURL())
		require.NoError(t, err)
		assert.Equal(t, enr.URI, text)
		require.NoError(t, svc.Close(context.Background()))
	}
}
