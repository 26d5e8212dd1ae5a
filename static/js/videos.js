// Videos: a page that follows the worker's progress (frames done of total) and reloads once the video is
// finished, and the scrubber over the annotated sampled frames.
(function () {
  "use strict";

  const status = document.querySelector("[data-video-status]");
  if (status) {
    const state = status.querySelector("[data-video-state]");
    const bar = status.querySelector("[data-video-progress]");
    const frames = status.querySelector("[data-video-frames]");
    const poll = function () {
      fetch(status.dataset.videoStatus, { headers: { Accept: "application/json" } })
        .then(function (response) { return response.json(); })
        .then(function (video) {
          if (video.status !== "pending" && video.status !== "processing") {
            window.location.reload();
            return;
          }
          const done = video.progress.frames_done, total = video.progress.frames_total;
          state.textContent = video.status;
          bar.max = Math.max(total, 1);
          bar.value = done;
          frames.textContent = done + " of " + total + " frames";
          window.setTimeout(poll, 1000);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 1000);
  }

  // The scrubber: the range input picks a sampled frame; its time comes from the frame-times JSON.
  const scrubber = document.querySelector("[data-scrubber]");
  if (scrubber) {
    const input = scrubber.querySelector("[data-scrubber-input]");
    const image = scrubber.querySelector("[data-frame]");
    const time = scrubber.querySelector("[data-frame-time]");
    const times = JSON.parse(document.getElementById("frame-times").textContent);
    const base = scrubber.dataset.frameUrl.replace(/0\.jpg$/, "");
    const cache = [];
    const show = function () {
      const index = Number(input.value);
      image.src = base + index + ".jpg";
      time.textContent = times[index].toFixed(2) + " s";
      // The next frames, fetched ahead, so dragging is smooth.
      for (let next = index + 1; next <= Math.min(index + 3, times.length - 1); next++) {
        if (!cache[next]) { cache[next] = new Image(); cache[next].src = base + next + ".jpg"; }
      }
    };
    input.addEventListener("input", show);
    show();
  }

  const list = document.querySelector("[data-reload-while-pending]");
  if (list) window.setTimeout(function () { window.location.reload(); }, Number(list.dataset.reloadWhilePending));
})();
