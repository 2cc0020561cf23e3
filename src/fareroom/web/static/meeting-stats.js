// What a meeting's media does, read from RTCPeerConnection.getStats(): per other participant,
// the video received from their camera and their screen (bytes, frames decoded, frames per
// second), the audio received from them (bytes, level, total energy), and what we send them,
// with our mic's own level (the "media-source" stats: what the mic gives after our mute).
// Figures only, no judgement: the page's quality hints and the browser tests read them.

const pick = (s, names) => Object.fromEntries(names.map((n) => [n, s[n] ?? 0]));
const VIDEO_IN = ["bytesReceived", "packetsReceived", "framesReceived", "framesDecoded", "framesDropped", "framesPerSecond", "frameWidth", "frameHeight"];
const AUDIO_IN = ["bytesReceived", "packetsReceived", "audioLevel", "totalAudioEnergy", "totalSamplesReceived", "concealedSamples"];
const OUT = ["bytesSent", "packetsSent", "framesEncoded", "framesSent", "framesPerSecond"];

// One connection's figures; `sourceOf(trackId)` names a received video track "camera" or
// "screen" (Mesh.sourceOf), else every inbound video counts as "camera".
export async function connectionStats(pc, sourceOf = () => "camera") {
  const report = await pc.getStats();
  const out = { state: pc.connectionState, video: {}, audio: null, sent: { audio: null, video: [] },
    micLevel: null, micEnergy: null };
  for (const s of report.values()) {
    if (s.type === "inbound-rtp" && s.kind === "video") {
      const source = sourceOf(s.trackIdentifier) ?? "camera";
      out.video[source] = add(out.video[source], pick(s, VIDEO_IN));
    } else if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.audio = add(out.audio, pick(s, AUDIO_IN));
    } else if (s.type === "outbound-rtp") {
      if (s.kind === "audio") out.sent.audio = pick(s, OUT);
      else out.sent.video.push({ ...pick(s, [...OUT, "frameWidth", "frameHeight"]),
        limitation: s.qualityLimitationReason ?? "none" });
    } else if (s.type === "media-source" && s.kind === "audio") {
      out.micLevel = s.audioLevel ?? 0;
      out.micEnergy = s.totalAudioEnergy ?? 0;
    }
  }
  return out;
}

// Two sets of figures of one source (a share stopped and started again) are one: counters
// summed, the rest (level, rate, size) the greater.
const GAUGES = ["audioLevel", "framesPerSecond", "frameWidth", "frameHeight"];
function add(a, b) {
  if (!a) return b;
  return Object.fromEntries(Object.keys(b).map((k) => [k, GAUGES.includes(k) ? Math.max(a[k], b[k]) : a[k] + b[k]]));
}

// {peer id: connectionStats} for every pair of a Mesh.
export async function meshStats(mesh) {
  const entries = await Promise.all([...mesh.peers.keys()].map(async (peer) =>
    [peer, await connectionStats(mesh.pc(peer), (track) => mesh.sourceOf(peer, track))]));
  return Object.fromEntries(entries);
}
