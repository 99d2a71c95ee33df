/* On-duty check-in and check-out (打卡) on the grid manager's phone. The position and the
   phone's time are taken when she taps; the check-in carries a key made here, so sending it
   again (a lost answer, the offline outbox) stores it once. With the field outbox on the page
   (window.GridCityOutbox) the check-in is queued there and sent when the network allows;
   without it, it is posted at once and kept on the page to retry with the same key. */
(function () {
  "use strict";

  var root = document.getElementById("checkin");
  if (!root) { return; }
  var api = root.dataset.api || "/api/checkins";
  var status = document.getElementById("checkin-status");
  var list = document.getElementById("checkin-list");
  var pending = null;

  // The strings come from Django's JavaScript catalogue; without it (not loaded yet, offline
  // before it was cached) the Chinese source text is shown.
  var gettext = window.gettext || function (s) { return s; };
  function fill(fmt, args) { return window.interpolate ? window.interpolate(fmt, args, true) : fmt; }
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
  function hhmm(iso) {
    var d = new Date(iso);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }
  function kindLabel(kind) { return kind === "in" ? gettext("上班打卡") : gettext("下班打卡"); }
  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", !!isError);
  }
  function busy(on) {
    root.querySelectorAll("button[data-checkin]").forEach(function (b) { b.disabled = on; });
  }
  function listed(body, note) {
    var li = document.createElement("li");
    li.dataset.key = body.client_key;
    li.textContent = kindLabel(body.kind) + " " + hhmm(body.at) + (note ? " · " + note : "");
    var old = list.querySelector('li[data-key="' + body.client_key + '"]');
    if (old) { list.replaceChild(li, old); } else { list.appendChild(li); }
  }

  function post(body) {
    return fetch(api, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Idempotency-Key": body.client_key, "X-CSRFToken": csrf() },
      body: JSON.stringify(body)
    });
  }

  function send(body) {
    var outbox = window.GridCityOutbox;
    if (outbox && typeof outbox.enqueue === "function") {
      return Promise.resolve(outbox.enqueue({
        kind: "checkin", url: api, body: body, key: body.client_key,
        label: kindLabel(body.kind)
      })).then(function () {
        pending = null;
        listed(body, gettext("已保存在手机，联网后自动发送"));
        say(fill(gettext("%(kind)s已记录：%(time)s"), { kind: kindLabel(body.kind), time: hhmm(body.at) }));
      }, function () {
        say(gettext("打卡未能保存到手机，请再点一次"), true);
      });
    }
    return post(body).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (answer) {
        if (r.ok) {
          pending = null;
          listed(body, "");
          say(fill(gettext("%(kind)s成功：%(time)s"), { kind: kindLabel(body.kind), time: hhmm(body.at) }));
          return;
        }
        if (r.status >= 500 || r.status === 401 || r.status === 403 || r.status === 429) {
          say(gettext("暂时无法打卡（服务器不可用或登录已过期），请稍后再点一次，不会重复记录"), true);
          return;
        }
        pending = null;
        say(answer.error || fill(gettext("打卡失败（%(status)s）"), { status: r.status }), true);
      });
    }, function () {
      listed(body, gettext("未发送"));
      say(gettext("网络不可用，打卡尚未发送。联网后请再点一次，时间仍按第一次记录"), true);
    });
  }

  function checkIn(kind) {
    // A retry after a failed send keeps the first tap's key and time.
    if (pending && pending.kind === kind) { busy(true); send(pending).then(function () { busy(false); }); return; }
    if (!navigator.geolocation) { say(gettext("此设备不支持定位，无法打卡"), true); return; }
    var at = new Date().toISOString();
    busy(true);
    say(gettext("正在获取位置…"));
    navigator.geolocation.getCurrentPosition(function (p) {
      pending = {
        client_key: uuid4(),
        kind: kind,
        lon: Number(p.coords.longitude.toFixed(7)),
        lat: Number(p.coords.latitude.toFixed(7)),
        at: at
      };
      send(pending).then(function () { busy(false); }, function () { busy(false); });
    }, function () {
      busy(false);
      say(gettext("无法获取位置，请打开定位后再打卡"), true);
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }

  // The outbox sends in the background; once the server has the check-in, say so.
  if (window.GridCityOutbox && typeof window.GridCityOutbox.onSent === "function") {
    window.GridCityOutbox.onSent(function (item) {
      if (item && item.url === api && item.payload && item.payload.client_key) { listed(item.payload, ""); }
    });
  }

  root.addEventListener("click", function (ev) {
    var b = ev.target instanceof Element ? ev.target.closest("button[data-checkin]") : null;
    if (b) { checkIn(b.dataset.checkin); }
  });
})();
