// The operations dashboard: an operator signs in (POST /v1/admin/login sets the HttpOnly session
// cookie; this script never sees the session), then it reads /v1/admin/dashboard/stream
// (server-sent events) and shows each snapshot's figures and charts. Signing out sends the
// session's CSRF token (the ec_csrf cookie) as every cookie-authenticated write must. The charts
// arrive as SVG rendered (and escaped) by the server; nothing is loaded from elsewhere.
"use strict";

const STREAM = "/v1/admin/dashboard/stream";
const LOGIN = "/v1/admin/login";
const LOGOUT = "/v1/admin/logout";
const ME = "/v1/admin/me";
const FIGURES = [
  "sync_requests_per_s", "sync_latency_ms", "syncs_answered", "devices_seen_1h", "devices_seen_24h",
  "outbox_pending", "outbox_dead", "oldest_due_age_s", "queue_depth", "stress_reports", "open_reviews",
];

function show(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number" && !Number.isInteger(value)) return value.toFixed(2);
  return String(value);
}

function setStatus(text) {
  document.getElementById("status").textContent = text;
}

function apply(snapshot) {
  for (const name of FIGURES) {
    document.getElementById(name).textContent = show(snapshot.figures[name]);
  }
  document.getElementById("offers_applied").textContent = show(snapshot.figures.offers.applied);
  for (const [name, svg] of Object.entries(snapshot.charts)) {
    const holder = document.getElementById("chart-" + name);
    if (holder) holder.innerHTML = svg;
  }
  document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
  setStatus("live · updated " + new Date(snapshot.at).toLocaleTimeString());
}

function csrfToken() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("ec_csrf="));
  return found ? found.slice("ec_csrf=".length) : "";
}

function signedOut(message) {
  document.getElementById("board").hidden = true;
  document.getElementById("who").hidden = true;
  document.getElementById("login").hidden = false;
  const error = document.getElementById("login-error");
  error.textContent = message;
  error.hidden = !message;
  setStatus("signed out");
}

function dispatch(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (event === "snapshot" && data.length) apply(JSON.parse(data.join("\n")));
}

async function follow() {
  const reply = await fetch(STREAM, {
    headers: { Accept: "text/event-stream" },
    credentials: "same-origin",
    cache: "no-store",
  });
  if (reply.status === 401) {
    signedOut("Signed out: the session ended or expired.");
    return false;
  }
  if (!reply.ok || !reply.body) throw new Error("stream answered " + reply.status);
  document.getElementById("login").hidden = true;
  document.getElementById("board").hidden = false;
  document.getElementById("who").hidden = false;
  const reader = reply.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return true;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      dispatch(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  }
}

async function run() {
  for (;;) {
    try {
      if (!(await follow())) return;
      setStatus("reconnecting…");
    } catch (error) {
      setStatus("disconnected, retrying (" + error.message + ")");
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

async function signIn() {
  const reply = await fetch(LOGIN, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify({
      username: document.getElementById("username").value,
      password: document.getElementById("password").value,
    }),
  });
  document.getElementById("password").value = "";
  if (reply.status === 429) {
    signedOut("Too many attempts; wait a minute.");
    return;
  }
  if (!reply.ok) {
    signedOut("Sign-in refused.");
    return;
  }
  const session = await reply.json();
  document.getElementById("operator").textContent = session.username + " (" + session.role + ")";
  run();
}

async function signOut() {
  await fetch(LOGOUT, {
    method: "POST",
    headers: { "X-CSRF-Token": csrfToken() },
    credentials: "same-origin",
  });
  signedOut("");
  // The open stream ends with the session; reload so nothing of the board stays on screen.
  window.location.reload();
}

document.addEventListener("DOMContentLoaded", async () => {
  document.getElementById("login").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn();
  });
  document.getElementById("logout").addEventListener("click", signOut);
  // A session of an earlier visit (its readable CSRF cookie is there): go straight to the board
  // if it is still live. Without one, nothing is asked, so a fresh page logs no refused request.
  if (!csrfToken()) return;
  const me = await fetch(ME, { credentials: "same-origin", cache: "no-store" });
  if (me.ok) {
    const who = await me.json();
    const name = who.actor.replace(/^operator:/, "");
    document.getElementById("operator").textContent = name + " (" + who.role + ")";
    run();
  }
});
