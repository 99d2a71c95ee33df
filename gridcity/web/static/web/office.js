/* Office pages: Leaflet maps drawn from the area geometry (no tile layer unless configured),
   point picking for locate / hotline / triage, and the category search box. No framework. */
(function () {
  "use strict";

  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function fmt(v) { return (Math.round(v * 1e6) / 1e6).toFixed(6); }

  // Tooltips and labels are built as text nodes: Leaflet puts a string in as HTML, and a name
  // (an area's, a device's, a case's) comes from the database or from an import file.
  function textEl(s) {
    var el = document.createElement("span");
    el.textContent = s;
    return el;
  }

  // The form whose lon/lat inputs a click fills: the one marked active, else the first.
  function pickTarget(container) {
    var scope = document.querySelector("[data-pick-active]") || document;
    return {
      lon: scope.querySelector("[data-pick=lon]") || document.querySelector("[data-pick=lon]"),
      lat: scope.querySelector("[data-pick=lat]") || document.querySelector("[data-pick=lat]"),
    };
  }

  function initMap(el) {
    if (!window.L) { return; }
    var data = readJSON(el.dataset.map) || {};
    var map = L.map(el, { zoomControl: true, attributionControl: !!data.tiles });
    el._leafletMap = map;
    if (data.tiles) {
      L.tileLayer(data.tiles, { maxZoom: 19 }).addTo(map);
    }
    var layer = L.geoJSON({ type: "FeatureCollection", features: data.features || [] }, {
      style: function (f) {
        return f.properties.own
          ? { color: "#0b5cad", weight: 3, fillColor: "#0b5cad", fillOpacity: 0.18 }
          : { color: "#6b7c90", weight: 1, fillColor: "#cfd8e3", fillOpacity: 0.35 };
      },
      onEachFeature: function (f, l) {
        l.bindTooltip(textEl(f.properties.name + " " + f.properties.code), { sticky: true });
      },
    });
    // Vector layers need a view before they are added: fit first, then draw.
    var bounds = layer.getBounds();
    if (bounds.isValid()) {
      map.fitBounds(bounds, { padding: [10, 10] });
    } else if (data.point) {
      map.setView(data.point, 17);
    } else {
      map.setView([30.25, 120.17], 13);
    }
    layer.addTo(map);
    var marker = null;
    if (data.point) {
      marker = L.circleMarker(data.point, { radius: 8, color: "#d23a2c", weight: 3, fillOpacity: 0.8 }).addTo(map);
    }
    if (data.pick) {
      el.classList.add("pickable");
      var setPoint = function (latlng) {
        var t = pickTarget(el);
        if (t.lon) { t.lon.value = fmt(latlng.lng); t.lon.dispatchEvent(new Event("change")); }
        if (t.lat) { t.lat.value = fmt(latlng.lat); t.lat.dispatchEvent(new Event("change")); }
        if (marker) { marker.setLatLng(latlng); }
        else { marker = L.circleMarker(latlng, { radius: 8, color: "#d23a2c", weight: 3, fillOpacity: 0.8 }).addTo(map); }
      };
      map.on("click", function (e) { setPoint(e.latlng); });
      layer.on("click", function (e) { setPoint(e.latlng); });
      el._setPoint = setPoint;
    }
  }

  // Category picker: a search box that hides the options that do not match.
  function initCategorySearch(input) {
    var select = document.getElementById(input.dataset.filters);
    if (!select) { return; }
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      var first = null;
      Array.prototype.forEach.call(select.querySelectorAll("option"), function (o) {
        if (!o.value) { return; }
        var hit = !q || o.textContent.toLowerCase().indexOf(q) >= 0 || (o.dataset.keywords || "").indexOf(q) >= 0;
        o.hidden = !hit;
        if (hit && !first) { first = o; }
      });
      Array.prototype.forEach.call(select.querySelectorAll("optgroup"), function (g) {
        g.hidden = !g.querySelector("option:not([hidden])");
      });
      if (first && (!select.value || select.selectedOptions[0].hidden)) { select.value = first.value; }
    });
  }

  // Area select on the hotline form: choosing a street or community zooms the map to it.
  function initAreaZoom(select) {
    select.addEventListener("change", function () {
      var o = select.selectedOptions[0];
      var el = document.querySelector("[data-map]");
      if (!o || !o.dataset.bbox || !el || !el._leafletMap) { return; }
      var b = o.dataset.bbox.split(",").map(Number);
      el._leafletMap.fitBounds([[b[1], b[0]], [b[3], b[2]]]);
    });
  }

  // Triage: the "pick" button (选点) makes that row's form the one the map fills.
  function initTriage() {
    document.addEventListener("click", function (e) {
      var btn = e.target.closest("[data-activate]");
      if (!btn) { return; }
      document.querySelectorAll("[data-pick-active]").forEach(function (n) { n.removeAttribute("data-pick-active"); });
      var row = document.getElementById(btn.dataset.activate);
      row.setAttribute("data-pick-active", "");
      var map = document.querySelector("[data-map]");
      if (map) { map.scrollIntoView({ behavior: "smooth", block: "center" }); }
    });
  }

  function init() {
    document.querySelectorAll("[data-map]").forEach(initMap);
    document.querySelectorAll("[data-filters]").forEach(initCategorySearch);
    document.querySelectorAll("[data-area-zoom]").forEach(initAreaZoom);
    initTriage();
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); }
  else { init(); }
  document.addEventListener("htmx:afterSettle", function (e) {
    e.target.querySelectorAll && e.target.querySelectorAll("[data-area-zoom]").forEach(initAreaZoom);
  });
})();
