// iotrack web console: the little JavaScript it has. Elements with data-sse follow a stream of
// server-sent events (same origin, the session cookie goes along) whose data is HTML the server
// rendered: "data-sse-insert" puts each event's row at the top of the element's tbody,
// "data-sse-replace" puts it in place of the element's content. Without JavaScript every page
// still shows what it had when it was loaded.
(function () {
  "use strict";
  var MAX_ROWS = 500;
  function status(text, state) {
    var shown = document.querySelector("[data-live-status]");
    if (!shown) { return; }
    shown.textContent = text;
    shown.classList.remove("connected", "lost");
    shown.classList.add(state);
  }
  function fragment(html, inTable) {
    var holder = document.createElement(inTable ? "tbody" : "div");
    if (inTable) {
      var table = document.createElement("table");
      table.appendChild(holder);
    }
    holder.innerHTML = html;
    return holder;
  }
  function follow(element) {
    var source = new EventSource(element.getAttribute("data-sse"));
    var name = element.getAttribute("data-sse-event") || "message";
    source.addEventListener("open", function () { status("Live: connected; updates appear as they happen.", "connected"); });
    source.addEventListener("error", function () { status("Live: connection lost, trying again...", "lost"); });
    source.addEventListener("signed-out", function () { source.close(); status("Your session ended: sign in again.", "lost"); });
    source.addEventListener(name, function (event) {
      if (element.hasAttribute("data-sse-replace")) {
        element.innerHTML = event.data;
        return;
      }
      var body = element.querySelector("tbody");
      var rows = fragment(event.data, true).children;
      while (rows.length) {
        var row = rows[rows.length - 1];
        row.classList.add("fresh");
        body.insertBefore(row, body.firstChild);
      }
      while (body.children.length > MAX_ROWS) { body.removeChild(body.lastChild); }
      var empty = document.querySelector(".empty");
      if (empty) { empty.remove(); }
    });
  }
  document.querySelectorAll("[data-sse]").forEach(follow);
})();
