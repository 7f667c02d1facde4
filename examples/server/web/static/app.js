// The demo's pages: plain JavaScript over the JSON API, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
let mfaToken = null; // between a login that needs MFA and its challenge

// Friendly text for the API's error codes; the server's message otherwise.
const errorText = {
  authentication_required: "That did not work: check the code or your sign-in details and try again.",
  rate_limited: "Too many failed attempts.",
  conflict: null,
  invalid_input: null,
  not_found: "Your account no longer exists.",
  internal_error: "Something went wrong on our side. Please try again.",
};

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  let data = {};
  try { data = await res.json(); } catch (_) { /* empty body */ }
  if (!res.ok) {
    const err = (data && data.error) || { code: "internal_error", message: "request failed" };
    let text = errorText[err.code] || err.message;
    if (err.code === "rate_limited") {
      text += " Try again in " + (res.headers.get("Retry-After") || "a few") + " seconds.";
    }
    throw Object.assign(new Error(text), { status: res.status, code: err.code });
  }
  return data;
}

function say(text, ok) {
  const m = $("message");
  m.textContent = text || "";
  m.className = ok ? "ok" : "";
  m.hidden = !text;
}

function show(view) {
  for (const v of ["signin-view", "challenge-view", "account-view"]) $(v).hidden = v !== view;
}

async function guarded(fn) {
  try { say(""); await fn(); } catch (e) { say(e.message); }
}

// Start: the account page when there is a session, else sign in.
async function refresh() {
  let me;
  try { me = await api("GET", "/v1/auth/me"); } catch (_) { show("signin-view"); return; }
  $("account-email").textContent = me.email;
  const st = await api("GET", "/v1/auth/mfa/");
  $("status-text").textContent = st.mfa_enabled
    ? "Two-factor authentication is on. Recovery codes left: " + st.recovery_codes_remaining + "."
    : "Two-factor authentication is off.";
  $("enrol-start").hidden = st.mfa_enabled;
  $("manage").hidden = !st.mfa_enabled;
  $("enrol").hidden = true;
  $("codes").hidden = true;
  show("account-view");
}

async function signIn() {
  const res = await api("POST", "/v1/auth/login", { email: $("email").value, password: $("password").value });
  $("password").value = "";
  if (res.status === "mfa_required") {
    mfaToken = res.mfa_token;
    $("challenge-code").value = "";
    show("challenge-view");
    $("challenge-code").focus();
    return;
  }
  await refresh();
}

function showCodes(codes) {
  const list = $("recovery-codes");
  list.replaceChildren(...codes.map((c) => Object.assign(document.createElement("li"), { textContent: c })));
  $("saved-check").checked = false;
  $("saved-btn").disabled = true;
  $("enrol").hidden = true;
  $("enrol-start").hidden = true;
  $("manage").hidden = true;
  $("codes").hidden = false;
  $("copy-btn").focus();
}

function codesText() {
  return [...$("recovery-codes").children].map((li) => li.textContent).join("\n") + "\n";
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (e) => { e.preventDefault(); guarded(signIn); });
  $("signup-btn").addEventListener("click", () => guarded(async () => {
    if (!$("signin-form").reportValidity()) return;
    await api("POST", "/v1/auth/signup", { email: $("email").value, password: $("password").value });
    await signIn();
  }));

  for (const r of document.querySelectorAll("input[name=method]")) {
    r.addEventListener("change", () => {
      const recovery = $("use-recovery").checked;
      const input = $("challenge-code");
      $("challenge-label").textContent = recovery ? "Recovery code" : "Authenticator code";
      input.inputMode = recovery ? "text" : "numeric";
      input.autocomplete = recovery ? "off" : "one-time-code";
      input.pattern = recovery ? "[A-Za-z0-9 ]*" : "[0-9 ]*";
      input.value = "";
      input.focus();
    });
  }
  $("challenge-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      const value = $("challenge-code").value.trim();
      const body = { mfa_token: mfaToken };
      body[$("use-recovery").checked ? "recovery_code" : "code"] = value;
      await api("POST", "/v1/auth/mfa/challenge", body);
      mfaToken = null;
      await refresh();
    });
  });
  $("challenge-cancel").addEventListener("click", () => { mfaToken = null; show("signin-view"); });

  $("logout-btn").addEventListener("click", () => guarded(async () => {
    await api("POST", "/v1/auth/logout", {});
    show("signin-view");
  }));

  $("setup-btn").addEventListener("click", () => guarded(async () => {
    const enr = await api("POST", "/v1/auth/mfa/setup", {});
    $("qr").src = enr.qr_code;
    $("secret").textContent = enr.secret;
    $("enrol-start").hidden = true;
    $("enrol").hidden = false;
    $("enable-code").focus();
  }));
  $("enable-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      const res = await api("POST", "/v1/auth/mfa/enable", { code: $("enable-code").value.trim() });
      $("enable-code").value = "";
      $("status-text").textContent = "Two-factor authentication is on.";
      say("Two-factor authentication is on.", true);
      showCodes(res.recovery_codes);
    });
  });

  $("copy-btn").addEventListener("click", () => guarded(async () => {
    await navigator.clipboard.writeText(codesText());
    say("Copied.", true);
  }));
  $("download-btn").addEventListener("click", () => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([codesText()], { type: "text/plain" }));
    a.download = "recovery-codes.txt";
    a.click();
    URL.revokeObjectURL(a.href);
  });
  $("saved-check").addEventListener("change", () => { $("saved-btn").disabled = !$("saved-check").checked; });
  $("saved-btn").addEventListener("click", () => guarded(async () => {
    $("recovery-codes").replaceChildren(); // gone from the page for good
    await refresh();
  }));

  $("regen-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      const res = await api("POST", "/v1/auth/mfa/recovery-codes", { code: $("regen-code").value.trim() });
      $("regen-code").value = "";
      say("New recovery codes; the old ones no longer work.", true);
      showCodes(res.recovery_codes);
    });
  });
  $("disable-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      const value = $("disable-code").value.trim();
      const body = /^[0-9]{6,8}$/.test(value) ? { code: value } : { recovery_code: value };
      await api("POST", "/v1/auth/mfa/disable", body);
      $("disable-code").value = "";
      await refresh();
      say("Two-factor authentication is off.", true);
    });
  });

  refresh();
});
