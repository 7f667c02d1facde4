package mfatest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"sync"

	"github.com/identsphere/mfa"
)

// WebAuthn is a stand-in for a WebAuthn implementation (mfa.Config.WebAuthn)
// in hosts' unit tests: it checks nothing cryptographic. A response names a
// credential, echoes its ceremony's challenge and carries a signature
// counter; Key makes such responses. Use the module
// github.com/identsphere/mfa/webauthn (and its softkey package, a software
// authenticator) to test real ceremonies.
type WebAuthn struct{}

var _ mfa.WebAuthn = WebAuthn{}

// fakeOptions are the options WebAuthn hands out: a challenge.
type fakeOptions struct {
	Challenge []byte `json:"challenge"`
}

// fakeResponse is what a Key answers.
type fakeResponse struct {
	CredentialID []byte `json:"credential_id"`
	Challenge    []byte `json:"challenge"`
	Counter      int64  `json:"counter"`
	Handle       []byte `json:"handle"`
}

func begin() (json.RawMessage, []byte, error) {
	challenge := make([]byte, 16)
	if _, err := rand.Read(challenge); err != nil {
		return nil, nil, err
	}
	options, err := json.Marshal(fakeOptions{challenge})
	return options, challenge, err
}

// BeginRegistration implements mfa.WebAuthn.
func (WebAuthn) BeginRegistration(mfa.KeyUser, []mfa.Factor) (json.RawMessage, []byte, error) {
	return begin()
}

// FinishRegistration implements mfa.WebAuthn: the response must echo the
// challenge and carry the user's handle.
func (WebAuthn) FinishRegistration(user mfa.KeyUser, state []byte, response json.RawMessage) (mfa.SecurityKey, error) {
	var r fakeResponse
	if err := json.Unmarshal(response, &r); err != nil || !bytes.Equal(r.Challenge, state) || !bytes.Equal(r.Handle, user.Handle) {
		return mfa.SecurityKey{}, errors.New("mfatest: registration response does not match its ceremony")
	}
	return mfa.SecurityKey{CredentialID: r.CredentialID, Counter: r.Counter, Data: []byte("mfatest key")}, nil
}

// BeginLogin implements mfa.WebAuthn.
func (WebAuthn) BeginLogin(mfa.KeyUser, []mfa.Factor) (json.RawMessage, []byte, error) {
	return begin()
}

// FinishLogin implements mfa.WebAuthn: the response must echo the
// challenge and name one of keys.
func (WebAuthn) FinishLogin(_ mfa.KeyUser, state []byte, keys []mfa.Factor, response json.RawMessage) (mfa.SecurityKey, error) {
	var r fakeResponse
	if err := json.Unmarshal(response, &r); err != nil || !bytes.Equal(r.Challenge, state) {
		return mfa.SecurityKey{}, errors.New("mfatest: assertion does not match its ceremony")
	}
	for _, k := range keys {
		if bytes.Equal(k.CredentialID, r.CredentialID) {
			return mfa.SecurityKey{FactorID: k.ID, CredentialID: k.CredentialID, Counter: r.Counter, Data: k.Secret}, nil
		}
	}
	return mfa.SecurityKey{}, errors.New("mfatest: unknown credential")
}

// Key is a security key for WebAuthn: it answers a ceremony's options with
// a response, counting its signature counter up each time. It is safe for
// concurrent use.
type Key struct {
	mu      sync.Mutex
	id      []byte
	counter int64
}

// NewKey returns a key with a random credential ID.
func NewKey() *Key {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		panic(err)
	}
	return &Key{id: id}
}

// Clone returns a key with the same credential ID and counter, as a
// cloned key would be.
func (k *Key) Clone() *Key {
	k.mu.Lock()
	defer k.mu.Unlock()
	return &Key{id: k.id, counter: k.counter}
}

// Respond returns the key's response to options (from an
// mfa.KeyCeremony), for a user with the given WebAuthn user handle (a
// registration checks it; an assertion does not).
func (k *Key) Respond(options json.RawMessage, handle []byte) json.RawMessage {
	var o fakeOptions
	if err := json.Unmarshal(options, &o); err != nil {
		panic("mfatest: Key.Respond: options are not WebAuthn's: " + err.Error())
	}
	k.mu.Lock()
	k.counter++
	r := fakeResponse{CredentialID: k.id, Challenge: o.Challenge, Counter: k.counter, Handle: handle}
	k.mu.Unlock()
	resp, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return resp
}
