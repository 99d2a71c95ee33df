/* Sensor board map: devices as circles coloured by state; no tiles unless configured. */
(function () {
  "use strict";
  function start() {
    var el = document.getElementById("sensor-map");
    var data = document.getElementById("sensor-map-data");
    if (!el || !data || !window.L) { return; }
    var s = JSON.parse(data.textContent);
    var map = L.map(el, { attributionControl: !!s.tiles });
    if (s.tiles) { L.tileLayer(s.tiles, { maxZoom: 19 }).addTo(map); }
    var bounds = [];
    s.devices.forEach(function (d) {
      var m = L.circleMarker([d.lat, d.lon], {
        radius: d.state === "normal" ? 6 : 9, color: "#fff", weight: 1.5,
        fillColor: d.colour, fillOpacity: 0.95
      }).addTo(map);
      var a = document.createElement("a");
      a.href = "/sensors/devices/" + encodeURIComponent(d.code) + "/";
      a.textContent = interpolate(gettext("%(name)s（%(state)s）"), { name: d.name, state: d.label }, true);
      m.bindPopup(a);
      bounds.push([d.lat, d.lon]);
    });
    if (bounds.length) {
      map.fitBounds(bounds, { padding: [20, 20], maxZoom: 17 });
    } else if (s.extent) {
      map.fitBounds([[s.extent[1], s.extent[0]], [s.extent[3], s.extent[2]]]);
    } else {
      map.setView([30.25, 120.17], 13);
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else { start(); }
})();
