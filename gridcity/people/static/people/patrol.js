/* The grid manager's patrol: fixes from watchPosition, kept in localStorage and sent in
   batches. Every request is safe to repeat: the patrol carries a key made here, every fix a
   sequence number, so going offline and resending never makes a second track or a double
   point. Plain JavaScript, no build step. */
(function () {
  "use strict";

  var STATE_KEY = "gridcity.patrol.v1";
  var OUTBOX_KEY = "gridcity.patrol.outbox.v1";
  var BATCH = 5;
  var TICK_MS = 4000;
  var MIN_MOVE_M = 3;
  var MIN_GAP_MS = 60000;

  var root = document.getElementById("patrol");
  if (!root) { return; }
  var settings = JSON.parse(document.getElementById("map-settings").textContent);
  var userId = String(root.dataset.user);

  function $(id) { return document.getElementById(id); }
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
    $("pending").textContent = pending;
    if (lastServer) {
      $("distance").textContent = Math.round(lastServer.distance_m) + " 米";
      $("coverage").textContent = Math.round(lastServer.coverage * 1000) / 10 + "%（" + lastServer.cells_visited + "/" + lastServer.beat_cells + "）";
    }
    $("net").textContent = navigator.onLine ? "" : "当前离线：位置会保存在手机上，联网后自动补发。";
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
    status("巡查中… 最近定位 " + new Date(now).toLocaleTimeString("zh-CN", { hour12: false }));
    if (state.buffer.length >= BATCH) { flush(); }
    save(STATE_KEY, state);
    render();
  }
  function watch() {
    if (!navigator.geolocation) { status("此设备不支持定位，无法记录轨迹"); return; }
    if (watchId !== null) { return; }
    watchId = navigator.geolocation.watchPosition(record, function () {
      status("暂时无法获取位置，请检查定位权限");
    }, { enableHighAccuracy: true, maximumAge: 0, timeout: 30000 });
  }
  // Some phones stop calling watchPosition in the background; ask now and then as well.
  function poll() {
    if (!state || state.ended || !navigator.geolocation) { return; }
    navigator.geolocation.getCurrentPosition(record, function () {}, { enableHighAccuracy: true, maximumAge: 0, timeout: 10000 });
  }

  /* ------------------------------------------------------------ the outbox */
  function flush() {
    if (!state || !state.buffer.length) { return; }
    outbox.push({ url: "/api/patrols/" + encodeURIComponent(state.key) + "/points", points: state.buffer });
    state.buffer = [];
    save(OUTBOX_KEY, outbox);
    save(STATE_KEY, state);
  }
  function send() {
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
        status("发送失败（" + (res.data.error || res.r.status) + "），稍后自动重试");
        render();
      } else {
        // A request the server refuses will never succeed: drop it, say so, go on.
        status("有一批数据被拒收：" + (res.data.error || res.r.status));
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
    status("巡查已结束：里程 " + km + " 公里，在岗 " + Math.round(p.duty_seconds / 60) + " 分钟，覆盖 " +
      p.cells_visited + "/" + p.beat_cells + " 个单元网格" + (p.points_flagged ? "，" + p.points_flagged + " 个异常点未计入" : ""));
    state = null;
    save(STATE_KEY, null);
    render();
  }

  /* ------------------------------------------------------------ buttons */
  $("start").addEventListener("click", function () {
    var key = uuid4();
    state = { key: key, user: userId, seq: 0, buffer: [], trail: [], last: null, ended: false, startedAt: new Date(Date.now()).toISOString() };
    outbox.push({ kind: "start", url: "/api/patrols", body: { key: key, started_at: state.startedAt } });
    save(STATE_KEY, state);
    save(OUTBOX_KEY, outbox);
    if (trackLine) { trackLine.setLatLngs([]); }
    status("巡查中…");
    watch();
    poll();
    send();
  });
  $("end").addEventListener("click", function () {
    if (!state) { return; }
    flush();
    state.ended = true;
    outbox.push({ kind: "end", url: "/api/patrols/" + encodeURIComponent(state.key) + "/end", body: { ended_at: new Date(Date.now()).toISOString() } });
    save(OUTBOX_KEY, outbox);
    save(STATE_KEY, state);
    if (watchId !== null) { navigator.geolocation.clearWatch(watchId); watchId = null; }
    status(navigator.onLine ? "正在结束巡查…" : "已结束，联网后上传");
    send();
  });

  window.addEventListener("online", function () { render(); send(); });
  window.addEventListener("offline", render);
  setInterval(function () {
    if (state && !state.ended) { poll(); }
    if (state && state.buffer.length) { flush(); }
    send();
  }, TICK_MS);

  window.addEventListener("load", function () {
    drawMap();
    if (state && !state.ended) { status("巡查中…（已恢复）"); watch(); }
    else if (state && state.ended) { status("已结束，等待上传"); }
    render();
    send();
  });
})();
