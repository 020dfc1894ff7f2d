// The dashboard's client: one WebSocket to this gateway (protocol v4), authenticated with the token from the
// URL fragment (#token=…), which the browser never sends to the server. Nothing here is trusted by the gateway:
// every request is checked against the connection's scopes like any other client's.
"use strict";

const $ = (id) => document.getElementById(id);
const pending = new Map();
let socket = null;
let nextId = 0;

function text(element, value) {
  element.textContent = value == null ? "" : String(value);
}

function list(element, items) {
  element.replaceChildren(...items.map((item) => {
    const li = document.createElement("li");
    text(li, item);
    return li;
  }));
}

function setState(message, kind) {
  const state = $("state");
  text(state, message);
  state.className = "state " + (kind || "");
}

function takeToken() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const fromUrl = fragment.get("token");
  if (fromUrl) {
    sessionStorage.setItem("openclaw.token", fromUrl);
    // Out of the address bar and the history.
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem("openclaw.token");
}

function request(method, params, onEvent) {
  return new Promise((resolve, reject) => {
    const id = "ui-" + ++nextId;
    pending.set(id, { resolve, reject, onEvent });
    socket.send(JSON.stringify({ type: "req", id, method, params: params || {} }));
  });
}

function onFrame(frame) {
  if (frame.type === "event") {
    if (frame.event === "connect.challenge") {
      connect();
    } else if (frame.event === "agent") {
      for (const waiting of pending.values()) {
        if (waiting.onEvent && waiting.runId === frame.payload.runId) waiting.onEvent(frame.payload);
      }
    }
    return;
  }
  if (frame.type !== "res") return;
  const waiting = pending.get(frame.id);
  if (!waiting) return;
  if (frame.ok && frame.payload && frame.payload.status === "accepted") {
    // The two-phase `agent`: the final answer follows under the same id.
    waiting.runId = frame.payload.runId;
    return;
  }
  pending.delete(frame.id);
  if (frame.ok) waiting.resolve(frame.payload);
  else waiting.reject(new Error((frame.error && frame.error.message) || "request failed"));
}

async function connect() {
  const token = sessionStorage.getItem("openclaw.token");
  try {
    const hello = await request("connect", {
      minProtocol: 4, maxProtocol: 4, role: "operator",
      scopes: ["operator.read", "operator.write"],
      client: { id: "openclaw-control-ui", version: "dashboard", platform: "web", mode: "ui" },
      auth: token ? { token } : undefined,
    });
    setState("connected" + (hello.server ? " to " + hello.server.version : ""), "ok");
    refresh();
  } catch (error) {
    sessionStorage.removeItem("openclaw.token");
    setState("not connected: " + error.message, "bad");
    $("login").hidden = false;
  }
}

async function refresh() {
  const health = await request("health");
  const rows = [["ok", health.ok], ["default agent", health.defaultAgentId],
    ["sessions", (health.sessions || {}).count]];
  $("health").replaceChildren(...rows.flatMap(([name, value]) => {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    text(dt, name);
    text(dd, value);
    return [dt, dd];
  }));
  const agents = await request("agents.list");
  const ids = (agents.agents || []).map((agent) => agent.id);
  list($("agents"), ids.map((id) => id + (id === agents.defaultId ? " (default)" : "")));
  $("agent").replaceChildren(...ids.map((id) => {
    const option = document.createElement("option");
    option.value = id;
    text(option, id);
    return option;
  }));
  const channels = await request("channels.status", {});
  const accounts = channels.channelAccounts || {};
  list($("channels"), Object.keys(accounts).flatMap((name) =>
    (accounts[name] || []).map((account) => name + "/" + account.accountId + " (" + account.mode + ")")));
  const sessions = await request("sessions.list", { limit: 20 });
  list($("sessions"), (sessions.sessions || []).map((session) => session.key));
}

function open() {
  if (!takeToken()) {
    $("login").hidden = false;
  }
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + "/");
  socket.onmessage = (message) => {
    try {
      onFrame(JSON.parse(message.data));
    } catch (error) {
      setState("bad frame: " + error.message, "bad");
    }
  };
  socket.onclose = (event) => {
    // A refused connect already said why.
    if (!$("state").textContent.startsWith("not connected")) {
      setState("disconnected (" + event.code + (event.reason ? ": " + event.reason : "") + ")", "bad");
    }
  };
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("openclaw.token", $("token").value.trim());
    $("login").hidden = true;
    if (socket) socket.close();
    open();
  });
  $("chat-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = $("message").value.trim();
    if (!message) return;
    const answer = $("answer");
    text(answer, "");
    try {
      const result = await request("agent", {
        message, agentId: $("agent").value || undefined,
        idempotencyKey: "ui-" + Date.now() + "-" + Math.random().toString(36).slice(2),
      }, (payload) => {
        if (payload.stream === "assistant" && payload.data) text(answer, payload.data.text);
      });
      const payloads = (result.result && result.result.payloads) || [];
      text(answer, payloads.length ? payloads[0].text : "(no reply)");
      $("message").value = "";
      refresh();
    } catch (error) {
      text(answer, "error: " + error.message);
    }
  });
  open();
});
