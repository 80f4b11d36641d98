/* Sections below the first screen are filled when they are scrolled near, not with the page.
 *
 * A lazy section is an element with class `lazy-section` and `data-trigger="<store id>"`; when
 * it comes within 200 px of the viewport, the store's `data` is set to true, which is the
 * Input of the callbacks that fill the section. Pages are inserted by Dash after this script
 * runs, so new sections are found with a MutationObserver.
 */
(function () {
  "use strict";
  const seen = new WeakSet();
  const visible = new IntersectionObserver(
    (entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        visible.unobserve(entry.target);
        const trigger = entry.target.dataset.trigger;
        if (trigger && window.dash_clientside && window.dash_clientside.set_props) {
          window.dash_clientside.set_props(trigger, { data: true });
        }
      }
    },
    { rootMargin: "200px 0px" }
  );
  function watch(root) {
    for (const section of root.querySelectorAll(".lazy-section[data-trigger]")) {
      if (!seen.has(section)) {
        seen.add(section);
        visible.observe(section);
      }
    }
  }
  new MutationObserver(() => watch(document)).observe(document.documentElement, {
    childList: true,
    subtree: true,
  });
})();
