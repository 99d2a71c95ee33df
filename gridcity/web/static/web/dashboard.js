/* GridCity dashboard map: cells coloured by their open cases, streets outlined. The figures
   beside it refresh themselves through HTMX; the map reloads its counts every 60 s too. */
(function () {
  "use strict";

  // Tooltips and labels are built as text nodes: Leaflet puts a string in as HTML, and a name
  // (an area's, a device's, a case's) comes from the database or from an import file.
  function textEl(s) {
    var el = document.createElement("span");
    el.textContent = s;
    return el;
  }

  function colour(n) {
    if (n >= 10) { return "#b30000"; }
    if (n >= 4) { return "#e34a33"; }
    if (n >= 2) { return "#fc8d59"; }
    return "#fdbb84";
  }

  function start() {
    var el = document.getElementById("dash-map");
    if (!el || !window.L) { return; }
    var s = JSON.parse(document.getElementById("map-settings").textContent);
    var map = L.map(el, { attributionControl: !!s.tiles, scrollWheelZoom: false });
    if (s.tiles) { L.tileLayer(s.tiles, { maxZoom: 19 }).addTo(map); }
    if (s.extent) {
      map.fitBounds([[s.extent[1], s.extent[0]], [s.extent[3], s.extent[2]]]);
    } else {
      map.setView([30.25, 120.17], 13);
    }
    var streets = L.layerGroup().addTo(map);
    var cells = L.layerGroup().addTo(map);

    fetch(el.dataset.areas + "?level=2&limit=500", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (fc) {
        if (!fc) { return; }
        L.geoJSON(fc, {
          style: { color: "#0b5cad", weight: 2, fillColor: "#f4f7fa", fillOpacity: 0.6 },
          onEachFeature: function (f, layer) { layer.bindTooltip(textEl(f.properties.name)); }
        }).addTo(streets);
      }).catch(function () {});

    function loadCells() {
      fetch(el.dataset.cells, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (fc) {
          if (!fc) { return; }
          cells.clearLayers();
          L.geoJSON(fc, {
            style: function (f) { return { color: "#8c2d04", weight: 1, fillColor: colour(f.properties.open), fillOpacity: 0.85 }; },
            onEachFeature: function (f, layer) {
              layer.bindTooltip(textEl(interpolate(ngettext("%(name)s：在办 %(open)s 件", "%(name)s：在办 %(open)s 件", f.properties.open), f.properties, true)));
              layer.on("click", function () { location.href = "/map/?status=open&area=" + encodeURIComponent(f.properties.code); });
            }
          }).addTo(cells);
        }).catch(function () {});
    }
    loadCells();
    setInterval(loadCells, 60000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
