// Load client for bench/realtime.py, for Fareroom's sockets (docs/realtime.md) and for the
// Node peer's, on loopback only. ROLE "client" or "agent": Fareroom's /ws/client or /ws/agent,
// a hello with the credentials in CREDENTIALS (one per line), '{"type":"ping"}' heartbeats.
// ROLE "peer": the peer's /<line> for each line, 'hb' heartbeats. Heartbeats every HB s
// (random phase). Every meter update's tick stamp ``t`` and arrival are kept.
//
// Prints "ready <welcomed> <failed> <seconds>" once every socket was answered, then
// "tick <t>" for each new tick (its first stamp: a stamp more than TICK/2 after the last
// tick's first). On stdin, "report W0 W1" prints one JSON line for the updates stamped in
// [W0, W1): their count, the ticks they came from, and their lateness — arrival minus
// the first stamp of their tick, the same point on both servers (Fareroom stamps a batch
// when it reads it, the peer each message as it sends it). W0 and W1 are chosen half a
// tick from any tick, so a tick's updates are all in or all out. The process exits (its
// sockets close with it) when its stdin closes.
//
//   node realtime_client.js ws://127.0.0.1:PORT client|agent|peer CREDENTIALS HB TICK
const fs = require("fs");
const readline = require("readline");
const WebSocket = require("ws");
const [URL, ROLE, FILE, HB, TICK] = [process.argv[2], process.argv[3], process.argv[4], +process.argv[5], +process.argv[6]];
if (!/^ws:\/\/127\.0\.0\.1:\d+$/.test(URL)) throw new Error("loopback only");
const PEER = ROLE === "peer";
const creds = fs.readFileSync(FILE, "utf8").split("\n").filter(Boolean);
let welcomed = 0, failed = 0, closed = 0, ready = false, lastTick = -Infinity, errors = {};
const stamps = [], arrivals = [];

function update(text) {
  const t = JSON.parse(text).t;
  stamps.push(t);
  arrivals.push(Date.now() / 1000);
  if (ready && t > lastTick + TICK / 2) {
    lastTick = t;
    console.log(`tick ${t}`);
  }
}

function open(cred) {
  const headers = ROLE === "agent" ? { Cookie: `fareroom_session=${cred}` } : {};
  const ws = new WebSocket(PEER ? `${URL}/${cred}` : `${URL}/ws/${ROLE}`, { headers, perMessageDeflate: false });
  let answered = false;
  const beat = () => {
    setTimeout(function again() {
      if (ws.readyState === WebSocket.OPEN) { ws.send(PEER ? "hb" : '{"type":"ping"}'); setTimeout(again, HB * 1000); }
    }, Math.random() * HB * 1000);
  };
  const answer = (ok) => {
    if (answered) return;
    answered = true;
    if (ok) { welcomed++; beat(); } else failed++;
  };
  ws.on("open", () => {
    if (PEER) answer(true);
    else ws.send(JSON.stringify(ROLE === "agent" ? { type: "hello" } : { type: "hello", token: cred }));
  });
  ws.on("message", (data) => {
    const text = data.toString();
    if (PEER || text.startsWith('{"type":"meter"')) return update(text);
    const m = JSON.parse(text);
    if (m.type === "welcome") answer(true);
    else if (m.type === "error") errors[m.code] = (errors[m.code] || 0) + 1;
  });
  ws.on("close", () => { closed++; answer(false); });
  ws.on("error", () => {});
}

function report(w0, w1) {
  const first = new Map(); // tick index → its first stamp
  const picked = [];
  for (let i = 0; i < stamps.length; i++) {
    const t = stamps[i];
    if (t < w0 || t >= w1) continue;
    const k = Math.floor((t - w0) / TICK);
    if (!(first.get(k) <= t)) first.set(k, t);
    picked.push(i);
  }
  const lateness = picked.map((i) => arrivals[i] - first.get(Math.floor((stamps[i] - w0) / TICK)));
  lateness.sort((a, b) => a - b);
  const q = (p) => lateness.length ? +(1000 * lateness[Math.min(lateness.length - 1, Math.floor(p * lateness.length))]).toFixed(1) : null;
  console.log(JSON.stringify({ role: ROLE, welcomed, failed, closed, updates: picked.length, ticks: first.size,
    p50_ms: q(0.5), p99_ms: q(0.99), max_ms: q(1), errors }));
}

readline.createInterface({ input: process.stdin })
  .on("line", (line) => { const [cmd, w0, w1] = line.split(" "); if (cmd === "report") report(+w0, +w1); })
  .on("close", () => process.exit(0));
setTimeout(() => process.exit(0), 1_800_000);

// open in batches, each only after most of the previous one was answered (bounded backlog)
let next = 0;
const started = Date.now();
(function batch() {
  const inFlight = next - welcomed - failed;
  for (let k = 0; k < 200 && next < creds.length && inFlight + k < 400; k++) open(creds[next++]);
  if (welcomed + failed < creds.length && Date.now() - started < 900_000) { setTimeout(batch, 20); return; }
  ready = true;
  console.log(`ready ${welcomed} ${failed} ${((Date.now() - started) / 1000).toFixed(1)}`);
})();
