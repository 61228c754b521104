// The console's only script besides htmx: copy buttons, and keeping opened log entries
// open while the live tail replaces the list around them.
(function () {
  "use strict";

  function selectText(source) {
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    try {
      document.execCommand("copy");
    } catch (ignored) {
      // The text stays selected: the operator copies it by hand.
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) {
      return;
    }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) {
      return;
    }
    var copied = function () {
      button.textContent = "Copied";
      button.setAttribute("data-copied", "true");
      window.setTimeout(function () {
        button.textContent = "Copy";
      }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.textContent).then(copied, function () {
        selectText(source);
        copied();
      });
    } else {
      selectText(source);
      copied();
    }
  });

  var opened = [];
  document.addEventListener("htmx:beforeSwap", function (event) {
    var found = event.detail.target.querySelectorAll("details[open][id]");
    opened = Array.prototype.map.call(found, function (item) {
      return item.id;
    });
  });
  document.addEventListener("htmx:afterSwap", function () {
    opened.forEach(function (id) {
      var item = document.getElementById(id);
      if (item) {
        item.open = true;
      }
    });
    opened = [];
  });
})();
