// A running test call: its state is polled from /api/testcalls/N and the page shows the result once it is done.
"use strict";
(function () {
  const box = document.getElementById("testcall");
  if (!box || box.dataset.state !== "running") return;
  async function poll() {
    try {
      const reply = await fetch("/api/testcalls/" + box.dataset.job, {credentials: "same-origin"});
      if (reply.ok && (await reply.json()).state !== "running") {
        location.reload();
        return;
      }
    } catch (e) { /* the panel restarting: try again */ }
    setTimeout(poll, 1000);
  }
  poll();
})();
