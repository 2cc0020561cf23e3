// What the client's page and the agent console share: amounts, times, the meter's words,
// and a socket that says hello, keeps its heartbeat and reconnects.
export const $ = (id) => document.getElementById(id);

const EXPONENTS = { JPY: 0, KRW: 0, VND: 0, CLP: 0, ISK: 0, HUF: 2, BHD: 3, KWD: 3, JOD: 3, OMR: 3, TND: 3 };
const exponent = (currency) => EXPONENTS[currency] ?? 2;

// 123456 EUR → "1,234.56 EUR", as the server's pages print it (kit/money.py's Money.format).
export function money(amount, currency) {
  return `${amount < 0 ? "-" : ""}${formatMajor(Math.abs(amount), currency)} ${currency}`;
}
// Amounts people type, read by the same rule as kit/money.py's parse_major (both are tested
// against tests/unit/amount_cases.json): what the app prints ("1,234.56", "1234", "0.5") is
// read exactly; a decimal comma, misplaced commas, extra decimals, exponents, signs, spaces
// and other scripts' digits are refused with the same sentence as the server's.
const AMOUNT = /^(?<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.(?<frac>[0-9]+))?$/;
const DECIMAL_COMMA = /^(?:[0-9]+,[0-9]{1,2}|[0-9]{1,3}(?:\.[0-9]{3})*,[0-9]+)$/;
const EXPONENT = /^[0-9.,]+[eE][+-]?[0-9]*$/;
const EDGES = /^[ \t\r\n]+|[ \t\r\n]+$/g;
const MAX_CHARGE_MINOR = 99_999_999;

// 123456 EUR → "1,234.56" (kit/money.py's format_major).
export function formatMajor(amount, currency) {
  const e = exponent(currency), digits = String(amount).padStart(e + 1, "0");
  const whole = digits.slice(0, digits.length - e).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return e ? `${whole}.${digits.slice(-e)}` : whole;
}

function whyNot(text, example) {
  if (/[^\x00-\x7f]/.test(text)) {
    return /\s/.test(text) ? "Remove the spaces from the amount." : "Write the amount with the digits 0-9 only.";
  }
  if (/[ \t\r\n]/.test(text)) return "Remove the spaces from the amount.";
  if ("+-".includes(text[0])) return "Write the amount without a sign.";
  if (EXPONENT.test(text)) return `Write the amount in plain digits, e.g. ${example}.`;
  if (DECIMAL_COMMA.test(text)) return "Use a dot for decimals, e.g. 1.00 (a comma only separates thousands).";
  if (text.includes(",")) return `Commas go between groups of three digits, e.g. ${example}.`;
  return `Write the amount as a number, e.g. ${example}.`;
}

// "1,234.5" EUR → { amount: 123450 }; what is not an amount → { error: "a sentence" }.
export function parseAmount(text, currency) {
  const e = exponent(currency), example = formatMajor(Math.floor((123456 * 10 ** e) / 100), currency);
  const t = String(text ?? "").replace(EDGES, "");
  if (!t) return { error: "Fill in the amount." };
  const m = t.match(AMOUNT);
  if (!m) return { error: whyNot(t.slice(0, 40), example) };
  const whole = m.groups.whole.replaceAll(",", "").replace(/^0+/, ""), frac = m.groups.frac || "";
  if (frac.length > e) {
    return { error: `${currency} amounts have ${e ? `${e} decimal places` : "no decimals"}, e.g. ${example}.` };
  }
  const amount = whole.length > 15 ? Infinity : Number(whole || "0") * 10 ** e + Number(frac.padEnd(e, "0") || "0");
  if (amount > MAX_CHARGE_MINOR) return { error: `The amount may be at most ${formatMajor(MAX_CHARGE_MINOR, currency)} ${currency}.` };
  return { amount };
}
export function clock(seconds) {
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? h + ":" : ""}${mm}:${String(s).padStart(2, "0")}`;
}
export const METER_WORDS = { running: "running", paused: "paused", waiting: "waiting for the agent",
  offline: "stopped (offline)", ended: "stopped" };
export const SETTLED = ["paid", "abandoned"];

// The price of `t` chargeable seconds (docs/design.md §5; the same as pricing/tariff.py), so the page
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
    this.last = m;
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
  // Back to the server's last figures, not counting on (the page lost its connection).
  freeze() {
    this.stop();
    if (!this.last) return;
    this.el("state").textContent = "not updated (reconnecting)";
    this.el("state").dataset.state = "offline";
    this.seconds = this.last.seconds;
    this.el("time").textContent = clock(this.seconds);
    this.el("price").textContent = money(this.last.price, this.last.currency);
  }
}

// A socket to `path`: `hello()` gives the first frame; `receive(m)` gets every frame; after
// a `welcome` it pings every `heartbeat` seconds; it reconnects unless `onclose(code)` says no.
// A socket can die without closing (a network gone quiet): when nothing was heard for a
// heartbeat, the ping asks for a `pong`; nothing heard for 2.5 heartbeats (or no welcome as
// long after opening), the socket is given up as lost. `onlost()` is told whenever the page
// loses its socket and will reconnect.
export class Live {
  constructor(path, { hello, receive, onclose, onlost }) {
    Object.assign(this, { path, hello, receive, onclose, onlost, ws: null, retry: 500, heard: 0,
      every: 10_000, stopped: false });
    // The browser knows at once when its network goes, and comes back: no need to wait for
    // the heartbeats to go unanswered, or for the back-off, then.
    addEventListener("offline", () => { if (this.ws && !this.stopped) this.drop(this.ws); });
    addEventListener("online", () => {
      if (this.ws && !this.stopped && this.ws.readyState !== WebSocket.CONNECTING && !this.open) {
        this.retry = 500;
        this.connect();
      }
    });
  }
  connect() {
    this.stopped = false;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = this.ws = new WebSocket(`${scheme}://${location.host}${this.path}`);
    let welcomed = false;
    const watch = () => {  // each socket its own beat, stopped when it closes
      clearInterval(ws.beat);
      ws.beat = setInterval(() => this.check(ws, welcomed), this.every);
    };
    ws.onopen = () => { this.heard = Date.now(); ws.send(JSON.stringify(this.hello())); watch(); };
    ws.onmessage = (e) => {
      this.heard = Date.now();
      const m = JSON.parse(e.data);
      if (m.type === "welcome") {
        this.retry = 500;
        this.every = m.heartbeat * 1000;
        welcomed = true;
        watch();
      }
      if (m.type !== "pong") this.receive(m);
    };
    ws.onclose = (e) => this.closed(ws, e.code);
  }
  check(ws, welcomed) {
    const quiet = Date.now() - this.heard;
    if (quiet > 2.5 * this.every) {
      this.drop(ws);
    } else if (welcomed && ws === this.ws) {
      this.send(quiet >= this.every ? { type: "ping", reply: true } : { type: "ping" });
    }
  }
  drop(ws) {
    ws.onclose = ws.onmessage = null;  // its close handshake may never come
    ws.close();
    this.closed(ws, 1006);
  }
  closed(ws, code) {
    clearInterval(ws.beat);
    if (this.ws !== ws) return;
    if (this.onclose(code) === false) { this.stopped = true; return; }
    if (this.onlost) this.onlost();
    setTimeout(() => { if (this.ws === ws) this.connect(); }, this.retry);
    this.retry = Math.min(this.retry * 2, 5000);
  }
  get open() { return !!this.ws && this.ws.readyState === WebSocket.OPEN; }
  send(message) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }
  close() { const ws = this.ws; this.ws = null; if (ws) { clearInterval(ws.beat); ws.close(); } }
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
