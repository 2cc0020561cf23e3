// The client's chat page: contact form → terms → card (a hold) → queue → chat with the live
// meter → summary. Speaks docs/realtime.md over /ws/client; keeps the resume token in this
// tab's sessionStorage, so a reload rejoins the same chat.
import { $, money, clock, problem, requestSummary, MeterView, Live, SETTLED } from "./chat-common.js";

const app = $("app");
const room = app.dataset.room;
const KEY = `fareroom.visit.${room}`;
const steps = ["contact", "terms", "card", "waiting", "chat", "summary"];
const meterView = new MeterView("meter");
let session = null, stripe = null, cards = {};

function show(step) {
  for (const s of steps) $(`step-${s}`).hidden = s !== step;
}
async function call(path, body) {
  const headers = { "Content-Type": "application/json" };
  const token = sessionStorage.getItem(KEY);
  if (token) headers["X-Visit-Token"] = token;
  const r = await fetch(path, { method: "POST", headers, body: JSON.stringify(body || {}) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.detail || data.message || data.title || "Something went wrong.");
  return data;
}

// ---------------------------------------------------------------- the socket
const live = new Live("/ws/client", {
  hello: () => ({ type: "hello", token: sessionStorage.getItem(KEY) }),
  receive,
  onclose: (code) => {
    if (code === 4401) { sessionStorage.removeItem(KEY); show("contact"); return false; }
    return !(session && SETTLED.includes(session.status));
  },
});
const send = (message) => live.send(message);
function receive(m) {
  if (m.type === "welcome") {
    sessionStorage.setItem(KEY, m.token);
    visit(m.visit);
  } else if (m.type === "visit") visit(m.visit);
  else if (m.type === "queue") $("queue").textContent = queueText(m.position);
  else if (m.type === "session") {
    if (m.messages) { $("messages").innerHTML = ""; m.messages.forEach(say); }
    if (m.requests) { $("requests").innerHTML = ""; m.requests.forEach(request); }
    render(m.session);
  } else if (m.type === "meter") meterView.show(m);
  else if (m.type === "message") say(m);
  else if (m.type === "payment_request") request(m.request);
  else if (m.type === "error") problem(m.message);
}
function queueText(position) {
  return position === 1 ? "You are next in line." : `You are number ${position} in the queue.`;
}

// ---------------------------------------------------------------- the visit's steps
function visit(v) {
  if (v.status === "terms") { $("terms").textContent = v.terms; show("terms"); }
  else if (v.status === "card") { mountCard("card-fields"); show("card"); }
  else if (v.status === "waiting") { $("queue").textContent = queueText(v.position); show("waiting"); }
  else if (v.status === "connected") show("chat");
  else if (v.status === "left") { sessionStorage.removeItem(KEY); live.close(); show("contact"); }
}
$("contact").onsubmit = async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  try {
    const data = await call("/chat/api/visits", { room_id: room, name: f.get("name"),
      email: f.get("email"), question: f.get("question") });
    sessionStorage.setItem(KEY, data.token);
    problem("");
    live.connect();
  } catch (err) { problem(err.message); }
};
$("accept").onclick = async () => {
  try { visit((await call("/chat/api/visit/terms")).visit); problem(""); }
  catch (err) { problem(err.message); }
};
for (const id of ["leave-terms", "leave-queue"]) $(id).onclick = () => send({ type: "leave" });

// ---------------------------------------------------------------- cards
function mountCard(containerId) {
  const box = typeof containerId === "string" ? $(containerId) : containerId;
  if (box.dataset.mounted) return;
  box.dataset.mounted = "1";
  if (app.dataset.gateway === "stripe") {
    stripe = stripe || window.Stripe(app.dataset.stripeKey);
    const element = stripe.elements().create("card");
    element.mount(box);
    cards[box.id || box.className] = element;
    return;
  }
  // The sandbox's card form: the number goes to the sandbox's tokeniser, never to our API.
  box.innerHTML = `
    <label>Card number <input name="number" inputmode="numeric" autocomplete="cc-number" required placeholder="4242 4242 4242 4242"></label>
    <div class="row"><label>Expiry <input name="exp" placeholder="MM/YY" autocomplete="cc-exp" required></label>
    <label>CVC <input name="cvc" inputmode="numeric" autocomplete="cc-csc" maxlength="4"></label></div>
    <p class="muted">Sandbox: use a Stripe test card, e.g. 4242 4242 4242 4242.</p>`;
}
async function cardToken(form) {
  if (app.dataset.gateway === "stripe") {
    const box = form.querySelector("[data-mounted]");
    const { paymentMethod, error } = await stripe.createPaymentMethod({ type: "card",
      card: cards[box.id || box.className] });
    if (error) throw new Error(error.message);
    return paymentMethod.id;
  }
  const f = new FormData(form);
  const [mm, yy] = String(f.get("exp")).split("/").map((x) => parseInt(x, 10));
  const r = await fetch("/sandbox/tokens", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ number: String(f.get("number")).replace(/\s+/g, ""), exp_month: mm || 0,
      exp_year: yy < 100 ? 2000 + yy : yy || 0, cvc: String(f.get("cvc") || "") }) });
  const data = await r.json();
  if (!r.ok) throw new Error(data.detail || data.message || "The card was refused.");
  return data.id;
}
for (const form of [$("card-form"), $("retry-form")]) {
  form.onsubmit = async (e) => {
    e.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const token = await cardToken(form);
      if (form.dataset.purpose === "hold") visit((await call("/chat/api/visit/card", { token })).visit);
      else await call("/chat/api/visit/session-card", { token });
      problem("");
    } catch (err) { problem(err.message); }
    button.disabled = false;
  };
}

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
  if (!open) meterView.stop();
  if (SETTLED.includes(s.status)) {
    const unpaid = s.abandoned ? ` ${money(s.abandoned, s.currency)} was left unpaid.` : "";
    $("summary").textContent = `You paid ${money(s.collected, s.currency)} for ${clock(s.seconds)} of chat.${unpaid}`;
  }
}
function say(m) {
  if (m.id && document.querySelector(`#messages [data-id="${m.id}"]`)) return;
  const li = document.createElement("li");
  li.className = m.party;
  li.dataset.id = m.id;
  li.textContent = m.text;
  $("messages").append(li);
  li.scrollIntoView({ block: "end" });
}
function request(r) {
  let box = document.querySelector(`#requests [data-id="${r.id}"]`);
  if (!box) {
    box = document.createElement("div");
    box.className = "card request";
    box.dataset.id = r.id;
    $("requests").append(box);
  }
  box.replaceChildren(requestSummary(r));
  if (r.status === "open") {
    const pay = document.createElement("button");
    pay.textContent = `Pay ${money(r.total, r.currency)}`;
    pay.onclick = async () => {
      pay.disabled = true;
      try { await call(`/chat/api/visit/requests/${r.id}/pay`); problem(""); }
      catch (err) { problem(err.message); pay.disabled = false; }
    };
    box.append(pay);
  }
}
$("say").onsubmit = (e) => {
  e.preventDefault();
  const input = e.target.elements.text;
  if (input.value.trim()) send({ type: "message", text: input.value });
  input.value = "";
};
$("hangup").onclick = () => send({ type: "hangup" });

if (sessionStorage.getItem(KEY)) live.connect(); else show("contact");
