// A form with data-confirm posts only once the person agrees to its question: the cancel button on
// a campaign's page. A file, not an inline handler, so the Content-Security-Policy can refuse those.
"use strict";
document.addEventListener("submit", function (event) {
  const question = event.target.dataset ? event.target.dataset.confirm : undefined;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
