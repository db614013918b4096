// Progressive enhancement: suggestions under the search box. The form works without it.
(function () {
  var box = document.getElementById("q"), list = document.getElementById("suggestions");
  if (!box || !list || !window.fetch) return;
  var timer = null;
  box.addEventListener("input", function () {
    clearTimeout(timer);
    var q = box.value.trim();
    if (!q) { list.innerHTML = ""; return; }
    timer = setTimeout(function () {
      fetch("/api/v1/communities?limit=8&q=" + encodeURIComponent(q))
        .then(function (r) { return r.ok ? r.json() : { communities: [] }; })
        .then(function (data) {
          list.innerHTML = "";
          (data.communities || []).forEach(function (c) {
            var o = document.createElement("option"); o.value = c.name; list.appendChild(o);
          });
        }).catch(function () {});
    }, 150);
  });
})();
