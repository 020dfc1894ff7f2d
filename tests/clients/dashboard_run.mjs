// Runs the dashboard's script (crates/gateway/ui/dashboard.js) as a browser would, against a running gateway, with
// just enough DOM to hold what it renders: node's WebSocket (node 22+, or 20 with --experimental-websocket) does the
// talking. Usage: node dashboard_run.mjs <script> <http://127.0.0.1:port> <token> <message>
// Prints one JSON line: what the page showed.
import { readFileSync } from "node:fs";
import vm from "node:vm";

const [script, origin, token, message] = process.argv.slice(2);
const url = new URL(origin);

class Element {
  constructor(id) { this.id = id; this.children = []; this.textContent = ""; this.hidden = false; this.value = ""; this.listeners = {}; }
  replaceChildren(...children) { this.children = children; }
  addEventListener(name, listener) { this.listeners[name] = listener; }
  texts() { return this.children.map((child) => child.textContent); }
}
const elements = {};
const document = {
  getElementById: (id) => (elements[id] ||= new Element(id)),
  createElement: () => new Element(),
  addEventListener: (name, listener) => { if (name === "DOMContentLoaded") queueMicrotask(listener); },
};
const storage = new Map();
const location = { hash: "#token=" + encodeURIComponent(token), protocol: url.protocol, host: url.host, pathname: "/" };
const context = {
  document, location, console, URLSearchParams, JSON, Math, Date, Promise, Map, Error, String, Object,
  queueMicrotask, setTimeout,
  history: { replaceState: (_, __, path) => { location.hash = ""; location.pathname = path; } },
  sessionStorage: { getItem: (k) => storage.get(k) ?? null, setItem: (k, v) => storage.set(k, v), removeItem: (k) => storage.delete(k) },
  WebSocket,
};
vm.createContext(context);
vm.runInContext(readFileSync(script, "utf8"), context);

const until = async (what, check) => {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("timed out waiting for " + what + "; state: " + elements.state?.textContent);
};
try {
  await until("the agents list, or a refusal", () =>
    (elements.agents?.children.length ?? 0) > 0 || elements.login?.hidden === false);
  const shown = {
    state: document.getElementById("state").textContent,
    tokenLeftInUrl: location.hash.includes("token"),
    login: elements.login?.hidden === false,
    health: document.getElementById("health").texts(),
    agents: document.getElementById("agents").texts(),
    channels: document.getElementById("channels").texts(),
  };
  if (message && !shown.login) {
    document.getElementById("message").value = message;
    await elements["chat-form"].listeners.submit({ preventDefault() {} });
    shown.answer = document.getElementById("answer").textContent;
    const sessions = document.getElementById("sessions");
    await until("the session in the list", () => sessions.children.length > 0);
    shown.sessions = sessions.texts();
  }
  console.log(JSON.stringify(shown));
  process.exit(0);
} catch (error) {
  console.log(JSON.stringify({ error: error.message, state: elements.state?.textContent }));
  process.exit(1);
}
