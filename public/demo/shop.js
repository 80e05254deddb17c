// The demo store's own script: what a shop's theme code does with the
// tracker. Pages carry the calls to make as JSON in `data-track` attributes
// (the body's run on load, a form's on submit), so this file is the same for
// every page. Runs after /tracker.js (both are deferred, in this order).
(function () {
  "use strict";
  var sp = (window.storepulse =
    window.storepulse ||
    function () {
      (sp.q = sp.q || []).push(arguments);
    });

  function run(json, quantity) {
    var calls;
    try {
      calls = JSON.parse(json || "[]");
    } catch (e) {
      return;
    }
    calls.forEach(function (call) {
      var params = call[1];
      // A form's chosen quantity replaces the one the page was rendered
      // with; money stays in whole cents, so 3 × 12.99 is 38.97, not
      // 38.970000000000006 (the server refuses amounts it cannot store
      // exactly).
      if (quantity && params && params.items && params.items.length === 1) {
        var item = params.items[0];
        item.quantity = quantity;
        params.value = (Math.round(item.price * 100) * quantity) / 100;
      }
      window.storepulse(call[0], params);
    });
  }

  run(document.body.getAttribute("data-track"));

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var quantity = form.elements.quantity;
    run(form.getAttribute("data-track"), quantity ? parseInt(quantity.value, 10) : 0);
  });

  // The checkout form tells the shop's backend who the shopper is to the
  // tracker (visitor and session ids), so the order it reports joins the
  // shopper's session. The tracker keeps them in localStorage.sp_v and
  // sessionStorage.sp_s (see tracker/README.md).
  var checkout = document.querySelector('form[action="/demo/checkout"]');
  if (checkout) {
    try {
      checkout.elements.visitor.value = JSON.parse(localStorage.sp_v || '""');
      checkout.elements.session.value = (JSON.parse(sessionStorage.sp_s || "{}") || {}).i || "";
    } catch (e) {
      // Storage blocked: the order is still reported, without the session.
    }
  }

  // Sorting a category happens in the page, with the URL updated by
  // history.pushState: a single-page navigation, which the tracker counts as
  // a page view.
  var grid = document.getElementById("products");
  var links = document.querySelectorAll("a[data-sort]");
  function sort(by) {
    var cards = Array.prototype.slice.call(grid.children);
    cards.sort(function (a, b) {
      if (by === "price") return a.dataset.price - b.dataset.price;
      if (by === "name") return a.dataset.name.localeCompare(b.dataset.name);
      return a.dataset.index - b.dataset.index;
    });
    cards.forEach(function (card) {
      grid.appendChild(card);
    });
    links.forEach(function (link) {
      link.setAttribute("aria-current", link.dataset.sort === by ? "true" : "false");
    });
  }
  if (grid && links.length) {
    Array.prototype.forEach.call(grid.children, function (card, index) {
      card.dataset.index = index;
    });
    links.forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        history.pushState(null, "", link.getAttribute("href"));
        sort(link.dataset.sort);
      });
    });
    window.addEventListener("popstate", function () {
      sort(new URLSearchParams(location.search).get("sort") || "featured");
    });
    sort(new URLSearchParams(location.search).get("sort") || "featured");
  }
})();
