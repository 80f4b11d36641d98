/* The cluster list draws a plotly graph (the distribution) on its first screen: its plotly.js
 * (dashboard/plotly_bundle.py) starts loading with the page, while the page's callbacks are
 * still on the server, instead of after them, when dcc.Graph is mounted. Until it has loaded,
 * window.Plotly is a promise of it: dcc.Graph waits on `Promise.resolve(window.Plotly || <its
 * own script load>)`, so it waits for this load instead of starting a second one. The script
 * replaces window.Plotly with plotly itself when it runs, before the promise resolves.
 */
(function () {
  "use strict";
  const LIST = /^\/clusters\/?$/;
  const PLOTLY = "_dash-component-suites/plotly/package_data/plotly.min.js";
  const config = JSON.parse(document.getElementById("_dash-config").textContent);
  const prefix = config.requests_pathname_prefix || "/";
  if (window.Plotly || !LIST.test("/" + window.location.pathname.slice(prefix.length))) return;
  window.Plotly = new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = prefix + PLOTLY;
    script.onload = () => resolve(window.Plotly);
    script.onerror = (error) => {
      delete window.Plotly;
      reject(error);
    };
    document.head.appendChild(script);
  });
})();
