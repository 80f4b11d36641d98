/* Links drawn inside AG Grid cells (the `markdown` renderer writes plain `<a>` tags), in
 * TokenRows, ServerTable and Lineage (assets/atlas_components_*.js) navigate the way `dcc.Link`
 * does: within the app, without reloading the page. A click with a modifier key, or on a link to another site, is left
 * to the browser.
 */
(function () {
  "use strict";
  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const within =
      ".ag-root a[href], .atlas-token-rows a[href], .atlas-table a[href], .atlas-lineage a[href]";
    const link = event.target.closest && event.target.closest(within);
    if (!link || link.target === "_blank") return;
    // an SVG link's `href` is not a string: its attribute is, on HTML and SVG links alike
    const address = new URL(link.getAttribute("href"), window.location.href);
    if (address.origin !== window.location.origin) return;
    event.preventDefault();
    window.history.pushState({}, "", address.pathname + address.search + address.hash);
    window.dispatchEvent(new CustomEvent("_dashprivate_pushstate"));
    window.scrollTo(0, 0);
  });
})();
