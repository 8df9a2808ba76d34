// The live page: calls in progress and the hour's figures, kept up to date from /events (server-sent events).
// Text goes in with textContent only; nothing the server sends is parsed as HTML.
"use strict";
(function () {
  const table = document.getElementById("live");
  if (!table) return;
  const body = table.tBodies[0];
  const none = document.getElementById("no-calls");
  const state = document.getElementById("stream-state");
  let calls = [];

  function duration(startedAt) {
    const s = Math.max(0, Math.floor(Date.now() / 1000 - (startedAt || Date.now() / 1000)));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function render() {
    body.replaceChildren();
    for (const call of calls) {
      const row = body.insertRow();
      row.dataset.call = call.call;
      const stage = call.stage + (call.error ? " (" + call.error + ")" : "");
      const response = call.response_ms == null ? "" : call.response_ms + " ms";
      for (const text of [call.caller || "withheld", duration(call.started_at), stage, call.intent,
                          (call.missing || []).join(", "), call.heard, call.actions.join(", "), response]) {
        row.insertCell().textContent = text;
      }
    }
    none.hidden = calls.length > 0;
  }

  async function refreshFigures() {
    const reply = await fetch("/api/live", {credentials: "same-origin"});
    if (!reply.ok) return;
    const data = await reply.json();
    for (const node of document.querySelectorAll("[data-figure]")) {
      const value = data.figures[node.dataset.figure];
      node.textContent = value == null ? "–" : value;
    }
    for (const chart of document.querySelectorAll("img[data-chart]")) {
      chart.src = "/chart.svg?of=" + chart.dataset.chart + "&t=" + Date.now();
    }
  }

  const stream = new EventSource("/events");
  stream.addEventListener("open", () => { state.textContent = "(live)"; });
  stream.addEventListener("error", () => { state.textContent = "(reconnecting…)"; });
  stream.addEventListener("calls", (message) => { calls = JSON.parse(message.data).calls; render(); });
  stream.addEventListener("call", (message) => {
    const data = JSON.parse(message.data);
    calls = data.calls;
    render();
    if (data.event.kind === "call-ended" || data.event.kind === "call-started") refreshFigures();
  });
  setInterval(() => {
    body.querySelectorAll("tr").forEach((row, index) => {
      if (calls[index]) row.cells[1].textContent = duration(calls[index].started_at);
    });
  }, 1000);
})();
