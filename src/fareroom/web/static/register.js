// A paid meeting's registration page (docs/paid-meetings.md): pick the meetings, name,
// email, card, terms → one call registers (the seats are taken first) and pays; the answer
// is the confirmation with the codes. The registration's id and token are kept in this
// tab's session storage, so a reload shows the same registration (paid: its confirmation;
// pending after a refused card: the form again, which then pays that registration) and a
// double click pays once (the server's idempotency, and the button is disabled meanwhile).
import { $, money } from "./chat-common.js";
import { CardForm } from "./card-form.js";

const app = $("register-app");
const code = app.dataset.code, room = app.dataset.room;
const price = Number(app.dataset.price), currency = app.dataset.currency;
const perOccurrence = app.dataset.pricing === "per_occurrence";
const KEY = `fareroom.registration.${code}`;
const REQUEST = `fareroom.registration-request.${code}`;  // this registration's own secret
const API = `/api/v1/register/${code}`;
const cards = new CardForm(app);
const form = $("register-form");
let mine = JSON.parse(sessionStorage.getItem(KEY) || "null");  // {id, token}

function chosen() {
  return [...form.querySelectorAll("input[name=occurrence]:checked")].map((i) => i.value);
}

function total() {
  const n = perOccurrence ? chosen().length : 1;
  $("reg-total").textContent = money(price * n, currency);
}

function error(text) {
  $("reg-error").textContent = text || "";
  $("reg-error").hidden = !text;
}

async function call(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (mine) headers["X-Registration-Token"] = mine.token;
  const r = await fetch(`${API}${path}`, { method: body === undefined ? "GET" : "POST", headers,
    body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(data.detail || "Something went wrong; try again."), data, { status: r.status });
  return data;
}

// The page's own secret for this registration, made (and kept) before it is first sent: if
// the answer is lost, sending it again finds the same registration instead of another.
function requestKey() {
  let key = sessionStorage.getItem(REQUEST);
  if (!key) {
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    key = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    sessionStorage.setItem(REQUEST, key);
  }
  return key;
}

function forget() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(REQUEST);
  mine = null;
  for (const input of form.querySelectorAll("input[name=occurrence]")) {
    input.disabled = input.closest(".occurrence").classList.contains("closed");
  }
}

function when(occurrenceId) {
  const li = form.querySelector(`.occurrence[data-id="${occurrenceId}"] time`);
  return li ? li.textContent : "";
}

function confirmation(reg) {
  form.hidden = true;
  $("confirmation").hidden = false;
  $("conf-status").textContent = reg.status === "held"
    ? `${money(reg.amount, reg.currency)} is held on your card; it is charged only if you do not come.`
    : `You paid ${money(reg.amount, reg.currency)}.`;
  const list = $("conf-codes");
  list.replaceChildren(...reg.codes.filter((c) => !c.revoked).map((c) => {
    const li = document.createElement("li");
    const what = c.occurrence_id ? when(c.occurrence_id) : "every meeting of the series";
    const strong = Object.assign(document.createElement("strong"), { className: "code", textContent: c.display });
    const join = Object.assign(document.createElement("a"), { href: `/m/${room}?code=${c.code}`,
      textContent: "Join meeting" });
    li.append(`${what}: `, strong, " · ", join);
    return li;
  }));
  const q = `registration=${reg.id}&token=${encodeURIComponent(mine.token)}`;
  $("conf-calendar").href = `/r/${code}/registrations/${reg.id}/calendar.ics?token=${encodeURIComponent(mine.token)}`;
  $("conf-cancel").href = `/r/${code}/cancel?${q}`;
  $("conf-email").textContent = reg.email;
}

function keep(reg, token) {
  mine = { id: reg.id, token: token || mine?.token };
  sessionStorage.setItem(KEY, JSON.stringify(mine));
}

async function submit(event) {
  event.preventDefault();
  error("");
  if (!form.reportValidity()) return;
  if (perOccurrence && !chosen().length) { error("Pick at least one meeting."); return; }
  $("reg-pay").disabled = true;
  try {
    const token = await cards.token(form);
    const reg = mine
      ? await call(`/registrations/${mine.id}/pay`, { card_token: token })
      : await call("/registrations", { name: $("reg-name").value.trim(), email: $("reg-email").value.trim(),
        occurrences: chosen(), terms: $("reg-terms").checked, card_token: token, request_key: requestKey() });
    keep(reg, reg.token);
    confirmation(reg);
  } catch (err) {
    if (err.registration) {  // pending: paying again pays it, for the meetings it has
      keep(err.registration, err.registration.token);
      for (const input of form.querySelectorAll("input[name=occurrence]")) input.disabled = true;
    }
    const refused = err.status === 402;
    // a registration that cannot be paid any more: the next try starts a new one
    if (["registration_expired", "registration_cancelled", "sold_out"].includes(err.code) && mine) forget();
    error(refused ? `${err.message} Your seat is not kept: try another card.` : err.message);
  } finally {
    $("reg-pay").disabled = false;
  }
}

async function resume() {
  if (!mine) return;
  try {
    const reg = await call(`/registrations/${mine.id}`);
    if (["paid", "held", "partly_refunded"].includes(reg.status)) { confirmation(reg); return; }
    if (reg.status !== "pending") { forget(); return; }
    $("reg-name").value = reg.name;
    $("reg-email").value = reg.email;
    for (const input of form.querySelectorAll("input[name=occurrence]")) {
      input.checked = reg.items.some((i) => i.occurrence_id === input.value);
      input.disabled = true;  // this registration's meetings: paying it pays those
    }
    total();
    if (reg.failure) error(`${reg.failure} Try another card.`);
  } catch (err) {
    // gone, or not ours: start afresh; anything else (a 429, the server away) keeps it
    if (err.status === 404 || err.status === 403) forget();
  }
}

cards.mount($("card-box"));
form.addEventListener("change", total);
form.addEventListener("submit", submit);
total();
resume();
