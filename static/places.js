// "Use this phone's position": the browser's geolocation, rounded here to 0.01 degree (about 1 km),
// sent in a POST body (never in a URL). Nothing is stored on the phone or on the server.
(function () {
  var form = document.getElementById("locate-form");
  var button = document.getElementById("locate-button");
  if (!form || !button || !navigator.geolocation) return;
  var error = document.getElementById("locate-error");
  var zh = document.documentElement.lang !== "en";
  button.hidden = false;
  button.addEventListener("click", function () {
    error.textContent = zh ? "正在获取位置…" : "Getting your position…";
    navigator.geolocation.getCurrentPosition(function (pos) {
      document.getElementById("locate-lon").value = pos.coords.longitude.toFixed(2);
      document.getElementById("locate-lat").value = pos.coords.latitude.toFixed(2);
      form.submit();
    }, function () {
      error.textContent = zh ? "无法获取位置。请允许定位，或从小区页面查询。" : "Could not get your position. Allow location, or ask from a community page.";
    }, {enableHighAccuracy: false, timeout: 15000, maximumAge: 600000});
  });
})();
