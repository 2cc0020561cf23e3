// A voice and video call inside a live chat (docs/realtime.md, "Calls"): the client's page
// and the agent console, on the meetings' media layer (meeting-media.js: a mesh of one pair).
// Its frames go over the chat's own socket as `call` frames, which the server passes to both
// pages of the session (each ignores its own): `ring`, then `answer` or `decline`, the pair's
// signals, and `end`. The meter and presence go on exactly as without a call.
import { $ } from "./chat-common.js";
import { Mesh } from "./meeting-media.js";
import { meshStats } from "./meeting-stats.js";

export class Call {
  // self, other: "client" | "agent"; send(data) sends a call frame; otherName for the words.
  constructor({ self, other, send, otherName = () => other }) {
    Object.assign(this, { self, other, send, otherName, mesh: null, stream: null, state: "idle" });
    $("call-start").addEventListener("click", () => this.start());
    $("call-answer").addEventListener("click", () => this.answer());
    $("call-decline").addEventListener("click", () => { this.send({ decline: true }); this.show("idle"); });
    $("call-end").addEventListener("click", () => this.hangup(true));
    window.fareroomCall = { stats: () => (this.mesh ? meshStats(this.mesh) : {}), call: this };
    this.show("idle");
  }

  show(state, words = "") {
    this.state = state;
    $("call-start").hidden = state !== "idle";
    $("call-ring").hidden = state !== "ringing";
    $("call-media").hidden = !["calling", "connected"].includes(state);
    $("call-status").textContent = words || {
      idle: "", calling: `Calling ${this.otherName()}…`, ringing: `${this.otherName()} is calling you.`,
      connected: `In a call with ${this.otherName()}.` }[state];
  }

  async media() {
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    } catch {
      this.stream = new MediaStream();
    }
    $("call-local").srcObject = this.stream;
    this.mesh = new Mesh({ self: this.self, stream: this.stream, signal: (_, data) => this.send(data) });
    this.mesh.addEventListener("track", ({ detail }) => { $("call-remote").srcObject = detail.stream; });
    this.mesh.addEventListener("state", ({ detail }) => {
      if (detail.state === "connected") this.show("connected");
    });
  }

  async start() {
    if (this.state !== "idle") return;
    this.show("calling");
    await this.media();
    this.send({ ring: true });
  }

  async answer() {
    if (this.state !== "ringing") return;
    this.show("calling", "Connecting…");
    await this.media();
    this.mesh.connect(this.other);
    this.send({ answer: true });
  }

  // A call frame of the session's (ours come back too, and are ignored).
  receive(m) {
    if (m.from === this.self) return;
    const data = m.data || {};
    if (data.ring) { if (this.state === "idle") this.show("ringing"); }
    else if (data.answer) { if (this.mesh) this.mesh.connect(this.other); }
    else if (data.decline) this.hangup(false, `${this.otherName()} declined the call.`);
    else if (data.end) this.hangup(false, `${this.otherName()} ended the call.`);
    else if (this.mesh) this.mesh.receive(this.other, data);
  }

  hangup(tell, words = "") {
    if (tell) this.send({ end: true });
    this.mesh?.closeAll();
    for (const t of this.stream?.getTracks() ?? []) t.stop();
    this.mesh = this.stream = null;
    $("call-remote").srcObject = $("call-local").srcObject = null;
    this.show("idle", words);
  }
}

