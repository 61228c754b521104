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

  // A stream's live items: the stream's feed (Server-Sent Events), newest first. The
  // EventSource reconnects by itself and resumes after the last change it got.
  var MAX_LIVE_ROWS = 50;
  var feedTable = document.querySelector("table[data-feed-url]");
  if (feedTable && window.EventSource) {
    var state = document.querySelector("[data-testid=feed-state]");
    var body = feedTable.querySelector("tbody");
    var source = new EventSource(feedTable.getAttribute("data-feed-url"));
    var cell = function (row, text, code) {
      var td = document.createElement("td");
      var inner = code ? document.createElement("code") : td;
      inner.textContent = text;
      if (code) {
        td.appendChild(inner);
      }
      row.appendChild(td);
    };
    source.addEventListener("open", function () {
      state.textContent = "● live";
    });
    source.addEventListener("error", function () {
      state.textContent = "● reconnecting…";
    });
    source.addEventListener("change", function (event) {
      var change = JSON.parse(event.data);
      var empty = body.querySelector("tr.empty");
      if (empty) {
        empty.remove();
      }
      var row = document.createElement("tr");
      row.setAttribute("data-position", event.lastEventId);
      cell(row, event.lastEventId, false);
      cell(row, change.item_key, true);
      cell(row, change.action, false);
      // The values' JSON text as the feed sent it (numbers keep every digit).
      var raw = event.data.match(/"values":(\{.*\}),"request_id"/);
      cell(row, raw ? raw[1] : JSON.stringify(change.values), true);
      cell(row, (change.change_time || "").replace("T", " ").replace(/\.\d+Z$/, " UTC"), false);
      body.insertBefore(row, body.firstChild);
      // The connector log tail refreshes on this (hx-trigger "inlet-feed from:body").
      document.body.dispatchEvent(new CustomEvent("inlet-feed"));
      while (body.rows.length > MAX_LIVE_ROWS) {
        body.deleteRow(body.rows.length - 1);
      }
    });
  }
})();
