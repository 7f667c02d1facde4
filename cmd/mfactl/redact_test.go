package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRedact: a DSN's password leaves an error message wherever it stands
// alone, in any of the forms dsnPasswords finds, and a short one does not
// garble the words it is part of.
func TestRedact(t *testing.T) {
	for _, tc := range []struct{ driver, dsn, msg, want string }{
		{"postgres", "postgres://u:s3cret@db/x", "cannot parse `postgres://u:s3cret@db:x/x`", "cannot parse `postgres://u:xxxxx@db:x/x`"},
		{"postgres", "postgres://u:p%40ss@db/x", "bad u:p%40ss@ and p@ss", "bad u:xxxxx@ and xxxxx"},
		{"postgres", "postgres://u:s3cret@db:port/x", "at u:s3cret@db:port", "at u:xxxxx@db:port"}, // url.Parse fails
		{"postgres", "host=db user=u password='s 3' dbname=x", "password='s 3' or s 3", "password=xxxxx or xxxxx"},
		{"postgres", "host=db password=s3cret", "password=s3cret: no", "password=xxxxx: no"},
		{"mysql", "u:mfa@tcp(db:3306)/x", "u:mfa@tcp refused; run mfactl migrate", "u:xxxxx@tcp refused; run mfactl migrate"},
		{"mysql", "u:pw@tcp(db:3306)x", "u:pw@tcp(db:3306)x: missing the slash", "u:xxxxx@tcp(db:3306)x: missing the slash"},
		{"sqlite", "/var/lib/app:pw@x.db", "opening /var/lib/app:pw@x.db", "opening /var/lib/app:pw@x.db"},
	} {
		a := &app{secrets: dsnPasswords(tc.driver, tc.dsn)}
		assert.Equal(t, tc.want, a.message(errString(tc.msg)), tc.dsn)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
