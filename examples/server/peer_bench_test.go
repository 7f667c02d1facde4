package main_test

import (
	"fmt"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// BenchmarkPeerBcryptRecoveryScan is the approach some libraries take for
// recovery codes: each code stored as bcrypt (cost 10), a submitted code
// compared against every stored one. It scans a batch of ten for a code
// that matches the last one, the average cost of a valid code being about
// half of that and of an invalid one all of it. Compare with
// BenchmarkRedeemRecoveryCode of the mfa package, which hashes once and
// looks the hash up.
func BenchmarkPeerBcryptRecoveryScan(b *testing.B) {
	codes := make([][]byte, 10)
	stored := make([][]byte, 10)
	for i := range codes {
		codes[i] = []byte(fmt.Sprintf("Code%06d", i))
		h, err := bcrypt.GenerateFromPassword(codes[i], 10)
		if err != nil {
			b.Fatal(err)
		}
		stored[i] = h
	}
	submitted := codes[9]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		found := false
		for _, h := range stored {
			if bcrypt.CompareHashAndPassword(h, submitted) == nil {
				found = true
				break
			}
		}
		if !found {
			b.Fatal("not found")
		}
	}
}
