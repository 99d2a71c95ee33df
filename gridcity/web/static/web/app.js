/* Behaviour every page shares. The Content-Security-Policy allows no inline event handlers
   (onclick=, onchange=…), so the markup names what a control does in a data- attribute and
   this file, listening on the document, does it: controls swapped in later by HTMX work too.

   data-submit-on-change     a <select> that sends its form when changed (the language picker)
   data-back                 a button that goes back one page
   data-shows-fieldset       a <select> whose value picks which fieldset[data-sheet] of its form
                             is shown (and sent); the others are hidden and disabled */
(function () {
  "use strict";

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
