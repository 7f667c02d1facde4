package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// TestBrowserFlow drives the pages in headless Chromium as a person would:
// sign up, enrol (reading the secret from the page), keep the recovery
// codes, sign out, sign in with a code, sign in with a recovery code, turn
// MFA off. It saves screenshots of the enrolment and recovery-code pages.
func TestBrowserFlow(t *testing.T) {
	exe := chromium(t)
	srv := startServer(t, t.TempDir())
	shots := artifacts(t)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(900, 1100),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelTimeout()

	email := uniqueEmail("browser")
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, steps...))
	}
	text := func(id string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
		require.NoError(t, err)
		return s
	}
	screenshot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(shots, name), png, 0o644))
	}
	id := func(s string) chromedp.ID { return chromedp.ID(s) }
	signIn := func() {
		do(
			chromedp.WaitVisible(id("signin-view")),
			chromedp.SetValue(id("email"), email),
			chromedp.SetValue(id("password"), password),
			chromedp.Click(id("signin-btn")),
		)
	}
	signOut := func() {
		do(chromedp.Click(id("logout-btn")), chromedp.WaitVisible(id("signin-view")))
	}

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
	t.Logf("screenshots: %s, %s", filepath.Join(shots, "enrolment.png"), filepath.Join(shots, "recovery-codes.png"))
}
