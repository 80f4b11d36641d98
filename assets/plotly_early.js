/* On pages that draw graphs with their first screen (the cluster list and a cluster's page),
 * plotly.js starts loading with the page, while the page's callbacks are still on the server,
 * instead of after them, when the first dcc.Graph is mounted.
 *
 * Until it has loaded, window.Plotly is a promise of it: dcc.Graph waits on
 * `Promise.resolve(window.Plotly || <its own script load>)`, so it waits for this load instead
 * of starting a second one. The script (dashboard/plotly_bundle.py) replaces window.Plotly with
 * plotly itself when it runs, before the promise resolves.
 */
(function () {
  "use strict";
  const GRAPH_PAGES = /^\/(clusters|cluster\/[^/]+)\/?$/;
  const config = JSON.parse(document.getElementById("_dash-config").textContent);
  const prefix = config.requests_pathname_prefix || "/";
  const path = "/" + window.location.pathname.slice(prefix.length);
  if (window.Plotly || !GRAPH_PAGES.test(path)) return;
  window.Plotly = new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = `${prefix}_dash-component-suites/plotly/package_data/plotly.min.js`;
    script.onload = () => resolve(window.Plotly);
    script.onerror = (error) => {
      delete window.Plotly;
      reject(error);
    };
    document.head.appendChild(script);
  });
})();
