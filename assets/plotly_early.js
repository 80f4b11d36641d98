/* Which plotly.js the cluster list loads, and when (dashboard/plotly_bundle.py: the bundle
 * dcc.Graph loads on every page, and the cluster list's, which adds the 3D map).
 *
 * The list draws its map with its first screen, so its plotly.js starts loading with the page,
 * while the page's callbacks are still on the server, instead of after them, when the first
 * dcc.Graph is mounted. (Other pages draw plotly figures only further down or after a click, and
 * dcc.Graph loads the other bundle then.) Until it has loaded, window.Plotly is a promise of it:
 * dcc.Graph waits on `Promise.resolve(window.Plotly || <its own script load>)`, so it waits for
 * this load instead of starting a second one. The script replaces window.Plotly with plotly
 * itself when it runs, before the promise resolves.
 *
 * Arriving at the list inside the app (a link, back or forward) when the plotly already loaded
 * cannot draw the map, the page is loaded again, with the list's bundle: dcc.Graph calls
 * window.Plotly on graphs already drawn, so it is never swapped under them.
 */
(function () {
  "use strict";
  const LIST = /^\/clusters\/?$/;
  const MAP_BUNDLE = "_atlas/plotly-map.min.js";
  const config = JSON.parse(document.getElementById("_dash-config").textContent);
  const prefix = config.requests_pathname_prefix || "/";
  const pagePath = () => "/" + window.location.pathname.slice(prefix.length);

  function loadMapBundle() {
    const loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = prefix + MAP_BUNDLE;
      script.onload = () => resolve(window.Plotly);
      script.onerror = (error) => {
        delete window.Plotly;
        reject(error);
      };
      document.head.appendChild(script);
    });
    loading.atlasMap = true; // as the map bundle's plotly says of itself
    window.Plotly = loading;
  }

  function plotlyFor(path) {
    if (!LIST.test(path)) return;
    if (!window.Plotly) loadMapBundle();
    else if (!window.Plotly.atlasMap) window.location.reload();
  }

  plotlyFor(pagePath());
  window.addEventListener("_dashprivate_pushstate", () => plotlyFor(pagePath()));
  window.addEventListener("popstate", () => plotlyFor(pagePath()));
})();
