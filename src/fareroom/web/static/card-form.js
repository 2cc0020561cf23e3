// A card form for the public pages (the chat's client page, a paid meeting's registration):
// Stripe Elements in Stripe mode, the sandbox's own fields otherwise. Either way the card
// number goes to the gateway's tokeniser (Stripe, or the sandbox's /sandbox/tokens), never
// to Fareroom's API, which gets only the token.
export class CardForm {
  // app: the element whose data-gateway ("stripe" | "sandbox") and data-stripe-key say how
  constructor(app) {
    this.gateway = app.dataset.gateway;
    this.key = app.dataset.stripeKey;
    this.stripe = null;
    this.elements = new Map();  // box → its Stripe card element
  }

  mount(box) {
    if (box.dataset.mounted) return;
    box.dataset.mounted = "1";
    if (this.gateway === "stripe") {
      this.stripe = this.stripe || window.Stripe(this.key);
      const element = this.stripe.elements().create("card");
      element.mount(box);
      this.elements.set(box, element);
      return;
    }
    box.innerHTML = `
      <label>Card number <input name="number" inputmode="numeric" autocomplete="cc-number" required placeholder="4242 4242 4242 4242"></label>
      <div class="row"><label>Expiry <input name="exp" placeholder="MM/YY" autocomplete="cc-exp" required></label>
      <label>CVC <input name="cvc" inputmode="numeric" autocomplete="cc-csc" maxlength="4"></label></div>
      <p class="muted">Sandbox: use a Stripe test card, e.g. 4242 4242 4242 4242.</p>`;
  }

  // The token of the card typed in `form` (its mounted box), or an Error saying why not.
  async token(form) {
    const box = form.querySelector("[data-mounted]");
    if (this.gateway === "stripe") {
      const { paymentMethod, error } = await this.stripe.createPaymentMethod({ type: "card",
        card: this.elements.get(box) });
      if (error) throw new Error(error.message);
      return paymentMethod.id;
    }
    const f = new FormData(form);
    const [mm, yy] = String(f.get("exp")).split("/").map((x) => parseInt(x, 10));
    const r = await fetch("/sandbox/tokens", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ number: String(f.get("number")).replace(/\s+/g, ""), exp_month: mm || 0,
        exp_year: yy < 100 ? 2000 + yy : yy || 0, cvc: String(f.get("cvc") || "") }) });
    const data = await r.json();
    if (!r.ok) throw new Error(data.detail || data.message || "The card was refused.");
    return data.id;
  }
}
