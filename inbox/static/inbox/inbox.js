// Small helpers for htmx triggers in the inbox templates.
// The bell's poll must not replace the list while the agent has it open.
window.bellIsClosed = function () {
  return !document.querySelector("#notifications details[open]");
};

// A conversation handed over to another team answers its poll with 404 and a short notice:
// show the notice in place of the thread (htmx swaps only 2xx answers by default).
document.addEventListener("htmx:beforeSwap", function (event) {
  if (event.detail.xhr.status === 404 && event.detail.target.id === "live") {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
