// The agent console: availability, the chats routed to this agent, the live meter and its
// buttons (as the room's controls allow), payment requests, hang up, and "hang up anyway"
// after a failed charge. Speaks docs/realtime.md over /ws/agent (signed in by cookie).
import { $, money, parseAmount, problem, requestSummary, MeterView, Live, SETTLED } from "./chat-common.js";

const chats = new Map();  // session id → { session, client, question, messages: [], requests: Map }
const meterView = new MeterView("meter");
let current = null;

const live = new Live("/ws/agent", {
  hello: () => ({ type: "hello" }),
  receive,
  onclose: (code) => {
    $("link").textContent = "reconnecting…";
    if (code === 4401) { location.href = "/login"; return false; }
    if (code === 4009) { $("link").textContent = "The console is open in another tab."; return false; }
    return true;
  },
});
const send = (message) => live.send(message);

function receive(m) {
  if (m.type === "welcome") {
    $("link").textContent = `Signed in as ${m.agent.name}`;
    availability(m.availability);
    const waiting = Object.values(m.queues).reduce((a, b) => a + b, 0);
    $("waiting").textContent = waiting ? `${waiting} client${waiting > 1 ? "s" : ""}` : "nobody";
    earned();
  } else if (m.type === "availability") availability(m.status);
  else if (m.type === "assigned") { $("waiting").textContent = "–"; notify("A client is connected."); }
  else if (m.type === "session") session(m);
  else if (m.type === "meter") {
    const chat = chats.get(m.session_id);
    if (!chat) return;
    Object.assign(chat.session, { meter: m.state, seconds: m.seconds, price: m.price, collected: m.collected, due: m.due });
    if (current === m.session_id) meterView.show(m);
  } else if (m.type === "message") {
    const chat = chats.get(m.session_id);
    if (!chat || chat.messages.some((x) => x.id === m.id)) return;
    chat.messages.push(m);
    if (current === m.session_id) say(m); else { chat.unread = true; list(); }
  } else if (m.type === "payment_request") {
    const chat = chats.get(m.request.session_id);
    if (!chat) return;
    const before = chat.requests.get(m.request.id);
    chat.requests.set(m.request.id, m.request);
    if (m.request.status === "paid" && (!before || before.status !== "paid")) earned();
    if (current === m.request.session_id) requests(chat);
  } else if (m.type === "error") problem(m.message);
}

function availability(status) {
  for (const b of document.querySelectorAll(".availability button")) {
    b.setAttribute("aria-pressed", String(b.dataset.status === status));
  }
}
for (const b of document.querySelectorAll(".availability button")) {
  b.onclick = () => send({ type: "availability", status: b.dataset.status });
}

async function earned() {
  const r = await fetch("/console/revenue.json", { credentials: "same-origin" });
  if (!r.ok) return;
  const { today } = await r.json();
  const none = money(0, $("earned").dataset.currency);  // nothing yet, in the business's currency
  $("earned").textContent = today.length ? today.map((l) => money(l.net, l.currency)).join(" · ") : none;
}

function notify(text) {
  problem("");
  document.title = `● ${text}`;
  setTimeout(() => { document.title = document.title.replace(/^● .*/, "Console"); }, 5000);
}

// ---------------------------------------------------------------- chats
function session(m) {
  const s = m.session;
  let chat = chats.get(s.id);
  if (!chat) {
    chat = { session: s, client: m.client || {}, question: m.question, messages: [], requests: new Map() };
    chats.set(s.id, chat);
  }
  const settledNow = SETTLED.includes(s.status) && !SETTLED.includes(chat.session.status);
  chat.session = s;
  if (m.client) chat.client = m.client;
  if (m.question !== undefined) chat.question = m.question;
  if (m.messages) chat.messages = m.messages;
  if (m.requests) chat.requests = new Map(m.requests.map((r) => [r.id, r]));
  if (settledNow) earned();
  const openOne = [...chats.values()].find((c) => !SETTLED.includes(c.session.status));
  if (!current || (SETTLED.includes(chats.get(current).session.status) && openOne && s.status === "open")) {
    current = s.id;
  }
  list();
  if (current === s.id) show(chat, Boolean(m.messages));
}

function list() {
  const ul = $("chat-list");
  ul.innerHTML = "";
  const ordered = [...chats.values()].sort((a, b) => b.session.opened_at.localeCompare(a.session.opened_at));
  for (const chat of ordered) {
    const li = document.createElement("li"), b = document.createElement("button");
    b.type = "button";
    b.textContent = `${chat.client.name || "Client"}${chat.unread ? " •" : ""}`;
    const status = document.createElement("span");
    status.className = `status ${chat.session.status}`;
    status.textContent = chat.session.status.replace("_", " ");
    b.append(status);
    b.setAttribute("aria-current", String(chat.session.id === current));
    b.onclick = () => { current = chat.session.id; chat.unread = false; list(); show(chat, true); };
    li.append(b);
    ul.append(li);
  }
  $("no-chats").hidden = chats.size > 0;
}

function show(chat, redraw) {
  const s = chat.session, open = s.status === "open";
  $("chat-view").hidden = false;
  $("client-name").textContent = chat.client.name || "Client";
  $("client-email").textContent = chat.client.email || "";
  $("client-question").textContent = chat.question ? `“${chat.question}”` : "";
  meterView.show({ state: s.meter, seconds: s.seconds, price: s.price, collected: s.collected, currency: s.currency }, s.tariff);
  if (!open) meterView.stop();
  $("peer").textContent = s.offline.includes("client") ? "The client is offline; the meter is stopped." : "";
  $("meter-start").hidden = !(open && s.agent_may_start && s.meter === "waiting");
  $("meter-pause").hidden = !(open && s.agent_may_pause && ["running", "offline"].includes(s.meter));
  $("meter-resume").hidden = !(open && s.agent_may_pause && s.meter === "paused");
  $("failed").hidden = s.status !== "payment_failed";
  if (s.status === "payment_failed") {
    $("failed-text").textContent = `The charge of ${money(s.due, s.currency)} failed (${(s.failure || "declined").replace(/\.$/, "")}). ` +
      "The client is asked for another card; the charge is retried when they give one.";
  }
  for (const id of ["say", "hangup", "request-box"]) $(id).hidden = !open;
  $("ended").hidden = !SETTLED.includes(s.status) && s.status !== "collecting";
  $("ended").textContent = s.status === "collecting" ? "Collecting the payment…"
    : s.status === "abandoned" ? `Ended; ${money(s.abandoned, s.currency)} left unpaid (abandoned debt). Collected ${money(s.collected, s.currency)}.`
    : `Ended (${(s.end_reason || "").replace("_", " ")}); paid ${money(s.collected, s.currency)}.`;
  for (const el of document.querySelectorAll(".currency")) el.textContent = s.currency;
  if (redraw) {
    $("messages").innerHTML = "";
    chat.messages.forEach(say);
  }
  requests(chat);
}

function say(m) {
  const li = document.createElement("li");
  li.className = m.party === "agent" ? "client" : "agent";  // the agent's own words on the right
  li.dataset.id = m.id;
  li.textContent = m.text;
  $("messages").append(li);
  li.scrollIntoView({ block: "end" });
}

function requests(chat) {
  const box = $("requests");
  box.innerHTML = "";
  for (const r of chat.requests.values()) {
    const div = document.createElement("div");
    div.className = "card request";
    div.dataset.id = r.id;
    const actions = document.createElement("div");
    actions.className = "actions";
    div.append(requestSummary(r), actions);
    const button = (text, message, cls) => {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = text; if (cls) b.className = cls;
      b.onclick = () => send(message);
      actions.append(b);
    };
    if (r.status === "open") button("Cancel the request", { type: "cancel_request", request: r.id }, "secondary");
    if (r.category === "service" && r.status === "paid") {
      if (!r.service_started_at) button("Service starts now", { type: "service", request: r.id, what: "start" });
      else if (!r.service_finished_at) button("Service finished", { type: "service", request: r.id, what: "finish" });
      else actions.textContent = "Service delivered.";
    }
    box.append(div);
  }
}

const act = (message) => () => send({ session: current, ...message });
$("meter-start").onclick = act({ type: "meter", action: "start" });
$("meter-pause").onclick = act({ type: "meter", action: "pause" });
$("meter-resume").onclick = act({ type: "meter", action: "resume" });
$("hangup").onclick = act({ type: "hangup" });
$("abandon").onclick = () => {
  if (confirm("Hang up anyway? What the client has not paid is recorded as abandoned debt.")) act({ type: "abandon" })();
};
$("say").onsubmit = (e) => {
  e.preventDefault();
  const input = e.target.elements.text;
  if (input.value.trim()) send({ type: "message", session: current, text: input.value });
  input.value = "";
};
$("request-form").onsubmit = (e) => {
  e.preventDefault();
  const f = new FormData(e.target), s = chats.get(current).session;
  const quantity = parseInt(String(f.get("quantity")), 10), price = parseAmount(f.get("unit_price"), s.currency);
  if (price.error) { problem(`Price each: ${price.error}`); return; }
  if (!(quantity >= 1) || !price.amount) { problem(`Write a quantity and a price like 25.00 ${s.currency}.`); return; }
  problem("");
  send({ type: "payment_request", session: current, category: f.get("category"),
    items: [{ description: String(f.get("description")).trim(), quantity, unit_price: price.amount }] });
  e.target.reset();
  $("request-box").open = false;
};

live.connect();
