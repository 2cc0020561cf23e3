// The media harness page (tests only): one participant of a meeting, wired to the harness's
// relay as a meeting page is to /ws/meeting, using the real modules of /static. The URL says
// who: ?room=r&id=ada, `#key=<base64url>` for E2EE (as a meeting link carries it), `&nokey=1`
// for a page in an encrypted meeting without its key, `&w=&h=&fps=` for the camera. Playwright drives it through
// `window.harness` and the buttons.
import { Mesh } from "/static/meeting-media.js";
import { MediaE2ee, decryptText, encryptText, keyFromFragment, newKey } from "/static/meeting-e2ee.js";
import { Recorder } from "/static/meeting-recorder.js";
import { meshStats } from "/static/meeting-stats.js";

const $ = (id) => document.getElementById(id);
const q = new URLSearchParams(location.search);
const me = q.get("id"), room = q.get("room") ?? "r";
const key = keyFromFragment();
const sent = [];   // the frames this page sent but signals: media, share, recording
const tiles = new Map();
let mesh = null, recorder = null, canvasTimer = null, shown = "", socket = null;
let ready;
const started = new Promise((resolve) => { ready = resolve; });

const debug = q.has("debug") ? (...args) => console.log(...args) : () => {};
const what = (d) => (d.sdp ? d.sdp.type : `candidate ${d.candidate.candidate.split(" ").slice(4, 8).join(" ")}`);

function send(frame) {
  if (frame.type === "signal") {
    debug("send", frame.to, what(frame.data), mesh.pc(frame.to)?.signalingState);
    const size = JSON.stringify(frame.data).length;
    window.harness.largestSignal = Math.max(window.harness.largestSignal, size);
  } else {
    sent.push(frame);
  }
  socket.send(JSON.stringify(frame));
}

function tile(peer, stream, source) {
  const id = `${peer}:${stream.id}`;
  if (tiles.has(id)) return;
  const fig = Object.assign(document.createElement("figure"), { className: source });
  const video = Object.assign(document.createElement("video"), { autoplay: true, playsInline: true, srcObject: stream });
  video.muted = peer === me;  // our own tile is silent; others are heard
  fig.dataset.peer = peer;
  fig.dataset.source = source;
  fig.append(video, Object.assign(document.createElement("figcaption"), { textContent: `${peer} · ${source}` }));
  $("tiles").append(fig);
  tiles.set(id, { fig, stream });
  video.play().catch(() => {});
  recorder?.add(stream);
}

function drop(peer) {
  for (const [id, t] of tiles) {
    if (id.startsWith(`${peer}:`)) { t.fig.remove(); tiles.delete(id); recorder?.remove(t.stream); }
  }
}

// The "screen" a headless browser shares: a canvas redrawn 15 times a second with a counter
// and whatever `show(text)` put there.
function screenSource() {
  const canvas = $("screen"), g = canvas.getContext("2d");
  let n = 0;
  const draw = () => {
    n += 1;
    g.fillStyle = shown === "SECRET" ? "#7a0019" : "#0b3d91";
    g.fillRect(0, 0, canvas.width, canvas.height);
    g.fillStyle = "#fff";
    g.font = "bold 56px sans-serif";
    g.fillText(shown || `${me}'s screen`, 30, 120);
    g.font = "40px monospace";
    g.fillText(`frame ${n}`, 30, 220);
  };
  draw();
  canvasTimer = setInterval(draw, 1000 / 15);
  $("screen-source").hidden = false;
  return canvas.captureStream(15);
}

function status() {
  const states = [...(mesh?.peers.values() ?? [])].map((p) => `${p.id}: ${p.pc.connectionState}`);
  $("status").textContent = `${key ? "E2EE on" : "E2EE off"} · ${states.join(", ") || "alone"}`;
}

async function start() {
  $("me").textContent = me;
  const camera = (name, dflt) => Number(q.get(name) ?? dflt);  // ?w=640&h=480&fps=30
  // ?media=none: a page with no camera and no mic (refused, or none there), as meeting.js has
  const stream = q.get("media") === "none" ? new MediaStream()
    : await navigator.mediaDevices.getUserMedia({ audio: true,
      video: { width: camera("w", 320), height: camera("h", 240), frameRate: camera("fps", 15) } });
  tile(me, stream, "camera");
  const e2ee = key || q.get("nokey") ? new MediaE2ee(key || null) : null;
  await e2ee?.ready;
  socket = new WebSocket(`${location.origin.replace(/^http/, "ws")}/ws?room=${room}&id=${me}`);
  socket.onmessage = ({ data }) => {
    const f = JSON.parse(data);
    if (f.type === "welcome") {
      mesh = new Mesh({ self: me, stream, iceServers: f.ice_servers, e2ee,
        signal: (to, d) => send({ type: "signal", to, data: d }) });
      mesh.addEventListener("track", ({ detail: d }) => tile(d.peer, d.stream, d.source));
      mesh.addEventListener("state", status);
      mesh.addEventListener("closed", ({ detail: d }) => { drop(d.peer); status(); });
      mesh.addEventListener("media", ({ detail: d }) => send({ type: "media", ...d }));
      mesh.addEventListener("share", ({ detail: d }) => send({ type: "share", state: d.state }));
      window.harness.mesh = mesh;
      ready();
    } else if (f.type === "roster") {
      for (const p of f.participants) mesh.connect(p.id);
    } else if (f.type === "joined") {
      mesh.connect(f.participant.id);
    } else if (f.type === "left") {
      mesh.close(f.participant);
    } else if (f.type === "signal") {
      debug("recv", f.from, what(f.data), mesh.pc(f.from)?.signalingState);
      mesh.receive(f.from, f.data);
    }
    status();
  };
}

function toggle(button, kind) {
  const on = !mesh.media()[kind];
  mesh.setMedia({ [kind]: on });
  button.setAttribute("aria-pressed", String(on));
  button.textContent = `${kind === "audio" ? "Mic" : "Camera"} ${on ? "on" : "off"}`;
}

async function share() {
  if (mesh.screen) {
    mesh.stopShare();
    clearInterval(canvasTimer);
    $("share").textContent = "Share screen";
    $("pause").disabled = true;
    return;
  }
  await mesh.shareScreen({ source: screenSource() });
  $("share").textContent = "Stop sharing";
  $("pause").disabled = false;
}

async function pause() {
  const paused = !mesh.screen.paused;
  await mesh.setPaused(paused);
  $("pause").textContent = paused ? "Resume share" : "Pause share";
}

async function record() {
  if (recorder?.recording) {
    const blob = await recorder.stopAndSave(`meeting-${room}-${me}.webm`);
    recorder.close();
    recorder = null;
    $("record").textContent = "Record";
    window.harness.saved = blob.size;
    send({ type: "recording", on: false });
    return;
  }
  recorder = new Recorder({ width: 640, height: 360 });
  recorder.start([...tiles.values()].map((t) => t.stream));
  $("record").textContent = "Stop and save";
  send({ type: "recording", on: true });
}

$("mic").addEventListener("click", (e) => toggle(e.currentTarget, "audio"));
$("cam").addEventListener("click", (e) => toggle(e.currentTarget, "video"));
$("share").addEventListener("click", share);
$("pause").addEventListener("click", pause);
$("record").addEventListener("click", record);

window.harness = {
  started, sent, mesh: null, saved: null, largestSignal: 0,
  stats: () => meshStats(mesh),
  show: (text) => { shown = text; },
  silence: (peer, on = true) => mesh.silence(peer, on),
  leave: () => { mesh.closeAll(); socket.close(); },
  newKey, encryptText, decryptText,
};
start().catch((err) => { $("status").textContent = `Failed: ${err}`; throw err; });
