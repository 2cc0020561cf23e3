// End-to-end encryption of a meeting (docs/meetings.md): media frames and chat under one
// AES-GCM key that travels only in the link's fragment (`#key=<base64url>`), so the server
// relays nothing it can read.
//
// Media: Chromium's encoded transforms, the standard RTCRtpScriptTransform (present in
// Chromium 156 beside the older createEncodedStreams, which needs `encodedInsertableStreams`
// on every RTCPeerConnection and moves the streams by hand): each sender and receiver gets a
// transform run in one worker, /static/meeting-e2ee-worker.js, a file of this origin, so the
// pages' CSP (script-src 'self', which worker-src falls back to) allows it as it is. The frame
// format is written in the worker. A receiver whose key does not open a frame drops it: with a
// wrong key (or none) nothing is decoded.
//
// Chat: encryptText / decryptText, {cipher, iv} in base64 (the `chat` frame's fields), a fresh
// random 12-byte iv for every message.

const WORKER_URL = new URL("./meeting-e2ee-worker.js", import.meta.url);
const KEY_BYTES = [16, 24, 32];

const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)));
const unb64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const b64url = (bytes) => b64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const unb64url = (text) => unb64(text.replace(/-/g, "+").replace(/_/g, "/"));

// A fresh random 256-bit key, as base64url (what goes after `#key=`).
export function newKey() {
  return b64url(crypto.getRandomValues(new Uint8Array(32)));
}

// The key in a link's fragment (`#key=…`, among other fragment parameters), or null.
export function keyFromFragment(hash = location.hash) {
  return new URLSearchParams(hash.replace(/^#/, "")).get("key");
}

// base64url text → a CryptoKey for AES-GCM (not extractable). A malformed key is refused.
export async function importKey(text) {
  let raw;
  try {
    raw = unb64url(String(text));
  } catch {
    throw new Error("The meeting key is not base64url.");
  }
  if (!KEY_BYTES.includes(raw.length)) throw new Error("The meeting key has the wrong length.");
  return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

const asKey = async (key) => (key instanceof CryptoKey ? key : importKey(key));

// text → {cipher, iv}, both base64.
export async function encryptText(key, text) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = new TextEncoder().encode(text);
  const cipher = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await asKey(key), data);
  return { cipher: b64(cipher), iv: b64(iv) };
}

// {cipher, iv} → text; a wrong key (or a changed message) rejects.
export async function decryptText(key, { cipher, iv }) {
  let plain;
  try {
    plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: unb64(iv) }, await asKey(key), unb64(cipher));
  } catch {
    throw new Error("This message cannot be read with the meeting's key.");
  }
  return new TextDecoder().decode(plain);
}

// The transforms for a Mesh (its `e2ee` option): `key` a CryptoKey or base64url, or null to
// drop every frame received (a page in an encrypted meeting without its key). The worker
// counts what it did (`counts()`), for the curious; the tests read getStats().
export class MediaE2ee {
  constructor(key) {
    this.worker = new Worker(WORKER_URL, { type: "module", name: "meeting-e2ee" });
    this.ready = this.setKey(key);
  }

  async setKey(key) {
    const cryptoKey = key === null ? null : await asKey(key);
    this.worker.postMessage({ key: cryptoKey });
  }

  sender(sender, kind) { sender.transform = new RTCRtpScriptTransform(this.worker, { side: "send", kind }); }
  receiver(receiver, kind) { receiver.transform = new RTCRtpScriptTransform(this.worker, { side: "receive", kind }); }

  counts() {
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = (e) => resolve(e.data);
      this.worker.postMessage({ counts: true }, [channel.port2]);
    });
  }

  close() { this.worker.terminate(); }
}

export const supported = () => typeof RTCRtpScriptTransform === "function" && !!globalThis.crypto?.subtle;
