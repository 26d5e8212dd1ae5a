// Fills each div[data-fragment-url] with the HTML its URL returns: parts of a page that are slow the
// first time (the mistakes grid runs the model) load after the page instead of holding it up.
(function () {
  "use strict";
  document.querySelectorAll("[data-fragment-url]").forEach(function (element) {
    fetch(element.dataset.fragmentUrl, { headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.text();
      })
      .then(function (html) { element.innerHTML = html; })
      .catch(function (error) { element.textContent = "Could not load this part of the page (" + error.message + ")."; });
  });
})();
