// The client's chat page: contact form (or, with no agent available, a message to get back
// to) → terms → card (a hold) → queue → chat with the live meter → summary with the
// transcript. Speaks docs/realtime.md over /ws/client; keeps the resume token in
// localStorage for this room, so a reload or a second tab rejoins the same chat instead of
// starting another.
import { $, money, clock, problem, requestSummary, MeterView, Live, SETTLED } from "./chat-common.js";
import { Call } from "./chat-call.js";
import { CardForm } from "./card-form.js";

const app = $("app");
const room = app.dataset.room;
const KEY = `fareroom.visit.${room}`;
const steps = ["away", "contact", "terms", "card", "waiting", "elsewhere", "chat", "summary"];
const meterView = new MeterView("meter");
const BRANDS = { visa: "Visa", mastercard: "Mastercard", amex: "American Express", discover: "Discover" };
const cardForm = new CardForm(app);
let session = null, card = null, online = false, sentToken = null;
let leadInstead = false;  // the client left the queue to leave their email
const requests = new Map();  // id → the payment request as last heard
const outbox = [];           // messages not yet confirmed by the server, in order: {ref, text, li}
let refs = 0;
// A message's ref is unique to this page load: the server keeps one message per ref (a resend
// after a reconnect is not stored twice), so a reloaded page must not reuse the last one's.
const PAGE = `${Date.now().toString(36)}${crypto.getRandomValues(new Uint32Array(1))[0].toString(36)}`;

function show(step) {
  for (const s of steps) $(`step-${s}`).hidden = s !== step;
}
const token = () => localStorage.getItem(KEY);
async function call(path, body, method = "POST") {
  const headers = { "Content-Type": "application/json" };
  if (token()) headers["X-Visit-Token"] = token();
  const r = await fetch(path, { method, headers, body: method === "GET" ? undefined : JSON.stringify(body || {}) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = new Error(data.detail || data.message || data.title || "Something went wrong.");
    err.code = data.code;
    throw err;
  }
  return data;
}
function away(message) {
  if (message) $("away-message").textContent = message;
  show("away");
}

// ---------------------------------------------------------------- the socket
const live = new Live("/ws/client", {
  hello: () => { sentToken = token(); return { type: "hello", token: sentToken }; },
  receive,
  onclose: (code) => {
    online = false;
    if (code === 4401) {
      // another tab of this browser may have rotated the token meanwhile: try its one
      if (token() && token() !== sentToken) return true;
      localStorage.removeItem(KEY); connection(true); start(); return false;
    }
    if (code === 4009) { connection(true); show("elsewhere"); return false; }
    return !(session && SETTLED.includes(session.status));
  },
  onlost: () => connection(false),
});
// The banner while the socket is lost: the meter stands at the server's last figures and
// what the client types waits in the outbox.
function connection(ok) {
  $("connection").hidden = ok;
  $("hangup").disabled = !ok;
  if (!ok) meterView.freeze();
}
const send = (message) => live.send(message);
const videoCall = new Call({ self: "client", other: "agent", send: (data) => send({ type: "call", data }),
  otherName: () => "the agent" });
function receive(m) {
  if (m.type === "welcome") {
    localStorage.setItem(KEY, m.token);
    online = true;
    connection(true);
    visit(m.visit);
    flush();
  } else if (m.type === "visit") visit(m.visit, m.reason);
  else if (m.type === "queue") waiting(m);
  else if (m.type === "session") {
    if (m.card) card = m.card;
    if (m.messages) { $("messages").innerHTML = ""; m.messages.forEach(say); outbox.forEach((o) => $("messages").append(o.li)); }
    if (m.requests) { $("requests").innerHTML = ""; requests.clear(); m.requests.forEach(request); }
    render(m.session);
  } else if (m.type === "meter") meterView.show(m);
  else if (m.type === "message") say(m);
  else if (m.type === "call") videoCall.receive(m);
  else if (m.type === "payment_request") request(m.request);
  else if (m.type === "error") {
    const pending = outbox.find((o) => o.ref === m.ref);
    if (pending) notSent(pending, m.message); else problem(m.message);
  }
}
function queueText(position) {
  return position === 1 ? "You are next in line." : `You are number ${position} in the queue.`;
}
// The queue: the place, and while no agent is online, that none is and until when the hold
// stays on the card.
function waiting(q) {
  $("queue").textContent = queueText(q.position);
  $("nobody").hidden = q.agents_online !== false;
  const until = q.release_at ? new Date(q.release_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : null;
  $("nobody-release").textContent = until ? `If nobody comes online by ${until}, we release the hold on your card and you can leave your email then.` : "";
}

// ---------------------------------------------------------------- the visit's steps
function start() {
  if (app.dataset.available === "yes") show("contact"); else away();
}
function visit(v, reason) {
  if (v.status === "terms") { $("terms").textContent = v.terms; show("terms"); }
  else if (v.status === "card") { mountCard("card-fields"); show("card"); }
  else if (v.status === "waiting") { waiting(v); show("waiting"); }
  else if (v.status === "connected") show("chat");
  else if (v.status === "left") {
    localStorage.removeItem(KEY);
    live.close();
    if (reason === "no_agent_online") away("Nobody came online in time, so we released the hold on your card.");
    else if (leadInstead) away("The hold on your card was released.");
    else start();
    leadInstead = false;
  }
}
$("contact").onsubmit = async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  try {
    const data = await call("/chat/api/visits", { room_id: room, name: f.get("name"),
      email: f.get("email"), question: f.get("question") });
    localStorage.setItem(KEY, data.token);
    problem("");
    live.connect();
  } catch (err) {
    if (err.code === "visit_already_open") { problem(""); live.connect(); }
    else if (err.code === "no_agent_available") { problem(""); away(); }
    else problem(err.message);
  }
};
$("lead").onsubmit = async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  try {
    await call(`/chat/api/rooms/${room}/leads`, { name: f.get("name"), email: f.get("email"), message: f.get("message") });
    problem("");
    e.target.hidden = true;
    $("lead-sent").textContent = `Thank you. We'll get back to you at ${f.get("email")}.`;
    $("lead-sent").hidden = false;
  } catch (err) { problem(err.message); }
};
$("accept").onclick = async () => {
  try { visit((await call("/chat/api/visit/terms")).visit); problem(""); }
  catch (err) { problem(err.message); }
};
for (const id of ["leave-terms", "leave-queue"]) $(id).onclick = () => send({ type: "leave" });
$("lead-instead").onclick = () => { if (send({ type: "leave" })) leadInstead = true; };
$("take-over").onclick = () => live.connect();

// ---------------------------------------------------------------- cards
function mountCard(containerId) {
  cardForm.mount(typeof containerId === "string" ? $(containerId) : containerId);
}
function cardToken(form) { return cardForm.token(form); }
async function giveCard(form) {
  const given = await cardToken(form);
  if (form.dataset.purpose === "retry") {
    card = (await call("/chat/api/visit/session-card", { token: given })).card;
    requests.forEach(request);  // the Pay buttons name the new card
    return;
  }
  try { visit((await call("/chat/api/visit/card", { token: given })).visit); }
  catch (err) {
    if (err.code !== "no_agent_available") throw err;
    // nothing was held; this visit cannot be connected, so it is given up
    await call("/chat/api/visit/leave").catch(() => null);
    localStorage.removeItem(KEY);
    live.close();
    away();
  }
}
for (const form of [$("card-form"), $("retry-form")]) {
  form.onsubmit = async (e) => {
    e.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    try { await giveCard(form); problem(""); }
    catch (err) { problem(err.message); }
    button.disabled = false;
  };
}
const cardName = (c) => `${BRANDS[c.brand] || c.brand} •••• ${c.last4}`;

// ---------------------------------------------------------------- the chat
function render(s) {
  session = s;
  show(SETTLED.includes(s.status) ? "summary" : "chat");
  meterView.show({ state: s.meter, seconds: s.seconds, price: s.price, collected: s.collected, currency: s.currency }, s.tariff);
  $("peer").textContent = s.offline.includes("agent") ? "The agent is offline; the meter is stopped." : "";
  $("failed").hidden = s.status !== "payment_failed";
  if (s.status === "payment_failed") {
    $("failed-text").textContent = `We could not charge ${money(s.due, s.currency)}: ${(s.failure || "declined").replace(/\.$/, "")}. Please use another card.`;
    mountCard(document.querySelector("#retry-form .card-fields"));
  }
  const open = s.status === "open";
  $("say").hidden = !open;
  $("hangup").hidden = !open;
  $("call").hidden = !open;
  if (!open) { meterView.stop(); $("hangup-confirm").hidden = true; if (videoCall.state !== "idle") videoCall.hangup(false); }
  if (SETTLED.includes(s.status)) {
    const unpaid = s.abandoned ? ` ${money(s.abandoned, s.currency)} was left unpaid.` : "";
    $("summary").textContent = `You paid ${money(s.collected, s.currency)} for ${clock(s.seconds)} of chat.${unpaid}`;
    summary(s);
  }
}
function line(m) {
  const li = document.createElement("li");
  li.className = m.party;
  li.textContent = m.text;
  return li;
}
function say(m) {
  const pending = m.ref && outbox.find((o) => o.ref === m.ref);
  if (pending) {  // our own message, arrived: no longer waiting
    outbox.splice(outbox.indexOf(pending), 1);
    pending.li.classList.remove("pending");
    pending.li.dataset.id = m.id;
    pending.li.querySelector(".note")?.remove();
    return;
  }
  if (m.id && document.querySelector(`#messages [data-id="${m.id}"]`)) return;
  const li = line(m);
  li.dataset.id = m.id;
  $("messages").append(li);
  li.scrollIntoView({ block: "end" });
}
function note(li, text) {
  let n = li.querySelector(".note");
  if (!n) { n = document.createElement("span"); n.className = "note"; li.append(n); }
  n.textContent = text;
  return n;
}
// A message typed: shown at once, sent now or as soon as the socket is back.
function queue(text) {
  const o = { ref: `m${PAGE}.${++refs}`, text, li: line({ party: "client", text }) };
  o.li.classList.add("pending");
  note(o.li, "not sent yet");
  outbox.push(o);
  $("messages").append(o.li);
  o.li.scrollIntoView({ block: "end" });
  if (online) send({ type: "message", text, ref: o.ref });
}
function flush() {
  for (const o of outbox) send({ type: "message", text: o.text, ref: o.ref });
}
function notSent(o, why) {
  outbox.splice(outbox.indexOf(o), 1);
  o.li.classList.add("failed");
  const n = note(o.li, `not sent: ${why} `);
  const retry = document.createElement("button");
  retry.type = "button";
  retry.className = "link";
  retry.textContent = "Retry";
  retry.onclick = () => { o.li.remove(); queue(o.text); };
  n.append(retry);
}
function request(r) {
  requests.set(r.id, r);
  let box = document.querySelector(`#requests [data-id="${r.id}"]`);
  if (!box) {
    box = document.createElement("div");
    box.className = "card request";
    box.dataset.id = r.id;
    $("requests").append(box);
  }
  box.replaceChildren(requestSummary(r));
  if (r.status === "open") box.append(payButtons(r));
}
// "Pay" names the card it charges and asks once more before it does.
function payButtons(r) {
  const actions = document.createElement("div"), pay = document.createElement("button");
  const what = card ? ` with ${cardName(card)}` : "";
  actions.className = "actions";
  pay.textContent = `Pay ${money(r.total, r.currency)}${what}`;
  pay.onclick = () => {
    const ask = document.createElement("p"), yes = document.createElement("button"), no = document.createElement("button");
    ask.textContent = `Charge ${money(r.total, r.currency)}${card ? ` to ${cardName(card)}` : ""}?`;
    yes.textContent = "Confirm payment";
    no.textContent = "Cancel";
    no.className = "secondary";
    no.onclick = () => actions.replaceWith(payButtons(r));
    yes.onclick = async () => {
      yes.disabled = no.disabled = true;
      try { await call(`/chat/api/visit/requests/${r.id}/pay`); problem(""); }
      catch (err) { problem(err.message); yes.disabled = no.disabled = false; }
    };
    actions.replaceChildren(ask, yes, no);
    yes.focus();
  };
  actions.append(pay);
  return actions;
}
$("say").onsubmit = (e) => {
  e.preventDefault();
  const input = e.target.elements.text;
  if (input.value.trim()) queue(input.value);
  input.value = "";
};
$("hangup").onclick = () => { $("hangup").hidden = true; $("hangup-confirm").hidden = false; $("hangup-no").focus(); };
$("hangup-no").onclick = () => { $("hangup-confirm").hidden = true; $("hangup").hidden = false; };
$("hangup-yes").onclick = () => { if (send({ type: "hangup" })) $("hangup-confirm").hidden = true; };

// ---------------------------------------------------------------- the end screen
function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
}
const at = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
async function summary(s) {
  let data;
  try { data = await call("/chat/api/visit/summary", null, "GET"); }
  catch (err) { problem(err.message); return; }
  const body = $("summary-lines").querySelector("tbody");
  body.innerHTML = "";
  const words = { split: "Chat time (part)", final: "Chat time", retry: "Chat time (another card)" };
  for (const c of data.collections) {
    const row = body.insertRow();
    cell(row, `${words[c.reason] || "Chat time"}, ${at(c.at)}`);
    cell(row, money(c.amount, data.currency), "num");
  }
  for (const r of data.requests) {
    const row = body.insertRow();
    cell(row, `Payment request: ${r.items.map((i) => `${i.quantity} × ${i.description}`).join(", ")}`);
    cell(row, money(r.total, r.currency), "num");
  }
  $("summary-total").textContent = money(data.total_paid, data.currency);
  $("summary-lines").hidden = !body.rows.length;
  const unpaid = s.abandoned ? ` ${money(s.abandoned, s.currency)} was left unpaid.` : "";
  const extra = data.requests.length ? ` and ${data.requests.length} payment request${data.requests.length > 1 ? "s" : ""}` : "";
  $("summary").textContent = `You paid ${money(data.total_paid, data.currency)} for ${clock(s.seconds)} of chat${extra}.${unpaid}`;
  $("transcript").innerHTML = "";
  for (const m of data.messages) {
    const li = document.createElement("li"), when = document.createElement("time");
    li.className = m.party;
    when.dateTime = m.at;
    when.textContent = `${at(m.at)} ${m.party === "client" ? "You" : "Agent"}`;
    li.append(when, document.createTextNode(` ${m.text}`));
    $("transcript").append(li);
  }
}
$("new-chat").onclick = () => {
  localStorage.removeItem(KEY);
  live.close();
  session = card = null;
  outbox.length = 0;
  requests.clear();
  for (const id of ["messages", "requests", "transcript"]) $(id).innerHTML = "";
  $("contact").reset();
  problem("");
  start();
};

if (token()) live.connect(); else start();
