// The operations dashboard: reads /v1/admin/dashboard/stream (server-sent events) with the admin
// token from this tab's session storage, and shows each snapshot's figures and charts. The
// charts arrive as SVG rendered (and escaped) by the server; nothing is loaded from elsewhere.
"use strict";

const STREAM = "/v1/admin/dashboard/stream";
const TOKEN_KEY = "ec-admin-token";
const FIGURES = [
  "sync_requests_per_s", "sync_latency_ms", "syncs_answered", "devices_seen_1h", "devices_seen_24h",
  "outbox_pending", "outbox_dead", "oldest_due_age_s", "queue_depth", "stress_reports",
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

function signedOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  document.getElementById("board").hidden = true;
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

async function follow(token) {
  const reply = await fetch(STREAM, {
    headers: { Authorization: "Bearer " + token, Accept: "text/event-stream" },
    cache: "no-store",
  });
  if (reply.status === 401) {
    signedOut("That token was refused.");
    return false;
  }
  if (!reply.ok || !reply.body) throw new Error("stream answered " + reply.status);
  document.getElementById("login").hidden = true;
  document.getElementById("board").hidden = false;
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
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) return;
    try {
      if (!(await follow(token))) return;
      setStatus("reconnecting…");
    } catch (error) {
      setStatus("disconnected, retrying (" + error.message + ")");
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("login").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value);
    run();
  });
  if (sessionStorage.getItem(TOKEN_KEY)) run();
});
