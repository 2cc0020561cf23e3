// What the client's page and the agent console share: amounts, times, the meter's words,
// and a socket that says hello, keeps its heartbeat and reconnects.
export const $ = (id) => document.getElementById(id);

const EXPONENTS = { JPY: 0, KRW: 0, VND: 0, CLP: 0, ISK: 0, HUF: 2, BHD: 3, KWD: 3, JOD: 3, OMR: 3, TND: 3 };
const exponent = (currency) => EXPONENTS[currency] ?? 2;

export function money(amount, currency) {
  const e = exponent(currency);
  return `${(amount / 10 ** e).toFixed(e)} ${currency}`;
}
// "12.5" → 1250 (for a currency with 2 decimals); null when it is not an amount.
export function minor(text, currency) {
  const e = exponent(currency), m = String(text).trim().replace(",", ".").match(/^(\d+)(?:\.(\d*))?$/);
  if (!m || (m[2] || "").length > e) return null;
  return parseInt(m[1], 10) * 10 ** e + parseInt(((m[2] || "") + "000").slice(0, e) || "0", 10);
}
export function clock(seconds) {
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? h + ":" : ""}${mm}:${String(s).padStart(2, "0")}`;
}
export const METER_WORDS = { running: "running", paused: "paused", waiting: "waiting for the agent",
  offline: "stopped (offline)", ended: "stopped" };
export const SETTLED = ["paid", "abandoned"];

// The price of `t` chargeable seconds (DESIGN §5; the same as pricing/tariff.py), so the page
// can show the charges between the server's updates; the server's figures replace it.
export function price(t, tariff) {
  const b = t - 60 * tariff.free_minutes, block = 60 * tariff.block_minutes;
  if (t <= 0 || b <= 0) return 0;
  if (b <= block) return tariff.block_price;
  const increments = Math.ceil((b - block) / tariff.increment_seconds);
  const num = increments * tariff.increment_seconds * tariff.block_price;
  return tariff.block_price + Math.floor((2 * num + block) / (2 * block));  // half up
}

// The meter's figures in elements named prefix-state, -time, -price, -paid; between the
// server's updates the page counts the seconds (and the charges) itself while it runs.
export class MeterView {
  constructor(prefix) { this.prefix = prefix; this.timer = null; this.seconds = 0; this.tariff = null; this.charges = null; }
  el(name) { return $(`${this.prefix}-${name}`); }
  show(m, tariff) {
    if (tariff) this.tariff = tariff;
    this.el("state").textContent = METER_WORDS[m.state] || m.state;
    this.el("state").dataset.state = m.state;
    this.el("paid").textContent = money(m.collected, m.currency);
    this.seconds = m.seconds;
    this.stop();
    const draw = (charges) => {
      this.charges = charges;  // what the page shows now (the console's hang-up names it)
      this.el("time").textContent = clock(this.seconds);
      this.el("price").textContent = money(charges, m.currency);
    };
    draw(m.price);
    if (m.state === "running") {
      this.timer = setInterval(() => {
        this.seconds += 1;
        draw(this.tariff ? Math.max(m.price, price(this.seconds, this.tariff)) : m.price);
      }, 1000);
    }
  }
  stop() { clearInterval(this.timer); this.timer = null; }
}

// A socket to `path`: `hello()` gives the first frame; `receive(m)` gets every frame; after
// a `welcome` it pings every `heartbeat` seconds; it reconnects unless `onclose(code)` says no.
export class Live {
  constructor(path, { hello, receive, onclose }) {
    Object.assign(this, { path, hello, receive, onclose, ws: null, beat: null, retry: 500 });
  }
  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = this.ws = new WebSocket(`${scheme}://${location.host}${this.path}`);
    ws.onopen = () => ws.send(JSON.stringify(this.hello()));
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === "welcome") {
        this.retry = 500;
        clearInterval(this.beat);
        this.beat = setInterval(() => this.send({ type: "ping" }), m.heartbeat * 1000);
      }
      this.receive(m);
    };
    ws.onclose = (e) => {
      clearInterval(this.beat);
      if (this.ws !== ws || this.onclose(e.code) === false) return;
      setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 5000);
    };
  }
  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }
  close() { const ws = this.ws; this.ws = null; if (ws) ws.close(); }
}

// A payment request's line, built from text nodes (what an agent typed is never HTML).
export function requestSummary(r) {
  const p = document.createElement("p"), strong = document.createElement("strong"), status = document.createElement("span");
  strong.textContent = "Payment request";
  const lines = r.items.map((i) => `${i.quantity} × ${i.description}`).join(", ");
  status.className = `status ${r.status}`;
  status.textContent = r.status;
  p.append(strong, ` (${r.category}): ${lines} — ${money(r.total, r.currency)} `, status);
  return p;
}

export function problem(text) {
  $("problem").textContent = text || "";
  $("problem").hidden = !text;
}
