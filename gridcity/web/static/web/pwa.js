/* The phone as an app, on every page: installs the service worker from the field pages, asks it
   to keep the pages and data needed offline, and says when a page is a saved copy shown without
   a network (the service worker marks such a copy with <meta name="gridcity-saved-at">). */
(function () {
  "use strict";

  var gettext = window.gettext || function (s) { return s; };
  var fmt = window.interpolate || function (s, a) { return s.replace("%s", a[0]); };
  var WARM_KEY = "gridcity.warmed.v1";
  var WARM_EVERY_MS = 5 * 60 * 1000;

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // HH:MM today, MM-DD HH:MM another day.
  function when(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return "—"; }
    var hm = pad(d.getHours()) + ":" + pad(d.getMinutes());
    var today = new Date();
    return d.toDateString() === today.toDateString() ? hm : pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + hm;
  }

  var savedMeta = document.querySelector('meta[name="gridcity-saved-at"]');
  var savedAt = savedMeta ? savedMeta.getAttribute("content") : "";
  var banner = null;

  function showBanner(text, live) {
    if (!banner) {
      banner = document.createElement("p");
      banner.className = "offline-banner";
      banner.setAttribute("role", "status");
      document.body.insertBefore(banner, document.body.firstChild);
    }
    banner.classList.toggle("is-live", !!live);
    banner.textContent = text;
    banner.hidden = !text;
  }

  function netChanged() {
    if (savedAt) {
      showBanner(navigator.onLine
        ? gettext("网络已恢复，刷新页面可查看最新内容")
        : fmt(gettext("离线：显示的是 %s 保存的内容"), [when(savedAt)]), false);
    } else if (document.body.classList.contains("field-page")) {
      showBanner(navigator.onLine ? "" : gettext("离线：操作会暂存在手机上，联网后自动发送"), true);
    }
  }
  if (savedAt) {
    document.documentElement.setAttribute("data-saved-at", savedAt);
  }
  netChanged();
  window.addEventListener("online", netChanged);
  window.addEventListener("offline", netChanged);

  if (!document.body.classList.contains("field-page")) { return; }

  /* ------------------------------------------------------------ the outbox, as the user sees it */

  var outbox = window.GridCityOutbox;

  function outboxPanel() {
    var box = document.getElementById("outbox");
    if (box || !outbox) { return box; }
    // A field page without its own panel (patrol) gets one at the top.
    box = document.createElement("section");
    box.id = "outbox";
    box.className = "card outbox";
    box.hidden = true;
    box.setAttribute("aria-live", "polite");
    var h = document.createElement("h2");
    h.textContent = gettext("待发送") + " ";
    var n = document.createElement("span");
    n.id = "outbox-count";
    n.textContent = "0";
    h.appendChild(n);
    var hint = document.createElement("p");
    hint.className = "hint";
    hint.id = "outbox-hint";
    var ul = document.createElement("ul");
    ul.id = "outbox-list";
    ul.className = "outbox-items";
    var b = document.createElement("button");
    b.type = "button";
    b.id = "outbox-retry";
    b.textContent = gettext("立即重试");
    box.appendChild(h);
    box.appendChild(hint);
    box.appendChild(ul);
    box.appendChild(b);
    var main = document.getElementById("main") || document.body;
    main.insertBefore(box, main.firstChild);
    return box;
  }

  function stateText(item) {
    if (item.state === "sending") { return gettext("正在发送…"); }
    if (item.state === "failed") { return gettext("发送失败"); }
    if (item.reason === "login") { return gettext("等待重新登录"); }
    if (item.reason === "server") { return gettext("等待服务器恢复"); }
    if (item.reason === "offline") { return gettext("等待网络"); }
    return gettext("等待发送");
  }

  function button(text, action, seq) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.dataset.outboxAction = action;
    b.dataset.seq = String(seq);
    return b;
  }

  var shown = [];
  var SHORT_LIST = 5;
  var expanded = false;
  function renderOutbox() {
    var box = outboxPanel();
    if (!box) { return; }
    outbox.all().then(function (items) {
      shown = items;
      box.hidden = !items.length;
      document.getElementById("outbox-count").textContent = String(items.length);
      var reasons = items.map(function (x) { return x.reason; });
      var hint = document.getElementById("outbox-hint");
      if (hint) {
        hint.textContent = reasons.indexOf("login") >= 0 ? gettext("登录已过期，请重新登录，之后会自动发送。")
          : reasons.indexOf("server") >= 0 ? gettext("服务器暂时不可用，稍后自动重试。")
            : gettext("网络恢复后将自动发送，不会重复上报。");
      }
      var list = document.getElementById("outbox-list");
      list.innerHTML = "";
      // A long queue shows its first items and every failed one; the rest behind a button.
      var rest = 0;
      var listed = items.filter(function (item, i) {
        var show = expanded || i < SHORT_LIST || item.state !== "waiting";
        if (!show) { rest++; }
        return show;
      });
      listed.forEach(function (item) {
        var li = document.createElement("li");
        li.dataset.seq = String(item.seq);
        li.dataset.state = item.state;
        var what = document.createElement("span");
        what.className = "what";
        what.textContent = (item.label || item.url) + " · " + when(item.created);
        var st = document.createElement("span");
        st.className = "state state-" + item.state;
        st.textContent = stateText(item);
        li.appendChild(what);
        li.appendChild(st);
        if (item.state === "failed") {
          var why = document.createElement("span");
          why.className = "why";
          why.textContent = fmt(gettext("原因：%s"), [item.error || "—"]);
          li.appendChild(why);
          li.appendChild(button(gettext("重试"), "retry", item.seq));
          if (item.kind === "report" && document.getElementById("report-form")) { li.appendChild(button(gettext("修改"), "edit", item.seq)); }
        }
        if (item.state !== "sending") { li.appendChild(button(gettext("放弃"), "discard", item.seq)); }
        list.appendChild(li);
      });
      if (rest) {
        var li = document.createElement("li");
        var more = document.createElement("button");
        more.type = "button";
        more.id = "outbox-more";
        more.textContent = fmt(gettext("显示其余 %s 条"), [rest]);
        li.appendChild(more);
        list.appendChild(li);
      }
    }).catch(function () { /* no IndexedDB (very old browser): nothing to show */ });
  }

  if (outbox) {
    var pending = false;
    outbox.onChange(function () {
      if (pending) { return; }
      pending = true;
      window.setTimeout(function () { pending = false; renderOutbox(); }, 50);
    });
    document.addEventListener("click", function (ev) {
      var b = ev.target instanceof Element ? ev.target.closest("[data-outbox-action], #outbox-retry, #outbox-more") : null;
      if (!b) { return; }
      if (b.id === "outbox-more") {
        expanded = true;
        renderOutbox();
        return;
      }
      if (b.id === "outbox-retry") {
        Promise.all(shown.filter(function (x) { return x.state === "failed"; }).map(function (x) { return outbox.retry(x.seq); }))
          .then(function () { return outbox.kick(); });
        return;
      }
      var seq = Number(b.dataset.seq);
      var action = b.dataset.outboxAction;
      if (action === "retry") {
        outbox.retry(seq).then(function () { return outbox.kick(); });
      } else if (action === "discard") {
        if (window.confirm(gettext("放弃后这条内容不会发送，也无法找回。确定放弃吗？"))) { outbox.remove(seq); }
      } else if (action === "edit") {
        outbox.get(seq).then(function (item) {
          if (!item) { return; }
          return outbox.remove(seq).then(function () {
            document.dispatchEvent(new CustomEvent("gridcity:edit-report", { detail: item }));
          });
        });
      }
    });
    window.addEventListener("online", function () { outbox.kick(); });
    window.setInterval(function () { if (navigator.onLine) { outbox.kick(); } }, 30000);
    renderOutbox();
    outbox.kick();
  }

  /* ------------------------------------------------------------ the service worker */

  if (!("serviceWorker" in navigator)) { return; }

  function ready(at) {
    document.documentElement.setAttribute("data-offline-ready", at);
    var el = document.getElementById("offline-ready");
    if (el) {
      el.textContent = fmt(gettext("已保存到手机，离线也能打开（%s）"), [when(at)]);
      el.hidden = false;
    }
  }

  navigator.serviceWorker.addEventListener("message", function (ev) {
    var msg = ev.data || {};
    if (msg.type === "warmed") {
      try { localStorage.setItem(WARM_KEY, msg.at); } catch (e) { /* private mode */ }
      ready(msg.at);
    }
  });

  navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function () {
    return navigator.serviceWorker.ready;
  }).then(function (reg) {
    if (navigator.storage && navigator.storage.persist) { navigator.storage.persist().catch(function () {}); }
    var last = "";
    try { last = localStorage.getItem(WARM_KEY) || ""; } catch (e) { last = ""; }
    var fresh = last && Date.now() - new Date(last).getTime() < WARM_EVERY_MS;
    // The task list is what changes: its page always refreshes the copies.
    var home = !!document.querySelector("[data-refreshes-shell]");
    if (savedAt || !navigator.onLine) {
      if (last) { ready(last); }
    } else if (fresh && !home) {
      ready(last);
    } else if (reg.active) {
      reg.active.postMessage({ type: "warm" });
    }
  }).catch(function () { /* no service worker: the pages still work online */ });
})();
