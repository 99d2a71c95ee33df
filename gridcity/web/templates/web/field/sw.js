/* GridCity service worker (served at /sw.js by gridcity/web/pwa.py).

   The field pages (my tasks, report, task pages, patrol) are fetched from the network when
   there is one, and a copy is kept; without a network the copy is shown, marked with the time it
   was saved (the page shows a banner from <meta name="gridcity-saved-at">). Static files are
   kept at install. The server says which pages and data a user keeps (/pwa/shell.json): her
   task pages, her beat's cells and the categories. The outbox (outbox.js) is sent from here
   when the browser fires Background Sync, with no page open. Every other request passes
   through untouched. */
"use strict";

var CONFIG = {{ config|safe }};
var STATIC_CACHE = "gridcity-static-" + CONFIG.version;
var PAGE_CACHE = "gridcity-pages-" + CONFIG.version;
var DATA_CACHE = "gridcity-data-" + CONFIG.version;
var SHELL_CACHE = "gridcity-shell-" + CONFIG.version;
var KEEP = [STATIC_CACHE, PAGE_CACHE, DATA_CACHE, SHELL_CACHE];
var FIELD_PAGES = [/^\/field\//, /^\/people\/patrol\/$/];
var DATA = [/^\/api\/categories$/, /^\/api\/areas$/, /^\/i18n\/js\/$/];
var OFFLINE_URL = "/pwa/offline";

importScripts(CONFIG.outbox);

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(STATIC_CACHE)
      .then(function (cache) { return cache.addAll(CONFIG.static); })
      .then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (n) {
        return n.indexOf("gridcity-") === 0 && KEEP.indexOf(n) < 0;
      }).map(function (n) { return caches.delete(n); }));
    }).then(function () { return self.clients.claim(); })
  );
});

function matches(list, path) {
  return list.some(function (re) { return re.test(path); });
}

// A copy of the page that remembers when it was taken.
function stamped(response) {
  return response.clone().blob().then(function (body) {
    var headers = new Headers(response.headers);
    headers.set("X-Saved-At", new Date().toISOString());
    return new Response(body, { status: response.status, statusText: response.statusText, headers: headers });
  });
}

function keep(cacheName, request, response) {
  if (!response || !response.ok || response.redirected || response.type !== "basic") {
    return Promise.resolve(response);
  }
  return stamped(response).then(function (copy) {
    return caches.open(cacheName).then(function (cache) { return cache.put(request, copy); });
  }).then(function () { return response; }, function () { return response; });
}

// The saved page, with the time it was saved put where the page's script finds it.
function markedCopy(cached) {
  var saved = cached.headers.get("X-Saved-At") || "";
  return cached.text().then(function (html) {
    var meta = '<meta name="gridcity-saved-at" content="' + saved.replace(/[^0-9T:.Z+-]/g, "") + '">';
    html = html.replace(/<head>/i, "<head>" + meta);
    var headers = new Headers(cached.headers);
    headers.delete("Content-Length");
    return new Response(html, { status: 200, headers: headers });
  });
}

function offlinePage() {
  return caches.open(SHELL_CACHE).then(function (cache) { return cache.match(OFFLINE_URL); })
    .then(function (r) {
      return r || new Response("<!doctype html><meta charset=utf-8><title>GridCity</title><p>离线 / Offline</p>",
        { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
    });
}

function fieldPage(request) {
  var key = request.url.split("#")[0];
  return fetch(request).then(function (response) {
    // Signed out, or the page is gone: the saved copy must not outlive the right to see it.
    if (response.redirected || response.status === 403 || response.status === 404) {
      caches.open(PAGE_CACHE).then(function (c) { return c.delete(key); });
      return response;
    }
    return keep(PAGE_CACHE, key, response);
  }, function () {
    return caches.open(PAGE_CACHE).then(function (cache) {
      // A list page opened with a sort order or a position still has its plain copy.
      return cache.match(key, { ignoreVary: true }).then(function (hit) {
        return hit || cache.match(key.split("?")[0], { ignoreVary: true });
      });
    }).then(function (hit) { return hit ? markedCopy(hit) : offlinePage(); });
  });
}

// The map asks for the cells of what it shows; offline, the beat's layer of the same level
// (kept whole) stands in for any view.
function areasFallback(url) {
  var level = url.searchParams.get("level");
  return caches.open(DATA_CACHE).then(function (cache) {
    return cache.keys().then(function (keys) {
      var same = keys.filter(function (k) {
        var u = new URL(k.url);
        return u.pathname === "/api/areas" && u.searchParams.get("level") === level;
      });
      return same.length ? cache.match(same[same.length - 1], { ignoreVary: true }) : undefined;
    });
  });
}

function data(request, url) {
  return fetch(request).then(function (response) {
    return keep(DATA_CACHE, request, response);
  }, function (err) {
    return caches.open(DATA_CACHE).then(function (cache) { return cache.match(request, { ignoreVary: true }); })
      .then(function (hit) { return hit || (url.pathname === "/api/areas" ? areasFallback(url) : undefined); })
      .then(function (hit) { if (hit) { return hit; } throw err; });
  });
}

function staticFile(request) {
  return caches.open(STATIC_CACHE).then(function (cache) {
    return cache.match(request, { ignoreSearch: true, ignoreVary: true }).then(function (hit) {
      return hit || fetch(request).then(function (response) {
        if (response.ok) { cache.put(request, response.clone()); }
        return response;
      });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.method === "POST" && url.pathname === CONFIG.logout) {
    // Nothing of one person's work stays on a shared phone after she signs out.
    event.waitUntil(forget());
    return;
  }
  if (request.method !== "GET") { return; }
  if (request.mode === "navigate" && matches(FIELD_PAGES, url.pathname)) {
    event.respondWith(fieldPage(request));
  } else if (matches(DATA, url.pathname)) {
    event.respondWith(data(request, url));
  } else if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(staticFile(request));
  }
});

function forget() {
  return Promise.all([caches.delete(PAGE_CACHE), caches.delete(DATA_CACHE), caches.delete(SHELL_CACHE)]);
}

/* ------------------------------------------------------------ keeping the shell */

var warming = null;

// Fetches the user's list of pages and data and keeps a copy of each; one after the other,
// so as not to crowd a slow uplink or the server.
function warm() {
  if (warming) { return warming; }
  warming = fetch(CONFIG.shell, { credentials: "same-origin" }).then(function (r) {
    if (!r.ok || r.redirected) { throw new Error("shell " + r.status); }
    return r.json();
  }).then(function (shell) {
    var offline = new Response(shell.offline_page, { headers: { "Content-Type": "text/html; charset=utf-8" } });
    var context = new Response(JSON.stringify({ csrf: shell.csrf, user: shell.user }), { headers: { "Content-Type": "application/json" } });
    return caches.open(SHELL_CACHE).then(function (cache) {
      return Promise.all([cache.put(OFFLINE_URL, offline), cache.put("/pwa/context", context)]);
    }).then(function () {
      var chain = Promise.resolve();
      var origin = self.location.origin;
      shell.pages.forEach(function (path) {
        chain = chain.then(function () {
          return fetch(origin + path, { credentials: "same-origin" })
            .then(function (r) { return keep(PAGE_CACHE, origin + path, r); })
            .catch(function () { /* one page missing is no reason to keep no others */ });
        });
      });
      shell.data.forEach(function (path) {
        chain = chain.then(function () {
          return fetch(origin + path, { credentials: "same-origin" })
            .then(function (r) { return keep(DATA_CACHE, new Request(origin + path), r); })
            .catch(function () { /* idem */ });
        });
      });
      return chain.then(function () { return { pages: shell.pages.length, at: new Date().toISOString() }; });
    });
  });
  warming = warming.then(function (x) { warming = null; return x; }, function (e) { warming = null; throw e; });
  return warming;
}

self.addEventListener("message", function (event) {
  var msg = event.data || {};
  var source = event.source;
  if (msg.type === "warm") {
    event.waitUntil(warm().then(function (info) {
      if (source) { source.postMessage({ type: "warmed", pages: info.pages, at: info.at }); }
    }, function () {
      if (source) { source.postMessage({ type: "warm-failed" }); }
    }));
  }
});

/* ------------------------------------------------------------ Background Sync */

function sendOutbox() {
  return caches.open(SHELL_CACHE).then(function (cache) { return cache.match("/pwa/context"); })
    .then(function (r) { return r ? r.json() : {}; })
    .then(function (ctx) {
      return self.GridCityOutbox.drain({ csrf: ctx.csrf, user: ctx.user, login: CONFIG.login });
    });
}

self.addEventListener("sync", function (event) {
  if (event.tag === "gridcity-outbox") { event.waitUntil(sendOutbox()); }
});
