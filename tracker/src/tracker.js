// Storepulse tracker (see ../README.md). The served file must stay under
// 1.5 KB gzip, so this is written for the minifier: everything lives in one
// closure (esbuild renames it all), helpers are tiny arrow functions, and the
// only names that survive are the wire-format keys the server reads
// (server/src/ingest/parse.rs is the contract).
(() => {
  var w = window;
  var d = document;
  var nav = navigator;
  var now = Date.now;
  var script = d.currentScript;
  var opts = script.dataset;
  var stub = w.storepulse;

  // Do Not Track / Global Privacy Control, when the site asked us to honour
  // them: the API stays callable so the shop's code still works; nothing is
  // sent, nothing stored. (Boolean attributes: present means on.)
  if ("respectDnt" in opts && (nav.doNotTrack == 1 || nav.globalPrivacyControl))
    return (w.storepulse = () => {});

  // The API, the wrapped history and dataLayer methods, the timers and the
  // socket's messages go through `guard`: a bug or odd input here must never
  // surface as an exception in the shop's page.
  var guard =
    (f) =>
    (...args) => {
      try {
        return f(...args);
      } catch (e) {}
    };

  var site = opts.site;
  var endpoint = opts.endpoint || new URL("/api/events", script.src).href;
  var cookieless = "cookieless" in opts;

  // Storage, or a plain object that keeps values for this page only (storage
  // is used through properties, localStorage.sp_q): cookieless mode stores
  // nothing, and storage may be missing (blocked cookies).
  var local = {};
  var session = {};
  try {
    cookieless || ((local = localStorage), (session = sessionStorage));
  } catch (e) {}
  var QUEUE = "sp_q";
  // A missing key makes JSON.parse throw: `load` answers undefined then.
  var load = guard((store, key) => JSON.parse(store[key]));
  var save = guard((store, key, value) => (store[key] = JSON.stringify(value)));

  // 128 random bits, as four numbers joined by dashes: as unique as a UUID,
  // and getRandomValues, unlike randomUUID, exists on plain-HTTP pages too
  // (the server wants 1 to 100 printable characters, not a UUID).
  var uuid = () => crypto.getRandomValues(new Uint32Array(4)).join("-");

  // Cookieless: no ids at all; the server derives a daily-salted visitor
  // hash, and a session from it.
  var visitor;
  cookieless || (visitor = load(local, "sp_v")) || save(local, "sp_v", (visitor = uuid()));

  // ---- Delivery -----------------------------------------------------------
  //
  // Every event is written to the queue in localStorage before any attempt to
  // send it and leaves it only after a 2xx (or a WebSocket ack), so events
  // survive page loads and outages; the server dedupes by event id, which
  // makes every resend harmless. `sending` marks the ids this page has in its
  // one request in flight (1) or handed to a beacon (2), so no event goes out
  // twice at once from one page. Other tabs share the queue: whichever gets
  // the 2xx first removes the events for all.

  var queue = () => load(local, QUEUE) || [];
  var sending = {};
  var busy; // a request in flight, or the backoff timer after a failure
  var failures = 0;
  var seq = 0;
  var socket = {};
  var socketFailures = 0;
  var acked; // completes the batch in flight on the socket

  // A string body goes out as text/plain;charset=UTF-8: no CORS preflight,
  // and the server takes it like JSON.
  var post = (body) => fetch(endpoint, { method: "POST", body, keepalive: true });

  // WebSocket transport (data-transport="ws"): used whenever the socket is
  // open; while it connects, or if it cannot, batches go over HTTP. A closed
  // socket reconnects after 1 s, 2 s, 4 s… (reset by the first reply).
  var connect = guard(() => {
    if (opts.transport == "ws") {
      socket = new WebSocket(endpoint.replace(/^http/, "ws") + "/ws?site=" + site);
      // One message is in flight at a time, so any reply answers it: an ack,
      // or an error carrying the HTTP status it stands for.
      socket.onmessage = guard((m) => {
        socketFailures = 0;
        m = JSON.parse(m.data);
        acked(m.status || 202, m.retry_after);
      });
      // An unacked batch is resent (over HTTP, after the backoff).
      socket.onclose = guard(() => {
        setTimeout(connect, 1e3 * 2 ** socketFailures++);
        acked();
      });
    }
  });

  // Sends up to 20 queued events that are not out already. `hide` (the page
  // turned hidden, perhaps for good) hands them to sendBeacon, which answers
  // nothing: they stay queued (marked, so this page does not send them
  // again) and the next page resends them; the server drops the copy if the
  // beacon got through. A refused beacon is not retried with a keepalive
  // fetch: browsers build beacons on keepalive fetch, with the same quota.
  var flush = guard((hide, batch, body) => {
    batch = queue().filter((e) => !sending[e.id]).slice(0, 20);
    if (batch[0] && (hide || !busy)) {
      batch.map((e) => (sending[e.id] = hide ? 2 : 1));
      body = JSON.stringify({ site, sent_at: now(), seq: ++seq, events: batch });
      if (hide) return nav.sendBeacon(endpoint, body);
      busy = 1;
      // Network error, rate limit or overload: the same events (same ids) go
      // again, after Retry-After if we could read it. Anything else leaves
      // the queue: a 2xx means stored (or refused one by one and
      // dead-lettered by the server), another 4xx would fail again.
      var done = (status, retryAfter, retry) => {
        acked = 0;
        // A failed fetch passes its error, a closed socket nothing: neither
        // is below 500.
        retry = status == 429 || !(status < 500);
        retry || save(local, QUEUE, queue().filter((e) => sending[e.id] != 1));
        batch.map((e) => delete sending[e.id]);
        busy = setTimeout(
          () => flush((busy = 0)),
          retry ? retryAfter * 1e3 || Math.min(6e4, 1e3 * 2 ** failures++) : (failures = 0),
        );
      };
      socket.readyState == 1
        ? socket.send(body, (acked = done)) // (send ignores a second argument)
        : post(body).then((r) => done(r.status, r.headers.get("Retry-After")), done);
    }
  });

  // ---- Events ---------------------------------------------------------------

  var pageUrl;
  var [referrer] = d.referrer.match(/^http.*/) || [];

  // storepulse(name, params): GA4 names and parameter shapes. The protocol's
  // own fields (an order's tax, shipping and coupon too) are lifted out, items
  // as given with every GA4 item field; other scalars become props (the
  // server takes at most 20, landing UTM included). No `source`: the server
  // takes web. Nothing is computed here: a refund without value goes without.
  var api = guard((name, params, s, event, props, key, value) => {
    // The session record: id, last activity, landing UTM and user id. A
    // visit ends after 30 minutes without an event; the user id outlives it.
    //
    // The server reads UTM only from an event's own URL (enrich::utm), so a
    // session's later pages would lose the campaign: the landing page's
    // utm_source/medium/campaign are kept with the session and sent as
    // props on every event of it.
    s = load(session, "sp_s");
    value = now();
    if (!s || value - s.t > 18e5) {
      s = { i: uuid(), u: {}, d: s && s.d };
      new URLSearchParams(location.search).forEach(
        (v, k) => /^utm_(source|medium|campaign)$/.test(k) && (s.u[k] = v),
      );
    }
    s.t = value;
    save(session, "sp_s", s);
    if (name == "user") return save(session, "sp_s", ((s.d = params && "" + params), s));
    props = { ...s.u };
    event = {
      id: uuid(),
      type: name,
      ts: value,
      visitor,
      session: visitor && s.i,
      user_id: s.d,
      url: location.href.slice(0, 2e3),
      referrer,
      title: d.title.slice(0, 500),
      props,
    };
    for (key in params) {
      value = params[key];
      if (/^(currency|value|items|transaction_id|search_term|tax|shipping|coupon)$/.test(key)) event[key] = value;
      else if (!Object.keys(props)[19] && value !== Object(value)) props[key] = value;
    }
    // Bounded: beyond 100 stored events the oldest go; events older than
    // about six days would be refused as too old, so they go too.
    value = [...queue().filter((e) => event.ts - e.ts < 5e8), event].slice(-100);
    save(local, QUEUE, value);
    // Batches: what comes within a second goes together, 20 go at once.
    setTimeout(flush, value[19] ? 0 : 1e3);
  });

  // A page view whenever the URL changes: on load, on SPA navigations and
  // on back/forward. The referrer of an SPA page is the previous URL.
  var pageView = () => {
    if (location.href != pageUrl) {
      referrer = pageUrl || referrer;
      pageUrl = location.href;
      api("page_view");
    }
  };

  w.storepulse = api;
  // Calls queued by the snippet's stub before the script loaded, then the
  // first page view (which so carries a user id set by them).
  ((stub && stub.q) || []).map((args) => api(...args));
  pageView();

  ["pushState", "replaceState"].map((method, original) => {
    original = history[method];
    // Both return nothing, so neither does the wrapper.
    history[method] = function () {
      original.apply(this, arguments);
      pageView();
    };
  });
  addEventListener("popstate", pageView);

  // GA4 e-commerce events from window.dataLayer, those already in it and
  // those pushed later, in the two shapes that reach it: Google Tag
  // Manager's {event, ecommerce: {…}}, and gtag.js's gtag("event", name,
  // params), which pushes its `arguments` with the e-commerce fields in
  // params itself. GTM's own entries (no ecommerce), gtag's config, set, js
  // and consent commands, and gtag events without items or currency carry
  // no sale and are skipped. A shop that reports one event both ways, one
  // right after the other, is counted once; the same event twice in one
  // shape is two events.
  if ("datalayer" in opts) {
    var layer = (w.dataLayer = w.dataLayer || []);
    var push = layer.push;
    var last;
    var take = guard((o, gtag, name, p) => {
      [gtag, name, p] = o[0] == "event" ? o : [, o.event, o.ecommerce];
      if (gtag ? p.items || p.currency : p) {
        // An event's key is its shape ("true" for gtag, "false" for GTM) and
        // its JSON; `last` holds the key the other shape would give the
        // event sent last. (Params JSON cannot hold, cyclic ones, are
        // skipped.)
        o = JSON.stringify([name, p]);
        last == !!gtag + o || ((last = !gtag + o), api(name, p));
      }
    });
    layer.map(take);
    layer.push = (...args) => (args.map(take), push.apply(layer, args));
  }

  // Hidden (leaving, closing, a tab or app switch, often the last moment a
  // mobile page gets): beacon what is queued. Browsers make a page hidden
  // before its pagehide, so that event adds nothing.
  addEventListener("visibilitychange", () => d.hidden && flush(1));
  connect();
})();
