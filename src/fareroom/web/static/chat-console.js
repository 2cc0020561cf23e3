// The agent console: availability, the chats routed to this agent, the live meter and its
// buttons (as the room's controls allow), the client's presence, the clients waiting,
// payment requests, hang up, and "hang up anyway" after a failed charge (both confirmed in
// the page first). Speaks docs/realtime.md over /ws/agent (signed in by cookie).
import { $, money, parseAmount, problem, requestSummary, MeterView, Live, SETTLED } from "./chat-common.js";
import { Call } from "./chat-call.js";

const chats = new Map();  // session id → { session, client, question, messages: [], requests: Map }
const meterView = new MeterView("meter");
const queues = {};  // room id → clients waiting
const answers = new Map();  // ref → what to do with the server's answer (done or error)
let current = null, refs = 0;

const live = new Live("/ws/agent", {
  hello: () => ({ type: "hello" }),
  receive,
  onclose: (code) => {
    for (const answer of answers.values()) answer({ type: "error", message: "The connection dropped before the server answered; look at the requests above before sending again." });
    answers.clear();
    if (code === 4401) { location.href = "/login"; return false; }
    if (code === 4009) { inactive(true); return false; }  // another tab took over: no reconnecting
    $("link").textContent = "reconnecting…";
    return true;
  },
});
const send = (message) => live.send(message);
// One call at a time, in the chat it was started or answered in.
let callSession = null;
const call = new Call({ self: "agent", other: "client",
  send: (data) => send({ type: "call", session: callSession ?? current, data }),
  otherName: () => chats.get(callSession ?? current)?.client?.name ?? "the client" });
$("call-start").addEventListener("click", () => { callSession = current; });
// Send a frame and hear its answer: `done` when it was carried out, or its `error`.
const ask = (message, answer) => { const ref = `r${++refs}`; answers.set(ref, answer); send({ ...message, ref }); };

// A newer tab of this console took over: this one is plainly inactive (meter frozen, every
// button disabled) until "Use it here" connects it again, which makes the other inactive.
function inactive(yes) {
  $("replaced").hidden = !yes;
  $("console").classList.toggle("inactive", yes);
  for (const el of $("console").querySelectorAll("button, input, select, textarea")) {
    if (el.id !== "use-here") el.disabled = yes;
  }
  if (yes) {
    meterView.stop();
    clearInterval(presenceTimer);
    $("link").textContent = "inactive: open in another tab";
    $("use-here").focus();
  }
}
$("use-here").onclick = () => { inactive(false); $("link").textContent = "connecting…"; live.connect(); };

function receive(m) {
  if (m.ref && answers.has(m.ref) && (m.type === "done" || m.type === "error")) {
    const answer = answers.get(m.ref);
    answers.delete(m.ref);
    answer(m);
  } else if (m.type === "welcome") {
    $("link").textContent = `Signed in as ${m.agent.name}`;
    availability(m.availability);
    waiting(m.queues);
    earned();
  } else if (m.type === "availability") availability(m.status);
  else if (m.type === "queues") waiting(m.queues);
  else if (m.type === "assigned") notify("A client is connected.");
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
  } else if (m.type === "call") {
    if (call.state === "idle" && m.data?.ring) callSession = m.session_id;
    if (m.session_id === callSession) call.receive(m);
  } else if (m.type === "error") problem(m.message);
}

function waiting(changed) {
  Object.assign(queues, changed);
  const n = Object.values(queues).reduce((a, b) => a + b, 0);
  $("waiting").textContent = n ? `${n} client${n > 1 ? "s" : ""}` : "nobody";
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
  chat.seen = Date.now();  // when this state was read: the presence countdown counts from it
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
    const status = document.createElement("span"), st = chat.session.status;
    const nothing = st === "paid" && !chat.session.collected;  // settled with nothing due
    status.className = `status ${nothing ? "ended" : st}`;
    status.textContent = nothing ? "nothing to pay" : st.replace("_", " ");
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
  presence(chat);
  for (const name of ["hangup", "abandon"]) {
    if ($(`confirm-${name}`).dataset.session !== s.id) $(`confirm-${name}`).hidden = true;
  }
  if (!open) $("confirm-hangup").hidden = true;
  if (s.status !== "payment_failed") $("confirm-abandon").hidden = true;
  $("meter-start").hidden = !(open && s.agent_may_start && s.meter === "waiting");
  $("meter-pause").hidden = !(open && s.agent_may_pause && ["running", "offline"].includes(s.meter));
  $("meter-resume").hidden = !(open && s.agent_may_pause && s.meter === "paused");
  $("failed").hidden = s.status !== "payment_failed";
  if (s.status === "payment_failed") {
    $("failed-text").textContent = `The charge of ${money(s.due, s.currency)} failed (${(s.failure || "declined").replace(/\.$/, "")}). ` +
      "The client is asked for another card; the charge is retried when they give one.";
  }
  for (const id of ["say", "hangup", "request-box", "call"]) $(id).hidden = !open;
  if (!open && callSession === s.id && call.state !== "idle") call.hangup(false);
  $("ended").hidden = !SETTLED.includes(s.status) && s.status !== "collecting";
  $("ended").textContent = s.status === "collecting" ? "Collecting the payment…"
    : s.status === "abandoned" ? `Ended; ${money(s.abandoned, s.currency)} left unpaid (abandoned debt). Collected ${money(s.collected, s.currency)}.`
    : s.status === "paid" && !s.collected ? `${ended(s)} — nothing to pay.`
    : `${ended(s)}; paid ${money(s.collected, s.currency)}.`;
  for (const el of document.querySelectorAll(".currency")) el.textContent = s.currency;
  if (redraw) {
    $("messages").innerHTML = "";
    chat.messages.forEach(say);
  }
  requests(chat);
}

// Why a chat ended, in words (the receipts' wording, mail/receipts.py END_REASONS).
const END_REASONS = { hangup: "hung up", timeout: "a party was offline too long", payment_failed: "a charge failed" };
const ended = (s) => (END_REASONS[s.end_reason] ? `Ended: ${END_REASONS[s.end_reason]}` : "Ended");

// The client's presence, from the moment the chat is connected (also before the meter
// starts): while they are away, how long, and when the presence timeout ends the chat.
let presenceTimer = null;
function presence(chat) {
  clearInterval(presenceTimer);
  const s = chat.session, el = $("peer"), away = s.status === "open" && s.offline.includes("client");
  const draw = () => {
    el.dataset.online = String(!away);
    if (s.status !== "open") { el.textContent = ""; return; }
    if (!away) { el.textContent = "The client is online."; return; }
    const passed = Math.floor((Date.now() - chat.seen) / 1000);
    const gone = (s.offline_for || 0) + passed, left = Math.max(0, (s.ends_in || 0) - passed);
    const seen = new Date(Date.now() - gone * 1000).toLocaleTimeString();
    el.textContent = `The client is offline${s.meter === "waiting" ? "" : "; the meter is stopped"}. ` +
      `Offline for ${gone} s (last seen ${seen}); the chat ends in ${left} s unless they come back.`;
  };
  draw();
  if (away) presenceTimer = setInterval(draw, 1000);
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

// A step in the page (`confirm-<name>`) that asks before `message` is sent for the chat shown.
function confirmStep(name, text, message) {
  const box = $(`confirm-${name}`), sid = current;
  $(`confirm-${name}-text`).textContent = text;
  box.dataset.session = sid;
  box.hidden = false;
  $(`confirm-${name}-yes`).onclick = () => { box.hidden = true; send({ ...message, session: sid }); };
  $(`confirm-${name}-no`).onclick = () => { box.hidden = true; $(name).focus(); };
  $(`confirm-${name}-no`).focus();
}
$("hangup").onclick = () => {
  const s = chats.get(current).session, charges = meterView.charges ?? s.price;
  const part = s.collected ? ` (${money(s.collected, s.currency)} of it collected already)` : "";
  const text = charges ? `End the chat and charge the client ${money(charges, s.currency)}${part}?`
    : "End the chat? Nothing is due: the client is not charged.";
  confirmStep("hangup", text, { type: "hangup" });
};
$("abandon").onclick = () => {
  const s = chats.get(current).session;
  confirmStep("abandon", `Hang up anyway? The ${money(s.due, s.currency)} the client has not paid ` +
    "is recorded as abandoned debt.", { type: "abandon" });
};
$("say").onsubmit = (e) => {
  e.preventDefault();
  const input = e.target.elements.text;
  if (input.value.trim()) send({ type: "message", session: current, text: input.value });
  input.value = "";
};
// A payment request keeps its lines until the server confirmed it (`done`); its refusal is
// shown by the form, where the agent is looking, and the lines stay to be corrected.
$("request-form").onsubmit = (e) => {
  e.preventDefault();
  const form = e.target, f = new FormData(form), s = chats.get(current).session, button = $("request-send");
  const quantity = Number(String(f.get("quantity")).trim()), price = parseAmount(f.get("unit_price"), s.currency);
  if (price.error) { requestProblem(`Price each: ${price.error}`); return; }
  if (!Number.isInteger(quantity)) {
    requestProblem(`Write a whole quantity and a price like 25.00 ${s.currency}.`);
    return;
  }
  requestProblem("");
  button.disabled = true;
  button.textContent = "Sending…";
  ask({ type: "payment_request", session: current, category: f.get("category"),
    items: [{ description: String(f.get("description")).trim(), quantity, unit_price: price.amount }] }, (answer) => {
    button.disabled = false;
    button.textContent = "Send the request";
    if (answer.type === "error") { requestProblem(answer.message); return; }
    form.reset();
    $("request-box").open = false;
  });
};
function requestProblem(text) {
  const el = $("request-problem");
  el.textContent = text;
  el.hidden = !text;
  if (text) el.focus();
}

live.connect();
