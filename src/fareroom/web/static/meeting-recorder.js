// Recording a meeting in the browser (docs/meetings.md): the streams the page has, as it
// receives them, into one WebM with MediaRecorder, saved on the user's own device (a Blob URL
// and an <a download> click). Nothing is uploaded: the file never leaves this page but to disk.
//
// Sound: every stream's audio mixed by WebAudio into one track. Picture: a canvas on which the
// videos are drawn side by side in a grid, redrawn `fps` times a second, captured as one
// video track. Streams may come and go while recording (add / remove).

export class Recorder {
  constructor({ fps = 15, width = 1280, height = 720 } = {}) {
    this.fps = fps;
    this.canvas = Object.assign(document.createElement("canvas"), { width, height });
    this.g = this.canvas.getContext("2d");
    this.audio = new AudioContext();
    this.mix = this.audio.createMediaStreamDestination();
    this.streams = new Map();   // stream → {video element, audio source}
    this.chunks = [];
    this.recorder = null;
  }

  add(stream) {
    if (this.streams.has(stream)) return;
    const entry = { video: null, sound: null };
    if (stream.getVideoTracks().length) {
      entry.video = Object.assign(document.createElement("video"), { muted: true, playsInline: true, srcObject: stream });
      entry.video.play().catch(() => {});
    }
    if (stream.getAudioTracks().length) {
      entry.sound = this.audio.createMediaStreamSource(stream);
      entry.sound.connect(this.mix);
    }
    this.streams.set(stream, entry);
  }

  remove(stream) {
    const entry = this.streams.get(stream);
    if (!entry) return;
    entry.sound?.disconnect();
    if (entry.video) entry.video.srcObject = null;
    this.streams.delete(stream);
  }

  draw() {
    const { g, canvas } = this;
    g.fillStyle = "#111";
    g.fillRect(0, 0, canvas.width, canvas.height);
    const videos = [...this.streams.values()].map((e) => e.video).filter(Boolean);
    if (!videos.length) return;
    const cols = Math.ceil(Math.sqrt(videos.length)), rows = Math.ceil(videos.length / cols);
    const w = canvas.width / cols, h = canvas.height / rows;
    videos.forEach((v, i) => {
      if (v.videoWidth) {
        const scale = Math.min(w / v.videoWidth, h / v.videoHeight);
        const vw = v.videoWidth * scale, vh = v.videoHeight * scale;
        g.drawImage(v, (i % cols) * w + (w - vw) / 2, Math.floor(i / cols) * h + (h - vh) / 2, vw, vh);
      }
    });
  }

  static mimeType() {
    return ["video/webm;codecs=vp8,opus", "video/webm"].find((t) => MediaRecorder.isTypeSupported(t)) ?? "";
  }

  start(streams = []) {
    for (const s of streams) this.add(s);
    this.audio.resume().catch(() => {});
    const video = this.canvas.captureStream(this.fps).getVideoTracks();
    const tracks = [...video, ...this.mix.stream.getAudioTracks()];
    this.recorder = new MediaRecorder(new MediaStream(tracks), { mimeType: Recorder.mimeType() });
    this.recorder.ondataavailable = (e) => { if (e.data.size) this.chunks.push(e.data); };
    this.timer = setInterval(() => this.draw(), 1000 / this.fps);
    this.draw();
    this.recorder.start(1000);
  }

  get recording() { return this.recorder?.state === "recording"; }

  // Stops and answers the recording as a Blob.
  stop() {
    return new Promise((resolve) => {
      if (!this.recorder) return resolve(new Blob([], { type: "video/webm" }));
      this.recorder.onstop = () => {
        clearInterval(this.timer);
        for (const t of this.recorder.stream.getTracks()) t.stop();
        const blob = new Blob(this.chunks, { type: this.recorder.mimeType || "video/webm" });
        this.chunks = [];
        this.recorder = null;
        resolve(blob);
      };
      this.recorder.stop();
    });
  }

  // Stops and saves to the device as `name`; answers the Blob saved.
  async stopAndSave(name = `meeting-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-")}.webm`) {
    const blob = await this.stop();
    save(blob, name);
    return blob;
  }

  close() {
    for (const s of [...this.streams.keys()]) this.remove(s);
    this.audio.close().catch(() => {});
  }
}

// A Blob saved as a file on this device: a link to its object URL, clicked, then let go.
export function save(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = Object.assign(document.createElement("a"), { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
