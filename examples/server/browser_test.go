package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromium returns Debian's Chromium, or skips the test (fails it under
// CI=true, where .ci/run installs it).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is not installed: CI must run the browser test (.ci/run installs the chromium package)")
	}
	t.Skip("skipping the browser test: install Debian's chromium package to run it")
	return ""
}

// artifacts is where screenshots go: $MFA_TEST_ARTIFACTS, or a folder in
// the system's temporary directory.
func artifacts(t *testing.T) string {
	dir := os.Getenv("MFA_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "mfa-test-artifacts")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// The browser tests share one headless Chromium, started by the first test
// that needs it and stopped by TestMain. Each test gets a tab of its own in
// a browser context of its own: its own cookies (the demo instances all
// run on localhost, and cookies do not tell ports apart) and its own
// virtual authenticators, which live per tab.
var chrome struct {
	once    sync.Once
	ctx     context.Context // the browser's first tab; its children are new tabs
	stop    func()
	dataDir string
	err     error
}

// TestMain stops the shared Chromium after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if chrome.stop != nil {
		chrome.stop()
	}
	if chrome.dataDir != "" {
		os.RemoveAll(chrome.dataDir)
	}
	os.Exit(code)
}

// startChromium starts the shared Chromium once.
func startChromium(exe string) (context.Context, error) {
	chrome.once.Do(func() {
		chrome.dataDir, chrome.err = os.MkdirTemp("", "mfa-chromium")
		if chrome.err != nil {
			return
		}
		opts := []chromedp.ExecAllocatorOption{
			chromedp.ExecPath(exe),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.NoDefaultBrowserCheck,
			chromedp.UserDataDir(chrome.dataDir),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-quic", true),
			chromedp.WindowSize(900, 1100),
		}
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(allocCtx)
		chrome.ctx, chrome.stop = ctx, func() { cancel(); cancelAlloc() }
		chrome.err = chromedp.Do(ctx) // starts the browser, bound to ctx
	})
	return chrome.ctx, chrome.err
}

// browser is a tab of the shared headless Chromium on a page of the demo.
type browser struct {
	t     *testing.T
	ctx   context.Context
	shots string
	// webauthn is whether the tab's WebAuthn domain is on (addAuthenticator).
	webauthn bool
}

// newBrowser opens a tab, in a browser context of its own, of the shared
// Chromium (or skips the test, see chromium); it is closed at the end of
// the test.
func newBrowser(t *testing.T) *browser {
	parent, err := startChromium(chromium(t))
	require.NoError(t, err, "starting Chromium")
	tab, cancelTab := chromedp.NewContext(parent, chromedp.WithNewBrowserContext())
	require.NoError(t, chromedp.Do(tab), "opening a tab") // the tab lives as long as tab
	ctx, cancelTimeout := context.WithTimeout(tab, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelTab() })
	return &browser{t: t, ctx: ctx, shots: artifacts(t)}
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	require.NoError(b.t, chromedp.Do(b.ctx, steps...))
}

// text returns the text of the element with the given id.
func (b *browser) text(id string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.ID(id)))
	require.NoError(b.t, err)
	return s
}

// screenshot saves the whole page as name in the artifacts folder.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err)
	require.NoError(b.t, os.WriteFile(filepath.Join(b.shots, name), png, 0o644))
	b.t.Logf("screenshot: %s", filepath.Join(b.shots, name))
}

func id(s string) chromedp.ID { return chromedp.ID(s) }

// signUp creates an account on the page at url and waits for the account
// page.
func (b *browser) signUp(url, email string) {
	b.t.Helper()
	b.do(
		chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(id("signin-view")),
		chromedp.SetValue(id("email"), email),
		chromedp.SetValue(id("password"), password),
		chromedp.Click(id("signup-btn")),
		chromedp.WaitVisible(id("account-view")),
	)
}

// signIn submits the sign-in form.
func (b *browser) signIn(email, password string) {
	b.t.Helper()
	b.do(
		chromedp.WaitVisible(id("signin-view")),
		chromedp.SetValue(id("email"), email),
		chromedp.SetValue(id("password"), password),
		chromedp.Click(id("signin-btn")),
	)
}

func (b *browser) signOut() {
	b.t.Helper()
	b.do(chromedp.Click(id("logout-btn")), chromedp.WaitVisible(id("signin-view")))
}

// enrol turns MFA on from the account page and confirms that the recovery
// codes are saved; it returns the secret and the codes.
func (b *browser) enrol() (string, []string) {
	b.t.Helper()
	b.do(chromedp.Click(id("setup-btn")), chromedp.WaitVisible(id("qr")))
	secret := b.text("secret")
	b.do(
		chromedp.SetValue(id("enable-code"), code(b.t, secret, 0)),
		chromedp.Click(id("enable-btn")),
		chromedp.WaitVisible(id("codes")),
	)
	codes, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#recovery-codes li")].map(li => li.textContent)`))
	require.NoError(b.t, err)
	b.do(
		chromedp.Click(id("saved-check")),
		chromedp.Click(id("saved-btn")),
		chromedp.WaitVisible(id("manage")),
	)
	return secret, codes
}

// factorNames returns the names in the page's list of authenticators.
func (b *browser) factorNames() []string {
	b.t.Helper()
	names, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#factor-list .factor-name")].map(e => e.textContent)`))
	require.NoError(b.t, err)
	return names
}

// TestBrowserFlow drives the pages in headless Chromium as a person would:
// sign up, enrol (reading the secret from the page), keep the recovery
// codes, sign out, sign in with a code, sign in with a recovery code, turn
// MFA off. It saves screenshots of the enrolment and recovery-code pages.
func TestBrowserFlow(t *testing.T) {
	b := newBrowser(t)
	srv := startServer(t, t.TempDir())
	ctx := b.ctx
	email := uniqueEmail("browser")
	do, text, screenshot := b.do, b.text, b.screenshot
	signIn := func() { b.signIn(email, password) }
	signOut := b.signOut

	// Sign up: the account page shows MFA off.
	do(
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(id("signin-view")),
		chromedp.SetValue(id("email"), email),
		chromedp.SetValue(id("password"), password),
		chromedp.Click(id("signup-btn")),
		chromedp.WaitVisible(id("account-view")),
	)
	assert.Contains(t, text("status-text"), "is off")

	// Enrol: the QR code and the secret are on the page.
	do(chromedp.Click(id("setup-btn")), chromedp.WaitVisible(id("qr")))
	secret := text("secret")
	qr, err := chromedp.Run(ctx, chromedp.AttributeValue(id("qr"), "src"))
	require.NoError(t, err)
	screenshot("enrolment.png")
	assert.Len(t, secret, 32)
	assert.True(t, strings.HasPrefix(qr.Value, "data:image/png;base64,"))
	assert.Contains(t, decodeQR(t, qr.Value), "secret="+secret, "the QR code on the page carries the secret shown beside it")

	// Enable with the first code: ten recovery codes, shown once.
	do(
		chromedp.SetValue(id("enable-code"), code(t, secret, 0)),
		chromedp.Click(id("enable-btn")),
		chromedp.WaitVisible(id("codes")),
	)
	codes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#recovery-codes li")].map(li => li.textContent)`))
	require.NoError(t, err)
	screenshot("recovery-codes.png")
	require.Len(t, codes, 10)
	for _, c := range codes {
		assert.Regexp(t, `^[A-Za-z0-9]{10}$`, c)
	}
	disabled, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("saved-btn").disabled`))
	require.NoError(t, err)
	assert.True(t, disabled, "Done waits for the 'I saved them' confirmation")
	do(
		chromedp.Click(id("saved-check")),
		chromedp.Click(id("saved-btn")),
		chromedp.WaitVisible(id("manage")),
	)
	status := text("status-text")
	assert.Contains(t, status, "is on")
	assert.Contains(t, status, "left: 10")

	// Sign out, sign in: the challenge page takes a code.
	signOut()
	signIn()
	do(
		chromedp.WaitVisible(id("challenge-view")),
		chromedp.SetValue(id("challenge-code"), code(t, secret, 30*time.Second)),
		chromedp.Click(id("challenge-btn")),
		chromedp.WaitVisible(id("account-view")),
	)

	// A second login with a recovery code.
	signOut()
	signIn()
	do(
		chromedp.WaitVisible(id("challenge-view")),
		chromedp.Click(id("use-recovery")),
		chromedp.SetValue(id("challenge-code"), codes[0]),
		chromedp.Click(id("challenge-btn")),
		chromedp.WaitVisible(id("manage")),
	)
	assert.Contains(t, text("status-text"), "left: 9")

	// A wrong code gets a clear message.
	do(
		chromedp.SetValue(id("disable-code"), "000000"),
		chromedp.Click(id("disable-btn")),
		chromedp.WaitVisible(id("message")),
	)
	assert.Contains(t, text("message"), "check the code")

	// Turn MFA off with another recovery code.
	do(
		chromedp.SetValue(id("disable-code"), codes[1]),
		chromedp.Click(id("disable-btn")),
		chromedp.WaitVisible(id("enrol-start")),
	)
	assert.Contains(t, text("status-text"), "is off")
}

// TestBrowserFactors: the account page lists the authenticators, adds a
// second one (a code of the first, then the new QR code and its first
// code), signs in with a code of the second, and removes the first with a
// recovery code; the recovery-code count shown follows. Screenshots:
// factors.png (two authenticators) and factors-after-removal.png.
func TestBrowserFactors(t *testing.T) {
	b := newBrowser(t)
	srv := startServer(t, t.TempDir())
	email := uniqueEmail("browser-factors")
	b.signUp(srv.URL, email)
	first, codes := b.enrol()
	assert.Equal(t, []string{"Authenticator app"}, b.factorNames())

	// Add "Laptop", proven with a current code of the first authenticator.
	b.do(
		chromedp.SetValue(id("factor-name"), "Laptop"),
		chromedp.SetValue(id("factor-cred"), code(t, first, 30*time.Second)),
		chromedp.Click(id("add-factor-btn")),
		chromedp.WaitVisible(id("factor-qr")),
	)
	second := b.text("factor-secret")
	qr, err := chromedp.Run(b.ctx, chromedp.AttributeValue(id("factor-qr"), "src"))
	require.NoError(t, err)
	assert.Contains(t, decodeQR(t, qr.Value), "secret="+second, "the new QR code carries the new secret")
	assert.NotEqual(t, first, second)
	b.do(
		chromedp.SetValue(id("factor-code"), code(t, second, 0)),
		chromedp.Click(id("confirm-factor-btn")),
		chromedp.WaitVisible(chromedp.CSS("#factor-list li:nth-child(2)")),
	)
	assert.Equal(t, []string{"Authenticator app", "Laptop"}, b.factorNames())
	meta, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#factor-list .factor-meta")].map(e => e.textContent)`))
	require.NoError(t, err)
	require.Len(t, meta, 2)
	for _, m := range meta {
		assert.Regexp(t, `^Added .+ · last used .+$`, m)
		assert.NotContains(t, m, "never", "both were used: at enable or confirm")
	}
	assert.Contains(t, b.text("message"), "is added")
	b.screenshot("factors.png")

	// Sign out, sign in with a code of the second authenticator.
	b.signOut()
	b.signIn(email, password)
	b.do(
		chromedp.WaitVisible(id("challenge-view")),
		chromedp.SetValue(id("challenge-code"), code(t, second, 30*time.Second)),
		chromedp.Click(id("challenge-btn")),
		chromedp.WaitVisible(id("manage")),
	)
	assert.Contains(t, b.text("status-text"), "left: 10")

	// Remove the first with a recovery code.
	b.do(
		chromedp.Click(chromedp.CSS("#factor-list li:first-child .remove-factor")),
		chromedp.WaitVisible(id("remove-form")),
	)
	assert.Contains(t, b.text("remove-prompt"), "Authenticator app")
	b.do(
		chromedp.SetValue(id("remove-code"), codes[0]),
		chromedp.Click(id("remove-btn")),
		chromedp.WaitNotPresent(chromedp.CSS("#factor-list li:nth-child(2)")),
		chromedp.WaitVisible(id("message")),
	)
	assert.Equal(t, []string{"Laptop"}, b.factorNames())
	assert.Contains(t, b.text("message"), "is removed")
	assert.Contains(t, b.text("status-text"), "left: 9", "the count shown is current")
	b.screenshot("factors-after-removal.png")
}

// TestBrowserStepUp: changing the password on a session that never
// verified MFA (enabling it does not count) makes the page ask for a code,
// POST it to /v1/auth/mfa/verify and send the change again. Screenshot:
// step-up.png (the prompt).
func TestBrowserStepUp(t *testing.T) {
	b := newBrowser(t)
	srv := startServer(t, t.TempDir())
	email := uniqueEmail("browser-stepup")
	b.signUp(srv.URL, email)
	secret, _ := b.enrol()

	const newPassword = "a brand new password"
	b.do(
		chromedp.SetValue(id("pw-current"), password),
		chromedp.SetValue(id("pw-new"), newPassword),
		chromedp.Click(id("pw-btn")),
		chromedp.WaitVisible(id("stepup-form")),
		chromedp.WaitNotVisible(id("password-form")),
	)
	b.screenshot("step-up.png")
	b.do(
		chromedp.SetValue(id("stepup-code"), code(t, secret, 30*time.Second)),
		chromedp.Click(id("stepup-btn")),
		chromedp.WaitVisible(id("message")),
	)
	assert.Contains(t, b.text("message"), "password is changed")
	b.do(chromedp.WaitVisible(id("password-form")), chromedp.WaitNotVisible(id("stepup-form")))

	// The new password is the one that works now.
	b.signOut()
	b.signIn(email, password)
	b.do(chromedp.WaitVisible(id("message")))
	assert.Contains(t, b.text("message"), "check the code or your sign-in details")
	b.signIn(email, newPassword)
	b.do(chromedp.WaitVisible(id("challenge-view")))
}
