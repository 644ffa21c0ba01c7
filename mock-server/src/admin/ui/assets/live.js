// Live updates: the fake says when its state changed; the page refetches
// itself and swaps in its live region. Without script, a reload does it.
(function () {
  var region = document.getElementById("live");
  if (!region || !window.EventSource) return;
  // From the state the page was drawn at: nothing between is missed.
  var es = new EventSource("/__admin/ui/live?since=" + encodeURIComponent(document.body.dataset.version || ""));
  // Closed as the page goes: a browser holds six connections a host, and a
  // page kept for "back" must not keep one of them.
  window.addEventListener("pagehide", function () { es.close(); });
  es.addEventListener("changed", function () {
    fetch(location.href, { headers: { Accept: "text/html" } })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (fresh) { region.innerHTML = fresh.innerHTML; document.body.dataset.refreshed = String(Date.now()); }
      });
  });
})();
