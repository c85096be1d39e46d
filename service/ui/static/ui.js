// Progressive enhancement only: every form works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // After an invalid submit the error summary takes the focus (WCAG 2.1 3.3.1); after an action, its result does,
  // so a keyboard or screen reader user lands on what happened rather than at the top of the page.
  const landing = document.getElementById("error-summary") || document.querySelector("[data-focus-on-load]");
  if (landing) { landing.focus(); }
  // A summary's link moves the focus to its field (a plain fragment link only scrolls in some browsers).
  for (const link of document.querySelectorAll(".error-summary a[href^='#']")) {
    link.addEventListener("click", (event) => {
      const field = document.getElementById(link.getAttribute("href").slice(1));
      if (field) { event.preventDefault(); field.focus(); field.scrollIntoView({ block: "center" }); }
    });
  }
  // Upload with progress: the same form, sent by XHR so the bar can move; its progress and result are announced
  // in the live region beside it.
  const form = document.getElementById("upload-form");
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const say = (text) => { if (status) { status.textContent = text; } };
  if (form && bar && window.FormData && window.XMLHttpRequest) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      let told = 0;
      const request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.upload.addEventListener("progress", (e) => {
        if (!e.lengthComputable) { return; }
        bar.value = Math.round((100 * e.loaded) / e.total);
        bar.textContent = bar.value + " %";
        if (bar.value >= told + 25 || bar.value === 100) { told = bar.value; say((status.dataset.progress || "") + " " + bar.value + " %"); }
      });
      request.addEventListener("load", () => {
        if (request.status < 400) { say(status ? status.dataset.done || "" : ""); window.location.assign(request.responseURL || window.location.href); }
        else { document.open(); document.write(request.responseText); document.close(); }
      });
      request.addEventListener("error", () => say(status ? status.dataset.failed || "" : ""));
      say(status ? status.dataset.started || "" : "");
      request.send(new FormData(form));
    });
  }
  for (const button of document.querySelectorAll("[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
});
