// The live camera page: frames from the camera (getUserMedia), downscaled to JPEG on a canvas, posted to
// /live/frame/ one at a time (the next only once the last is answered, at most every frame-interval ms);
// every face boxed on an overlay with its emotion, and the largest face's emotions over the last minute
// in the chart that charts.js drew. "Save this moment" posts the frame on screen as an ordinary upload.
(function () {
  "use strict";
  const root = document.querySelector("[data-live]");
  if (!root) return;

  const video = root.querySelector("[data-video]");
  const overlay = root.querySelector("[data-overlay]");
  const startButton = root.querySelector("[data-start]");
  const stopButton = root.querySelector("[data-stop]");
  const saveButton = root.querySelector("[data-save]");
  const message = root.querySelector("[data-live-message]");
  const status = root.querySelector("[data-live-status]");
  const facesList = root.querySelector("[data-live-faces]");
  const savedList = root.querySelector("[data-saved]");
  const csrfToken = root.querySelector("[name=csrfmiddlewaretoken]").value;
  const frameWidth = Number(root.dataset.frameWidth) || 480;
  const frameInterval = Number(root.dataset.frameInterval) || 250;
  const RETRY_MS = 1000; // after an error, wait this long before the next frame
  const WINDOW_MS = 60 * 1000;

  const chart = document.getElementById("live-chart");
  const figure = JSON.parse(document.getElementById("live-chart-data").textContent);
  const colours = {};
  figure.data.forEach(function (trace) { colours[trace.name] = trace.line.color; });

  // What each refusal of getUserMedia means for the person in front of the page.
  const CAMERA_PROBLEMS = {
    NotAllowedError: "The camera was refused. Allow this site to use it (the camera icon in the address bar, or the " +
      "browser's site settings), then press \"Start the camera\" again.",
    SecurityError: "The browser does not let this page use a camera (a security setting or policy).",
    NotFoundError: "No camera was found. Connect or turn on a camera, then press \"Start the camera\" again.",
    OverconstrainedError: "No camera was found that can film at a usable size.",
    NotReadableError: "The camera could not be started: another program may be using it.",
    AbortError: "The camera could not be started. Press \"Start the camera\" to try again.",
  };

  let stream = null;
  let running = false;
  let timer = null;
  let history = []; // {t: ms since the epoch, p: the largest face's probabilities, or null: no face}
  const grab = document.createElement("canvas");

  function say(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  function unsupported() {
    if (!window.isSecureContext) {
      return "The camera works only on a secure page: open this site over HTTPS (or on localhost).";
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return "This browser cannot share a camera with a web page. Try a recent Firefox, Chrome, Edge or Safari.";
    }
    return "";
  }

  function canvasBlob(canvas, quality) {
    return new Promise(function (resolve, reject) {
      canvas.toBlob(function (blob) {
        if (blob) resolve(blob);
        else reject(new Error("the browser made no picture of the frame"));
      }, "image/jpeg", quality);
    });
  }

  function post(url, field, blob, name) {
    const body = new FormData();
    body.append(field, blob, name);
    return fetch(url, { method: "POST", body: body, headers: { "X-CSRFToken": csrfToken, Accept: "application/json" },
                        credentials: "same-origin" })
      .then(function (response) {
        return response.json().then(
          function (data) { return { ok: response.ok, status: response.status, data: data }; },
          function () { return { ok: false, status: response.status, data: { error: "The server answered " + response.status + "." } }; }
        );
      });
  }

  function setRunning(on) {
    running = on;
    startButton.disabled = on;
    stopButton.disabled = !on;
    saveButton.disabled = !on;
  }

  function start() {
    say("");
    startButton.disabled = true;
    status.textContent = "Asking for the camera…";
    navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" }, audio: false })
      .then(function (camera) {
        stream = camera;
        video.srcObject = camera;
        return video.play();
      })
      .then(function () {
        setRunning(true);
        status.textContent = "The camera is on.";
        sendFrame();
      })
      .catch(function (error) {
        stop();
        say(CAMERA_PROBLEMS[error.name] || "The camera could not be started (" + error.name + ": " + error.message + ").");
      });
  }

  function stop() {
    setRunning(false);
    window.clearTimeout(timer);
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    video.srcObject = null;
    overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
    facesList.replaceChildren();
    status.textContent = "The camera is off.";
  }

  function next(delay) {
    if (running) timer = window.setTimeout(sendFrame, Math.max(0, delay));
  }

  function sendFrame() {
    if (!running) return;
    if (!video.videoWidth) { next(100); return; } // no picture yet
    const began = performance.now();
    const scale = Math.min(1, frameWidth / video.videoWidth);
    grab.width = Math.round(video.videoWidth * scale);
    grab.height = Math.round(video.videoHeight * scale);
    grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
    canvasBlob(grab, 0.8)
      .then(function (blob) { return post(root.dataset.frameUrl, "frame", blob, "frame.jpg"); })
      .then(function (reply) {
        if (!running) return;
        if (reply.ok) {
          say("");
          show(reply.data, performance.now() - began);
          next(frameInterval - (performance.now() - began));
        } else if (reply.status === 503 && /busy/.test(reply.data.error || "")) {
          status.textContent = reply.data.error;
          next(RETRY_MS);
        } else {
          say(reply.data.error || "The server could not predict this frame.");
          next(RETRY_MS);
        }
      })
      .catch(function () {
        if (!running) return;
        status.textContent = "The server did not answer; trying again.";
        next(RETRY_MS);
      });
  }

  function percent(value) { return Math.round(value * 100) + "%"; }

  function largest(faces) {
    return faces.reduce(function (best, face) {
      return !best || face.box[2] * face.box[3] > best.box[2] * best.box[3] ? face : best;
    }, null);
  }

  function show(result, milliseconds) {
    drawBoxes(result);
    facesList.replaceChildren(...(result.faces.length ? result.faces.map(function (face, index) {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colours[face.label] || "#1a6fb0";
      item.append(swatch, "Face " + (index + 1) + ": " + face.label + " (" + percent(face.probabilities[face.label]) +
        ") · box " + face.box.join(", "));
      return item;
    }) : [Object.assign(document.createElement("li"), { className: "empty", textContent: "No face in view." })]));
    const count = result.faces.length;
    status.textContent = "The camera is on · " + count + " face" + (count === 1 ? "" : "s") + " · model " + result.model +
      " · " + Math.round(milliseconds) + " ms a frame";
    const face = largest(result.faces);
    const now = Date.now();
    history.push({ t: now, p: face ? face.probabilities : null });
    history = history.filter(function (point) { return now - point.t <= WINDOW_MS; });
    drawChart(now);
  }

  // Boxes in the frame's pixels, drawn over the picture as the video element shows it (object-fit: contain).
  function drawBoxes(result) {
    const ratio = window.devicePixelRatio || 1;
    const width = video.clientWidth, height = video.clientHeight;
    overlay.width = Math.round(width * ratio);
    overlay.height = Math.round(height * ratio);
    const context = overlay.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    const scale = Math.min(width / result.width, height / result.height);
    const left = (width - result.width * scale) / 2, top = (height - result.height * scale) / 2;
    context.font = "600 14px system-ui, sans-serif";
    context.textBaseline = "bottom";
    result.faces.forEach(function (face) {
      const colour = colours[face.label] || "#1a6fb0";
      const x = left + face.box[0] * scale, y = top + face.box[1] * scale;
      context.lineWidth = 3;
      context.strokeStyle = colour;
      context.strokeRect(x, y, face.box[2] * scale, face.box[3] * scale);
      const label = face.label + " " + percent(face.probabilities[face.label]);
      const labelWidth = context.measureText(label).width + 8;
      const labelTop = y >= 20 ? y - 20 : y;
      context.fillStyle = colour;
      context.fillRect(x - 1.5, labelTop, labelWidth, 20);
      context.fillStyle = "white";
      context.fillText(label, x + 2.5, labelTop + 18);
    });
  }

  function drawChart(now) {
    const data = figure.data.map(function (trace) {
      return Object.assign({}, trace, {
        x: history.map(function (point) { return (point.t - now) / 1000; }),
        y: history.map(function (point) {
          return point.p && point.p[trace.name] !== undefined ? point.p[trace.name] : null;
        }),
      });
    });
    if (window.ferCharts) window.ferCharts.draw(chart, { data: data, layout: figure.layout });
  }

  function save() {
    if (!video.videoWidth) return;
    saveButton.disabled = true;
    const still = document.createElement("canvas"); // the whole picture, not the downscaled frame
    still.width = video.videoWidth;
    still.height = video.videoHeight;
    still.getContext("2d").drawImage(video, 0, 0);
    const stamp = new Date();
    const name = "live-" + stamp.toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-") + ".jpg";
    canvasBlob(still, 0.92)
      .then(function (blob) { return post(root.dataset.saveUrl, "image", blob, name); })
      .then(function (reply) {
        if (!reply.ok) { say(reply.data.error || "The moment could not be saved."); return; }
        const item = document.createElement("li");
        const link = Object.assign(document.createElement("a"), { href: reply.data.url, target: "_blank", rel: "noopener" });
        link.textContent = "the photo";
        item.append("Saved the moment at " + stamp.toLocaleTimeString() + ": open ", link, ".");
        savedList.append(item);
      })
      .catch(function () { say("The moment could not be saved: the server did not answer."); })
      .finally(function () { saveButton.disabled = !running; });
  }

  const problem = unsupported();
  if (problem) {
    say(problem);
    startButton.disabled = true;
    return;
  }
  startButton.addEventListener("click", start);
  stopButton.addEventListener("click", stop);
  saveButton.addEventListener("click", save);
  window.addEventListener("pagehide", stop);
})();
