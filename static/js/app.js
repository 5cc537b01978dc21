// Toasts: the server sends HX-Trigger {"toast": {"message", "level"}}.
(function () {
  "use strict";

  function showToast(message, level) {
    var box = document.getElementById("toasts");
    if (!box || !message) return;
    var item = document.createElement("div");
    item.className = "toast toast-" + (level || "info");
    item.setAttribute("role", level === "error" ? "alert" : "status");
    item.textContent = message;
    box.appendChild(item);
    setTimeout(function () { item.remove(); }, 6000);
  }

  document.body.addEventListener("toast", function (event) {
    showToast(event.detail.message, event.detail.level);
  });

  // Errors without a toast header (a proxy's page, a dropped connection).
  document.body.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (!xhr.getResponseHeader("HX-Trigger")) {
      showToast("请求失败（" + xhr.status + "），请稍后重试。", "error");
    }
  });
  document.body.addEventListener("htmx:sendError", function () {
    showToast("无法连接服务器，请检查网络后重试。", "error");
  });
})();
