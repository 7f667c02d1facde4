// Package softkey is a software security key for tests: it answers
// WebAuthn creation and request options, in the W3C JSON forms, with the
// JSON a browser's PublicKeyCredential.toJSON() gives, signing with an
// ECDSA P-256 key (ES256) and attesting "none". It lets tests drive the
// WebAuthn endpoints over plain HTTP, without a browser. It is not an
// authenticator to trust anything with: its key lives in memory.
package softkey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Key is a software security key with one credential. It is safe for
// concurrent use.
type Key struct {
	origin string
	key    *ecdsa.PrivateKey

	mu           sync.Mutex
	credentialID []byte
	rpID         string
	handle       []byte
	counter      uint32
}

// New returns a key that answers as if for a page on origin
// ("http://localhost:8080").
func New(origin string) *Key {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		panic(err)
	}
	return &Key{origin: origin, key: key, credentialID: id}
}

// Clone returns a key with the same credential, private key and counter,
// as a cloned key would be, answering for the same origin.
func (k *Key) Clone() *Key {
	k.mu.Lock()
	defer k.mu.Unlock()
	return &Key{origin: k.origin, key: k.key, credentialID: k.credentialID, rpID: k.rpID, handle: k.handle, counter: k.counter}
}

// SetCounter sets the signature counter the next assertion counts up
// from.
func (k *Key) SetCounter(n uint32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.counter = n
}

// CredentialID returns the key's credential ID.
func (k *Key) CredentialID() []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.credentialID
}

// b64 is base64url without padding, as WebAuthn's JSON forms write bytes.
var b64 = base64.RawURLEncoding

// creationOptions are the fields of PublicKeyCredentialCreationOptionsJSON
// the key reads.
type creationOptions struct {
	Challenge string `json:"challenge"`
	RP        struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
}

// Create answers creation options with a registration response: the JSON
// of the new PublicKeyCredential. The counter starts at zero.
func (k *Key) Create(options json.RawMessage) (json.RawMessage, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("softkey: creation options: %w", err)
	}
	handle, err := b64.DecodeString(o.User.ID)
	if err != nil {
		return nil, fmt.Errorf("softkey: user.id: %w", err)
	}
	k.mu.Lock()
	k.rpID, k.handle = o.RP.ID, handle
	k.mu.Unlock()

	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: k.key.X.FillBytes(make([]byte, 32)), -3: k.key.Y.FillBytes(make([]byte, 32))})
	if err != nil {
		return nil, err
	}
	attested := make([]byte, 16, 16+2+len(k.credentialID)+len(cose)) // AAGUID: zeros
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.credentialID)))
	attested = append(append(attested, k.credentialID...), cose...)
	authData := k.authData(o.RP.ID, 0x45, 0, attested) // user present, verified, attested data
	object, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&k.key.PublicKey)
	if err != nil {
		return nil, err
	}
	clientData := k.clientData("webauthn.create", o.Challenge)
	return k.credential(map[string]any{
		"clientDataJSON":     b64.EncodeToString(clientData),
		"attestationObject":  b64.EncodeToString(object),
		"authenticatorData":  b64.EncodeToString(authData),
		"publicKey":          b64.EncodeToString(spki),
		"publicKeyAlgorithm": -7,
		"transports":         []string{"usb"},
	})
}

// requestOptions are the fields of PublicKeyCredentialRequestOptionsJSON
// the key reads.
type requestOptions struct {
	Challenge string `json:"challenge"`
	RPID      string `json:"rpId"`
}

// Get answers request options with an assertion response, counting the
// signature counter up by one first.
func (k *Key) Get(options json.RawMessage) (json.RawMessage, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("softkey: request options: %w", err)
	}
	k.mu.Lock()
	rpID := o.RPID
	if rpID == "" {
		rpID = k.rpID
	}
	if rpID == "" {
		k.mu.Unlock()
		return nil, errors.New("softkey: no RP ID: register the key first")
	}
	k.counter++
	counter, handle := k.counter, k.handle
	k.mu.Unlock()

	authData := k.authData(rpID, 0x05, counter, nil) // user present, verified
	clientData := k.clientData("webauthn.get", o.Challenge)
	digest := sha256.Sum256(clientData)
	signed := sha256.Sum256(append(append([]byte{}, authData...), digest[:]...))
	signature, err := ecdsa.SignASN1(rand.Reader, k.key, signed[:])
	if err != nil {
		return nil, err
	}
	return k.credential(map[string]any{
		"clientDataJSON":    b64.EncodeToString(clientData),
		"authenticatorData": b64.EncodeToString(authData),
		"signature":         b64.EncodeToString(signature),
		"userHandle":        b64.EncodeToString(handle),
	})
}

// authData is the authenticator data: the RP ID's hash, the flags, the
// signature counter and, at registration, the attested credential data.
func (k *Key) authData(rpID string, flags byte, counter uint32, attested []byte) []byte {
	rpHash := sha256.Sum256([]byte(rpID))
	data := append(rpHash[:], flags)
	data = binary.BigEndian.AppendUint32(data, counter)
	return append(data, attested...)
}

// clientData is the client data JSON a browser makes.
func (k *Key) clientData(typ, challenge string) []byte {
	data, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return data
}

// credential is the PublicKeyCredential JSON around response.
func (k *Key) credential(response map[string]any) (json.RawMessage, error) {
	id := b64.EncodeToString(k.CredentialID())
	return json.Marshal(map[string]any{
		"id": id, "rawId": id, "type": "public-key", "response": response,
		"clientExtensionResults": map[string]any{}, "authenticatorAttachment": "cross-platform",
	})
}

// ForOrigin returns a key with the same credential that answers as if for
// a page on origin: a phishing page, in a test.
func (k *Key) ForOrigin(origin string) *Key {
	c := k.Clone()
	c.origin = origin
	return c
}
