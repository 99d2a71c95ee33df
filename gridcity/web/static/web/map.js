/* GridCity case map: the area tree as the base map, cases clustered by the server.
   At low zoom /map/cases.json answers counts per screen bucket; from zoom 17 on, points. */
(function () {
  "use strict";

  function fmt(n) { return Number(n).toFixed(6); }

  // Tooltips and labels are built as text nodes: Leaflet puts a string in as HTML, and a name
  // (an area's, a device's, a case's) comes from the database or from an import file.
  function textEl(s) {
    var el = document.createElement("span");
    el.textContent = s;
    return el;
  }

  function start() {
    var el = document.getElementById("case-map");
    if (!el || !window.L) { return; }
    var s = JSON.parse(document.getElementById("map-settings").textContent);
    var form = document.getElementById("map-filters");
    var count = document.getElementById("map-count");
    var map = L.map(el, { attributionControl: !!s.tiles });
    if (s.tiles) { L.tileLayer(s.tiles, { maxZoom: 19 }).addTo(map); }
    var areas = L.layerGroup().addTo(map);
    var cases = L.layerGroup().addTo(map);
    var areaSeq = 0;
    var caseSeq = 0;

    function filters() {
      var p = new URLSearchParams(new FormData(form));
      return p.toString();
    }

    function bbox(pad) {
      var b = map.getBounds().pad(pad || 0);
      return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(fmt).join(",");
    }

    function drawAreas() {
      var z = map.getZoom();
      var level = z >= 15 ? 4 : (z >= 13 ? 3 : 2);
      var mine = ++areaSeq;
      fetch("/api/areas?level=" + level + "&bbox=" + bbox(0.2) + "&limit=3000", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (fc) {
          if (!fc || mine !== areaSeq) { return; }
          areas.clearLayers();
          L.geoJSON(fc, {
            style: { color: level === 4 ? "#8a9bb0" : "#0b5cad", weight: level === 4 ? 1 : 2, fillColor: "#f4f7fa", fillOpacity: 0.5 },
            onEachFeature: function (f, layer) { layer.bindTooltip(textEl(interpolate(gettext("%(name)s（%(code)s）"), { name: f.properties.name, code: f.properties.code }, true)), { sticky: true }); }
          }).addTo(areas);
        }).catch(function () {});
    }

    function pointColour(p) {
      if (p.overdue) { return "#d23a2c"; }
      if (p.status === "closed" || p.status === "voided" || p.status === "merged") { return "#5b6675"; }
      return "#0b5cad";
    }

    function drawCases() {
      var mine = ++caseSeq;
      var url = el.dataset.cases + "?" + filters() + "&bbox=" + bbox(0.1) + "&zoom=" + map.getZoom();
      count.textContent = gettext("加载中…");
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
        .then(function (res) {
          if (mine !== caseSeq) { return; }
          cases.clearLayers();
          if (!res.ok) { count.textContent = res.body.error || gettext("加载失败"); return; }
          var body = res.body;
          if (body.mode === "points") {
            body.points.forEach(function (p) {
              var m = L.circleMarker([p.lat, p.lon], { radius: 7, color: "#fff", weight: 2, fillColor: pointColour(p), fillOpacity: 0.95 });
              m.bindTooltip(textEl(p.category + " · " + p.status_label + (p.overdue ? " · " + gettext("超期") : "")));
              m.on("click", function () { location.href = "/cases/" + encodeURIComponent(p.number) + "/"; });
              m.addTo(cases);
            });
            count.textContent = interpolate(ngettext("视野内 %s 件", "视野内 %s 件", body.points.length), [body.points.length]) + (body.truncated ? gettext("（仅显示最新部分，请放大）") : "");
            return;
          }
          body.clusters.forEach(function (c) {
            if (c.n === 1 && c.number) {
              var one = L.circleMarker([c.lat, c.lon], { radius: 7, color: "#fff", weight: 2, fillColor: c.overdue ? "#d23a2c" : "#0b5cad", fillOpacity: 0.95 });
              one.on("click", function () { location.href = "/cases/" + encodeURIComponent(c.number) + "/"; });
              one.bindTooltip(textEl(interpolate(gettext("案件 %s"), [c.number])));
              one.addTo(cases);
              return;
            }
            var size = c.n < 10 ? 30 : (c.n < 100 ? 38 : (c.n < 1000 ? 46 : 54));
            var icon = L.divIcon({
              className: "cluster" + (c.overdue ? " has-overdue" : ""),
              html: textEl(String(c.n)),
              iconSize: [size, size]
            });
            var m = L.marker([c.lat, c.lon], { icon: icon, title: interpolate(ngettext("%s 件", "%s 件", c.n), [c.n]) + (c.overdue ? interpolate(gettext("，其中超期 %s 件"), [c.overdue]) : "") });
            m.on("click", function () { map.setView([c.lat, c.lon], Math.min(map.getZoom() + 2, 18)); });
            m.addTo(cases);
          });
          count.textContent = interpolate(ngettext("视野内 %s 件", "视野内 %s 件", body.total), [body.total]) + (body.total ? gettext("（点击聚合放大查看）") : "");
        }).catch(function () { if (mine === caseSeq) { count.textContent = gettext("加载失败，请检查网络"); } });
    }

    map.on("moveend", function () { drawAreas(); drawCases(); });
    form.addEventListener("change", function () {
      history.replaceState(null, "", "?" + filters());
      drawCases();
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      history.replaceState(null, "", "?" + filters());
      drawCases();
    });
    if (s.extent) {
      map.fitBounds([[s.extent[1], s.extent[0]], [s.extent[3], s.extent[2]]]);
    } else {
      map.setView([30.25, 120.17], 13);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
