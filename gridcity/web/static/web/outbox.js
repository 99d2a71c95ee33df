/* The field outbox: what a grid manager sends (reports with their photos, check and verify
   results, replies, check-ins) is first written to IndexedDB on the phone, then sent in order
   whenever there is a network. Closing the tab loses nothing: an item leaves the outbox only
   when the server has taken it. Every request carries the item's own key, so sending one twice
   (a lost answer, two tabs) never makes a second case or a second check-in.

   Used by the pages (field.js) and by the service worker (Background Sync), hence no DOM here.
   Item fields:
     seq        order of sending (IndexedDB key)
     kind       "report" | "form" | "checkin"
     key        idempotency key (uuid)
     url        where it goes
     payload    JSON body (report, checkin) or form fields (form)
     photos     [Blob] (report: sent as base64 in payload.photos; form: as file field `fileField`)
     label      what the list shows
     state      "waiting" | "sending" | "failed"
     reason     why it waits or failed: "offline" | "server" | "login" | "rejected" | ""
     error      the server's own words when it refused the item */
(function (root) {
  "use strict";

  var DB_NAME = "gridcity-outbox";
  var STORE = "items";
  var LOCK = "gridcity-outbox-send";
  var listeners = [];
  var channel = typeof BroadcastChannel !== "undefined" ? new BroadcastChannel("gridcity-outbox") : null;
  var dbPromise = null;

  function open() {
    if (dbPromise) { return dbPromise; }
    dbPromise = new Promise(function (resolve, reject) {
      var req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = function () {
        req.result.createObjectStore(STORE, { keyPath: "seq", autoIncrement: true });
      };
      req.onsuccess = function () {
        var db = req.result;
        db.onversionchange = function () { db.close(); dbPromise = null; };
        resolve(db);
      };
      req.onerror = function () { dbPromise = null; reject(req.error); };
    });
    return dbPromise;
  }

  // One transaction; resolves with what `work` returned once the data is on disk.
  function transact(mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(STORE, mode);
        var result;
        t.oncomplete = function () { resolve(result && result.result !== undefined ? result.result : result); };
        t.onerror = function () { reject(t.error); };
        t.onabort = function () { reject(t.error || new Error("aborted")); };
        result = work(t.objectStore(STORE));
      });
    });
  }

  function changed() {
    listeners.forEach(function (fn) { try { fn(); } catch (e) { /* a listener's own problem */ } });
    if (channel) { channel.postMessage("changed"); }
  }
  if (channel) {
    channel.onmessage = function () {
      listeners.forEach(function (fn) { try { fn(); } catch (e) { /* idem */ } });
    };
  }

  function add(item) {
    item.state = "waiting";
    item.reason = "";
    item.error = "";
    item.created = item.created || new Date().toISOString();
    return transact("readwrite", function (s) { return s.add(item); }).then(function (seq) {
      item.seq = seq;
      changed();
      return item;
    });
  }

  function all() {
    return transact("readonly", function (s) { return s.getAll(); }).then(function (items) {
      return (items || []).sort(function (a, b) { return a.seq - b.seq; });
    });
  }

  function get(seq) {
    return transact("readonly", function (s) { return s.get(seq); });
  }

  function update(seq, patch) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(STORE, "readwrite");
        var s = t.objectStore(STORE);
        var out = null;
        var req = s.get(seq);
        req.onsuccess = function () {
          if (!req.result) { return; }
          out = Object.assign(req.result, patch);
          s.put(out);
        };
        t.oncomplete = function () { changed(); resolve(out); };
        t.onerror = function () { reject(t.error); };
      });
    });
  }

  function remove(seq) {
    return transact("readwrite", function (s) { return s.delete(seq); }).then(changed);
  }

  function retry(seq) {
    return update(seq, { state: "waiting", reason: "", error: "" });
  }

  /* ------------------------------------------------------------ sending */

  function toDataUrl(blob) {
    return blob.arrayBuffer().then(function (buf) {
      var bytes = new Uint8Array(buf);
      var parts = [];
      for (var i = 0; i < bytes.length; i += 0x8000) {
        parts.push(String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000)));
      }
      return "data:" + (blob.type || "image/jpeg") + ";base64," + btoa(parts.join(""));
    });
  }

  function request(item, ctx) {
    var headers = { "X-CSRFToken": ctx.csrf || "" };
    if (item.kind === "form") {
      var fd = new FormData();
      Object.keys(item.payload).forEach(function (k) { fd.append(k, item.payload[k]); });
      (item.photos || []).forEach(function (b, i) { fd.append(item.fileField || "photo", b, "photo" + (i + 1) + ".jpg"); });
      return fetch(item.url, { method: "POST", credentials: "same-origin", headers: headers, body: fd });
    }
    headers["Content-Type"] = "application/json";
    headers["Idempotency-Key"] = item.key;
    return Promise.all((item.photos || []).map(toDataUrl)).then(function (photos) {
      var body = Object.assign({}, item.payload);
      if (item.kind === "report") { body.photos = photos; }
      return fetch(item.url, { method: "POST", credentials: "same-origin", headers: headers, body: JSON.stringify(body) });
    });
  }

  function formError(html) {
    var m = /class="error"[^>]*>([^<]+)</.exec(html || "");
    return m ? m[1].trim() : "";
  }

  // What an answer means for the item: sent, try again later, or refused for good.
  function outcome(item, r, ctx) {
    var path = "";
    try { path = new URL(r.url).pathname; } catch (e) { path = ""; }
    if (r.status === 401 || r.status === 403 || (ctx.login && path === ctx.login)) {
      return Promise.resolve({ retry: "login" });
    }
    if (r.status >= 500 || r.status === 408 || r.status === 429) {
      return Promise.resolve({ retry: "server" });
    }
    if (item.kind === "form") {
      if (r.ok && r.redirected) {
        return r.text().then(function (html) { return { sent: true, html: html, url: r.url }; });
      }
      return r.text().then(function (html) {
        return { failed: formError(html) || ("HTTP " + r.status) };
      });
    }
    return r.json().catch(function () { return {}; }).then(function (body) {
      if (r.ok) { return { sent: true, body: body }; }
      return { failed: body.error || ("HTTP " + r.status), field: body.field || "" };
    });
  }

  function sendOne(item, ctx) {
    return update(item.seq, { state: "sending" }).then(function () {
      return request(item, ctx);
    }).then(function (r) {
      return outcome(item, r, ctx);
    }, function () {
      return { retry: "offline" };
    }).then(function (res) {
      if (res.sent) {
        return remove(item.seq).then(function () { return res; });
      }
      if (res.retry) {
        return update(item.seq, { state: "waiting", reason: res.retry }).then(function () { return res; });
      }
      return update(item.seq, { state: "failed", reason: "rejected", error: res.failed, errorField: res.field || "" })
        .then(function () { return res; });
    });
  }

  // Sends every waiting item in order; stops at the first that must wait (no network, server
  // down, signed out): the later ones would meet the same. A refused item is set aside as
  // failed and the next goes on. ctx: {csrf, login, onSent(item, result)}.
  function drainUnlocked(ctx) {
    return all().then(function (items) {
      var todo = items.filter(function (x) { return x.state !== "failed" && (!ctx.user || !x.user || String(x.user) === String(ctx.user)); });
      var chain = Promise.resolve(true);
      todo.forEach(function (item) {
        chain = chain.then(function (go) {
          if (!go) { return false; }
          return get(item.seq).then(function (fresh) {
            // Discarded or refused meanwhile (another tab, the user): skip it.
            if (!fresh || fresh.state === "failed") { return true; }
            return sendOne(fresh, ctx).then(function (res) {
              if (res.sent && ctx.onSent) { ctx.onSent(fresh, res); }
              return !res.retry;
            });
          });
        });
      });
      return chain;
    });
  }

  var draining = null;
  function drain(ctx) {
    if (draining) { return draining; }
    var run = function () { return drainUnlocked(ctx || {}); };
    var p = (typeof navigator !== "undefined" && navigator.locks)
      // One sender at a time across tabs and the service worker; whoever comes second skips.
      ? navigator.locks.request(LOCK, { ifAvailable: true }, function (lock) { return lock ? run() : null; })
      : run();
    draining = p.then(function (x) { draining = null; return x; }, function (e) { draining = null; throw e; });
    return draining;
  }

  /* ------------------------------------------------------------ from a page */

  function uuid4() {
    // crypto.randomUUID needs a secure context; getRandomValues works everywhere.
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function meta(name) {
    var el = typeof document !== "undefined" ? document.querySelector('meta[name="' + name + '"]') : null;
    return el ? el.getAttribute("content") : "";
  }

  // The page's own CSRF token and user; a saved copy shown offline has an older token, which
  // still holds while the session does.
  function pageContext() {
    var csrf = "";
    try { csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; } catch (e) { csrf = ""; }
    return { csrf: csrf, user: meta("gridcity-user"), login: meta("gridcity-login") || "/login/", onSent: pageSent };
  }

  var sentHandlers = [];
  function pageSent(item, res) {
    sentHandlers.forEach(function (fn) { try { fn(item, res); } catch (e) { /* the handler's own problem */ } });
  }

  // Send now if the network allows, and ask the browser to send later otherwise (Background
  // Sync: the service worker sends even when no page is open).
  function kick() {
    if (typeof document === "undefined") { return drain({}); }
    if (navigator.serviceWorker && navigator.serviceWorker.ready) {
      navigator.serviceWorker.ready.then(function (reg) {
        return reg.sync ? reg.sync.register("gridcity-outbox") : null;
      }).catch(function () { /* no Background Sync: the pages send on open and on reconnect */ });
    }
    if (typeof navigator !== "undefined" && navigator.onLine === false) { return Promise.resolve(false); }
    return drain(pageContext());
  }

  // For a page's script: spec {url, body, key?, label?, kind?, photos?, fileField?}.
  function enqueue(spec) {
    return add({
      kind: spec.kind || "json",
      url: spec.url,
      payload: spec.body || {},
      key: spec.key || uuid4(),
      label: spec.label || "",
      photos: spec.photos || [],
      fileField: spec.fileField || "",
      user: spec.user || meta("gridcity-user") || ""
    }).then(function (item) {
      kick();
      return item;
    });
  }

  root.GridCityOutbox = {
    uuid4: uuid4,
    enqueue: enqueue,
    kick: kick,
    onSent: function (fn) { sentHandlers.push(fn); },
    add: add,
    all: all,
    get: get,
    update: update,
    remove: remove,
    retry: retry,
    drain: drain,
    onChange: function (fn) { listeners.push(fn); }
  };
})(typeof self !== "undefined" ? self : this);
