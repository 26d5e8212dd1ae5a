// Uploads: drag-and-drop onto the file input, and pages that update themselves while a prediction runs.
(function () {
  "use strict";

  // Dropped files go into the form's own file input, so the form posts them like chosen ones.
  const zone = document.querySelector("[data-drop-zone]");
  if (zone) {
    const input = zone.querySelector('input[type="file"]');
    const chosen = zone.querySelector("[data-chosen]");
    const show = function () {
      chosen.textContent = Array.from(input.files).map(function (f) { return f.name; }).join(", ");
    };
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("dragging"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      input.files = event.dataTransfer.files;
      show();
    });
    input.addEventListener("change", show);
  }

  // A result still processing: poll its status and reload once it is done or failed.
  const status = document.querySelector("[data-upload-status]");
  if (status) {
    const poll = function () {
      fetch(status.dataset.uploadStatus, { headers: { Accept: "application/json" } })
        .then(function (response) { return response.json(); })
        .then(function (upload) {
          if (upload.status === "done" || upload.status === "failed") window.location.reload();
          else window.setTimeout(poll, 1000);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 1000);
  }

  const history = document.querySelector("[data-reload-while-pending]");
  if (history) window.setTimeout(function () { window.location.reload(); }, Number(history.dataset.reloadWhilePending));
})();
