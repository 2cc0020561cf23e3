// A host's personal room: copy its link or its invitation, or compose it in a mail. An
// encrypted room's key is made in this browser and kept for the room (localStorage), so the
// link copied here carries it in its fragment, where no server sees it; the meeting page
// (meeting.js) finds the same key.
import { $ } from "./chat-common.js";
import { newKey } from "./meeting-e2ee.js";

const card = $("personal");
const code = card.dataset.code;

function key() {
  if (card.dataset.encrypted !== "true") return null;
  const stored = `fareroom-meeting-key:${code}`;
  const found = localStorage.getItem(stored) || newKey();
  localStorage.setItem(stored, found);
  return found;
}

const k = key();
const base = $("room-link").href;
const link = k ? `${base}#key=${k}` : base;
const invitation = $("invitation").textContent.replace(base, link);
if (k) {
  $("room-link").href = $("room-link").textContent = link;
  $("invitation").textContent = invitation;
  $("start-meeting").href += `#key=${k}`;
}
const subject = encodeURIComponent(`Invitation: ${document.querySelector("h1").textContent}`);
const body = encodeURIComponent(invitation);
$("mail-default").href = `mailto:?subject=${subject}&body=${body}`;
$("mail-gmail").href = `https://mail.google.com/mail/?view=cm&fs=1&su=${subject}&body=${body}`;
$("mail-yahoo").href = `https://compose.mail.yahoo.com/?subject=${subject}&body=${body}`;

async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    $("status").textContent = `${what} copied.`;
  } catch {
    $("status").textContent = `Copy this ${what.toLowerCase()}: ${text}`;
  }
}
$("copy-link").addEventListener("click", () => copy(link, "Link"));
$("copy-invitation").addEventListener("click", () => copy(invitation, "Invitation"));
