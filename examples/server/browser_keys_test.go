package main_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Security keys in the browser: Chromium's virtual authenticators, driven
// through the DevTools protocol's WebAuthn domain, answer the pages'
// navigator.credentials calls as a USB key or a platform passkey would.

// addAuthenticator plugs a virtual CTAP2 authenticator into the tab: a USB
// security key, or with transport internal a passkey on this device. It
// verifies the user (a PIN or a fingerprint, always right) and its
// presence is simulated: without AutomaticPresenceSimulation set
// explicitly, navigator.credentials.create() never returns.
func (b *browser) addAuthenticator(transport webauthn.AuthenticatorTransport) webauthn.AuthenticatorID {
	b.t.Helper()
	if !b.webauthn {
		_, err := chromedp.Call(b.ctx, webauthn.Enable, webauthn.EnableParams{})
		require.NoError(b.t, err)
		b.webauthn = true
	}
	res, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Transport:                   transport,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	require.NoError(b.t, err)
	return res.AuthenticatorID
}

// removeAuthenticator unplugs an authenticator.
func (b *browser) removeAuthenticator(id webauthn.AuthenticatorID) {
	b.t.Helper()
	_, err := chromedp.Call(b.ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: id})
	require.NoError(b.t, err)
}

// credentials returns the credentials an authenticator holds, with their
// private keys and signature counters.
func (b *browser) credentials(id webauthn.AuthenticatorID) []*webauthn.Credential {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	require.NoError(b.t, err)
	return res.Credentials
}

// setSignCount sets the signature counter of a credential, as a clone
// made at that count would report it.
func (b *browser) setSignCount(id webauthn.AuthenticatorID, credentialID []byte, n float64) {
	b.t.Helper()
	_, err := chromedp.Call(b.ctx, webauthn.SetCredentialProperties, webauthn.SetCredentialPropertiesParams{
		AuthenticatorID: id, CredentialID: credentialID, SignCount: &n,
	})
	require.NoError(b.t, err)
}

// factorTypes returns the types shown in the page's list of
// authenticators.
func (b *browser) factorTypes() []string {
	b.t.Helper()
	types, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#factor-list .factor-type")].map(e => e.textContent)`))
	require.NoError(b.t, err)
	return types
}

// recoveryCodes returns the recovery codes the page shows.
func (b *browser) recoveryCodes() []string {
	b.t.Helper()
	codes, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#recovery-codes li")].map(li => li.textContent)`))
	require.NoError(b.t, err)
	return codes
}

// visible reports whether the element with the given id is shown.
func (b *browser) visible(elementID string) bool {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`(() => { const e = document.getElementById(`+"`"+elementID+"`"+`); return !!e && e.checkVisibility(); })()`))
	require.NoError(b.t, err)
	return v
}

// waitMessage waits until the page's message says want, and returns it.
func (b *browser) waitMessage(want string) string {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.PollFunction[bool](`(want) => { const m = document.getElementById("message"); return !m.hidden && m.textContent.includes(want); }`,
		chromedp.WithPollingArgs(want), chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
	msg := b.text("message")
	require.NoError(b.t, err, "waiting for the message %q; the page says %q", want, msg)
	return msg
}

const (
	keyType  = "Security key or passkey"
	totpType = "Authenticator app"
)

// TestBrowserSecurityKeys drives the pages with Chromium's virtual
// authenticators: a USB key as the first factor (the session alone; the
// recovery codes shown once), the password change's step-up with the
// key, sign-in with it, a second key (a passkey on another authenticator,
// proven with a recovery code), an authenticator app added beside them
// (proven with a key), the removal of the first key (proven with the
// second), the second key offered again as a new one (refused by the
// browser: the options exclude it), and the second key's signature
// counter rolled back, which the server refuses as a possible clone with a
// message on the page. Screenshots: key-offer.png (MFA off: the app or a
// key), key-enrolment.png (the recovery codes after the key turned MFA
// on), key-factors.png (two keys and an app in the list) and
// key-clone-refused.png.
func TestBrowserSecurityKeys(t *testing.T) {
	b := newBrowser(t)
	srv := startServer(t, t.TempDir())
	require.True(t, strings.HasPrefix(srv.URL, "http://localhost:"), "the demo serves its pages on localhost: %s", srv.URL)
	email := uniqueEmail("browser-keys")
	yubiKey := b.addAuthenticator(webauthn.AuthenticatorTransportUsb)
	b.signUp(srv.URL, email)
	assert.True(t, b.visible("key-first-btn"), "a key is offered beside the authenticator app")
	assert.True(t, b.visible("setup-btn"))
	assert.False(t, b.visible("stepup-key-btn"))
	b.screenshot("key-offer.png")

	// The first factor: a security key, with the session alone.
	b.do(
		chromedp.SetValue(id("key-first-name"), "YubiKey"),
		chromedp.Click(id("key-first-btn")),
		chromedp.WaitVisible(id("codes")),
	)
	codes := b.recoveryCodes()
	require.Len(t, codes, 10)
	assert.Contains(t, b.text("message"), "\u201cYubiKey\u201d is registered. Two-factor authentication is on.")
	b.screenshot("key-enrolment.png")
	b.do(chromedp.Click(id("saved-check")), chromedp.Click(id("saved-btn")), chromedp.WaitVisible(id("manage")))
	assert.Contains(t, b.text("status-text"), "is on. Recovery codes left: 10.")
	assert.Equal(t, []string{"YubiKey"}, b.factorNames())
	assert.Equal(t, []string{keyType}, b.factorTypes())
	require.Len(t, b.credentials(yubiKey), 1, "the key holds one credential")

	// The password change wants a step-up (enabling MFA on this session
	// does not count): the prompt offers the key.
	const newPassword = "a brand new password"
	b.do(
		chromedp.SetValue(id("pw-current"), password),
		chromedp.SetValue(id("pw-new"), newPassword),
		chromedp.Click(id("pw-btn")),
		chromedp.WaitVisible(id("stepup-form")),
	)
	assert.True(t, b.visible("stepup-key-btn"))
	b.do(chromedp.Click(id("stepup-key-btn")), chromedp.WaitVisible(id("password-form")), chromedp.WaitVisible(id("message")))
	assert.Contains(t, b.text("message"), "password is changed")

	// Sign in with the key.
	b.signOut()
	b.signIn(email, newPassword)
	b.do(
		chromedp.WaitVisible(id("challenge-view")),
		chromedp.Click(id("challenge-key-btn")),
		chromedp.WaitVisible(id("manage")),
	)
	assert.Contains(t, b.text("account-email"), "browser-keys")

	// A second key: a passkey on another authenticator. The tab has one
	// authenticator at a time (two would race to answer), so the USB key
	// is unplugged, and the passkey is proven with a recovery code.
	b.removeAuthenticator(yubiKey)
	passkey := b.addAuthenticator(webauthn.AuthenticatorTransportInternal)
	b.do(
		chromedp.SetValue(id("key-name"), "Laptop passkey"),
		chromedp.SetValue(id("key-cred"), codes[0]),
		chromedp.Click(id("add-key-btn")),
		chromedp.WaitVisible(chromedp.CSS("#factor-list li:nth-child(2)")),
		chromedp.WaitVisible(id("message")),
	)
	assert.Contains(t, b.text("message"), "\u201cLaptop passkey\u201d is added")
	assert.Equal(t, []string{"YubiKey", "Laptop passkey"}, b.factorNames())
	assert.Contains(t, b.text("status-text"), "left: 9.", "the recovery code is used up")

	// An authenticator app beside the keys, proven with a key.
	b.do(
		chromedp.SetValue(id("factor-name"), "Phone"),
		chromedp.Click(id("add-factor-key-btn")),
		chromedp.WaitVisible(id("factor-qr")),
	)
	secret := b.text("factor-secret")
	b.do(
		chromedp.SetValue(id("factor-code"), code(t, secret, 0)),
		chromedp.Click(id("confirm-factor-btn")),
		chromedp.WaitVisible(chromedp.CSS("#factor-list li:nth-child(3)")),
	)
	assert.Equal(t, []string{"YubiKey", "Laptop passkey", "Phone"}, b.factorNames())
	assert.Equal(t, []string{keyType, keyType, totpType}, b.factorTypes())
	assert.Contains(t, b.text("status-text"), "left: 9.", "a key used no recovery code")
	b.screenshot("key-factors.png")

	// Remove the first key, proven with the passkey.
	b.do(
		chromedp.Click(chromedp.CSS("#factor-list li:first-child .remove-factor")),
		chromedp.WaitVisible(id("remove-form")),
	)
	assert.Contains(t, b.text("remove-prompt"), "YubiKey")
	b.do(
		chromedp.Click(id("remove-key-btn")),
		chromedp.WaitNotPresent(chromedp.CSS("#factor-list li:nth-child(3)")),
		chromedp.WaitVisible(id("message")),
	)
	assert.Contains(t, b.text("message"), "\u201cYubiKey\u201d is removed")
	assert.Equal(t, []string{"Laptop passkey", "Phone"}, b.factorNames())

	// The passkey once more as a new key, proven with itself: the options
	// exclude the user's keys, so the browser refuses, and the page says so.
	b.do(
		chromedp.SetValue(id("key-name"), "Same passkey"),
		chromedp.Click(id("add-key-key-btn")),
	)
	b.waitMessage("registered to your account already")
	assert.Equal(t, []string{"Laptop passkey", "Phone"}, b.factorNames())

	// The passkey's counter rolled back, as a copy of the key made earlier
	// would report it: the server refuses the key and the page says why.
	creds := b.credentials(passkey)
	require.Len(t, creds, 1)
	count := creds[0].SignCount
	require.GreaterOrEqual(t, count, float64(2), "the passkey counts its signatures (several so far)")
	b.setSignCount(passkey, creds[0].CredentialID, count-2)
	b.do(chromedp.Click(id("regen-key-btn")), chromedp.WaitVisible(id("message")))
	msg := b.text("message")
	assert.Contains(t, msg, "Security key refused")
	assert.Contains(t, msg, "signature counter went backwards; it may have been cloned")
	b.screenshot("key-clone-refused.png")
	assert.True(t, b.visible("manage"), "no new recovery codes")
	assert.Contains(t, b.text("status-text"), "left: 9.")

	// Back past the highest count the server saw, the key works again.
	b.setSignCount(passkey, creds[0].CredentialID, count+10)
	b.do(chromedp.Click(id("regen-key-btn")), chromedp.WaitVisible(id("codes")))
	assert.Len(t, b.recoveryCodes(), 10)
}
