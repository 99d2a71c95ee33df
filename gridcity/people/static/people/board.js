/* The supervisor's patrol map: beat cells (visited today, not visited for N days) and the
   day's tracks; distrusted fixes as red dots. */
(function () {
  "use strict";

  // Tooltips and labels are built as text nodes: Leaflet puts a string in as HTML, and a name
  // (an area's, a device's, a case's) comes from the database or from an import file.
  // Words come from Django's JavaScript catalogue (/i18n/js/); without it the Chinese stands.
  var gettext = window.gettext || function (s) { return s; };
  function textEl(s) {
    var el = document.createElement("span");
    el.textContent = s;
    return el;
  }
  // The polygons and tracks are fetched after the page is shown: for a whole district they
  // weigh more than the rest of the page many times over.
  window.addEventListener("load", function () {
    var el = document.getElementById("board-map");
    if (!el || typeof L === "undefined") { return; }
    fetch(el.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error(String(r.status)); }
        return r.json();
      })
      .then(function (data) { draw(el, data); })
      .catch(function () {
        var failed = document.getElementById("board-map-failed");
        if (failed) { failed.hidden = false; }
      });
  });

  function draw(el, data) {
    var map = L.map(el, { attributionControl: !!data.tiles });
    if (data.tiles) { L.tileLayer(data.tiles, { maxZoom: 19 }).addTo(map); }
    var cells = L.geoJSON(data.cells, {
      style: function (f) {
        var fill = f.properties.visited ? "#9fd8ae" : (f.properties.stale ? "#f7c57a" : "#f2f5f8");
        return { color: "#7d8fa3", weight: 1, fillOpacity: 0.7, fillColor: fill };
      },
      onEachFeature: function (f, layer) { layer.bindTooltip(textEl(f.properties.code)); }
    });
    var colours = ["#0b5cad", "#7b2cbf", "#00838f", "#ad1457", "#2e7d32"];
    // The view must be set before any vector layer is added: the renderer needs its bounds.
    var layers = [cells];
    var bounds = cells.getBounds();
    data.tracks.forEach(function (t, i) {
      if (t.line.length) {
        var line = L.polyline(t.line, { color: colours[i % colours.length], weight: 4 }).bindTooltip(textEl(t.name));
        layers.push(line);
        bounds = bounds.isValid() ? bounds.extend(line.getBounds()) : line.getBounds();
      }
      t.flagged.forEach(function (p) { layers.push(L.circleMarker(p, { radius: 5, color: "#d23a2c" }).bindTooltip(textEl(gettext("异常点，未计入")))); });
    });
    if (bounds.isValid()) { map.fitBounds(bounds); } else if (data.extent) {
      map.fitBounds([[data.extent[1], data.extent[0]], [data.extent[3], data.extent[2]]]);
    } else { map.setView([30.25, 120.17], 13); }
    layers.forEach(function (l) { l.addTo(map); });
  }
})();
