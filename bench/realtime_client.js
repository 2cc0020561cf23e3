// Load client for bench/realtime.py: opens Fareroom's client or agent sockets (docs/realtime.md)
// on loopback only, says hello with the credentials in CREDENTIALS (one per line), pings
// every HB seconds (random phase), and counts meter updates and their lateness (arrival − t).
// Prints "ready <welcomed> <failed> <seconds>" once every socket was answered, "counting"
// SETTLE seconds later (when the server has finished the work each hello started), then after
// WINDOW seconds one JSON line with the counts; it exits (the sockets close with it) when its
// stdin closes.
//
//   node realtime_client.js ws://127.0.0.1:PORT client|agent CREDENTIALS HB SETTLE WINDOW
const fs = require("fs");
const WebSocket = require("ws");
const [URL, ROLE, FILE, HB, SETTLE, WINDOW] = [process.argv[2], process.argv[3], process.argv[4], +process.argv[5], +process.argv[6], +process.argv[7]];
if (!/^ws:\/\/127\.0\.0\.1:\d+$/.test(URL)) throw new Error("loopback only");
const creds = fs.readFileSync(FILE, "utf8").split("\n").filter(Boolean);
let welcomed = 0, failed = 0, closed = 0, updates = 0, counting = false, errors = {};
const lateness = [];

function open(cred) {
  const headers = ROLE === "agent" ? { Cookie: `fareroom_session=${cred}` } : {};
  const ws = new WebSocket(`${URL}/ws/${ROLE}`, { headers, perMessageDeflate: false });
  let answered = false;
  const answer = (ok) => { if (!answered) { answered = true; if (ok) welcomed++; else failed++; } };
  ws.on("open", () => ws.send(JSON.stringify(ROLE === "agent" ? { type: "hello" } : { type: "hello", token: cred })));
  ws.on("message", (data) => {
    const text = data.toString();
    if (text.startsWith('{"type":"meter"')) {
      if (counting) {
        updates++;
        lateness.push(Date.now() / 1000 - JSON.parse(text).t);
      }
      return;
    }
    const m = JSON.parse(text);
    if (m.type === "welcome") {
      answer(true);
      setTimeout(function beat() {
        if (ws.readyState === WebSocket.OPEN) { ws.send('{"type":"ping"}'); setTimeout(beat, HB * 1000); }
      }, Math.random() * HB * 1000);
    } else if (m.type === "error") errors[m.code] = (errors[m.code] || 0) + 1;
  });
  ws.on("close", () => { closed++; answer(false); });
  ws.on("error", () => {});
}

// open in batches, each only after most of the previous one was answered (bounded backlog)
let next = 0;
const started = Date.now();
(function batch() {
  const inFlight = next - welcomed - failed;
  for (let k = 0; k < 200 && next < creds.length && inFlight + k < 400; k++) open(creds[next++]);
  if (welcomed + failed < creds.length && Date.now() - started < 900_000) { setTimeout(batch, 20); return; }
  console.log(`ready ${welcomed} ${failed} ${((Date.now() - started) / 1000).toFixed(1)}`);
  setTimeout(() => { counting = true; console.log("counting"); }, SETTLE * 1000);
  setTimeout(() => {
    lateness.sort((a, b) => a - b);
    const q = (p) => lateness.length ? +(1000 * lateness[Math.min(lateness.length - 1, Math.floor(p * lateness.length))]).toFixed(1) : null;
    console.log(JSON.stringify({ role: ROLE, welcomed, failed, closed, updates, p50_ms: q(0.5), p99_ms: q(0.99), max_ms: q(1), errors }));
    // The sockets stay open until the bench closes our stdin (it reads the server's CPU first:
    // a client that exits now would close thousands of sockets inside the other's window).
    process.stdin.on("end", () => process.exit(0));
    process.stdin.resume();
    setTimeout(() => process.exit(0), 300_000);
  }, (SETTLE + WINDOW) * 1000);
})();
