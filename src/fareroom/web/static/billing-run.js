// A payment run's page: the progress bar, counts and failures follow the run once a second
// while it runs (the page's figures are right when it loads; without JavaScript, reloading
// shows the news). When the run is no longer running, the page reloads once for its buttons.
(function () {
  "use strict";
  const run = document.getElementById("run");
  if (!run || run.dataset.status !== "running") return;
  const text = (id, value) => { const el = document.getElementById(id); if (el) el.textContent = value; };
  async function follow() {
    let data;
    try {
      const r = await fetch(run.dataset.progress, { headers: { Accept: "application/json" } });
      if (!r.ok) return setTimeout(follow, 3000);
      data = await r.json();
    } catch (e) { return setTimeout(follow, 3000); }
    const bar = document.getElementById("run-bar");
    bar.max = data.bills || 1;
    bar.value = data.done;
    text("run-done", String(data.done));
    text("run-status", data.status);
    for (const status of ["paid", "failed", "skipped", "pending"]) {
      text("count-" + status, String(data.counts[status] || 0));
    }
    const list = document.getElementById("failures");
    list.replaceChildren(...(Object.entries(data.failures).length ? Object.entries(data.failures).map(([code, n]) => {
      const li = document.createElement("li");
      const span = document.createElement("span");
      span.className = "mono"; span.textContent = code;
      li.append(span, ": " + n);
      return li;
    }) : [Object.assign(document.createElement("li"), { textContent: "None." })]));
    if (data.status === "running") setTimeout(follow, 1000);
    else location.reload();
  }
  setTimeout(follow, 1000);
})();
