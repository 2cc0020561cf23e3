// The encoded transforms of meeting-e2ee.js: every media frame of a meeting sealed with
// AES-GCM on its way out and opened on its way in, in a worker so the page's thread is free.
//
// A sealed frame is: the codec's header bytes in clear | ciphertext and tag | iv (12) | n (1),
// n the number of clear bytes. The clear bytes are those the RTP packetizer and depacketizer
// read: for VP8 the first 10 of a key frame (frame tag, start code, size: the receiver sees a
// key frame and its size) and the first 3 of a delta frame; for audio (Opus) none. They are
// authenticated (AES-GCM's additional data), so they cannot be changed either. The iv is
// random for each frame. A frame that does not open (another key, none, or changed) is
// dropped: the decoder never sees it, so a receiver with the wrong key decodes no frame.

let key = null;
const counts = { sealed: 0, opened: 0, dropped: 0 };

self.onmessage = ({ data, ports }) => {
  if ("key" in data) key = data.key;
  if (data.counts) ports[0].postMessage({ ...counts });
};

function clearBytes(frame, kind) {
  if (kind === "audio") return 0;
  return frame.type === "key" ? 10 : 3;
}

async function seal(frame, controller, kind) {
  if (!key) return;  // nothing leaves unsealed
  const data = new Uint8Array(frame.data);
  const n = Math.min(clearBytes(frame, kind), data.length);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const head = data.subarray(0, n);
  const sealed = new Uint8Array(await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: head }, key, data.subarray(n)));
  const out = new Uint8Array(n + sealed.length + 13);
  out.set(head, 0);
  out.set(sealed, n);
  out.set(iv, n + sealed.length);
  out[out.length - 1] = n;
  frame.data = out.buffer;
  counts.sealed++;
  controller.enqueue(frame);
}

async function open(frame, controller) {
  const data = new Uint8Array(frame.data);
  const n = data[data.length - 1];
  if (!key || data.length < n + 16 + 13) return drop();
  const head = data.subarray(0, n);
  const iv = data.subarray(data.length - 13, data.length - 1);
  let plain;
  try {
    plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: head }, key,
      data.subarray(n, data.length - 13));
  } catch {
    return drop();
  }
  const out = new Uint8Array(n + plain.byteLength);
  out.set(head, 0);
  out.set(new Uint8Array(plain), n);
  frame.data = out.buffer;
  counts.opened++;
  controller.enqueue(frame);
}

function drop() { counts.dropped++; }

self.onrtctransform = ({ transformer }) => {
  const { side, kind } = transformer.options;
  const transform = side === "send"
    ? (frame, controller) => seal(frame, controller, kind)
    : (frame, controller) => open(frame, controller);
  transformer.readable.pipeThrough(new TransformStream({ transform })).pipeTo(transformer.writable);
};
