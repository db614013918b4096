// The Leaflet map of a places page: the configured tile server, the points as 44 px numbered markers.
// Points arrive already in the tiles' coordinate system (GCJ-02 for Chinese providers; the server converts).
(function () {
  var box = document.getElementById("leaflet-map");
  var data = document.getElementById("map-points");
  if (!box || !data || !window.L) return;
  var points = JSON.parse(data.textContent);
  var map = L.map(box, {zoomControl: true, attributionControl: true});
  L.tileLayer(box.getAttribute("data-tile-url"), {
    maxZoom: 18, attribution: box.getAttribute("data-attribution") || ""
  }).addTo(map);
  var bounds = [];
  points.forEach(function (p) {
    var icon = L.divIcon({
      className: "place-marker" + (p.origin ? " place-marker-origin" : ""),
      html: "<span class=\"place-marker-label\"></span>", iconSize: [44, 44], iconAnchor: [22, 22]
    });
    var marker = L.marker([p.lat, p.lon], {icon: icon, title: p.label + " " + p.name, alt: p.label + " " + p.name,
                                           keyboard: true}).addTo(map);
    var el = marker.getElement();
    if (el) {
      el.querySelector(".place-marker-label").textContent = p.label;
      el.setAttribute("aria-label", p.label + " " + p.name);
      el.addEventListener("click", function () {
        var row = document.getElementById(p.origin ? "places-result" : "place-" + p.label);
        if (row) row.scrollIntoView();
      });
    }
    bounds.push([p.lat, p.lon]);
  });
  if (bounds.length > 1) map.fitBounds(bounds, {padding: [30, 30], maxZoom: 16});
  else map.setView(bounds[0] || [35, 105], 14);
  box.setAttribute("data-ready", "1");
})();
