// Detektor UI: local times, live camera images, polling refresh. No framework, no build step.
"use strict";

(function () {
  // Shows every <time datetime="ISO"> in the user's own time zone.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) { return; }
      el.title = el.getAttribute("datetime");
      el.textContent = el.dataset.local === "date"
        ? d.toLocaleDateString()
        : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
    });
  }

  // Reloads each <img data-live="URL"> every data-live-ms, swapping only once the next image has loaded (no flicker).
  function liveImages() {
    document.querySelectorAll("img[data-live]").forEach(function (img) {
      var period = parseInt(img.dataset.liveMs || "1000", 10);
      var busy = false;
      setInterval(function () {
        if (busy || document.hidden) { return; }
        busy = true;
        var next = new Image();
        var url = img.dataset.live + (img.dataset.live.indexOf("?") < 0 ? "?" : "&") + "t=" + Date.now();
        next.onload = function () { img.src = next.src; img.classList.remove("stale"); busy = false; };
        next.onerror = function () { img.classList.add("stale"); busy = false; };
        next.src = url;
      }, period);
    });
  }

  // Polls the page itself every data-refresh ms and replaces each [data-part][id] with its new content.
  function refreshParts() {
    var holder = document.querySelector("[data-refresh]");
    if (!holder) { return; }
    var period = parseInt(holder.dataset.refresh, 10);
    var busy = false;
    setInterval(function () {
      if (busy || document.hidden) { return; }
      busy = true;
      fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          document.querySelectorAll("[data-part][id]").forEach(function (el) {
            var fresh = doc.getElementById(el.id);
            if (fresh) { el.innerHTML = fresh.innerHTML; localTimes(el); }
          });
        })
        .catch(function () { /* keep the last content; the next tick tries again */ })
        .finally(function () { busy = false; });
    }, period);
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // datetime-local inputs show and take the user's local time; the form submits ISO UTC times.
  function localTimeInputs() {
    document.querySelectorAll("form[data-local-times]").forEach(function (form) {
      form.querySelectorAll("input[type=datetime-local][data-utc]").forEach(function (input) {
        var d = new Date(input.dataset.utc);
        if (input.dataset.utc && !isNaN(d.getTime())) {
          input.value = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
            pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
        }
      });
      form.addEventListener("submit", function () {
        form.querySelectorAll("input[type=datetime-local]").forEach(function (input) {
          if (!input.value) { input.disabled = true; return; }
          var hidden = document.createElement("input");
          hidden.type = "hidden";
          hidden.name = input.name;
          hidden.value = new Date(input.value).toISOString();
          input.disabled = true;
          form.appendChild(hidden);
        });
      });
    });
  }

  function start() {
    localTimes(document);
    localTimeInputs();
    liveImages();
    refreshParts();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
