// A room's start page and, once joined, its meeting (docs/meetings.md). The start form asks
// for a ticket (POST /m/<code>/join); the page then speaks /ws/meeting (chat-common.js's Live:
// hello, heartbeats, reconnecting with the welcome's `rejoin` ticket) and runs the media mesh
// (meeting-media.js). The server decides everything; the page shows what it is told and obeys
// it (a host's mute, a removal, the end).
//
// Encrypted meetings: the key is the link's fragment (#key=…), which no server sees. A host
// who opens their encrypted room without one makes it (and keeps it for the room in this
// browser); the invite menu's links carry it. Without the key a page joins but decodes nothing.
import { $, Live } from "./chat-common.js";
import { Mesh } from "./meeting-media.js";
import { MediaE2ee, decryptText, encryptText, keyFromFragment, newKey, supported } from "./meeting-e2ee.js";
import { Recorder } from "./meeting-recorder.js";
import { meshStats } from "./meeting-stats.js";

const app = $("meeting-app");
const code = app.dataset.code;
const encrypted = app.dataset.encrypted === "true";
const isHost = app.dataset.host === "true";
const params = new URLSearchParams(location.search);
const FINAL = { 4403: "removed", 4410: "ended", 4401: "refused", 4423: "locked", 4429: "full", 4409: "replaced" };
const GONE = {
  removed: ["You were removed", "A host removed you from this meeting. You cannot join it again."],
  ended: ["The meeting has ended", "The host ended this meeting for everyone."],
  left: ["You left the meeting", "You can close this page, or join again from the start page."],
  refused: ["You could not join", "Your entry to this meeting was refused. Open its link again."],
  locked: ["The meeting is locked", "The host has locked this meeting: no one new may join."],
  full: ["The meeting is full", "This meeting has no room for another participant."],
  replaced: ["Opened elsewhere", "This meeting is open in another tab or window of this browser."],
};

const state = { ticket: null, me: null, room: null, people: new Map(), tiles: new Map(), key: null,
  mesh: null, live: null, stream: null, recorder: null, mayRecord: false, requests: new Map(),
  asked: { audio: false, video: false, share: false }, sharePausedByHost: false };

// ------------------------------------------------------------------ the key

function meetingKey() {
  if (!encrypted) return null;
  let key = keyFromFragment();
  const stored = `fareroom-meeting-key:${code}`;
  if (!key && isHost) key = localStorage.getItem(stored) || newKey();
  if (key && isHost) localStorage.setItem(stored, key);
  if (key && !keyFromFragment()) history.replaceState(null, "", `${location.pathname}${location.search}#key=${key}`);
  return key;
}

function link() {
  const base = `${location.origin}/m/${code}`;
  return state.key ? `${base}#key=${state.key}` : base;
}

// ------------------------------------------------------------------ joining

async function askTicket() {
  const body = {};
  const name = $("join-name"), password = $("join-password"), meetingCode = $("join-code");
  if (name) body.name = name.value.trim();
  if (password) body.password = password.value;
  if (meetingCode) body.code = meetingCode.value.trim();
  if (params.get("invite")) body.invite = params.get("invite");
  const r = await fetch(`/m/${code}/join`, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body), credentials: "same-origin" });
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(answer.detail || "Joining failed; try again."), { code: answer.code });
  return answer.ticket;
}

function joinError(err) {
  const el = $("join-error");
  el.textContent = err ? err.message : "";
  el.dataset.code = err?.code || "";
  el.hidden = !err;
}

async function join(event) {
  event?.preventDefault();
  joinError(null);
  $("join-button").disabled = true;
  try {
    state.key = meetingKey();
    state.ticket = await askTicket();
    state.stream = await localMedia();
    connect();
  } catch (err) {
    joinError(err);
  } finally {
    $("join-button").disabled = false;
  }
}

async function localMedia() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    if (app.dataset.startType === "screen") for (const t of stream.getVideoTracks()) t.enabled = false;
    return stream;
  } catch {
    status("No camera or microphone: you can watch, listen and chat.");
    return new MediaStream();
  }
}

function connect() {
  state.live = new Live("/ws/meeting", {
    hello: () => ({ type: "hello", ticket: state.ticket }),
    receive,
    onclose: (code) => {
      if (FINAL[code]) { leaveMeeting(FINAL[code]); return false; }
      status("Connection lost; reconnecting…");
      return true;
    },
  });
  state.live.connect();
}

// ------------------------------------------------------------------ what the server says

const handlers = {
  welcome(m) {
    state.ticket = m.rejoin;
    state.me = m.you;
    state.room = m.room;
    state.mayRecord = m.you.may_record;
    if (!state.mesh) startMesh(m.ice_servers);
    show("meeting");
    $("host-controls").hidden = !m.you.host;
    roomChanged(m.room);
    status("");
  },
  lobby(m) {
    show("lobby");
    $("lobby-text").textContent = m.reason === "meeting_ended"
      ? "The host ended this meeting. You will be let in when a host starts it again."
      : "The host has not started this meeting yet. You will be let in when they join.";
  },
  admitted() { show("meeting"); },
  roster(m) {
    for (const p of m.participants) upsert(p);
    for (const p of m.participants) if (p.id !== state.me.id) state.mesh.connect(p.id);
  },
  history(m) { for (const msg of m.messages) chatLine(msg); },
  joined(m) { upsert(m.participant); state.mesh.connect(m.participant.id); },
  participant(m) { upsert(m.participant); },
  left(m) { drop(m.participant); },
  signal(m) { state.mesh.receive(m.from, m.data); },
  chat(m) { chatLine(m); },
  room(m) { roomChanged(m.room); },
  muted(m) {
    state.mesh.obeyMute(m);
    status(`A host turned off your ${[m.audio && "microphone", m.video && "camera"].filter(Boolean).join(" and ")}.`);
    controls();
  },
  unmuted() { status("A host lets you turn your microphone on again."); },
  record_requested(m) { recordRequest(m.participant); },
  record_answer(m) {
    state.mayRecord = m.granted;
    status(m.granted ? "A host allowed you to record." : "A host declined your request to record.");
    if (m.granted) startRecording();
  },
  record_revoked() { state.mayRecord = false; stopRecording(); status("A host took back your permission to record; your recording was saved."); },
  share_paused() {
    state.sharePausedByHost = true;
    state.mesh.pauseShare().then(controls);
    status("A host paused your screen share.");
  },
  share_resumed() {
    state.sharePausedByHost = false;
    state.mesh.resumeShare().then(controls);
    status("A host resumed your screen share.");
  },
  ended() { leaveMeeting("ended"); },
  removed() { leaveMeeting("removed"); },
  error(m) {
    status(m.message);
    if (m.code === "unmute_not_allowed") {
      if (!state.asked.audio && !state.asked.video) state.mesh.setMedia({ audio: false });  // turned on unasked
      state.asked.audio = state.asked.video = false;
      controls();
    }
    if (m.code === "share_paused_by_host") {
      if (!state.asked.share) state.mesh.setPaused(true).then(controls);
      state.asked.share = false;
    }
  },
};

function receive(m) { (handlers[m.type] || (() => {}))(m); }

function send(message) { return state.live?.send(message); }

// ------------------------------------------------------------------ media

function startMesh(iceServers) {
  const e2ee = encrypted && supported() ? new MediaE2ee(state.key) : null;
  const mesh = state.mesh = new Mesh({ self: state.me.id, stream: state.stream, iceServers, e2ee,
    signal: (to, data) => send({ type: "signal", to, data }) });
  mesh.addEventListener("track", ({ detail }) => attach(detail));
  mesh.addEventListener("trackended", ({ detail }) => detach(detail));
  mesh.addEventListener("media", ({ detail }) => send({ type: "media", ...detail }));
  mesh.addEventListener("share", ({ detail }) => {
    if (detail.state === "off") state.sharePausedByHost = state.asked.share = false;
    send({ type: "share", state: detail.state });
    controls();
  });
  mesh.addEventListener("closed", ({ detail }) => removeTile(detail.peer));
  tile(state.me.id, "You").video.srcObject = state.stream;
  window.fareroomMeeting = { mesh, stats: () => meshStats(mesh), state };
  controls();
}

function tile(id, name) {
  let t = state.tiles.get(id);
  if (!t) {
    const figure = document.createElement("figure");
    figure.className = "tile";
    figure.dataset.participant = id;
    const video = Object.assign(document.createElement("video"), { autoplay: true, playsInline: true });
    if (id === state.me?.id) video.muted = true;
    const caption = document.createElement("figcaption");
    figure.append(video, caption);
    $("tiles").append(figure);
    t = { figure, video, caption, screen: null };
    state.tiles.set(id, t);
  }
  t.caption.textContent = name;
  return t;
}

function attach({ peer, stream, source }) {
  const p = state.people.get(peer);
  const t = tile(peer, p?.name ?? "…");
  if (source === "screen") {
    if (!t.screen) {
      t.screen = Object.assign(document.createElement("video"), { autoplay: true, playsInline: true, muted: true });
      t.screen.className = "screen";
      t.figure.prepend(t.screen);
    }
    t.screen.srcObject = stream;
  } else {
    t.video.srcObject = stream;
  }
  state.recorder?.add(stream);
}

function detach({ peer, track }) {
  const t = state.tiles.get(peer);
  if (t?.screen && t.screen.srcObject?.getTracks().every((x) => x === track || x.readyState === "ended")) {
    t.screen.remove();
    t.screen = null;
  }
}

function removeTile(id) {
  state.tiles.get(id)?.figure.remove();
  state.tiles.delete(id);
}

// ------------------------------------------------------------------ people

function upsert(p) {
  state.people.set(p.id, p);
  if (p.id === state.me?.id) {
    state.me = p;
    state.mayRecord = p.may_record;
    agreed(p);
  } else {
    state.mesh?.silence(p.id, p.muted_by_host.audio && !p.audio);
  }
  tile(p.id, p.id === state.me?.id ? `${p.name} (you)` : p.name).figure.dataset.recording = p.recording;
  people();
}

function drop(id) {
  state.people.delete(id);
  state.requests.delete(id);
  state.mesh?.close(id);
  removeTile(id);
  people();
}

function button(text, onclick, cls = "") {
  const b = Object.assign(document.createElement("button"), { type: "button", textContent: text, className: cls });
  b.addEventListener("click", onclick);
  return b;
}

function people() {
  const list = $("people-list");
  list.replaceChildren();
  const to = $("chat-to"), chosen = to.value;
  to.replaceChildren(new Option("Everyone", ""));
  const recording = [];
  for (const p of state.people.values()) {
    const li = document.createElement("li");
    li.dataset.participant = p.id;
    const words = [p.name, p.host ? "host" : "", p.audio ? "" : "muted", p.video ? "" : "camera off",
      p.sharing !== "off" ? `sharing${p.sharing === "paused" ? " (paused)" : ""}` : "", p.recording ? "recording" : ""];
    li.append(words.filter(Boolean).join(" · "));
    if (p.recording) recording.push(p.name);
    if (state.me?.host && p.id !== state.me.id) {
      li.append(" ", button("Mute", () => send({ type: "mute", participant: p.id, audio: true })),
        button("Stop video", () => send({ type: "mute", participant: p.id, audio: false, video: true })),
        button("Allow unmute", () => send({ type: "unmute", participant: p.id })));
      if (p.sharing !== "off") {
        li.append(button(p.sharing === "paused" ? "Resume share" : "Pause share",
          () => send({ type: p.sharing === "paused" ? "share_resume" : "share_pause", participant: p.id })));
      }
      if (p.may_record && !p.host) li.append(button("Revoke recording", () => send({ type: "record_revoke", participant: p.id })));
      li.append(button("Remove", () => { if (confirm(`Remove ${p.name}? They cannot come back.`)) send({ type: "remove", participant: p.id }); }, "danger"));
    }
    list.append(li);
    if (p.id !== state.me?.id) to.append(new Option(p.name, p.id));
  }
  to.value = [...to.options].some((o) => o.value === chosen) ? chosen : "";
  const badge = $("rec-badge");
  badge.hidden = !recording.length;
  badge.textContent = `● Recording: ${recording.join(", ")}`;
  requests();
}

function recordRequest(p) {
  state.requests.set(p.id, p);
  status(`${p.name} asks to record the meeting.`);
  requests();
}

function requests() {
  const box = $("requests");
  box.replaceChildren();
  for (const p of state.requests.values()) {
    const row = document.createElement("p");
    row.className = "request";
    row.append(`${p.name} asks to record. `,
      button("Allow", () => { send({ type: "record_grant", participant: p.id }); state.requests.delete(p.id); requests(); }),
      button("Decline", () => { send({ type: "record_deny", participant: p.id }); state.requests.delete(p.id); requests(); }));
    box.append(row);
  }
  if (state.requests.size) $("people").hidden = false;
}

function roomChanged(room) {
  state.room = room;
  $("lock-badge").hidden = !room.locked;
  $("lock").textContent = room.locked ? "Unlock meeting" : "Lock meeting";
  $("allow-unmute").checked = room.allow_unmute;
  $("recording-policy").value = room.recording;
  $("e2ee-badge").hidden = !room.encrypted;
  if (room.encrypted && !state.key) status("This meeting is end-to-end encrypted and your link has no key: you will see and hear nothing.");
}

// ------------------------------------------------------------------ chat

async function chatLine(m) {
  const li = document.createElement("li");
  li.dataset.from = m.from;
  let text = m.text;
  if (m.cipher) {
    try {
      text = state.key ? await decryptText(state.key, m) : null;
    } catch {
      text = null;
    }
  }
  const who = document.createElement("strong");
  who.textContent = `${m.name}${m.to ? ` → ${m.to === state.me?.id ? "you" : state.people.get(m.to)?.name ?? "?"}` : ""}: `;
  const body = document.createElement("span");
  body.textContent = text ?? "🔒 (cannot be read without the meeting's key)";
  if (text === null) body.className = "muted";
  li.append(who, body);
  if (m.to) li.className = "private";
  $("chat-log").append(li);
  li.scrollIntoView({ block: "nearest" });
}

async function sendChat(event) {
  event.preventDefault();
  const input = $("chat-text"), text = input.value.trim();
  if (!text) return;
  const to = $("chat-to").value || undefined;
  const body = state.room?.encrypted && state.key ? await encryptText(state.key, text) : { text };
  if (send({ type: "chat", ...body, to })) input.value = "";
}

// ------------------------------------------------------------------ controls

function controls() {
  if (!state.mesh) return;
  const { audio, video } = state.mesh.media();
  $("mic").textContent = audio ? "Mute" : "Unmute";
  $("mic").setAttribute("aria-pressed", String(audio));
  $("cam").textContent = video ? "Stop video" : "Start video";
  $("cam").setAttribute("aria-pressed", String(video));
  const sharing = state.mesh.screen;
  $("share").textContent = sharing ? "Stop sharing" : "Share screen";
  $("share-pause").hidden = !sharing;
  $("share-pause").textContent = sharing?.paused ? "Resume share" : "Pause share";
  $("record").textContent = state.recorder?.recording ? "Stop recording" : "Record";
}

// Turning on what a host turned off (the mic, the camera, a paused share): the server decides
// first (it refuses unless the room lets participants unmute themselves, or the host lifts
// it), and until it agrees nothing is turned on here, so not a moment of it is sent.
function toggleMedia(kind) {
  const on = state.mesh.media()[kind];
  if (!on && state.me?.muted_by_host?.[kind] && !state.me.host) {
    state.asked[kind] = true;
    send({ type: "media", [kind]: true });
  } else {
    state.mesh.setMedia({ [kind]: !on });
  }
  controls();
}

async function togglePause() {
  const paused = state.mesh.screen?.paused;
  if (paused && state.sharePausedByHost) {
    state.asked.share = true;
    send({ type: "share", state: "on" });
  } else {
    await state.mesh.setPaused(!paused);
  }
  controls();
}

// Our own participant as the server now says it is: what we asked to turn on, it allowed.
function agreed(me) {
  for (const kind of ["audio", "video"]) {
    if (state.asked[kind] && me[kind]) { state.asked[kind] = false; state.mesh?.setMedia({ [kind]: true }); }
  }
  if (state.asked.share && me.sharing === "on") {
    state.asked.share = false;
    state.sharePausedByHost = false;
    state.mesh?.setPaused(false).then(controls);
  }
  controls();
}

async function toggleShare() {
  if (state.mesh.screen) state.mesh.stopShare();
  else {
    try {
      await state.mesh.shareScreen({ source: window.fareroomScreenSource?.() ?? null });
    } catch {
      status("Screen sharing was not started.");
    }
  }
  controls();
}

async function startRecording() {
  if (state.recorder?.recording) return;
  state.recorder = new Recorder();
  const streams = [state.stream, ...[...state.tiles.values()].flatMap((t) => [t.video.srcObject, t.screen?.srcObject])]
    .filter((s) => s instanceof MediaStream);
  state.recorder.start([...new Set(streams)]);
  send({ type: "recording", on: true });
  controls();
}

async function stopRecording() {
  if (!state.recorder?.recording) return;
  const recorder = state.recorder;
  await recorder.stopAndSave();
  recorder.close();
  state.recorder = null;
  send({ type: "recording", on: false });
  controls();
}

function record() {
  if (state.recorder?.recording) stopRecording();
  else if (state.mayRecord || state.me?.host) startRecording();
  else { send({ type: "record_request" }); status("You asked the host for permission to record."); }
}

function invitationText() {
  const topic = $("topic").textContent, host = $("host-name").textContent;
  const lines = [`${host} invites you to a meeting: ${topic}`, "", `Join: ${link()}`, `Meeting code: ${$("meeting-code").textContent}`];
  if (app.dataset.password === "true") lines.push("Password: your host will tell you.");
  return lines.join("\n");
}

async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    status(`${what} copied.`);
  } catch {
    status(`${what}: ${text}`);
  }
}

function composeLinks() {
  const subject = encodeURIComponent(`Invitation: ${$("topic").textContent}`), body = encodeURIComponent(invitationText());
  $("mail-default").href = `mailto:?subject=${subject}&body=${body}`;
  $("mail-gmail").href = `https://mail.google.com/mail/?view=cm&fs=1&su=${subject}&body=${body}`;
  $("mail-yahoo").href = `https://compose.mail.yahoo.com/?subject=${subject}&body=${body}`;
}

// ------------------------------------------------------------------ views

function show(view) {
  for (const id of ["start", "lobby", "meeting", "gone"]) $(id).hidden = id !== view;
  document.body.classList.toggle("in-meeting", view === "meeting");
}

function status(text) { $("status").textContent = text || ""; }

async function leaveMeeting(why) {
  if (why === "left") send({ type: "leave" });
  state.live?.close();
  state.live = null;
  if (state.recorder?.recording) await state.recorder.stopAndSave();
  state.mesh?.closeAll();
  for (const t of state.stream?.getTracks() ?? []) t.stop();
  const [title, text] = GONE[why] || GONE.left;
  $("gone-title").textContent = title;
  $("gone-text").textContent = text;
  $("gone").dataset.reason = why;
  show("gone");
}

$("join-form").addEventListener("submit", join);
$("mic").addEventListener("click", () => toggleMedia("audio"));
$("cam").addEventListener("click", () => toggleMedia("video"));
$("share").addEventListener("click", toggleShare);
$("share-pause").addEventListener("click", togglePause);
$("record").addEventListener("click", record);
$("panel-people").addEventListener("click", () => { $("people").hidden = !$("people").hidden; });
$("panel-chat").addEventListener("click", () => { $("chat").hidden = !$("chat").hidden; });
$("chat-form").addEventListener("submit", sendChat);
$("leave").addEventListener("click", () => leaveMeeting("left"));
$("lock").addEventListener("click", () => send({ type: state.room?.locked ? "unlock" : "lock" }));
$("mute-all").addEventListener("click", () => send({ type: "mute", all: true, audio: true }));
$("end").addEventListener("click", () => { if (confirm("End the meeting for everyone?")) send({ type: "end" }); });
$("allow-unmute").addEventListener("change", (e) => send({ type: "settings", allow_unmute: e.target.checked }));
$("recording-policy").addEventListener("change", (e) => send({ type: "settings", recording: e.target.value }));
$("copy-link").addEventListener("click", () => copy(link(), "Link"));
$("copy-invitation").addEventListener("click", () => copy(invitationText(), "Invitation"));
$("invite-menu").addEventListener("toggle", composeLinks);
state.key = meetingKey();
composeLinks();
if (params.get("join") === "1" && !$("join-name") && !$("join-password") && !$("join-code")) join();
