/* GridCity field pages: the location picker (grid manager and citizens), the grid manager's
   report composer with its offline outbox, and small helpers for the task pages.
   Plain JavaScript, no build step. Leaflet is loaded by the page when a map is needed. */
(function () {
  "use strict";

  var OUTBOX_KEY = "gridcity.outbox.v1";
  var DRAFT_KEY = "gridcity.draft.v1";
  var MAX_SIDE = 1600;

  function $(sel, root) { return (root || document).querySelector(sel); }

  // Tooltips and labels are built as text nodes: Leaflet puts a string in as HTML, and a name
  // (an area's, a device's, a case's) comes from the database or from an import file.
  function textEl(s) {
    var el = document.createElement("span");
    el.textContent = s;
    return el;
  }

  function settings() {
    var el = document.getElementById("map-settings");
    return el ? JSON.parse(el.textContent) : {};
  }

  function uuid4() {
    // crypto.randomUUID needs a secure context; getRandomValues works everywhere.
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) { return ""; }
  }

  function fmt(n) { return Number(n).toFixed(6); }

  /* ---------------------------------------------------------------- base map and cells */

  function baseMap(el, opts) {
    var s = settings();
    var map = L.map(el, { zoomControl: true, attributionControl: !!s.tiles });
    if (s.tiles) { L.tileLayer(s.tiles, { maxZoom: 19 }).addTo(map); }
    if (s.extent) {
      map.fitBounds([[s.extent[1], s.extent[0]], [s.extent[3], s.extent[2]]]);
    } else {
      map.setView([30.25, 120.17], 13);
    }
    if (!opts || opts.cells !== false) { drawCells(map); }
    return map;
  }

  // Without a tile server the area tree is the base map: streets and communities when zoomed
  // out, grid cells of the visible box when zoomed in.
  function drawCells(map) {
    var layer = L.layerGroup().addTo(map);
    var cache = {};
    var seq = 0;
    function refresh() {
      var z = map.getZoom();
      var level = z >= 15 ? 4 : (z >= 13 ? 3 : 2);
      var b = map.getBounds().pad(0.3);
      var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(fmt).join(",");
      var url = (map.getContainer().dataset.areas || "/api/areas") + "?level=" + level + "&bbox=" + bbox + "&limit=3000";
      var mine = ++seq;
      var done = function (fc) {
        if (mine !== seq) { return; }
        cache[url] = fc;
        layer.clearLayers();
        L.geoJSON(fc, {
          style: { color: level === 4 ? "#7d8fa3" : "#0b5cad", weight: level === 4 ? 1 : 2, fill: level === 4, fillColor: "#f2f5f8", fillOpacity: 0.6 },
          interactive: false
        }).addTo(layer);
        if (level < 4) {
          fc.features.forEach(function (f) {
            var c = f.properties.centroid;
            if (c && c[0] != null) {
              L.marker([c[1], c[0]], { icon: L.divIcon({ className: "area-label", html: textEl(f.properties.name) }), interactive: false, keyboard: false }).addTo(layer);
            }
          });
        }
      };
      if (cache[url]) { done(cache[url]); return; }
      fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (fc) { if (fc) { done(fc); } }).catch(function () { /* offline: keep what is drawn */ });
    }
    map.on("moveend", refresh);
    refresh();
    return layer;
  }

  /* ---------------------------------------------------------------- the location picker */

  function picker(opts) {
    var map = baseMap(opts.el);
    var marker = null;
    var manual = false;
    var text = opts.text;
    var locateSeq = 0;

    function place(lat, lon, fromUser) {
      if (fromUser) { manual = true; }
      if (!marker) {
        marker = L.marker([lat, lon], { draggable: true, keyboard: true, title: text ? text.dataset.markerTitle || "" : "" }).addTo(map);
        marker.on("dragend", function () {
          var p = marker.getLatLng();
          manual = true;
          changed(p.lat, p.lng);
        });
      } else {
        marker.setLatLng([lat, lon]);
      }
      changed(lat, lon);
    }

    function changed(lat, lon) {
      if (text) { text.textContent = "经度 " + lon.toFixed(5) + "，纬度 " + lat.toFixed(5); }
      if (opts.onChange) { opts.onChange(lon, lat); }
      var mine = ++locateSeq;
      fetch((opts.el.dataset.locate || "/api/locate") + "?lon=" + fmt(lon) + "&lat=" + fmt(lat), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (loc) {
          if (!loc || mine !== locateSeq || !text) { return; }
          if (!loc.located) {
            text.textContent += " · 不在任何网格内，请确认位置";
            return;
          }
          var names = loc.areas.filter(function (a) { return a.level === 2 || a.level === 3; })
            .map(function (a) { return a.name; });
          text.textContent += " · " + names.join(" ") + " · 网格 " + loc.cell;
        }).catch(function () { /* offline: coordinates are enough */ });
    }

    map.on("click", function (ev) { place(ev.latlng.lat, ev.latlng.lng, true); });

    function geolocate(force) {
      if (!navigator.geolocation) {
        if (text) { text.textContent = "此设备不支持定位，请在地图上点击选择位置"; }
        return;
      }
      if (text && !marker) { text.textContent = "正在获取位置…"; }
      navigator.geolocation.getCurrentPosition(function (p) {
        if (manual && !force) { return; }
        manual = false;
        place(p.coords.latitude, p.coords.longitude, false);
        map.setView([p.coords.latitude, p.coords.longitude], Math.max(map.getZoom(), 17));
      }, function () {
        if (text && !marker) { text.textContent = "无法获取位置，请在地图上点击选择位置"; }
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
    }

    return {
      map: map,
      geolocate: geolocate,
      set: function (lon, lat) { place(lat, lon, true); map.setView([lat, lon], Math.max(map.getZoom(), 17)); },
      get: function () { if (!marker) { return null; } var p = marker.getLatLng(); return { lon: p.lng, lat: p.lat }; }
    };
  }

  /* ---------------------------------------------------------------- photos */

  // Re-encode through a canvas: at most MAX_SIDE px, JPEG. Phones' 12 MP photos become a few
  // hundred kB, which fit the outbox and a weak uplink.
  function shrink(file) {
    return new Promise(function (resolve, reject) {
      var url = URL.createObjectURL(file);
      var img = new Image();
      img.onload = function () {
        var scale = Math.min(1, MAX_SIDE / Math.max(img.naturalWidth, img.naturalHeight));
        var c = document.createElement("canvas");
        c.width = Math.max(1, Math.round(img.naturalWidth * scale));
        c.height = Math.max(1, Math.round(img.naturalHeight * scale));
        c.getContext("2d").drawImage(img, 0, 0, c.width, c.height);
        URL.revokeObjectURL(url);
        resolve(c.toDataURL("image/jpeg", 0.85));
      };
      img.onerror = function () { URL.revokeObjectURL(url); reject(new Error("不是有效的图片")); };
      img.src = url;
    });
  }

  /* ---------------------------------------------------------------- the outbox */

  function loadOutbox() {
    try { return JSON.parse(localStorage.getItem(OUTBOX_KEY) || "[]"); } catch (e) { return []; }
  }

  function saveOutbox(items) {
    localStorage.setItem(OUTBOX_KEY, JSON.stringify(items));
  }

  function post(item) {
    return fetch("/api/cases", {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Idempotency-Key": item.key,
        "X-CSRFToken": csrfToken()
      },
      body: JSON.stringify(item.payload)
    });
  }

  // Worth retrying later: no network, a server error, an expired login, a busy server.
  function retryable(status) {
    return status >= 500 || status === 401 || status === 403 || status === 408 || status === 429;
  }

  /* ---------------------------------------------------------------- the composer */

  function composer(form) {
    var photos = [];
    var key = null;
    var categories = [];
    var syncing = false;
    var pick = picker({ el: $("#pick-map"), text: $("#position-text") });
    var select = $("#category");
    var classSel = $("#cat-class");
    var search = $("#cat-search");

    function draftKey() {
      if (!key) { key = localStorage.getItem(DRAFT_KEY) || uuid4(); localStorage.setItem(DRAFT_KEY, key); }
      return key;
    }

    function newDraft() {
      key = uuid4();
      localStorage.setItem(DRAFT_KEY, key);
    }

    /* categories */
    function fillClasses() {
      var seen = {};
      categories.forEach(function (c) {
        var k = c.kind + ":" + c.major_code;
        if (seen[k]) { return; }
        seen[k] = true;
        var o = document.createElement("option");
        o.value = k;
        o.textContent = (c.kind === "component" ? "部件 · " : "事件 · ") + c.major_code + " " + c.major_name;
        classSel.appendChild(o);
      });
    }

    function renderCategories() {
      var q = search.value.trim();
      var cls = classSel.value;
      var keep = select.value;
      select.innerHTML = "";
      var shown = 0;
      categories.forEach(function (c) {
        if (cls && c.kind + ":" + c.major_code !== cls) { return; }
        if (q && (c.code + c.name + c.major_name).indexOf(q) < 0) { return; }
        var o = document.createElement("option");
        o.value = c.key;
        o.textContent = c.code + " " + c.name + (c.kind === "component" ? "（部件）" : "") + " · " + c.major_name;
        if (c.key === keep) { o.selected = true; }
        select.appendChild(o);
        shown++;
      });
      if (!shown) {
        var none = document.createElement("option");
        none.disabled = true;
        none.textContent = "没有匹配的类别";
        select.appendChild(none);
      }
      chosen();
    }

    function chosen() {
      var o = select.options[select.selectedIndex];
      $("#cat-chosen").textContent = o && o.value ? "已选：" + o.textContent : "";
    }

    function loadCategories() {
      fetch(form.dataset.categories, { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error(); } return r.json(); })
        .then(function (list) {
          try { localStorage.setItem("gridcity.categories.v1", JSON.stringify(list)); } catch (e) { /* full */ }
          return list;
        })
        .catch(function () { return JSON.parse(localStorage.getItem("gridcity.categories.v1") || "[]"); })
        .then(function (list) {
          categories = list.map(function (c) { return { key: c.key, kind: c.kind, code: c.code, name: c.name, major_code: c.major_code, major_name: c.major_name }; });
          fillClasses();
          renderCategories();
        });
    }
    search.addEventListener("input", renderCategories);
    classSel.addEventListener("change", renderCategories);
    select.addEventListener("change", chosen);

    /* photos */
    function renderPhotos() {
      var box = $("#photo-previews");
      box.innerHTML = "";
      photos.forEach(function (src, i) {
        var fig = document.createElement("figure");
        var img = document.createElement("img");
        img.src = src;
        img.alt = "照片 " + (i + 1);
        var rm = document.createElement("button");
        rm.type = "button";
        rm.className = "remove";
        rm.textContent = "删除";
        rm.setAttribute("aria-label", "删除照片 " + (i + 1));
        rm.addEventListener("click", function () { photos.splice(i, 1); renderPhotos(); });
        fig.appendChild(img);
        fig.appendChild(rm);
        box.appendChild(fig);
      });
    }
    $("#photo").addEventListener("change", function (ev) {
      var files = Array.prototype.slice.call(ev.target.files || []);
      Promise.all(files.map(function (f) { return shrink(f).catch(function () { return null; }); }))
        .then(function (list) {
          var bad = list.filter(function (x) { return !x; }).length;
          list.forEach(function (x) { if (x && photos.length < 5) { photos.push(x); } });
          showError("photos", bad ? "有 " + bad + " 个文件不是有效的图片" : "");
          ev.target.value = "";
          renderPhotos();
        });
    });

    /* errors */
    function clearErrors() {
      form.querySelectorAll("[data-error-for]").forEach(function (p) { p.hidden = true; p.textContent = ""; });
      $("#form-error").hidden = true;
    }

    function showError(field, message) {
      var name = (field || "").split("[")[0].split(".")[0];
      if (name === "lat" || name === "crs") { name = "lon"; }
      var p = form.querySelector('[data-error-for="' + name + '"]');
      if (!p) { p = $("#form-error"); }
      p.textContent = message;
      p.hidden = !message;
    }

    /* sending */
    function compose() {
      var pos = pick.get();
      var errors = {};
      if (!select.value) { errors.category = "请选择问题类别"; }
      if (!pos) { errors.lon = "请等待定位完成，或在地图上点击选择位置"; }
      if (!photos.length && !$("#description").value.trim()) { errors.description = "请拍照或填写问题描述"; }
      if (Object.keys(errors).length) { return { errors: errors }; }
      var o = select.options[select.selectedIndex];
      return {
        item: {
          key: draftKey(),
          created: new Date().toISOString(),
          label: o ? o.textContent.split(" · ")[0] : select.value,
          payload: {
            category: select.value,
            lon: Number(pos.lon.toFixed(7)),
            lat: Number(pos.lat.toFixed(7)),
            crs: "wgs84",
            description: $("#description").value.trim(),
            photos: photos.slice()
          }
        }
      };
    }

    function resetForm() {
      photos = [];
      renderPhotos();
      $("#description").value = "";
      search.value = "";
      select.selectedIndex = -1;
      renderCategories();
      newDraft();
    }

    function showSent(body) {
      var box = $("#sent");
      var dept = body.department ? "，已派遣至 " + body.department : "";
      box.innerHTML = "";
      var h = document.createElement("h2");
      h.textContent = body.linked_to_existing ? "已并入已有案件" : "上报成功";
      var p = document.createElement("p");
      p.textContent = "案件编号 " + body.number + " · " + body.status_label + dept;
      box.appendChild(h);
      box.appendChild(p);
      box.hidden = false;
    }

    function loadIntoForm(item) {
      // A report the server refused: back into the form, same key, to be corrected.
      key = item.key;
      localStorage.setItem(DRAFT_KEY, key);
      photos = item.payload.photos.slice();
      renderPhotos();
      $("#description").value = item.payload.description;
      search.value = "";
      classSel.value = "";
      renderCategories();
      select.value = item.payload.category;
      chosen();
      pick.set(item.payload.lon, item.payload.lat);
      clearErrors();
      if (item.error) { showError(item.errorField, item.error); }
    }

    function renderOutbox() {
      var items = loadOutbox();
      var box = $("#outbox");
      box.hidden = !items.length;
      $("#outbox-count").textContent = String(items.length);
      var list = $("#outbox-list");
      list.innerHTML = "";
      items.forEach(function (item) {
        var li = document.createElement("li");
        var t = new Date(item.created);
        li.textContent = item.label + " · " + t.toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit" });
        if (item.error) {
          var err = document.createElement("span");
          err.className = "error";
          err.textContent = " 未能提交：" + item.error + " ";
          li.appendChild(err);
          var edit = document.createElement("button");
          edit.type = "button";
          edit.textContent = "修改后重发";
          edit.addEventListener("click", function () {
            saveOutbox(loadOutbox().filter(function (x) { return x.key !== item.key; }));
            loadIntoForm(item);
            renderOutbox();
            form.scrollIntoView();
          });
          li.appendChild(edit);
        }
        list.appendChild(li);
      });
    }

    function sync() {
      if (syncing) { return Promise.resolve(); }
      var pending = loadOutbox().filter(function (x) { return !x.error; });
      if (!pending.length) { renderOutbox(); return Promise.resolve(); }
      syncing = true;
      var chain = Promise.resolve(true);
      pending.forEach(function (item) {
        chain = chain.then(function (go) {
          if (!go) { return false; }
          return post(item).then(function (r) {
            if (r.ok) {
              return r.json().then(function (body) {
                saveOutbox(loadOutbox().filter(function (x) { return x.key !== item.key; }));
                showSent(body);
                return true;
              });
            }
            if (retryable(r.status)) {
              $("#outbox-hint").textContent = r.status === 401 || r.status === 403
                ? "登录已过期，请重新登录，之后会自动发送。" : "服务器暂时不可用，稍后自动重试。";
              return false;
            }
            return r.json().catch(function () { return {}; }).then(function (body) {
              var items = loadOutbox();
              items.forEach(function (x) {
                if (x.key === item.key) { x.error = body.error || ("错误 " + r.status); x.errorField = body.field || ""; }
              });
              saveOutbox(items);
              return true;
            });
          }, function () { return false; });
        });
      });
      return chain.then(function () { syncing = false; renderOutbox(); });
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors();
      $("#sent").hidden = true;
      var c = compose();
      if (c.errors) {
        Object.keys(c.errors).forEach(function (f) { showError(f, c.errors[f]); });
        return;
      }
      var item = c.item;
      var btn = $("#send");
      btn.disabled = true;
      btn.textContent = "发送中…";
      function queue(why) {
        try {
          saveOutbox(loadOutbox().concat([item]));
        } catch (e) {
          // Storage full: the report stays in the form rather than being lost.
          showError("", "手机存储空间不足，无法暂存，请稍后在有网络时重试发送");
          return;
        }
        resetForm();
        renderOutbox();
        var box = $("#sent");
        box.innerHTML = "";
        var p = document.createElement("p");
        p.textContent = why + "，已暂存到手机，网络恢复后自动发送。";
        box.appendChild(p);
        box.hidden = false;
      }
      post(item).then(function (r) {
        if (r.ok) {
          return r.json().then(function (body) { resetForm(); showSent(body); $("#sent").focus(); });
        }
        if (retryable(r.status)) { queue(r.status >= 500 ? "服务器暂时不可用" : "登录已过期"); return; }
        return r.json().catch(function () { return {}; }).then(function (body) {
          if (body.fields) {
            Object.keys(body.fields).forEach(function (f) { showError(f, body.fields[f]); });
          } else {
            showError(body.field || "", body.error || ("提交失败（" + r.status + "）"));
          }
        });
      }, function () { queue("网络不可用"); }).then(function () {
        btn.disabled = false;
        btn.textContent = "发送";
      });
    });

    $("#outbox-retry").addEventListener("click", sync);
    $("#locate-me").addEventListener("click", function () { pick.geolocate(true); });
    window.addEventListener("online", sync);
    setInterval(function () { if (navigator.onLine) { sync(); } }, 30000);

    draftKey();
    loadCategories();
    pick.geolocate(false);
    renderOutbox();
    sync();
  }

  /* ---------------------------------------------------------------- citizens' page */

  function publicForm(form) {
    var lon = form.querySelector("[name=lon]");
    var lat = form.querySelector("[name=lat]");
    var pick = picker({
      el: $("#pick-map"),
      text: $("#position-text"),
      onChange: function (x, y) { lon.value = x.toFixed(7); lat.value = y.toFixed(7); }
    });
    if (lon.value && lat.value) { pick.set(Number(lon.value), Number(lat.value)); }
    $("#locate-me").addEventListener("click", function () { pick.geolocate(true); });
    var search = $("#cat-search");
    var select = $("#id_category");
    search.addEventListener("input", function () {
      var q = search.value.trim();
      var first = null;
      select.querySelectorAll("option").forEach(function (o) {
        if (!o.value) { return; }
        var hit = !q || o.textContent.indexOf(q) >= 0 || o.parentNode.label.indexOf(q) >= 0;
        o.hidden = !hit;
        if (hit && !first) { first = o; }
      });
      select.querySelectorAll("optgroup").forEach(function (g) {
        g.hidden = !g.querySelector("option:not([hidden])");
      });
      if (q && first && (!select.value || select.options[select.selectedIndex].hidden)) { select.value = first.value; }
    });
  }

  /* ---------------------------------------------------------------- task page */

  function taskMap(el) {
    var map = baseMap(el);
    var ll = [Number(el.dataset.lat), Number(el.dataset.lon)];
    L.marker(ll, { keyboard: false }).addTo(map);
    map.setView(ll, 17);
  }

  // A hidden file input shows what it holds next to its button.
  function fileNames() {
    document.querySelectorAll("[data-files-for]").forEach(function (span) {
      var input = document.getElementById(span.dataset.filesFor);
      input.addEventListener("change", function () {
        var n = input.files ? input.files.length : 0;
        span.textContent = n ? "已选 " + n + " 张：" + Array.prototype.map.call(input.files, function (f) { return f.name; }).join("、") : "";
      });
    });
  }

  function start() {
    fileNames();
    var sortHere = document.getElementById("sort-here");
    if (sortHere) {
      sortHere.addEventListener("click", function (ev) {
        ev.preventDefault();
        if (!navigator.geolocation) { return; }
        navigator.geolocation.getCurrentPosition(function (p) {
          location.href = sortHere.dataset.base + "?lon=" + fmt(p.coords.longitude) + "&lat=" + fmt(p.coords.latitude);
        });
      });
    }
    var form = document.getElementById("report-form");
    if (form) { composer(form); }
    var pub = document.getElementById("public-form");
    if (pub) { publicForm(pub); }
    var tm = document.getElementById("task-map");
    if (tm) { taskMap(tm); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
