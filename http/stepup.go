package mfahttp

import (
	"fmt"
	"net/http"
	"time"
)

// Step-up: before a sensitive action (changing the password, the email
// address, payment details) a host asks for a fresh proof of MFA. The
// login challenge and POST /verify are such proofs; the host records the
// time of the last one in its session (Config.CompleteLogin,
// Config.SteppedUp) and RequireStepUp reads it back (Config.VerifiedAt).
// The library's own endpoints are never behind the guard: each takes a
// credential, which is the fresh proof.

// verify serves POST /verify with {"code": "…"} or {"recovery_code":
// "…"}: it answers {"verified_at": "<RFC 3339>"} after Config.SteppedUp
// recorded the verification.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	ctx, userID, cred, ok := h.beginCheck(w, r)
	if !ok {
		return
	}
	v, err := h.cfg.Service.Verify(ctx, userID, cred)
	if err == nil && h.cfg.SteppedUp != nil {
		if herr := h.cfg.SteppedUp(w, r, v); herr != nil {
			err = fmt.Errorf("mfahttp: SteppedUp: %w", herr)
		}
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		VerifiedAt time.Time `json:"verified_at"`
	}{v.At.UTC()})
}

// StepUp says what RequireStepUp requires.
type StepUp struct {
	// Within is how recent the session's last MFA verification must be.
	// Required.
	Within time.Duration
	// RequireEnrollment refuses users without MFA with 403
	// mfa_enrollment_required. False lets them pass.
	RequireEnrollment bool
}

// RequireStepUp returns middleware for the host's own routes ("MFA
// verified within the last N minutes"). A request passes when its user
// has MFA and its session verified MFA within s.Within (Config.VerifiedAt
// tells when), or when its user has no MFA and s.RequireEnrollment is
// false. Otherwise it answers 403 with the code mfa_step_up_required (the
// client asks for a code, POSTs it to /verify and retries) or
// mfa_enrollment_required; 401 without a valid session. The middleware
// works with any router that takes func(http.Handler) http.Handler (chi's
// Use and With, or wrapping a ServeMux handler). It panics if
// Config.VerifiedAt is nil or s.Within is not positive, as both are
// programming errors.
func (h *Handler) RequireStepUp(s StepUp) func(http.Handler) http.Handler {
	if h.cfg.VerifiedAt == nil {
		panic("mfahttp: RequireStepUp needs Config.VerifiedAt")
	}
	if s.Within <= 0 {
		panic("mfahttp: RequireStepUp needs a positive StepUp.Within")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, userID, ok := h.begin(w, r)
			if !ok {
				return
			}
			st, err := h.cfg.Service.Status(ctx, userID)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			if !st.Enabled {
				if s.RequireEnrollment {
					writeError(w, http.StatusForbidden, CodeEnrollmentRequired, "this action needs two-factor authentication: turn it on first")
					return
				}
				next.ServeHTTP(w, r)
				return
			}
			at, err := h.cfg.VerifiedAt(r)
			if err != nil {
				h.fail(w, r, fmt.Errorf("mfahttp: VerifiedAt: %w", err))
				return
			}
			if at.IsZero() || h.cfg.Service.Now().Sub(at) > s.Within {
				writeError(w, http.StatusForbidden, CodeStepUpRequired, "confirm it is you: verify a code from your authenticator app, then retry")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
