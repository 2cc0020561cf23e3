// A meeting's media in the browser (docs/meetings.md): a full mesh, one RTCPeerConnection per
// other participant, over the page's `signal` frames. It knows nothing of the socket: the page
// gives it `signal(to, data)` (sent as {type: "signal", to, data}) and feeds it what arrives
// with `mesh.receive(from, data)`; `data` is {sdp} or {candidate}.
//
// Every pair negotiates by "perfect negotiation": either side may offer whenever its tracks
// change (a screen share added, taken away), and when two offers cross, the polite side (the
// greater participant id) rolls its own back and answers, the impolite one ignores the other's.
// The first offer of a pair is the impolite side's (see connect), so the page may connect to
// everyone it sees (roster and joined) without choosing who calls.
//
// Events (CustomEvent, the details named): "track" {peer, track, stream, source: "camera" |
// "screen"}, "trackended" {peer, track}, "state" {peer, state} (the pair's connectionState),
// "media" {audio, video} (our mic and camera, for the page's `media` frame), "share" {state:
// "on" | "paused" | "off"} (for its `share` frame), "closed" {peer}.
//
// A peer's first stream is its camera: the mesh always adds the camera's tracks before any
// screen, so on every side the camera's m-lines come first; any other stream is a screen.
// Pausing a share replaces the track each peer is sent with none (replaceTrack(null)): the
// viewers get no frame at all while paused, whatever the sharer shows meanwhile.

// Only VP8 (with its retransmissions) and Opus are offered: every browser has them, the E2EE
// transform knows VP8's header (meeting-e2ee-worker.js), and an offer listing every codec
// Chromium has (H264 six times, VP9, AV1…) passes 16 KiB, the `signal` frame's limit, as soon
// as two screens are shared.
const CODECS = { video: ["video/vp8", "video/rtx"], audio: ["audio/opus"] };

function onlyCodecs(transceiver, kind) {
  const all = RTCRtpReceiver.getCapabilities(kind)?.codecs ?? [];
  const wanted = all.filter((c) => CODECS[kind].includes(c.mimeType.toLowerCase()));
  if (wanted.length && transceiver.direction !== "stopped") transceiver.setCodecPreferences(wanted);
}

export class Mesh extends EventTarget {
  // self: our participant id; stream: the local camera and mic; signal(to, data); iceServers
  // from `welcome`; e2ee: an object with sender(sender, kind) and receiver(receiver, kind) that
  // puts encoded transforms on them (meeting-e2ee.js), or null.
  constructor({ self, stream, signal, iceServers = [], e2ee = null }) {
    super();
    this.self = self;
    this.stream = stream;
    this.signal = signal;
    this.iceServers = iceServers;
    this.e2ee = e2ee;
    this.peers = new Map();
    this.silenced = new Set();
    this.screen = null;       // {stream, track, paused}
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  // The pair with `peer`, made the first time it is named. The impolite side (the lesser id)
  // adds its tracks at once and so makes the first offer, always: a kind it has no track of
  // gets a receive-only transceiver, so an offer goes out even from a page with no camera and
  // no microphone. The polite side adds its own tracks only when that offer is in (they ride
  // on its answer), however long it takes to come. Two first offers crossing would be resolved
  // too, but Chromium 156 then gathers no ICE candidates for the polite side's answer and the
  // pair never connects (a polite side that started on a timer did so on a busy machine);
  // renegotiations (a share added or taken away) keep their transport and may cross freely.
  connect(peer) {
    if (peer === this.self) throw new Error("a participant does not connect to itself");
    let p = this.peers.get(peer);
    if (p) return p;
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    p = { id: peer, pc, polite: this.self > peer, makingOffer: false, ignoreOffer: false,
      answerPending: false, queue: Promise.resolve(), camera: null, sources: new Map(),
      screenShare: null, started: false };
    this.peers.set(peer, p);
    pc.onnegotiationneeded = () => this.offer(p);
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.signal(peer, { candidate: candidate.toJSON() });
    };
    pc.onconnectionstatechange = () => this.emit("state", { peer, state: pc.connectionState });
    pc.ontrack = (event) => this.track(p, event);
    if (!p.polite) this.start(p);
    return p;
  }

  start(p) {
    if (p.started || p.pc.signalingState === "closed") return;
    p.started = true;
    const tracks = this.stream?.getTracks() ?? [];
    for (const track of tracks) this.send(p, p.pc.addTrack(track, this.stream), track.kind);
    for (const kind of p.polite ? [] : ["audio", "video"]) {
      if (tracks.some((t) => t.kind === kind)) continue;
      this.listen(p, p.pc.addTransceiver(kind, { direction: "recvonly" }), kind);
    }
    if (this.screen) this.addScreen(p);
  }

  // Every sender gets the E2EE transform (if any), and so does its transceiver's receiver:
  // Chromium 156 runs no receiver transform set as late as the track event of an answer (the
  // frames went to the decoder as they came), so the side that offers sets it here.
  send(p, sender, kind) {
    const transceiver = p.pc.getTransceivers().find((t) => t.sender === sender);
    if (this.e2ee) this.e2ee.sender(sender, kind);
    if (transceiver) this.listen(p, transceiver, kind);
    return sender;
  }

  listen(p, transceiver, kind) {
    onlyCodecs(transceiver, kind);
    if (this.e2ee && !transceiver.receiver.transform) this.e2ee.receiver(transceiver.receiver, kind);
  }

  async offer(p) {
    try {
      p.makingOffer = true;
      await p.pc.setLocalDescription();
      // an offer of theirs may have rolled ours back meanwhile: then it is answered instead
      if (p.pc.localDescription?.type === "offer") this.signal(p.id, { sdp: p.pc.localDescription.toJSON() });
    } catch (err) {
      console.warn("meeting: offer to", p.id, "failed", err);
    } finally {
      p.makingOffer = false;
    }
  }

  // What the other side signalled, handled in order, one at a time. An offer from a
  // participant not yet connected connects it (it may come before the roster says it is
  // there); anything else from one we do not know (a candidate after `left`) is dropped.
  receive(from, data) {
    if (!this.peers.has(from) && data?.sdp?.type !== "offer") return Promise.resolve();
    const p = this.connect(from);
    p.queue = p.queue.then(() => this.handle(p, data)).catch((err) => {
      console.warn("meeting: signal from", from, "failed", err);
    });
    return p.queue;
  }

  async handle(p, { sdp, candidate }) {
    const pc = p.pc;
    if (sdp) {
      const ready = !p.makingOffer && (pc.signalingState === "stable" || p.answerPending);
      const collision = sdp.type === "offer" && !ready;
      p.ignoreOffer = !p.polite && collision;
      if (p.ignoreOffer) return;
      p.answerPending = sdp.type === "answer";
      await pc.setRemoteDescription(sdp);  // a polite side's own offer is rolled back here
      p.answerPending = false;
      if (sdp.type === "offer") {
        this.start(p);  // our tracks take the offer's m-lines, in its answer
        await pc.setLocalDescription();
        this.signal(p.id, { sdp: pc.localDescription.toJSON() });
      }
    } else if (candidate) {
      try {
        await pc.addIceCandidate(candidate);
      } catch (err) {
        if (!p.ignoreOffer) throw err;  // a candidate of the offer we ignored
      }
    }
  }

  track(p, { track, streams, receiver, transceiver }) {
    onlyCodecs(transceiver, track.kind);
    if (this.e2ee && !receiver.transform) this.e2ee.receiver(receiver, track.kind);
    const stream = streams[0] ?? new MediaStream([track]);
    if (p.camera === null) p.camera = stream.id;
    const source = stream.id === p.camera ? "camera" : "screen";
    p.sources.set(track.id, source);
    if (track.kind === "audio" && this.silenced.has(p.id)) track.enabled = false;
    track.addEventListener("ended", () => this.emit("trackended", { peer: p.id, track }));
    stream.addEventListener("removetrack", (e) => this.emit("trackended", { peer: p.id, track: e.track }));
    this.emit("track", { peer: p.id, track, stream, source });
  }

  // "camera" or "screen" for a track received from `peer` (the stats name inbound media by it).
  sourceOf(peer, trackId) { return this.peers.get(peer)?.sources.get(trackId) ?? null; }

  close(peer) {
    const p = this.peers.get(peer);
    if (!p) return;
    this.peers.delete(peer);
    p.pc.close();
    this.emit("closed", { peer });
  }

  // A participant who came back (a new page, `joined` again) gets a new pair: their page
  // starts from nothing, so the old pair's descriptions would not fit.
  reconnect(peer) {
    this.close(peer);
    return this.connect(peer);
  }

  closeAll() {
    for (const peer of [...this.peers.keys()]) this.close(peer);
    this.stopShare();
  }

  // Our mic and camera: a disabled track sends silence / black frames on every pair at once.
  media() {
    const on = (kind) => this.stream?.getTracks().some((t) => t.kind === kind && t.enabled) ?? false;
    return { audio: on("audio"), video: on("video") };
  }
  setMedia({ audio, video } = {}) {
    for (const t of this.stream?.getTracks() ?? []) {
      if (t.kind === "audio" && audio !== undefined) t.enabled = audio;
      if (t.kind === "video" && video !== undefined) t.enabled = video;
    }
    const state = this.media();
    this.emit("media", state);
    return state;
  }
  // The server's `muted` {audio, video}: what a host turned off goes off.
  obeyMute({ audio, video }) {
    return this.setMedia({ audio: audio ? false : undefined, video: video ? false : undefined });
  }

  // A participant the server says a host muted is silenced here, whatever their page sends:
  // their received audio tracks are disabled (silence in every element and in a recording).
  silence(peer, silenced = true) {
    if (silenced) this.silenced.add(peer); else this.silenced.delete(peer);
    const p = this.peers.get(peer);
    for (const r of p?.pc.getReceivers() ?? []) {
      if (r.track?.kind === "audio") r.track.enabled = !silenced;
    }
  }

  // Share a screen with every pair (and with those who connect later). `source`, a MediaStream,
  // stands in for getDisplayMedia (the tests give a canvas's stream).
  async shareScreen({ source = null } = {}) {
    if (this.screen) return this.screen.stream;
    const stream = source ?? await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const track = stream.getVideoTracks()[0];
    if (!track) throw new Error("the screen has no video track");
    track.contentHint = "detail";
    this.screen = { stream, track, paused: false };
    track.addEventListener("ended", () => this.stopShare());  // the browser's own "Stop sharing"
    for (const p of this.peers.values()) this.addScreen(p);
    this.emit("share", { state: "on" });
    return stream;
  }

  addScreen(p) {
    const { stream, track, paused } = this.screen;
    // While paused a newcomer gets the m-line but no track: nothing shown meanwhile reaches it.
    p.screenShare = p.pc.addTransceiver(paused ? "video" : track, { direction: "sendonly", streams: [stream] });
    this.send(p, p.screenShare.sender, "video");
  }

  async pauseShare() { return this.setPaused(true); }
  async resumeShare() { return this.setPaused(false); }
  async setPaused(paused) {
    if (!this.screen || this.screen.paused === paused) return;
    this.screen.paused = paused;
    const track = paused ? null : this.screen.track;
    await Promise.all([...this.peers.values()].map((p) => p.screenShare?.sender.replaceTrack(track)));
    this.emit("share", { state: paused ? "paused" : "on" });
  }

  stopShare() {
    if (!this.screen) return;
    const { track } = this.screen;
    this.screen = null;
    // A stopped transceiver's m-line is offered with port 0 and taken by the next share, so
    // sharing again and again does not grow every offer (the server takes 16 KiB at most).
    for (const p of this.peers.values()) {
      if (p.pc.signalingState !== "closed") p.screenShare?.stop();
      p.screenShare = null;
    }
    track.stop();
    this.emit("share", { state: "off" });
  }

  pc(peer) { return this.peers.get(peer)?.pc ?? null; }
}
