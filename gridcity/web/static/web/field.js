/* GridCity field pages: the location picker (grid manager and citizens), the grid manager's
   report composer with its offline outbox, and small helpers for the task pages.
   Plain JavaScript, no build step. Leaflet is loaded by the page when a map is needed. */
(function () {
  "use strict";

  var LEGACY_OUTBOX_KEY = "gridcity.outbox.v1";  // before the outbox moved to IndexedDB
  var DRAFT_KEY = "gridcity.draft.v1";
  var MAX_SIDE = 1600;
  var JPEG_QUALITY = 0.8;
  var MAX_PHOTOS = 5;
  var gettext = window.gettext || function (s) { return s; };
  var interpolate = window.interpolate || function (s, a) { var i = 0; return s.replace(/%s/g, function () { return String(a[i++]); }); };

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
    var locateTimer = null;
    var gettext = window.gettext || function (s) { return s; };
    // Outside every cell: the report would go to the intake desk unrouted, so the grid manager
    // (or the citizen) confirms such a position once before it is sent.
    var outside = false;
    var confirmed = false;
    var warning = document.getElementById("position-warning");
    var lonIn = document.getElementById("coord-lon");
    var latIn = document.getElementById("coord-lat");

    function warn(message) {
      if (!warning) { return; }
      warning.textContent = message;
      warning.hidden = !message;
    }

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
      if (text) { text.textContent = interpolate(gettext("经度 %s，纬度 %s"), [lon.toFixed(5), lat.toFixed(5)]); }
      if (opts.onChange) { opts.onChange(lon, lat); }
      if (lonIn && document.activeElement !== lonIn && document.activeElement !== latIn) {
        lonIn.value = lon.toFixed(6);
        latIn.value = lat.toFixed(6);
      }
      outside = false;
      confirmed = false;
      warn("");
      var mine = ++locateSeq;
      // Arrow keys move the marker in small steps: ask where it is once it rests.
      clearTimeout(locateTimer);
      locateTimer = setTimeout(function () { locateAt(lat, lon, mine); }, 250);
    }

    function locateAt(lat, lon, mine) {
      fetch((opts.el.dataset.locate || "/api/locate") + "?lon=" + fmt(lon) + "&lat=" + fmt(lat), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (loc) {
          if (!loc || mine !== locateSeq || !text) { return; }
          if (!loc.located) {
            text.textContent += " · " + gettext("不在任何网格内，请确认位置");
            outside = true;
            warn(gettext("该位置不在任何网格内，请确认位置是否正确。"));
            return;
          }
          var names = loc.areas.filter(function (a) { return a.level === 2 || a.level === 3; })
            .map(function (a) { return a.name; });
          text.textContent += " · " + names.join(" ") + " · " + interpolate(gettext("网格 %s"), [loc.cell]);
        }).catch(function () { /* offline: coordinates are enough */ });
    }

    map.on("click", function (ev) { place(ev.latlng.lat, ev.latlng.lng, true); });

    // The keyboard: with the map focused the arrow keys move the marker (Shift: further)
    // instead of the map; the first press puts it in the middle of the map.
    var STEP = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    opts.el.addEventListener("keydown", function (ev) {
      var d = STEP[ev.key];
      if (!d || ev.altKey || ev.ctrlKey || ev.metaKey) { return; }
      ev.preventDefault();
      ev.stopPropagation();  // Leaflet pans the map on the same keys, listening on the document.
      var px = ev.shiftKey ? 50 : 10;
      var to = map.getCenter();
      if (marker) {
        to = map.containerPointToLatLng(map.latLngToContainerPoint(marker.getLatLng()).add([d[0] * px, d[1] * px]));
      }
      place(to.lat, to.lng, true);
      if (!map.getBounds().pad(-0.1).contains(to)) { map.panTo(to); }
    });

    // Or typed: longitude and latitude, applied on Enter or when the field is left.
    function typed(ev) {
      if (ev.type === "keydown" && ev.key !== "Enter") { return; }
      if (ev.type === "keydown") { ev.preventDefault(); }
      var lon = Number(String(lonIn.value).trim()), lat = Number(String(latIn.value).trim());
      if (!lonIn.value.trim() || !latIn.value.trim()) { return; }
      if (!isFinite(lon) || !isFinite(lat) || Math.abs(lon) > 180 || Math.abs(lat) > 90) {
        warn(gettext("经纬度格式不正确：经度在 -180 至 180 之间，纬度在 -90 至 90 之间。"));
        return;
      }
      var here = marker ? marker.getLatLng() : null;
      if (here && Math.abs(here.lng - lon) < 1e-7 && Math.abs(here.lat - lat) < 1e-7) { return; }
      place(lat, lon, true);
      map.setView([lat, lon], Math.max(map.getZoom(), 17));
    }
    if (lonIn && latIn) {
      [lonIn, latIn].forEach(function (el) {
        el.addEventListener("keydown", typed);
        el.addEventListener("change", typed);
      });
    }

    function geolocate(force) {
      if (!navigator.geolocation) {
        if (text) { text.textContent = gettext("此设备不支持定位，请在地图上点击选择位置"); }
        return;
      }
      if (text && !marker) { text.textContent = gettext("正在获取位置…"); }
      navigator.geolocation.getCurrentPosition(function (p) {
        if (manual && !force) { return; }
        manual = false;
        place(p.coords.latitude, p.coords.longitude, false);
        map.setView([p.coords.latitude, p.coords.longitude], Math.max(map.getZoom(), 17));
      }, function () {
        if (text && !marker) { text.textContent = gettext("无法获取位置，请在地图上点击选择位置"); }
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: force ? 0 : 30000 });
    }

    return {
      map: map,
      geolocate: geolocate,
      set: function (lon, lat) { place(lat, lon, true); map.setView([lat, lon], Math.max(map.getZoom(), 17)); },
      // True once for a position outside every cell: the caller stops the sending and shows
      // the warning; sending again goes ahead.
      needsConfirm: function () {
        if (!outside || confirmed) { return false; }
        confirmed = true;
        warn(gettext("该位置不在任何网格内。请确认位置无误后再次点击发送，或在地图上重新选择。"));
        if (warning) { warning.focus(); }
        return true;
      },
      get: function () { if (!marker) { return null; } var p = marker.getLatLng(); return { lon: p.lng, lat: p.lat }; }
    };
  }

  /* ---------------------------------------------------------------- photos */

  // Re-encode through a canvas: at most MAX_SIDE px, JPEG. A phone's 12 MP photo of several MB
  // becomes a few hundred kB, which the outbox keeps by the hundred and a weak uplink sends.
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
        c.toBlob(function (blob) {
          c.width = c.height = 0;  // let a cheap phone have the memory back at once
          if (blob) { resolve(blob); } else { reject(new Error("encode")); }
        }, "image/jpeg", JPEG_QUALITY);
      };
      img.onerror = function () { URL.revokeObjectURL(url); reject(new Error("image")); };
      img.src = url;
    });
  }

  // One after the other: decoding several 12 MP photos at once can exhaust a cheap phone.
  function shrinkAll(files) {
    var out = [];
    var chain = Promise.resolve();
    files.forEach(function (f) {
      chain = chain.then(function () {
        return shrink(f).then(function (b) { out.push(b); }, function () { out.push(null); });
      });
    });
    return chain.then(function () { return out; });
  }

  function outbox() { return window.GridCityOutbox; }

  // Why an item could not be stored, in words that say what to do.
  function storeError(err) {
    var full = err && (err.name === "QuotaExceededError" || /quota/i.test(String(err.message || err)));
    if (!full) { return Promise.resolve(gettext("无法暂存到手机（浏览器存储不可用），请在有网络时发送")); }
    return outbox().all().then(function (items) {
      return interpolate(gettext("留给本网站的暂存空间已满（已暂存 %s 条待发送），请联网发送后再继续；本条内容仍在表单中。"), [items.length]);
    }, function () { return gettext("留给本网站的暂存空间已满，请联网发送后再继续；本条内容仍在表单中。"); });
  }

  /* ---------------------------------------------------------------- the composer */

  function composer(form) {
    var photos = [];  // {blob, url}
    var key = null;
    var categories = [];
    var justSent = {};
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
        o.textContent = (c.kind === "component" ? gettext("部件") : gettext("事件")) + " · " + c.major_code + " " + c.major_name;
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
        o.textContent = c.code + " " + c.name + (c.kind === "component" ? gettext("（部件）") : "") + " · " + c.major_name;
        if (c.key === keep) { o.selected = true; }
        select.appendChild(o);
        shown++;
      });
      if (!shown) {
        var none = document.createElement("option");
        none.disabled = true;
        none.textContent = gettext("没有匹配的类别");
        select.appendChild(none);
      }
      chosen();
    }

    function chosen() {
      var o = select.options[select.selectedIndex];
      $("#cat-chosen").textContent = o && o.value ? interpolate(gettext("已选：%s"), [o.textContent]) : "";
    }

    // The service worker keeps the list for offline use; localStorage is the fallback for a
    // browser without one.
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
      photos.forEach(function (p, i) {
        var fig = document.createElement("figure");
        var img = document.createElement("img");
        img.src = p.url;
        img.alt = interpolate(gettext("照片 %s"), [i + 1]);
        var rm = document.createElement("button");
        rm.type = "button";
        rm.className = "remove";
        rm.textContent = gettext("删除");
        rm.setAttribute("aria-label", interpolate(gettext("删除照片 %s"), [i + 1]));
        rm.addEventListener("click", function () { URL.revokeObjectURL(p.url); photos.splice(i, 1); renderPhotos(); });
        fig.appendChild(img);
        fig.appendChild(rm);
        box.appendChild(fig);
      });
    }
    function setPhotos(blobs) {
      photos.forEach(function (p) { URL.revokeObjectURL(p.url); });
      photos = blobs.map(function (b) { return { blob: b, url: URL.createObjectURL(b) }; });
      renderPhotos();
    }
    $("#photo").addEventListener("change", function (ev) {
      var files = Array.prototype.slice.call(ev.target.files || []);
      var input = ev.target;
      var send = $("#send");
      // Not sent half-made: the button waits for the photos.
      input.disabled = true;
      send.disabled = true;
      shrinkAll(files).then(function (list) {
        var bad = list.filter(function (x) { return !x; }).length;
        list.forEach(function (b) { if (b && photos.length < MAX_PHOTOS) { photos.push({ blob: b, url: URL.createObjectURL(b) }); } });
        showError("photos", bad ? interpolate(gettext("有 %s 个文件不是有效的图片"), [bad]) : "");
        input.value = "";
        input.disabled = false;
        send.disabled = false;
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
      if (!select.value) { errors.category = gettext("请选择问题类别"); }
      if (!pos) { errors.lon = gettext("请等待定位完成，或在地图上点击选择位置"); }
      if (!photos.length && !$("#description").value.trim()) { errors.description = gettext("请拍照或填写问题描述"); }
      if (Object.keys(errors).length) { return { errors: errors }; }
      var o = select.options[select.selectedIndex];
      return {
        item: {
          kind: "report",
          url: form.dataset.api || "/api/cases",
          key: draftKey(),
          label: o ? o.textContent.split(" · ")[0] : select.value,
          user: (document.querySelector('meta[name="gridcity-user"]') || { content: "" }).content,
          payload: {
            category: select.value,
            lon: Number(pos.lon.toFixed(7)),
            lat: Number(pos.lat.toFixed(7)),
            crs: "wgs84",
            description: $("#description").value.trim()
          },
          photos: photos.map(function (p) { return p.blob; })
        }
      };
    }

    function resetForm() {
      setPhotos([]);
      $("#description").value = "";
      search.value = "";
      select.selectedIndex = -1;
      renderCategories();
      newDraft();
    }

    function note(text) {
      var box = $("#sent");
      box.innerHTML = "";
      var p = document.createElement("p");
      p.textContent = text;
      box.appendChild(p);
      box.hidden = false;
    }

    function showSent(body) {
      var box = $("#sent");
      box.innerHTML = "";
      var h = document.createElement("h2");
      h.textContent = body.linked_to_existing ? gettext("已并入已有案件") : gettext("上报成功");
      var p = document.createElement("p");
      p.textContent = interpolate(gettext("案件编号 %s"), [body.number]) + " · " + body.status_label +
        (body.department ? " · " + interpolate(gettext("已派遣至 %s"), [body.department]) : "");
      box.appendChild(h);
      box.appendChild(p);
      box.hidden = false;
    }

    function loadIntoForm(item) {
      // A report the server refused: back into the form, same key, to be corrected.
      key = item.key;
      localStorage.setItem(DRAFT_KEY, key);
      setPhotos(item.photos || []);
      $("#description").value = item.payload.description || "";
      search.value = "";
      classSel.value = "";
      renderCategories();
      select.value = item.payload.category;
      chosen();
      pick.set(item.payload.lon, item.payload.lat);
      clearErrors();
      if (item.error) { showError(item.errorField, item.error); }
    }

    outbox().onSent(function (item, res) {
      if (item.kind === "report" && res.body && res.body.number) {
        showSent(res.body);
        if (justSent[item.key]) { delete justSent[item.key]; $("#sent").focus(); }
      }
    });
    document.addEventListener("gridcity:edit-report", function (ev) {
      loadIntoForm(ev.detail);
      form.scrollIntoView();
    });

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors();
      $("#sent").hidden = true;
      var c = compose();
      if (c.errors) {
        Object.keys(c.errors).forEach(function (f) { showError(f, c.errors[f]); });
        return;
      }
      if (pick.needsConfirm()) { return; }
      var btn = $("#send");
      btn.disabled = true;
      btn.textContent = gettext("保存中…");
      var item = c.item;
      justSent[item.key] = true;
      // Stored on the phone first: from here on, nothing is lost whatever the network does.
      outbox().add(item).then(function (stored) {
        resetForm();
        note(navigator.onLine ? gettext("已保存，正在发送…") : gettext("网络不可用，已暂存到手机，网络恢复后自动发送。"));
        return outbox().kick().then(function () { return outbox().get(stored.seq); });
      }, function (err) {
        delete justSent[item.key];
        return storeError(err).then(function (text) { showError("", text); return null; });
      }).then(function (fresh) {
        if (fresh && fresh.state === "failed" && justSent[fresh.key]) {
          // Refused as it stands (a field the server checks): back to the form to correct.
          delete justSent[fresh.key];
          $("#sent").hidden = true;
          return outbox().remove(fresh.seq).then(function () { loadIntoForm(fresh); });
        }
        if (fresh && fresh.state === "waiting" && fresh.reason) {
          note(fresh.reason === "login" ? gettext("登录已过期，已暂存到手机，重新登录后自动发送。")
            : fresh.reason === "server" ? gettext("服务器暂时不可用，已暂存到手机，稍后自动发送。")
              : gettext("网络不可用，已暂存到手机，网络恢复后自动发送。"));
        }
      }).then(function () {
        btn.disabled = false;
        btn.textContent = gettext("发送");
      });
    });

    $("#locate-me").addEventListener("click", function () { pick.geolocate(true); });

    draftKey();
    loadCategories();
    pick.geolocate(false);
  }

  /* ---------------------------------------------------------------- forms through the outbox */

  // A check or verify result, a reply to an order: kept on the phone and sent as the form would
  // have been, so that a courtyard without signal loses nothing. On success the server's own
  // message is shown; a refusal is shown next to the form, which still holds what was typed.
  function outboxForm(form, label) {
    form.addEventListener("submit", function (ev) {
      if (!outbox()) { return; }
      ev.preventDefault();
      var fields = {};
      var files = [];
      var fileField = "";
      new FormData(form).forEach(function (v, k) {
        if (v instanceof File) {
          fileField = k;
          if (v.size) { files.push(v); }
        } else if (k !== "csrfmiddlewaretoken") {
          fields[k] = v;
        }
      });
      var btn = form.querySelector("button[type=submit]");
      var status = form.querySelector(".outbox-status");
      if (!status) {
        status = document.createElement("p");
        status.className = "outbox-status hint";
        status.setAttribute("role", "status");
        form.appendChild(status);
      }
      if (btn) { btn.disabled = true; }
      status.textContent = gettext("保存中…");
      shrinkAll(files).then(function (blobs) {
        return outbox().add({
          kind: "form",
          url: form.getAttribute("action") || location.pathname,
          key: uuid4(),
          label: label,
          user: (document.querySelector('meta[name="gridcity-user"]') || { content: "" }).content,
          payload: fields,
          photos: blobs.filter(Boolean),
          fileField: fileField || "photo"
        });
      }).then(function (stored) {
        return outbox().kick().then(function () { return outbox().get(stored.seq); });
      }, function (err) {
        return storeError(err).then(function (text) { status.textContent = text; return undefined; });
      }).then(function (fresh) {
        // Gone from the outbox means sent (formSent shows it), or never stored (said above).
        if (fresh && fresh.state === "failed") {
          status.textContent = fresh.error;
          status.className = "outbox-status error";
          return outbox().remove(fresh.seq);
        }
        if (fresh) {
          status.className = "outbox-status hint";
          status.textContent = gettext("网络不可用，已暂存到手机，联网后自动提交。");
        }
      }).then(function () { if (btn) { btn.disabled = false; } });
    });
  }

  // What the server said after a form was taken (its flash messages), shown on this page.
  function formSent(item, res) {
    if (item.kind !== "form") { return; }
    var forms = document.querySelectorAll("form[data-outbox]");
    var mine = Array.prototype.filter.call(forms, function (f) {
      return (f.getAttribute("action") || location.pathname) === item.url;
    });
    var doc = new DOMParser().parseFromString(res.html || "", "text/html");
    var msgs = doc.querySelector(".messages");
    if (!msgs) {
      msgs = document.createElement("ul");
      msgs.className = "messages";
      msgs.setAttribute("role", "status");
      var li = document.createElement("li");
      li.className = "msg-success";
      li.textContent = interpolate(gettext("已提交：%s"), [item.label]);
      msgs.appendChild(li);
    }
    var main = document.getElementById("main");
    var old = main.querySelector(":scope > .messages");
    if (old) { old.remove(); }
    main.insertBefore(document.importNode(msgs, true), main.firstChild);
    mine.forEach(function (f) {
      f.hidden = true;
      var done = document.createElement("p");
      done.className = "card";
      var a = document.createElement("a");
      a.href = res.url || "/field/";
      a.textContent = gettext("返回任务");
      done.textContent = interpolate(gettext("已提交：%s"), [item.label]) + " · ";
      done.appendChild(a);
      f.parentNode.insertBefore(done, f.nextSibling);
    });
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
    form.addEventListener("submit", function (ev) { if (pick.needsConfirm()) { ev.preventDefault(); } });
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
        span.textContent = n ? interpolate(gettext("已选 %s 张："), [n]) + Array.prototype.map.call(input.files, function (f) { return f.name; }).join(gettext("、")) : "";
      });
    });
  }

  function dataUrlToBlob(u) {
    var comma = u.indexOf(",");
    var bin = atob(u.slice(comma + 1));
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    return new Blob([bytes], { type: (u.slice(5, comma).split(";")[0]) || "image/jpeg" });
  }

  // Reports queued by the earlier, localStorage outbox move to IndexedDB with their keys.
  function migrateLegacyOutbox() {
    var old;
    try { old = JSON.parse(localStorage.getItem(LEGACY_OUTBOX_KEY) || "[]"); } catch (e) { old = []; }
    if (!old.length || !outbox()) { return; }
    var chain = Promise.resolve();
    old.forEach(function (x) {
      chain = chain.then(function () {
        return Promise.resolve((x.payload.photos || []).map(dataUrlToBlob))
          .then(function (blobs) {
            var payload = Object.assign({}, x.payload);
            delete payload.photos;
            return outbox().add({ kind: "report", url: "/api/cases", key: x.key, label: x.label, created: x.created, payload: payload, photos: blobs });
          });
      });
    });
    chain.then(function () { localStorage.removeItem(LEGACY_OUTBOX_KEY); outbox().kick(); });
  }

  function start() {
    fileNames();
    if (outbox()) {
      migrateLegacyOutbox();
      outbox().onSent(formSent);
      document.querySelectorAll("form[data-outbox]").forEach(function (f) {
        outboxForm(f, f.dataset.outbox);
      });
      // Replies to supervision orders on the task list.
      document.querySelectorAll("#orders article[data-order] form[method=post]").forEach(function (f) {
        f.setAttribute("data-outbox", interpolate(gettext("督办单答复 %s"), [f.closest("article").dataset.order]));
        outboxForm(f, f.dataset.outbox);
      });
    }
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
