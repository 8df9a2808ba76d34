// The knowledge page: while the index is being rebuilt, its progress is polled from /api/knowledge and shown.
// Text goes in with textContent only; nothing the server sends is parsed as HTML.
"use strict";
(function () {
  const box = document.getElementById("reindex");
  if (!box) return;
  const bar = document.getElementById("reindex-bar");
  const text = document.getElementById("reindex-text");
  const failed = document.getElementById("reindex-failed");

  function show(p) {
    box.dataset.state = p.state;
    bar.max = Math.max(p.total, 1);
    bar.value = p.done;
    if (p.state === "running") text.textContent = "Re-indexing: " + p.done + " of " + p.total + " documents";
    else if (p.state === "done") text.textContent = "Indexed: " + p.report;
    else if (p.state === "failed") text.textContent = "Re-indexing failed: " + p.error;
    failed.replaceChildren();
    for (const f of p.failed) {
      const item = document.createElement("li");
      item.textContent = f.document + ": " + f.why;
      failed.appendChild(item);
    }
  }

  async function poll() {
    try {
      const reply = await fetch("/api/knowledge", {credentials: "same-origin"});
      if (reply.ok) {
        const p = await reply.json();
        show(p);
        if (p.state !== "running") return;
      }
    } catch (e) { /* the panel restarting: try again */ }
    setTimeout(poll, 1000);
  }

  if (box.dataset.state === "running") poll();
})();
