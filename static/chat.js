// Progressive enhancement: a small chat box on the home page, answered by the SMS bot's brain
// (POST /chat/api). Without JavaScript the box stays hidden and nothing else depends on it.
(function () {
  var box = document.getElementById("chat"), form = document.getElementById("chat-form"),
      input = document.getElementById("chat-text"), log = document.getElementById("chat-log");
  if (!box || !form || !input || !log || !window.fetch || !window.crypto || !window.JSON) return;
  var button = form.querySelector("button"), failed = box.getAttribute("data-failed") || "…";
  var key = "riskcard-chat-session", sid = null;
  try { sid = window.sessionStorage.getItem(key); } catch (e) { sid = null; }
  if (!sid || !/^[A-Za-z0-9_-]{16,128}$/.test(sid)) {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    sid = Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    try { window.sessionStorage.setItem(key, sid); } catch (e) { /* private mode: one id per page view */ }
  }
  function add(who, text) {
    var li = document.createElement("li"), tag = document.createElement("span");
    li.className = "chat-" + who;
    tag.className = "sr-only";
    tag.textContent = box.getAttribute(who === "me" ? "data-me" : "data-bot") + " ";
    li.appendChild(tag);
    // Links in the bot's answers become links. DOM nodes only, never innerHTML: the text is not trusted
    // (it may repeat what was typed). Only http(s) URLs are linked; closing punctuation stays text.
    String(text).split(/(https?:\/\/[^\s<>"'\u3000-\u303f\uff01-\uff0f\uff1a-\uff20]+)/).forEach(function (part, i) {
      if (i % 2 === 1 && who === "bot") {
        var url = part.replace(/[.,;:!?)\]]+$/, ""), a = document.createElement("a");
        a.href = url;
        a.textContent = url;
        li.appendChild(a);
        if (url.length < part.length) li.appendChild(document.createTextNode(part.slice(url.length)));
      } else if (part) {
        li.appendChild(document.createTextNode(part));
      }
    });
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    add("me", text);
    input.value = "";
    if (button) button.disabled = true;
    fetch("/chat/api", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ session: sid, text: text.slice(0, 500) })
    }).then(function (r) {
      return r.json().then(function (d) { return d.reply || (d.error && d.error.message_zh ? d.error.message_zh + " " + d.error.message : d.error) || failed; }, function () { return failed; });
    }, function () { return failed; }).then(function (reply) {
      add("bot", reply);
      if (button) button.disabled = false;
      input.focus();
    });
  });
  box.hidden = false;
})();
