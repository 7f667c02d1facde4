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
  not_found: null,
  mfa_step_up_required: "Confirm it is you with a code first.",
  forbidden: "This page is not allowed to make that request.",
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
    throw Object.assign(new Error(text), { status: res.status, code: err.code, serverMessage: err.message });
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

// credential is the body for a code the user typed: a TOTP code (6 to 8
// digits) or else a recovery code.
function credential(value) {
  value = value.trim();
  return /^[0-9]{6,8}$/.test(value) ? { code: value } : { recovery_code: value };
}

// Security keys and passkeys (WebAuthn). The server sends the W3C JSON
// forms of the options, and takes the PublicKeyCredential's toJSON(); a
// browser without these (or a page not on a secure context such as an IP
// address) gets no key buttons.
const webauthnAvailable = !!(window.PublicKeyCredential &&
  PublicKeyCredential.parseCreationOptionsFromJSON && PublicKeyCredential.parseRequestOptionsFromJSON &&
  window.isSecureContext);
let hasKeys = false; // whether the signed-in user has a security key

// keyError turns a browser's refusal of a ceremony into a message.
function keyError(e, creating) {
  switch (e && e.name) {
    case "NotAllowedError":
      return new Error(creating
        ? "The security key did not answer: the prompt was cancelled or timed out."
        : "The security key did not answer: the prompt was cancelled or timed out, or this key is not registered to your account.");
    case "InvalidStateError":
      return new Error("This security key is registered to your account already.");
    case "SecurityError":
      return new Error("Security keys work only on this site's host name (such as localhost, not 127.0.0.1) or over HTTPS.");
    default:
      return new Error("The browser could not use a security key: " + ((e && e.message) || "unknown error") + ".");
  }
}

// createKey runs navigator.credentials.create with creation options and
// returns the new credential's JSON.
async function createKey(options) {
  let cred;
  try {
    cred = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) });
  } catch (e) {
    throw keyError(e, true);
  }
  return cred.toJSON();
}

// getKey runs navigator.credentials.get with request options and returns
// the assertion's JSON.
async function getKey(options) {
  let cred;
  try {
    cred = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
  } catch (e) {
    throw keyError(e, false);
  }
  return cred.toJSON();
}

// keyProof asks the user's security key for a fresh assertion and returns
// it as the credential of a request: {"webauthn": {ceremony, response}}.
// With an mfa_token it is the login challenge's; otherwise the session's.
async function keyProof(token) {
  let c;
  try {
    c = await api("POST", "/v1/auth/mfa/webauthn/options", token ? { mfa_token: token } : {});
  } catch (e) {
    if (e.code === "not_found") throw new Error("There is no security key on this account: use a code or a recovery code.");
    throw e;
  }
  return { webauthn: { ceremony: c.ceremony, response: await getKey(c.options) } };
}

// withKey runs fn, a step that uses a security key, and says plainly why
// the server refused the key (a counter that went backwards, a ceremony
// used already), which the generic text for a wrong code would hide.
async function withKey(fn) {
  try {
    return await fn();
  } catch (e) {
    if (e.code === "authentication_required") throw new Error("Security key refused: " + e.serverMessage + ".");
    throw e;
  }
}

// showKeyControls shows the key buttons that can work: the ones that
// register a key when the browser can, the ones that prove with a key
// when the user has one too.
function showKeyControls() {
  for (const e of document.querySelectorAll(".webauthn-only")) e.hidden = !webauthnAvailable;
  for (const e of document.querySelectorAll(".key-proof")) e.hidden = !webauthnAvailable || !hasKeys;
  for (const e of document.querySelectorAll(".no-webauthn")) e.hidden = webauthnAvailable;
}

const factorTypes = { totp: "Authenticator app", webauthn: "Security key or passkey" };

// updateStatus shows the MFA status and the recovery codes left, which
// every check with a recovery code changes, and returns it.
async function updateStatus() {
  const st = await api("GET", "/v1/auth/mfa/");
  $("status-text").textContent = st.mfa_enabled
    ? "Two-factor authentication is on. Recovery codes left: " + st.recovery_codes_remaining + "."
    : "Two-factor authentication is off.";
  return st;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "never";
}

// showFactors lists the user's authenticators: name, added, last used,
// and a Remove button each.
async function showFactors() {
  const res = await api("GET", "/v1/auth/mfa/factors");
  const items = res.factors.map((f) => {
    const li = document.createElement("li");
    li.className = "factor";
    li.dataset.id = f.id;
    const name = Object.assign(document.createElement("strong"), { className: "factor-name", textContent: f.name });
    const type = Object.assign(document.createElement("span"), {
      className: "factor-type factor-type-" + f.type, textContent: factorTypes[f.type] || f.type,
    });
    const title = Object.assign(document.createElement("span"), { className: "factor-title" });
    title.replaceChildren(name, type);
    const meta = Object.assign(document.createElement("small"), {
      className: "factor-meta",
      textContent: "Added " + when(f.created_at) + " · last used " + when(f.last_used_at),
    });
    const remove = Object.assign(document.createElement("button"), {
      type: "button", className: "secondary remove-factor", textContent: "Remove",
    });
    remove.setAttribute("aria-label", "Remove " + f.name);
    remove.addEventListener("click", () => askRemoval(f));
    li.replaceChildren(title, meta, remove);
    return li;
  });
  $("factor-list").replaceChildren(...items);
  hasKeys = res.factors.some((f) => f.type === "webauthn");
  showKeyControls();
}

let removing = null; // the authenticator the remove form is about

function askRemoval(f) {
  removing = f;
  $("remove-prompt").textContent = "Remove \u201c" + f.name + "\u201d? Confirm with a code" + (hasKeys ? " or a security key." : ".");
  $("remove-code").value = "";
  $("remove-form").hidden = false;
  $("remove-code").focus();
}

// Start: the account page when there is a session, else sign in.
async function refresh() {
  let me;
  try { me = await api("GET", "/v1/auth/me"); } catch (_) { show("signin-view"); return; }
  $("account-email").textContent = me.email;
  const st = await updateStatus();
  $("enrol-start").hidden = st.mfa_enabled;
  $("manage").hidden = !st.mfa_enabled;
  $("enrol").hidden = true;
  $("codes").hidden = true;
  $("factor-enrol").hidden = true;
  $("remove-form").hidden = true;
  $("add-factor-form").hidden = false;
  $("password-section").hidden = false;
  $("stepup-form").hidden = true;
  $("add-key-form").hidden = false;
  hasKeys = false;
  if (st.mfa_enabled) await showFactors();
  showKeyControls();
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
  $("password-section").hidden = true;
  $("codes").hidden = false;
  $("copy-btn").focus();
}

// confirmKey registers the security key of a pending factor (the answer
// of POST /factors with type webauthn) and returns the confirmation, with
// the recovery codes when it is the first factor.
async function confirmKey(pending) {
  const response = await createKey(pending.options);
  return withKey(() => api("POST", "/v1/auth/mfa/factors/" + encodeURIComponent(pending.id) + "/confirm",
    { ceremony: pending.ceremony, response }));
}

function codesText() {
  return [...$("recovery-codes").children].map((li) => li.textContent).join("\n") + "\n";
}

document.addEventListener("DOMContentLoaded", () => {
  showKeyControls();
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
  $("challenge-key-btn").addEventListener("click", () => guarded(() => withKey(async () => {
    const body = Object.assign({ mfa_token: mfaToken }, await keyProof(mfaToken));
    await api("POST", "/v1/auth/mfa/challenge", body);
    mfaToken = null;
    await refresh();
  })));
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
    $("password-section").hidden = true; // one thing at a time
    $("enrol").hidden = false;
    $("enable-code").focus();
  }));
  // A security key or passkey as the first factor: the session alone
  // starts it (MFA is off); confirming it turns MFA on and brings the
  // recovery codes, shown once.
  $("key-first-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      const pending = await api("POST", "/v1/auth/mfa/factors", { type: "webauthn", name: $("key-first-name").value.trim() });
      const f = await confirmKey(pending);
      $("status-text").textContent = "Two-factor authentication is on.";
      say("\u201c" + f.name + "\u201d is registered. Two-factor authentication is on.", true);
      showCodes(f.recovery_codes);
    });
  });
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

  const regenerate = async (cred) => {
    const res = await api("POST", "/v1/auth/mfa/recovery-codes", cred);
    $("regen-code").value = "";
    say("New recovery codes; the old ones no longer work.", true);
    showCodes(res.recovery_codes);
  };
  $("regen-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(() => regenerate({ code: $("regen-code").value.trim() }));
  });
  $("regen-key-btn").addEventListener("click", () => guarded(() => withKey(async () => regenerate(await keyProof()))));

  const disable = async (cred) => {
    await api("POST", "/v1/auth/mfa/disable", cred);
    $("disable-code").value = "";
    await refresh();
    say("Two-factor authentication is off.", true);
  };
  $("disable-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(() => disable(credential($("disable-code").value)));
  });
  $("disable-key-btn").addEventListener("click", () => guarded(() => withKey(async () => disable(await keyProof()))));

  // Adding an authenticator: a name and a credential of an existing one
  // (or a recovery code), then the new one's QR code and its first code.
  let adding = null; // the pending authenticator
  const addFactor = async (cred) => {
    const body = Object.assign({ name: $("factor-name").value.trim() }, cred);
    try {
      adding = await api("POST", "/v1/auth/mfa/factors", body);
    } finally {
      await updateStatus(); // a recovery code may have been used up
    }
    $("factor-cred").value = "";
    $("factor-qr").src = adding.qr_code;
    $("factor-secret").textContent = adding.secret;
    $("factor-code").value = "";
    $("add-factor-form").hidden = true;
    $("add-key-form").hidden = true;
    $("factor-enrol").hidden = false;
    $("factor-code").focus();
  };
  $("add-factor-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(() => addFactor(credential($("factor-cred").value)));
  });
  $("add-factor-key-btn").addEventListener("click", () => guarded(async () => {
    if (!$("factor-name").reportValidity()) return;
    await withKey(async () => addFactor(await keyProof()));
  }));

  // Adding a security key or passkey: a name and a credential of an
  // existing factor (a code, a recovery code or another key), then the new
  // key's registration.
  const addKey = async (cred) => {
    const body = Object.assign({ type: "webauthn", name: $("key-name").value.trim() }, cred);
    let pending;
    try {
      pending = await api("POST", "/v1/auth/mfa/factors", body);
    } finally {
      await updateStatus(); // a recovery code may have been used up
    }
    $("key-cred").value = "";
    const f = await confirmKey(pending);
    $("key-name").value = "";
    await refresh();
    say("\u201c" + f.name + "\u201d is added.", true);
  };
  $("add-key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(() => addKey(credential($("key-cred").value)));
  });
  $("add-key-key-btn").addEventListener("click", () => guarded(async () => {
    if (!$("key-name").reportValidity()) return;
    await withKey(async () => addKey(await keyProof()));
  }));
  $("confirm-factor-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      const f = await api("POST", "/v1/auth/mfa/factors/" + encodeURIComponent(adding.id) + "/confirm", { code: $("factor-code").value.trim() });
      adding = null;
      $("factor-name").value = "";
      await refresh();
      say("\u201c" + f.name + "\u201d is added.", true);
    });
  });
  $("confirm-factor-cancel").addEventListener("click", () => guarded(refresh));

  const removeFactor = async (cred) => {
    const f = removing;
    let res;
    try {
      res = await api("DELETE", "/v1/auth/mfa/factors/" + encodeURIComponent(f.id), cred);
    } finally {
      await updateStatus();
    }
    removing = null;
    await refresh();
    say(res.mfa_enabled ? "\u201c" + f.name + "\u201d is removed."
      : "\u201c" + f.name + "\u201d was your last authenticator: two-factor authentication is off.", true);
  };
  $("remove-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(() => removeFactor(credential($("remove-code").value)));
  });
  $("remove-key-btn").addEventListener("click", () => guarded(() => withKey(async () => removeFactor(await keyProof()))));
  $("remove-cancel").addEventListener("click", () => { removing = null; $("remove-form").hidden = true; });

  // Changing the password. For a user with MFA the server wants a fresh
  // check (403 mfa_step_up_required): ask for a code, POST it to
  // /verify, and send the change again.
  let pendingChange = null;
  const changePassword = async () => {
    await api("POST", "/v1/auth/password", pendingChange);
    pendingChange = null;
    $("pw-current").value = "";
    $("pw-new").value = "";
    say("Your password is changed. Your other sessions are signed out.", true);
  };
  $("password-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      pendingChange = { current_password: $("pw-current").value, new_password: $("pw-new").value };
      try {
        await changePassword();
      } catch (err) {
        if (err.code !== "mfa_step_up_required") throw err;
        $("password-form").hidden = true;
        $("stepup-code").value = "";
        $("stepup-form").hidden = false;
        $("stepup-code").focus();
      }
    });
  });
  // stepUp runs verify (POST /verify with a code or a key), then the
  // password change it was for.
  const stepUp = async (verify) => {
    try {
      await verify();
    } finally {
      await updateStatus();
    }
    $("stepup-code").value = "";
    $("stepup-form").hidden = true;
    $("password-form").hidden = false;
    await changePassword(); // the session is fresh now
  };
  $("stepup-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(() => stepUp(() => api("POST", "/v1/auth/mfa/verify", credential($("stepup-code").value))));
  });
  // Only the request that carries the key's answer is the key's to blame.
  $("stepup-key-btn").addEventListener("click", () =>
    guarded(() => stepUp(() => withKey(async () => api("POST", "/v1/auth/mfa/verify", await keyProof())))));
  $("stepup-cancel").addEventListener("click", () => {
    pendingChange = null;
    $("stepup-form").hidden = true;
    $("password-form").hidden = false;
  });

  refresh();
});
