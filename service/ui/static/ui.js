// Progressive enhancement only: every form works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Upload with progress: the same form, sent by XHR so the bar can move.
  const form = document.getElementById("upload-form");
  const bar = document.getElementById("upload-progress");
  if (form && bar && window.FormData && window.XMLHttpRequest) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) { bar.value = Math.round((100 * e.loaded) / e.total); bar.textContent = bar.value + " %"; }
      });
      request.addEventListener("load", () => {
        if (request.status < 400) { window.location.assign(request.responseURL || window.location.href); }
        else { document.open(); document.write(request.responseText); document.close(); }
      });
      request.send(new FormData(form));
    });
  }
  for (const button of document.querySelectorAll("[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
});
