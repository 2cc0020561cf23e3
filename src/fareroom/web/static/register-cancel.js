// The cancel page of a paid meeting's registration (its mail's link): one button, which
// cancels through the public API with the registration's token; the refund follows the
// policy the page states.
import { $, money } from "./chat-common.js";

const app = $("cancel-app");
const button = $("cancel-button");

async function cancel() {
  button.disabled = true;
  $("cancel-error").hidden = true;
  try {
    const r = await fetch(`/api/v1/register/${app.dataset.code}/registrations/${app.dataset.registration}/cancel`, {
      method: "POST", headers: { "Content-Type": "application/json", "X-Registration-Token": app.dataset.token },
      body: "{}" });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(data.detail || "The registration could not be cancelled; try again.");
    $("cancel-status").textContent = data.status.replace("_", " ");
    // what this click refunded, as the server did it (the policy at this moment)
    const back = data.refunded - Number(app.dataset.refunded);
    $("cancel-done").textContent = app.dataset.held === "true"
      ? "Cancelled: the hold on your card is released."
      : back > 0 ? `Cancelled: ${money(back, app.dataset.currency)} goes back to your card (a refund takes a few days to show).`
        : "Cancelled. By the refund policy nothing is refunded now.";
    $("cancel-done").hidden = false;
    button.hidden = true;
    $("cancel-back").hidden = true;
  } catch (err) {
    $("cancel-error").textContent = err.message;
    $("cancel-error").hidden = false;
    button.disabled = false;
  }
}

button?.addEventListener("click", cancel);
