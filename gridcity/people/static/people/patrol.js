/* The grid manager's patrol: fixes from watchPosition, kept in localStorage and sent in
   batches. Every request is safe to repeat: the patrol carries a key made here, every fix a
   sequence number, so going offline and resending never makes a second track or a double
   point. With the field outbox on the page (window.GridCityOutbox, IndexedDB) the start, each
   batch and the end are queued there in that order, each under its own stable key, and sent
   with everything else the phone has waiting; only the fixes not yet batched stay in
   localStorage. Without it the patrol keeps its own queue in localStorage. Plain JavaScript,
   no build step. */
(function () {
  "use strict";

  var STATE_KEY = "gridcity.patrol.v1";
  var OUTBOX_KEY = "gridcity.patrol.outbox.v1";
  var BATCH = 5;
  var TICK_MS = 4000;
  var MIN_MOVE_M = 3;
  var MIN_GAP_MS = 60000;
  // Into the field outbox: one item per this many fixes, or once the oldest waited this long.
  var OUTBOX_BATCH = 20;
  var OUTBOX_BATCH_MS = 30000;
  // Requests on their way into IndexedDB (adding there is asynchronous): kept here until the
  // outbox has them, so closing the tab in between loses nothing.
  var HANDOFF_KEY = "gridcity.patrol.handoff.v1";

  var root = document.getElementById("patrol");
  if (!root) { return; }
  var settings = JSON.parse(document.getElementById("map-settings").textContent);
  var userId = String(root.dataset.user);

  function $(id) { return document.getElementById(id); }
  // Words come from Django's JavaScript catalogue (/i18n/js/); without it the Chinese stands.
  var gettext = window.gettext || function (s) { return s; };
  function fmt(s, values) { return s.replace(/%\((\w+)\)s/g, function (m, k) { return String(values[k]); }); }
  function load(k, d) { try { var v = JSON.parse(localStorage.getItem(k)); return v == null ? d : v; } catch (e) { return d; } }
  function save(k, v) { localStorage.setItem(k, JSON.stringify(v)); }
  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; } catch (e) { return ""; }
  }
  function uuid4() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  function metres(a, b) {
    var r = Math.PI / 180, dLat = (b.lat - a.lat) * r, dLon = (b.lon - a.lon) * r;
    var s = Math.sin(dLat / 2) * Math.sin(dLat / 2) + Math.cos(a.lat * r) * Math.cos(b.lat * r) * Math.sin(dLon / 2) * Math.sin(dLon / 2);
    return 2 * 6371008.8 * Math.asin(Math.sqrt(s));
  }

  // A patrol left by another person on this phone is not ours to resume or resend.
  var state = load(STATE_KEY, null);
  var outbox = load(OUTBOX_KEY, []);
  if (state && state.user !== userId) { state = null; outbox = []; save(STATE_KEY, null); save(OUTBOX_KEY, []); }
  var watchId = null;
  var sending = false;
  var lastServer = null;
  var box = window.GridCityOutbox && typeof window.GridCityOutbox.enqueue === "function" ? window.GridCityOutbox : null;
  var handoff = box ? load(HANDOFF_KEY, []) : [];
  var handing = false;
  var queuedPoints = 0;

  /* ------------------------------------------------------------ map */
  var map = null, trackLine = null;
  function drawMap() {
    if (typeof L === "undefined") { return; }
    map = L.map("patrol-map", { attributionControl: !!settings.tiles });
    if (settings.tiles) { L.tileLayer(settings.tiles, { maxZoom: 19 }).addTo(map); }
    var cells = L.geoJSON(settings.cells, {
      style: function (f) {
        return { color: "#7d8fa3", weight: 1, fillOpacity: 0.6, fillColor: f.properties.stale ? "#f7c57a" : "#f2f5f8" };
      },
      interactive: false
    }).addTo(map);
    if (cells.getBounds().isValid()) { map.fitBounds(cells.getBounds()); } else { map.setView([30.25, 120.17], 14); }
    trackLine = L.polyline([], { color: "#0b5cad", weight: 4 }).addTo(map);
    (state && state.trail || []).forEach(function (p) { trackLine.addLatLng([p[1], p[0]]); });
  }

  /* ------------------------------------------------------------ display */
  function render() {
    var active = !!(state && !state.ended);
    $("start").hidden = active;
    $("end").hidden = !active;
    $("count").textContent = state ? state.seq : 0;
    var pending = (state ? state.buffer.length : 0);
    outbox.forEach(function (op) { if (op.points) { pending += op.points.length; } });
    handoff.forEach(function (op) { if (op.body && op.body.points) { pending += op.body.points.length; } });
    pending += queuedPoints;
    $("pending").textContent = pending;
    if (lastServer) {
      $("distance").textContent = fmt(gettext("%(m)s 米"), { m: Math.round(lastServer.distance_m) });
      $("coverage").textContent = fmt(gettext("%(rate)s%（%(visited)s/%(cells)s）"), { rate: Math.round(lastServer.coverage * 1000) / 10, visited: lastServer.cells_visited, cells: lastServer.beat_cells });
    }
    $("net").textContent = navigator.onLine ? "" : gettext("当前离线：位置会保存在手机上，联网后自动补发。");
    $("net").className = navigator.onLine ? "net" : "net offline";
  }
  function status(text) { $("status").textContent = text; }

  /* ------------------------------------------------------------ recording */
  function record(pos) {
    if (!state || state.ended) { return; }
    var now = Date.now();
    var p = { lon: pos.coords.longitude, lat: pos.coords.latitude };
    var last = state.last;
    if (last && metres(last, p) < MIN_MOVE_M && now - last.at < MIN_GAP_MS) { return; }
    var fix = { seq: state.seq, t: new Date(now).toISOString(), lon: p.lon, lat: p.lat, accuracy: pos.coords.accuracy };
    state.seq += 1;
    state.last = { lon: p.lon, lat: p.lat, at: now };
    state.buffer.push(fix);
    state.trail.push([p.lon, p.lat]);
    if (trackLine) { trackLine.addLatLng([p.lat, p.lon]); }
    status(fmt(gettext("巡查中… 最近定位 %(time)s"), { time: new Date(now).toLocaleTimeString(document.documentElement.lang || "zh-CN", { hour12: false }) }));
    if (box ? due(now) : state.buffer.length >= BATCH) { flush(); }
    save(STATE_KEY, state);
    render();
  }
  function watch() {
    if (!navigator.geolocation) { status(gettext("此设备不支持定位，无法记录轨迹")); return; }
    if (watchId !== null) { return; }
    watchId = navigator.geolocation.watchPosition(record, function () {
      status(gettext("暂时无法获取位置，请检查定位权限"));
    }, { enableHighAccuracy: true, maximumAge: 0, timeout: 30000 });
  }
  // Some phones stop calling watchPosition in the background; ask now and then as well.
  function poll() {
    if (!state || state.ended || !navigator.geolocation) { return; }
    navigator.geolocation.getCurrentPosition(record, function () {}, { enableHighAccuracy: true, maximumAge: 0, timeout: 10000 });
  }

  /* ------------------------------------------------------------ the field outbox */
  function patrolUrl(key, tail) { return "/api/patrols/" + encodeURIComponent(key) + tail; }
  // Stable keys: the same request made again (after a reload, from the old queue) gets the
  // same key, and the server stores it once either way (start by key, points by seq).
  function startOp(key, startedAt, user) {
    return { key: "patrol-start:" + key, url: "/api/patrols", body: { key: key, started_at: startedAt }, label: gettext("开始巡查"), user: user };
  }
  function pointsOp(key, points, user) {
    return {
      key: "patrol-points:" + key + ":" + points[0].seq + "-" + points[points.length - 1].seq,
      url: patrolUrl(key, "/points"), body: { points: points },
      label: fmt(gettext("巡查轨迹 %(n)s 个点"), { n: points.length }), user: user
    };
  }
  function endOp(key, endedAt, user) {
    return { key: "patrol-end:" + key, url: patrolUrl(key, "/end"), body: { ended_at: endedAt }, label: gettext("结束巡查"), user: user };
  }
  function keyOfUrl(url) {
    var m = /^\/api\/patrols\/([^/]+)\//.exec(url || "");
    return m ? decodeURIComponent(m[1]) : "";
  }
  function ours(url) { return !!state && url.indexOf(patrolUrl(state.key, "/")) === 0; }
  function due(now) {
    if (!state || !state.buffer.length) { return false; }
    return state.buffer.length >= OUTBOX_BATCH || now - Date.parse(state.buffer[0].t) >= OUTBOX_BATCH_MS;
  }
  function handOver(op) {
    handoff.push(op);
    save(HANDOFF_KEY, handoff);
  }
  // Moves the waiting requests into IndexedDB one by one, in order; one already there (the tab
  // closed after adding, before forgetting it here) is not added twice.
  function pump() {
    if (handing || !handoff.length) { return; }
    handing = true;
    var op = handoff[0];
    box.all().then(function (items) {
      var there = items.some(function (x) { return x.key === op.key; });
      return there ? null : box.enqueue({ kind: "json", url: op.url, body: op.body, key: op.key, label: op.label, user: op.user || userId });
    }).then(function () {
      handoff = load(HANDOFF_KEY, []).filter(function (x) { return x.key !== op.key; });
      save(HANDOFF_KEY, handoff);
      handing = false;
      refreshQueued();
      pump();
    }, function () {
      // IndexedDB refused (full, private mode): the request stays here and is tried again.
      handing = false;
      status(gettext("轨迹未能保存到待发送队列，稍后自动重试"));
    });
  }
  // atLoad: only then may an ended patrol with nothing left be taken as sent; later, the
  // outbox's own answer (onSent) closes it with the server's numbers.
  function refreshQueued(atLoad) {
    if (!box) { return; }
    box.all().then(function (items) {
      queuedPoints = 0;
      var open = false;
      items.forEach(function (x) {
        if (!ours(x.url)) { return; }
        open = true;
        if (x.payload && x.payload.points) { queuedPoints += x.payload.points.length; }
      });
      // Ended, and the end sent while no page of ours was listening (service worker, another tab).
      if (atLoad === true && state && state.ended && !open && !handoff.some(function (op) { return keyOfUrl(op.url) === state.key; })) {
        status(gettext("巡查已结束，数据已全部上传"));
        state = null;
        save(STATE_KEY, null);
      }
      render();
    }, function () { /* the count waits for the next change */ });
  }
  // The old localStorage queue (left by an earlier version of this page) goes to the outbox.
  function migrate() {
    if (!outbox.length) { return; }
    outbox.forEach(function (op) {
      if (op.kind === "start") { handOver(startOp(op.body.key, op.body.started_at, userId)); }
      else if (op.kind === "end") { handOver(endOp(keyOfUrl(op.url), op.body.ended_at, userId)); }
      else if (op.points && op.points.length) { handOver(pointsOp(keyOfUrl(op.url), op.points, userId)); }
    });
    outbox = [];
    save(OUTBOX_KEY, outbox);
  }
  if (box) {
    box.onSent(function (item, res) {
      if (!item || !ours(item.url)) { return; }
      if (res && res.body && res.body.distance_m !== undefined) { lastServer = res.body; }
      if (item.key === "patrol-end:" + state.key) { finished(res.body || {}); } else { render(); }
    });
    box.onChange(refreshQueued);
    migrate();
  }

  /* ------------------------------------------------------------ the page's own queue */
  function flush() {
    if (!state || !state.buffer.length) { return; }
    if (box) {
      handOver(pointsOp(state.key, state.buffer, state.user));
      state.buffer = [];
      save(STATE_KEY, state);
      pump();
      return;
    }
    outbox.push({ url: "/api/patrols/" + encodeURIComponent(state.key) + "/points", points: state.buffer });
    state.buffer = [];
    save(OUTBOX_KEY, outbox);
    save(STATE_KEY, state);
  }
  function send() {
    if (box) {
      pump();
      if (navigator.onLine && (handoff.length || queuedPoints || (state && state.ended))) { box.kick(); }
      render();
      return;
    }
    if (sending || !outbox.length) { render(); return; }
    sending = true;
    var op = outbox[0];
    var body = op.points ? { points: op.points } : op.body;
    fetch(op.url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return { r: r, data: data }; });
    }).then(function (res) {
      sending = false;
      if (res.r.ok) {
        lastServer = res.data;
        outbox.shift();
        save(OUTBOX_KEY, outbox);
        if (op.kind === "end") { finished(res.data); }
        send();
      } else if (res.r.status === 401 || res.r.status === 403 || res.r.status >= 500) {
        status(fmt(gettext("发送失败（%(error)s），稍后自动重试"), { error: res.data.error || res.r.status }));
        render();
      } else {
        // A request the server refuses will never succeed: drop it, say so, go on.
        status(fmt(gettext("有一批数据被拒收：%(error)s"), { error: res.data.error || res.r.status }));
        outbox.shift();
        save(OUTBOX_KEY, outbox);
        send();
      }
    }).catch(function () {
      sending = false;
      render();
    });
  }

  function finished(p) {
    var km = (p.distance_m / 1000).toFixed(2);
    var values = { km: km, minutes: Math.round(p.duty_seconds / 60), visited: p.cells_visited, cells: p.beat_cells, flagged: p.points_flagged };
    status(fmt(gettext("巡查已结束：里程 %(km)s 公里，在岗 %(minutes)s 分钟，覆盖 %(visited)s/%(cells)s 个单元网格"), values) +
      (p.points_flagged ? fmt(gettext("，%(flagged)s 个异常点未计入"), values) : ""));
    state = null;
    save(STATE_KEY, null);
    render();
  }

  /* ------------------------------------------------------------ buttons */
  $("start").addEventListener("click", function () {
    var key = uuid4();
    state = { key: key, user: userId, seq: 0, buffer: [], trail: [], last: null, ended: false, startedAt: new Date(Date.now()).toISOString() };
    save(STATE_KEY, state);
    if (box) { handOver(startOp(key, state.startedAt, userId)); }
    else {
      outbox.push({ kind: "start", url: "/api/patrols", body: { key: key, started_at: state.startedAt } });
      save(OUTBOX_KEY, outbox);
    }
    if (trackLine) { trackLine.setLatLngs([]); }
    status(gettext("巡查中…"));
    watch();
    poll();
    send();
  });
  $("end").addEventListener("click", function () {
    if (!state) { return; }
    flush();
    state.ended = true;
    var endedAt = new Date(Date.now()).toISOString();
    if (box) { handOver(endOp(state.key, endedAt, state.user)); }
    else {
      outbox.push({ kind: "end", url: "/api/patrols/" + encodeURIComponent(state.key) + "/end", body: { ended_at: endedAt } });
      save(OUTBOX_KEY, outbox);
    }
    save(STATE_KEY, state);
    if (watchId !== null) { navigator.geolocation.clearWatch(watchId); watchId = null; }
    status(navigator.onLine ? gettext("正在结束巡查…") : gettext("已结束，联网后上传"));
    send();
  });

  window.addEventListener("online", function () { render(); send(); });
  window.addEventListener("offline", render);
  setInterval(function () {
    if (state && !state.ended) { poll(); }
    if (state && state.buffer.length && (!box || due(Date.now()))) { flush(); }
    send();
  }, TICK_MS);

  window.addEventListener("load", function () {
    drawMap();
    if (state && !state.ended) { status(gettext("巡查中…（已恢复）")); watch(); }
    else if (state && state.ended) { status(gettext("已结束，等待上传")); }
    if (box) { refreshQueued(true); }
    render();
    send();
  });
})();
