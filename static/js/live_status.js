// While a run is queued or running, polls its status.json every 2 s and updates the progress card;
// when an epoch finishes it redraws the learning curves, and when the run ends it reloads the page
// once, which then shows the test scores and charts (and polls no more).
(function () {
  "use strict";
  const card = document.querySelector("[data-status-url]");
  if (!card || card.dataset.active !== "true") return;
  const POLL_MS = 2000;
  let shownEpoch = Number(card.dataset.epoch);

  function field(name) {
    return card.querySelector('[data-field="' + name + '"]');
  }
  function setText(name, text) {
    const element = field(name) || document.querySelector('[data-field="' + name + '"]');
    if (element) element.textContent = text;
  }
  function fixed(value, format) {
    return value === null || value === undefined ? "—" : format(value);
  }
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const pad = function (n) { return String(n).padStart(2, "0"); };
    if (h) return h + " h " + pad(m) + " min";
    if (m) return m + " min " + pad(r) + " s";
    return r + " s";
  }

  function render(status) {
    setText("status", status.status_label);
    const badge = document.querySelector('.badge[data-field="status"]');
    if (badge) badge.className = "badge status-" + status.status;
    const bar = field("progress");
    bar.max = status.epochs || 1;
    bar.value = status.epoch;
    setText("epoch", status.epoch);
    setText("epochs", status.epochs || "—");
    setText("eta", duration(status.eta_seconds));
    const latest = status.latest || {};
    setText("train_loss", fixed(latest.train_loss, function (v) { return v.toPrecision(4); }));
    setText("val_loss", fixed(latest.val_loss, function (v) { return v.toPrecision(4); }));
    setText("val_acc", fixed(latest.val_acc, function (v) { return (v * 100).toFixed(1) + "%"; }));
    setText("val_macro_f1", fixed(latest.val_macro_f1, function (v) { return v.toFixed(3); }));
    setText("lr", fixed(latest.lr, function (v) { return v.toPrecision(3); }));
    setText("images_per_second", fixed(latest.images_per_second, function (v) { return Math.round(v); }));
    const error = field("error");
    error.textContent = status.error;
    error.hidden = !status.error;
  }

  function redrawCurves() {
    fetch(card.dataset.curvesUrl, { headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (figures) {
        Object.keys(figures).forEach(function (id) {
          const element = document.getElementById(id);
          if (element && window.ferCharts) window.ferCharts.draw(element, figures[id]);
        });
      })
      .catch(function () { /* the next epoch tries again */ });
  }

  function poll() {
    fetch(card.dataset.statusUrl, { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.json();
      })
      .then(function (status) {
        render(status);
        if (!status.is_active) {
          window.location.reload();
          return;
        }
        if (status.epoch !== shownEpoch) {
          shownEpoch = status.epoch;
          redrawCurves();
        }
        window.setTimeout(poll, POLL_MS);
      })
      .catch(function () { window.setTimeout(poll, POLL_MS * 3); });  // server restarting: back off
  }

  window.setTimeout(poll, POLL_MS);
})();
