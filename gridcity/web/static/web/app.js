/* Behaviour every page shares. The Content-Security-Policy allows no inline event handlers
   (onclick=, onchange=…), so the markup names what a control does in a data- attribute and
   this file, listening on the document, does it: controls swapped in later by HTMX work too.

   data-submit-on-change     a <select> that sends its form when changed (the language picker)
   data-back                 a button that goes back one page
   data-shows-fieldset       a <select> whose value picks which fieldset[data-sheet] of its form
                             is shown (and sent); the others are hidden and disabled

   The header's menu button (#menu-toggle) folds the navigation away on a phone; it is shown
   only from here, so without JavaScript the navigation stays open. */
(function () {
  "use strict";

  function menu() {
    var toggle = document.getElementById("menu-toggle");
    var bar = toggle ? toggle.closest(".topbar") : null;
    if (!bar) { return; }
    function setOpen(open) {
      bar.classList.toggle("menu-open", open);
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    }
    toggle.hidden = false;
    bar.classList.add("has-menu");
    toggle.addEventListener("click", function () {
      // Focus stays on the button (a disclosure); the menu follows it in the tab order.
      setOpen(toggle.getAttribute("aria-expanded") !== "true");
    });
    bar.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
        setOpen(false);
        toggle.focus();
      }
    });
    document.addEventListener("click", function (ev) {
      if (toggle.getAttribute("aria-expanded") === "true" && !bar.contains(ev.target)) { setOpen(false); }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", menu);
  } else {
    menu();
  }

  function showFieldsets(select) {
    select.form.querySelectorAll("fieldset[data-sheet]").forEach(function (f) {
      f.hidden = f.dataset.sheet !== select.value;
      f.disabled = f.hidden;
    });
  }

  document.addEventListener("change", function (ev) {
    var el = ev.target;
    if (!(el instanceof HTMLSelectElement)) { return; }
    if (el.hasAttribute("data-submit-on-change") && el.form) { el.form.submit(); }
    if (el.hasAttribute("data-shows-fieldset") && el.form) { showFieldsets(el); }
  });

  document.addEventListener("click", function (ev) {
    var el = ev.target instanceof Element ? ev.target.closest("[data-back]") : null;
    if (el) {
      ev.preventDefault();
      history.back();
    }
  });
})();
