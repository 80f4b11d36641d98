/* SPD Atlas's own Dash components (dashboard/components/atlas_components.py), drawn by React
 * from their data, one Dash component each. This file holds what they share (window.atlas_base)
 * and the namespace Dash reads them from (window.atlas_components); each component is in a file
 * of its own, atlas_components_<name>.js, which Dash loads after this one (assets load in name
 * order).
 *
 * Chart: a small chart drawn as SVG, without plotly.js. A cluster's first screen draws its
 * makeup and activation with these: plotly.js's evaluation and first draw were most of that
 * page's time in the browser. Hovering a bar, a step or a cell shows its exact values. Titles
 * and labels are text children, never HTML.
 * TokenText: one text window's tokens, shaded, never one Dash component per token (a sample's
 * page); token text comes from the corpus: it is only ever a text child, never HTML.
 * TokenRows: many windows (examples), drawn a few at a time as they are scrolled to.
 * ClusterMap: the clusters' 3D map as points on a 2D canvas, projected in perspective: drag to
 * turn, scroll to fly in and out, double-click to reset, click a point to select its cluster.
 * No WebGL: a software-rendered WebGL context (headless, or a machine without a GPU) and
 * plotly's 3D scene code were most of the list page's time in the browser.
 * Lineage: a cluster's merge subtree as a dendrogram, each node a link to that cluster.
 * ServerTable: a big table whose rows the server sends a block at a time, sorted and filtered
 * there; only the rows and columns in view are drawn. The list page's first block comes with
 * the page, so it draws without a round trip (AG Grid's code, its setup and its first request
 * were most of what was left of that page's time).
 *
 * `chart`: {kind: "bars" | "steps" | "heatmap" | "curve", title, xTitle, yTitle, ...}
 *   bars, steps: x (a label or number per position), series [{name, values}]
 *   heatmap: x (column labels), y (row labels), z (rows of values), unit (said on hover)
 *   curve: x (numbers, ascending), y (a value each), marks [{x, label}], pick (a click sets
 *     the component's `picked` to {x, timestamp})
 */
(function () {
  "use strict";
  const h = React.createElement;
  const WIDTH = 420;
  const HEIGHT = 270;
  const COLOURS = ["#4c72b0", "#dd8452", "#55a868"];
  const BLUES = [
    [247, 251, 255],
    [8, 48, 107],
  ];

  /** A number as a person reads it: at most 4 significant digits. */
  function readable(value) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    if (typeof value !== "number") return String(value);
    const size = Math.abs(value);
    if (size !== 0 && (size >= 1e5 || size < 1e-3)) return value.toExponential(2);
    return String(+value.toPrecision(4));
  }

  /** Round steps from 0 to at least `max`: about `count` of them. */
  function niceTicks(max, count) {
    if (!(max > 0)) return [0, 1];
    const raw = max / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw);
    const ticks = [0];
    while (ticks[ticks.length - 1] < max) ticks.push(+(ticks.length * step).toPrecision(12));
    return ticks;
  }

  /** Every k-th index of `count` positions, so that about `most` are labelled. */
  function labelled(count, most) {
    const every = Math.max(1, Math.ceil(count / most));
    const indices = [];
    for (let i = 0; i < count; i += every) indices.push(i);
    return indices;
  }

  function text(x, y, content, props) {
    return h("text", { x, y, ...props }, content);
  }

  /** Axis titles, and a horizontal grid line with its label at each of `ticks` (placed by `y`). */
  function frame(chart, box, ticks, y) {
    return [
      ...ticks.map((tick, i) =>
        h(
          "g",
          { key: `y${i}`, className: "atlas-chart-grid" },
          h("line", { x1: box.left, x2: box.right, y1: y(tick), y2: y(tick) }),
          text(box.left - 5, y(tick) + 4, readable(tick), { textAnchor: "end" })
        )
      ),
      text((box.left + box.right) / 2, HEIGHT - 6, chart.xTitle, {
        key: "x-title",
        textAnchor: "middle",
        className: "atlas-chart-axis-title",
      }),
      text(12, (box.top + box.bottom) / 2, chart.yTitle, {
        key: "y-title",
        textAnchor: "middle",
        className: "atlas-chart-axis-title",
        transform: `rotate(-90 12 ${(box.top + box.bottom) / 2})`,
      }),
    ];
  }

  function legend(series, box) {
    if (series.length < 2) return [];
    return series.map((one, index) =>
      h(
        "g",
        { key: `legend${index}`, transform: `translate(${box.right - 110 * (series.length - index)} 24)` },
        h("rect", { width: 9, height: 9, y: -8, fill: COLOURS[index % COLOURS.length] }),
        text(13, 0, one.name)
      )
    );
  }

  /** The hovered position's values, in the top left corner of the plot. */
  function readout(content, box) {
    return content === null
      ? null
      : text(box.left + 4, box.top + 10, content, { key: "readout", className: "atlas-chart-readout" });
  }

  // what every component file (assets/atlas_components_*.js, loaded after this one) draws with
  window.atlas_base = { h, WIDTH, HEIGHT, COLOURS, BLUES, readable, niceTicks, labelled, text, frame, legend, readout };
  window.atlas_components = window.atlas_components || {};
})();
