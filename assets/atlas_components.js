/* SPD Atlas's own Dash components (dashboard/components/atlas_components.py), drawn by React
 * from their data, one Dash component each.
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

  /** Bars (one group per position) or a filled step line per series, over positions `x`.
   * With `chart.brush` (bars over bins `chart.edges`), dragging across bars picks their range:
   * `ui.brushed([low edge, high edge])`. */
  function series(chart, ui) {
    const { hover, setHover } = ui;
    const box = { left: 50, right: WIDTH - 10, top: 36, bottom: HEIGHT - 40 };
    const all = chart.series || [];
    const count = (chart.x || []).length;
    const max = Math.max(0, ...all.flatMap((one) => one.values.filter(Number.isFinite)));
    const ticks = niceTicks(max, 4);
    const top = ticks[ticks.length - 1];
    const band = (box.right - box.left) / Math.max(count, 1);
    const y = (value) => box.bottom - (Math.max(value, 0) / top) * (box.bottom - box.top);
    const marks = [];
    all.forEach((one, s) => {
      const colour = COLOURS[s % COLOURS.length];
      if (chart.kind === "steps") {
        let path = `M${box.left} ${box.bottom}`;
        one.values.forEach((value, i) => {
          path += `V${y(value)}H${box.left + (i + 1) * band}`;
        });
        path += `V${box.bottom}Z`;
        marks.push(h("path", { key: `s${s}`, d: path, fill: colour, fillOpacity: 0.35, stroke: colour }));
      } else {
        const width = (band * 0.8) / all.length;
        one.values.forEach((value, i) => {
          marks.push(
            h("rect", {
              key: `b${s}-${i}`,
              x: box.left + i * band + band * 0.1 + s * width,
              y: y(value),
              width: Math.max(width, 0.5),
              height: box.bottom - y(value),
              fill: colour,
            })
          );
        });
      }
    });
    const xLabels = labelled(count, 6).map((i) =>
      text(box.left + (i + 0.5) * band, box.bottom + 14, readable(chart.x[i]), {
        key: `x${i}`,
        textAnchor: "middle",
      })
    );
    const hovered =
      hover === null
        ? null
        : `${chart.xTitle} ${readable(chart.x[hover])}: ` +
          all.map((one) => (all.length > 1 ? `${one.name} ` : "") + readable(one.values[hover])).join(", ");
    const guide =
      hover === null
        ? null
        : h("rect", {
            key: "guide",
            x: box.left + hover * band,
            y: box.top,
            width: band,
            height: box.bottom - box.top,
            className: "atlas-chart-hover",
          });
    const position = (event) => {
      const bounds = event.currentTarget.getBoundingClientRect();
      const at = Math.floor(((event.clientX - bounds.left) / bounds.width) * count);
      return Math.min(count - 1, Math.max(0, at));
    };
    const canBrush = Boolean(chart.brush && chart.edges && count > 0);
    const brush = ui.brush;
    const brushMark =
      brush === null
        ? null
        : h("rect", {
            key: "brush",
            x: box.left + Math.min(brush.from, brush.to) * band,
            y: box.top,
            width: (Math.abs(brush.to - brush.from) + 1) * band,
            height: box.bottom - box.top,
            className: "atlas-chart-brush",
          });
    const catcher = h("rect", {
      key: "catcher",
      x: box.left,
      y: box.top,
      width: box.right - box.left,
      height: box.bottom - box.top,
      fill: "transparent",
      className: canBrush ? "atlas-chart-brushable" : undefined,
      onMouseDown: canBrush
        ? (event) => {
            const at = position(event);
            ui.setBrush({ from: at, to: at, dragging: true });
          }
        : undefined,
      onMouseMove: (event) => {
        const at = position(event);
        setHover(at);
        if (brush && brush.dragging) ui.setBrush({ ...brush, to: at });
      },
      onMouseLeave: () => setHover(null),
    });
    return [
      ...frame(chart, box, ticks, y),
      guide,
      brushMark,
      ...marks,
      ...xLabels,
      ...legend(all, box),
      readout(hovered, box),
      catcher,
    ];
  }

  /** Blues, light to dark, for `value` out of `max`. */
  function blue(value, max) {
    const share = max > 0 ? value / max : 0;
    const [low, high] = BLUES;
    return `rgb(${low.map((c, i) => Math.round(c + (high[i] - c) * share)).join(",")})`;
  }

  /** A cell per (row, column), its value written in it. */
  function heatmap(chart, ui) {
    const { hover, setHover } = ui;
    const box = { left: 62, right: WIDTH - 10, top: 36, bottom: HEIGHT - 62 };
    const columns = chart.x || [];
    const rows = chart.y || [];
    const z = chart.z || [];
    const max = Math.max(0, ...z.flat().filter(Number.isFinite));
    const width = (box.right - box.left) / Math.max(columns.length, 1);
    const height = (box.bottom - box.top) / Math.max(rows.length, 1);
    const cells = [];
    rows.forEach((row, r) => {
      columns.forEach((column, c) => {
        const value = z[r][c];
        const x = box.left + c * width;
        const y = box.bottom - (r + 1) * height;
        cells.push(
          h(
            "g",
            {
              key: `c${r}-${c}`,
              onMouseEnter: () => setHover([r, c]),
              onMouseLeave: () => setHover(null),
            },
            h("rect", { x, y, width: width - 1, height: height - 1, fill: blue(value, max) }),
            width >= 16 && height >= 12
              ? text(x + width / 2, y + height / 2 + 4, readable(value), {
                  textAnchor: "middle",
                  className: value > max / 2 ? "atlas-chart-on-dark" : undefined,
                })
              : null
          )
        );
      });
    });
    const xLabels = labelled(columns.length, 12).map((c) =>
      text(box.left + (c + 0.5) * width, box.bottom + 10, columns[c], {
        key: `x${c}`,
        textAnchor: "end",
        transform: `rotate(-30 ${box.left + (c + 0.5) * width} ${box.bottom + 10})`,
      })
    );
    const yLabels = labelled(rows.length, 12).map((r) =>
      text(box.left - 5, box.bottom - (r + 0.5) * height + 4, rows[r], { key: `y${r}`, textAnchor: "end" })
    );
    const hovered =
      hover === null
        ? null
        : `${rows[hover[0]]}, ${columns[hover[1]]}: ${readable(z[hover[0]][hover[1]])} ${chart.unit || ""}`;
    return [...cells, ...xLabels, ...yLabels, readout(hovered, { left: box.left, top: 18 })];
  }

  /** A chart; a range dragged across its bars (`chart.brush`) sets `selected` to
   * {range: [low, high], timestamp}. */

  /** A line over numeric `x` (ascending) of values `y`, on an axis from their least to their
   * largest value; `marks` [{x, label}] are drawn as labelled vertical lines. With `pick`, a
   * click sets `ui.picked(x)` to the nearest point's x. Hover reads out the nearest point. */
  function curve(chart, ui) {
    const { hover, setHover } = ui;
    const box = { left: 64, right: WIDTH - 12, top: 36, bottom: HEIGHT - 40 };
    const xs = chart.x || [];
    const ys = chart.y || [];
    if (!xs.length) return [];
    const [x0, x1] = [xs[0], xs[xs.length - 1]];
    const [low, high] = [Math.min(...ys), Math.max(...ys)];
    const x = (value) => box.left + ((value - x0) / Math.max(x1 - x0, 1)) * (box.right - box.left);
    const y = (value) => box.bottom - ((value - low) / Math.max(high - low, 1e-12)) * (box.bottom - box.top);
    const path = xs.map((value, i) => `${i ? "L" : "M"}${x(value)} ${y(ys[i])}`).join("");
    const yTicks = [low, (low + high) / 2, high];
    const xTicks = labelled(xs.length, 5).map((i) => xs[i]);
    const nearest = (event) => {
      const bounds = event.currentTarget.getBoundingClientRect();
      const at = x0 + ((event.clientX - bounds.left) / bounds.width) * (x1 - x0);
      let best = 0;
      xs.forEach((value, i) => {
        if (Math.abs(value - at) < Math.abs(xs[best] - at)) best = i;
      });
      return best;
    };
    return [
      ...frame(chart, box, yTicks, y),
      ...xTicks.map((tick, i) =>
        text(x(tick), box.bottom + 14, readable(tick), { key: `x${i}`, textAnchor: "middle" })
      ),
      h("path", { key: "line", d: path, fill: "none", stroke: COLOURS[0], strokeWidth: 1.5 }),
      ...(chart.marks || []).map((mark, i) => {
        const right = x(mark.x) > (box.left + box.right) / 2; // its label on the inner side
        return h(
          "g",
          { key: `mark${i}`, className: `atlas-chart-mark atlas-chart-mark-${i}` },
          h("line", { x1: x(mark.x), x2: x(mark.x), y1: box.top, y2: box.bottom }),
          text(x(mark.x) + (right ? -3 : 3), box.top + 10 + 12 * i, mark.label, {
            textAnchor: right ? "end" : "start",
          })
        );
      }),
      hover === null
        ? null
        : h("circle", { key: "hover", cx: x(xs[hover]), cy: y(ys[hover]), r: 3.5, className: "atlas-chart-point" }),
      readout(hover === null ? null : `${chart.xTitle} ${xs[hover]}: ${readable(ys[hover])}`, {
        ...box,
        left: box.left + 120,
      }),
      h("rect", {
        key: "catcher",
        x: box.left,
        y: box.top,
        width: box.right - box.left,
        height: box.bottom - box.top,
        fill: "transparent",
        className: chart.pick ? "atlas-chart-pickable" : undefined,
        onMouseMove: (event) => setHover(nearest(event)),
        onMouseLeave: () => setHover(null),
        onClick: chart.pick ? (event) => ui.picked(xs[nearest(event)]) : undefined,
      }),
    ];
  }

  function Chart(props) {
    const chart = props.chart || {};
    const [hover, setHover] = React.useState(null);
    const [brush, setBrush] = React.useState(null);
    React.useEffect(() => setBrush(null), [props.chart]); // new bins: the old range is gone
    const brushed = (range) => props.setProps({ selected: { range, timestamp: Date.now() } });
    React.useEffect(() => {
      // a drag ends wherever the button is let go, over the bars or not
      if (!brush || !brush.dragging) return undefined;
      const finish = () => {
        const [low, high] = [Math.min(brush.from, brush.to), Math.max(brush.from, brush.to)];
        setBrush({ from: low, to: high, dragging: false });
        brushed([chart.edges[low], chart.edges[high + 1]]);
      };
      window.addEventListener("mouseup", finish);
      return () => window.removeEventListener("mouseup", finish);
    }, [brush]);
    const picked = (x) => props.setProps({ picked: { x, timestamp: Date.now() } });
    const ui = { hover, setHover, brush, setBrush, brushed, picked };
    const draw = chart.kind === "heatmap" ? heatmap : chart.kind === "curve" ? curve : series;
    return h(
      "div",
      { id: props.id, className: `atlas-chart ${props.className || ""}` },
      h(
        "svg",
        { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, width: "100%", role: "img", "aria-label": chart.title },
        text(WIDTH / 2, 16, chart.title, { className: "atlas-chart-title", textAnchor: "middle" }),
        ...draw(chart, ui)
      )
    );
  }

  /** Opacity of a shade for an activation in [0, 1]. */
  function alpha(value) {
    return (0.15 + 0.75 * value).toFixed(2);
  }

  /** The hue of `cluster_colour` in callbacks/sample.py (golden-ratio hues, HSL 75% 55%). */
  function clusterShade(cluster, value) {
    const hue = ((cluster * 0.618034) % 1) * 360;
    return `hsla(${hue.toFixed(1)}, 75%, 55%, ${alpha(value)})`;
  }

  /** Background colour (activation in red, more opaque the stronger; or the cluster's hue)
   * and title (the exact value) of one token. */
  function tokenLook(row, index, offset, options) {
    const value = row.values[index];
    if (options.colourBy === "cluster") {
      const cluster = row.clusters[index];
      if (cluster === null || cluster === undefined) {
        return { title: `offset ${offset}: no cluster fires` };
      }
      return {
        background: clusterShade(cluster, value),
        title: `offset ${offset}: cluster ${cluster}, activation ${value.toFixed(3)}`,
      };
    }
    return {
      background:
        value > (options.threshold || 0) ? `rgba(214, 39, 40, ${alpha(value)})` : undefined,
      title: `offset ${offset} · activation ${value.toFixed(3)}`,
    };
  }

  /** One window's tokens as spans, shaded, each with its exact value as its title; the token
   * at `row.focus` marked. With `options.click`, a click on a token calls it with
   * `{window, offset}`. */
  function tokenText(row, options) {
    const spans = row.tokens.map((token, index) => {
      const offset = row.start + index;
      const look = tokenLook(row, index, offset, options);
      const classes = ["token"];
      if (index === row.focus) classes.push("token-focus");
      if (options.click) classes.push("token-clickable");
      return h(
        "span",
        {
          key: index,
          className: classes.join(" "),
          title: look.title,
          style: look.background ? { backgroundColor: look.background } : undefined,
          onClick: options.click ? () => options.click({ window: row.window, offset }) : undefined,
        },
        token
      );
    });
    return h("div", { className: "token-text" }, spans);
  }

  /** What a click on a token sets: `clicked`, as AG Grid sets a cell renderer's data. */
  function clickSetter(props) {
    if (!props.clickable) return undefined;
    return (value) => props.setProps({ clicked: { value, timestamp: Date.now() } });
  }

  /** One window: `row` {tokens, values, start, window, focus, clusters}. */
  function TokenText(props) {
    const options = { colourBy: props.colourBy, click: clickSetter(props) };
    return h(
      "div",
      { id: props.id, className: "atlas-token-text" },
      props.row ? tokenText(props.row, options) : null
    );
  }

  const ROWS_AT_ONCE = 8;

  /** Windows one under the other, each with its link (`href`, to the window's sample page) and
   * its `label`, if any; drawn ROWS_AT_ONCE at a time, the next ones once the reader scrolls
   * near the end of the list. Shaded above `threshold`. */
  function TokenRows(props) {
    const rows = props.rows || [];
    const [shown, setShown] = React.useState(ROWS_AT_ONCE);
    const end = React.useRef(null);
    React.useEffect(() => {
      if (shown >= rows.length || !end.current) return undefined;
      const more = new IntersectionObserver(
        (entries) => {
          if (entries.some((entry) => entry.isIntersecting)) setShown((n) => n + ROWS_AT_ONCE);
        },
        { root: end.current.parentElement, rootMargin: "150px 0px" }
      );
      more.observe(end.current);
      return () => more.disconnect();
    }, [shown, rows.length]);
    const options = { threshold: props.threshold, click: clickSetter(props) };
    return h(
      "div",
      { id: props.id, className: "atlas-token-rows", style: { maxHeight: props.height } },
      rows.slice(0, shown).map((row, index) =>
        h(
          "div",
          { key: index, className: "atlas-token-row" },
          h(
            "div",
            { className: "atlas-token-row-about" },
            h("a", { href: row.href }, `#${row.window}`),
            row.label ? h("div", { className: "text-muted" }, row.label) : null
          ),
          tokenText(row, options)
        )
      ),
      shown < rows.length
        ? h(
            "div",
            { ref: end, className: "atlas-token-rows-more text-muted small" },
            `${shown} of ${rows.length} shown: scroll for more`
          )
        : null
    );
  }

  // viridis, as plotly draws it, at 10 stops; COLOUR_LEVELS + 1 levels interpolated between
  const VIRIDIS = [
    [68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
    [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37],
  ];
  const COLOUR_LEVELS = 255;
  const LEVEL_COLOURS = Array.from({ length: COLOUR_LEVELS + 1 }, (_, level) => {
    const at = (level / COLOUR_LEVELS) * (VIRIDIS.length - 1);
    const low = Math.min(Math.floor(at), VIRIDIS.length - 2);
    const share = at - low;
    const rgb = VIRIDIS[low].map((c, i) => Math.round(c + (VIRIDIS[low + 1][i] - c) * share));
    return `rgb(${rgb.join(",")})`;
  });
  const EYE_DISTANCE = 3; // the camera's distance from the map's centre, at zoom 1
  const HOME = { yaw: 0.785, pitch: 0.5, zoom: 1 };
  const CLICK_SLOP = 4; // px a press may move and still be a click, not a turn
  const POINT_RADIUS = 3.5; // px, at the map's centre and zoom 1
  const NEAREST = 0.05; // points nearer the camera than this are behind it: not drawn

  const TYPED = { uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array };

  /** {dtype, bdata}: base64 of a little-endian typed array (map_points.py `typed`). */
  function typedArray(given) {
    const Type = TYPED[(given && given.dtype) || "uint8"] || Uint8Array;
    const bytes = Uint8Array.from(atob((given && given.bdata) || ""), (c) => c.charCodeAt(0));
    return new Type(bytes.buffer, 0, bytes.length / Type.BYTES_PER_ELEMENT);
  }

  /** `points` {x, y, z (0..65535), level (0..COLOUR_LEVELS), cluster, size, token (an index
   * into `tokens`): typed arrays} with coordinates in [-1, 1], z up. */
  function mapScene(points) {
    const given = points || {};
    const cluster = Array.from(typedArray(given.cluster));
    const at = (axis) => Float32Array.from(typedArray(given[axis]), (v) => (v / 65535) * 2 - 1);
    return {
      count: cluster.length,
      x: at("x"),
      y: at("y"),
      z: at("z"),
      level: typedArray(given.level),
      cluster,
      size: typedArray(given.size),
      token: typedArray(given.token),
      tokens: given.tokens || [],
    };
  }

  /** Where each point lands on a `width` x `height` canvas under `view`: screen x, y, radius
   * (0: behind the camera), and the drawing order, farthest first. */
  function project(scene, view, width, height) {
    const { count } = scene;
    const distance = EYE_DISTANCE / view.zoom;
    const focal = Math.min(width, height) * 0.25 * EYE_DISTANCE; // the cube's corners fit
    const [cosYaw, sinYaw] = [Math.cos(view.yaw), Math.sin(view.yaw)];
    const [cosPitch, sinPitch] = [Math.cos(view.pitch), Math.sin(view.pitch)];
    const screenX = new Float32Array(count);
    const screenY = new Float32Array(count);
    const radius = new Float32Array(count);
    const depth = new Float32Array(count);
    /** [screen x, screen y, distance from the camera] of the map point (x, y, z). */
    const toScreen = (x, y, z) => {
      const right = x * cosYaw - y * sinYaw;
      const ahead = x * sinYaw + y * cosYaw;
      const up = z * cosPitch + ahead * sinPitch; // pitch > 0: seen from above
      const away = distance + ahead * cosPitch - z * sinPitch;
      return [width / 2 + (focal * right) / away, height / 2 - (focal * up) / away, away];
    };
    for (let i = 0; i < count; i++) {
      const [x, y, away] = toScreen(scene.x[i], scene.y[i], scene.z[i]);
      depth[i] = away;
      if (away < NEAREST) continue;
      screenX[i] = x;
      screenY[i] = y;
      radius[i] = Math.min(14, Math.max(1.5, (POINT_RADIUS * EYE_DISTANCE) / away));
    }
    const order = Uint32Array.from({ length: count }, (_, i) => i).sort((a, b) => depth[b] - depth[a]);
    return { screenX, screenY, radius, order, toScreen };
  }

  /** The edges of the map's bounding cube, faint, so that turning it reads as 3D. */
  function drawCube(context, toScreen) {
    const corners = [];
    for (const x of [-1, 1]) for (const y of [-1, 1]) for (const z of [-1, 1]) corners.push([x, y, z]);
    context.strokeStyle = "#dddddd";
    context.lineWidth = 1;
    context.beginPath();
    corners.forEach((a, i) =>
      corners.forEach((b, j) => {
        const differ = a.filter((v, k) => v !== b[k]).length;
        if (j <= i || differ !== 1) return;
        const [ax, ay, aAway] = toScreen(...a);
        const [bx, by, bAway] = toScreen(...b);
        if (aAway < NEAREST || bAway < NEAREST) return;
        context.moveTo(ax, ay);
        context.lineTo(bx, by);
      })
    );
    context.stroke();
  }

  /** The front-most point within reach of (x, y) on the canvas, or -1. */
  function pointAt(projection, x, y) {
    const { screenX, screenY, radius, order } = projection;
    for (let k = order.length - 1; k >= 0; k--) {
      const i = order[k];
      const reach = radius[i] + 3;
      if (radius[i] > 0 && Math.abs(screenX[i] - x) <= reach && Math.abs(screenY[i] - y) <= reach) {
        return i;
      }
    }
    return -1;
  }

  function drawMap(canvas, scene, view, selected) {
    const ratio = window.devicePixelRatio || 1;
    const [width, height] = [canvas.clientWidth, canvas.clientHeight];
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    const projection = project(scene, view, width, height);
    const { screenX, screenY, radius, order } = projection;
    drawCube(context, projection.toScreen);
    context.globalAlpha = 0.85;
    for (const i of order) {
      if (radius[i] === 0) continue;
      context.fillStyle = LEVEL_COLOURS[scene.level[i]] || LEVEL_COLOURS[0];
      context.beginPath();
      context.arc(screenX[i], screenY[i], radius[i], 0, 2 * Math.PI);
      context.fill();
    }
    context.globalAlpha = 1;
    if (selected >= 0 && radius[selected] > 0) {
      const [x, y, r] = [screenX[selected], screenY[selected], radius[selected] + 6];
      context.fillStyle = "#d62728";
      context.strokeStyle = "#ffffff";
      context.beginPath();
      context.moveTo(x, y - r);
      context.lineTo(x + r, y);
      context.lineTo(x, y + r);
      context.lineTo(x - r, y);
      context.closePath();
      context.fill();
      context.stroke();
    }
    return projection;
  }

  /** The colour scale beside the map: `colorbar` {title, ticks: [{level, label}]}. */
  function colourBar(colorbar) {
    const stops = VIRIDIS.map((rgb, i) => `rgb(${rgb.join(",")}) ${((i / (VIRIDIS.length - 1)) * 100).toFixed(1)}%`);
    return h(
      "div",
      { className: "atlas-map-colourbar" },
      h("div", { className: "atlas-map-colourbar-title" }, colorbar.title || ""),
      h(
        "div",
        { className: "atlas-map-colourbar-scale" },
        h("div", { className: "atlas-map-colourbar-ramp", style: { background: `linear-gradient(to top, ${stops.join(", ")})` } }),
        h(
          "div",
          { className: "atlas-map-colourbar-ticks" },
          (colorbar.ticks || []).map((tick) =>
            h("span", { key: tick.level, style: { bottom: `${(tick.level / COLOUR_LEVELS) * 100}%` } }, tick.label)
          )
        )
      )
    );
  }

  /** The clusters' 3D map: `points` as in mapScene, `selected` (a cluster id) marked; a click
   * on a point sets `clicked` {cluster, timestamp}. The canvas answers `atlasScreenPosition(
   * cluster)` with where that cluster's point is on the screen (client coordinates), for tests
   * and automation that click it. */
  function ClusterMap(props) {
    const canvas = React.useRef(null);
    const view = React.useRef({ ...HOME });
    const projection = React.useRef(null);
    const press = React.useRef(null);
    const frame = React.useRef(0);
    const [hover, setHover] = React.useState(null);
    const scene = React.useMemo(() => mapScene(props.points), [props.points]);
    const selected = React.useMemo(() => scene.cluster.indexOf(props.selected), [scene, props.selected]);

    const redraw = React.useCallback(() => {
      if (!canvas.current) return;
      projection.current = drawMap(canvas.current, scene, view.current, selected);
      canvas.current.dataset.drawn = String(scene.count);
      canvas.current.dataset.selected = selected >= 0 ? String(scene.cluster[selected]) : "";
    }, [scene, selected]);
    const redrawSoon = () => {
      cancelAnimationFrame(frame.current);
      frame.current = requestAnimationFrame(redraw);
    };

    React.useEffect(() => {
      redraw();
      const element = canvas.current;
      const resized = new ResizeObserver(() => redraw());
      resized.observe(element);
      element.atlasScreenPosition = (cluster) => {
        const i = scene.cluster.indexOf(cluster);
        const found = projection.current;
        if (i < 0 || !found || found.radius[i] === 0) return null;
        const bounds = element.getBoundingClientRect();
        return { x: bounds.left + found.screenX[i], y: bounds.top + found.screenY[i] };
      };
      const zoom = (event) => {
        event.preventDefault();
        const next = view.current.zoom * Math.exp(-event.deltaY * 0.0015);
        view.current.zoom = Math.min(25, Math.max(0.4, next));
        redrawSoon();
      };
      element.addEventListener("wheel", zoom, { passive: false });
      return () => {
        resized.disconnect();
        element.removeEventListener("wheel", zoom);
        cancelAnimationFrame(frame.current);
      };
    }, [redraw]);

    const local = (event) => {
      const bounds = canvas.current.getBoundingClientRect();
      return [event.clientX - bounds.left, event.clientY - bounds.top];
    };
    const onPointerDown = (event) => {
      if (event.button !== 0) return;
      const [x, y] = local(event);
      press.current = { x, y, yaw: view.current.yaw, pitch: view.current.pitch, turned: false };
      canvas.current.setPointerCapture(event.pointerId);
    };
    const onPointerMove = (event) => {
      const [x, y] = local(event);
      const held = press.current;
      if (held && (held.turned || Math.hypot(x - held.x, y - held.y) > CLICK_SLOP)) {
        held.turned = true;
        view.current.yaw = held.yaw - (x - held.x) * 0.008;
        view.current.pitch = Math.min(1.55, Math.max(-1.55, held.pitch + (y - held.y) * 0.008));
        setHover(null);
        redrawSoon();
        return;
      }
      const i = projection.current ? pointAt(projection.current, x, y) : -1;
      setHover(i < 0 ? null : { index: i, x, y });
    };
    const onPointerUp = (event) => {
      const held = press.current;
      press.current = null;
      if (!held || held.turned || !projection.current) return;
      const [x, y] = local(event);
      const i = pointAt(projection.current, x, y);
      if (i >= 0) props.setProps({ clicked: { cluster: scene.cluster[i], timestamp: Date.now() } });
    };
    const onPointerCancel = () => {
      press.current = null;
    };
    React.useEffect(() => setHover(null), [scene]); // new points: the old label is gone
    const onDoubleClick = () => {
      view.current = { ...HOME };
      redraw();
    };

    const tip =
      hover === null
        ? null
        : h(
            "div",
            { className: "atlas-map-hover", style: { left: hover.x + 12, top: hover.y + 12 } },
            `cluster ${scene.cluster[hover.index]} · ${scene.size[hover.index]} members · ${scene.tokens[scene.token[hover.index]] || ""}`
          );
    return h(
      "div",
      { id: props.id, className: "atlas-map", style: { height: props.height } },
      h(
        "div",
        { className: "atlas-map-scene" },
        h("canvas", {
          ref: canvas,
          role: "img",
          "aria-label": "3D map of clusters",
          onPointerDown,
          onPointerMove,
          onPointerUp,
          onPointerCancel,
          onLostPointerCapture: onPointerCancel,
          onPointerLeave: () => setHover(null),
          onDoubleClick,
        }),
        tip
      ),
      colourBar(props.colorbar || {})
    );
  }

  const ROW_HEIGHT = 28; // px, as .atlas-table-row in atlas.css
  const ROWS_AROUND = 3; // rows drawn beyond the visible ones, above and below
  const COLUMNS_AROUND = 150; // px of columns drawn beyond the visible ones, left and right
  const FILTER_DELAY_MS = 400;

  /** A query as one string: the cache key of its rows (filters in name order, empty ones out). */
  function queryKey(query) {
    const filters = (query && query.filters) || {};
    const kept = Object.keys(filters)
      .filter((name) => String(filters[name] || "").trim())
      .sort()
      .map((name) => [name, String(filters[name]).trim()]);
    return JSON.stringify([(query && query.sort) || "", kept]);
  }

  /** The part of a scrolled element in view. */
  function viewOf(element) {
    return {
      top: element.scrollTop,
      height: element.clientHeight,
      left: element.scrollLeft,
      width: element.clientWidth,
    };
  }

  /** What a cell shows, and what its hover shows: numbers at 4 digits, exactly on hover. */
  function cellText(value, numeric) {
    if (value === null || value === undefined) return ["", ""];
    if (numeric && typeof value === "number") return [readable(value), String(value)];
    return [String(value), String(value)];
  }

  /** A table whose rows the server sends a block at a time (`block`: {query, start, rows,
   * count}); only the rows in view are drawn. Sorting (a click on a header) and filtering (the
   * box under it) change `query` ({sort: "-column" | "column" | "", filters: {column: text}});
   * a block not yet here is asked for with `request` ({query, start, end, timestamp}). The
   * first `pinned` columns stay in view when the table scrolls sideways; a header's right edge
   * drags to resize. A column with `link` shows its value as a link to the row's `href`. Every
   * value is a text child, never HTML. */
  function ServerTable(props) {
    const columns = props.columns || [];
    const query = props.query || { sort: "", filters: {} };
    const key = queryKey(query);
    const blockSize = props.blockSize || 100;
    const body = React.useRef(null);
    const cache = React.useRef({ key: null, blocks: new Map(), count: null, pending: null });
    const merged = React.useRef(null);
    const [scroll, setScroll] = React.useState({ top: 0, height: 0, left: 0, width: 0 });
    const [widths, setWidths] = React.useState({});
    const [drafts, setDrafts] = React.useState((query && query.filters) || {});

    if (cache.current.key !== key) {
      cache.current = { key, blocks: new Map(), count: null, pending: null };
      merged.current = null;
    }
    const block = props.block;
    if (block && block !== merged.current && queryKey(block.query) === key) {
      merged.current = block;
      cache.current.blocks.set(block.start, block.rows || []);
      cache.current.count = block.count;
      if (cache.current.pending === block.start) cache.current.pending = null;
    }
    const { blocks, count } = cache.current;

    React.useEffect(() => {
      // filters set from outside (the address, a range dragged on a chart) show in the boxes;
      // a box whose text means the same filter keeps what is typed
      const filters = (query && query.filters) || {};
      setDrafts((typed) => {
        const shown = {};
        for (const name of new Set([...Object.keys(typed), ...Object.keys(filters)])) {
          const wanted = String(filters[name] || "");
          shown[name] = String(typed[name] || "").trim() === wanted ? typed[name] : wanted;
        }
        return shown;
      });
    }, [key]);
    React.useEffect(() => {
      const element = body.current;
      const measure = () => setScroll(viewOf(element));
      measure();
      const resized = new ResizeObserver(measure);
      resized.observe(element);
      return () => resized.disconnect();
    }, []);

    const first = Math.max(0, Math.floor(scroll.top / ROW_HEIGHT) - ROWS_AROUND);
    const last = Math.ceil((scroll.top + scroll.height) / ROW_HEIGHT) + ROWS_AROUND;
    const end = count === null ? last : Math.min(last, count);
    React.useEffect(() => {
      // ask for the first missing block in view, one request at a time
      if (cache.current.pending !== null) return;
      for (
        let start = Math.floor(first / blockSize) * blockSize;
        start < Math.max(end, 1);
        start += blockSize
      ) {
        if (blocks.has(start)) continue;
        cache.current.pending = start;
        props.setProps({
          request: { query, start, end: start + blockSize, timestamp: Date.now() },
        });
        return;
      }
    });

    const width = (column) => widths[column.field] || column.width || 130;
    const setQuery = (change) => props.setProps({ query: { ...query, ...change } });
    const filtersFrom = (texts) => {
      const filters = {};
      for (const [name, value] of Object.entries(texts)) {
        if (String(value || "").trim()) filters[name] = String(value).trim();
      }
      return filters;
    };
    const timer = React.useRef(0);
    const typed = (field, value) => {
      const next = { ...drafts, [field]: value };
      setDrafts(next);
      clearTimeout(timer.current);
      timer.current = setTimeout(() => setQuery({ filters: filtersFrom(next) }), FILTER_DELAY_MS);
    };
    const applyNow = () => {
      clearTimeout(timer.current);
      setQuery({ filters: filtersFrom(drafts) });
    };
    const sortBy = (column) => {
      if (column.sortable === false) return;
      const sort = query.sort || "";
      const down = "-" + column.field;
      if (sort === down) setQuery({ sort: column.field });
      else if (sort === column.field) setQuery({ sort: down });
      else setQuery({ sort: column.numeric ? down : column.field });
    };
    const resize = (column, event) => {
      event.preventDefault();
      event.stopPropagation();
      const from = event.clientX;
      const start = width(column);
      const move = (moved) =>
        setWidths((now) => ({
          ...now,
          [column.field]: Math.max(48, start + moved.clientX - from),
        }));
      const up = () => {
        window.removeEventListener("mousemove", move);
        window.removeEventListener("mouseup", up);
      };
      window.addEventListener("mousemove", move);
      window.addEventListener("mouseup", up);
    };

    // pinned columns, and the others within COLUMNS_AROUND of the view, are drawn; a gap of the
    // width of those left out to the left keeps the drawn ones in their place
    const pinnedLeft = [];
    const drawn = [];
    let offset = 0;
    let gap = 0;
    columns.forEach((column, index) => {
      const pinned = index < (props.pinned || 0);
      pinnedLeft.push(pinned ? offset : null);
      const right = offset + width(column);
      const inView =
        right >= scroll.left - COLUMNS_AROUND &&
        offset <= scroll.left + (scroll.width || 2000) + COLUMNS_AROUND;
      if (pinned || inView) drawn.push(index);
      else if (drawn.length === (props.pinned || 0)) gap += width(column);
      offset = right;
    });
    const spacer = (key) => (gap > 0 ? h("div", { key, style: { flex: `0 0 ${gap}px` } }) : null);
    const withGap = (cells) => {
      const pinnedCount = props.pinned || 0;
      return [...cells.slice(0, pinnedCount), spacer("gap"), ...cells.slice(pinnedCount)];
    };
    const cellStyle = (column, index) => {
      const style = { width: width(column) };
      if (pinnedLeft[index] !== null) style.left = pinnedLeft[index];
      return style;
    };
    const cellClass = (column, index, base) =>
      `${base}${pinnedLeft[index] !== null ? " atlas-table-pinned" : ""}${column.numeric ? " atlas-table-number" : ""}`;
    const sort = query.sort || "";
    const arrow = (column) =>
      sort === column.field ? " ▲" : sort === "-" + column.field ? " ▼" : "";

    // one row of cells: `content(column)` gives each drawn column's props and children
    const cells = (base, content) =>
      withGap(
        drawn.map((index) => {
          const column = columns[index];
          const [cellProps, ...children] = content(column);
          return h(
            "div",
            {
              key: column.field,
              className: cellClass(column, index, base),
              style: cellStyle(column, index),
              "data-column": column.field,
              ...cellProps,
            },
            ...children,
          );
        }),
      );
    const head = h(
      "div",
      { className: "atlas-table-head", style: { width: offset } },
      h(
        "div",
        { className: "atlas-table-titles" },
        cells("atlas-table-title", (column) => [
          {
            title: column.sortable === false ? column.header : `${column.header}: click to sort`,
            onClick: () => sortBy(column),
          },
          h("span", { className: "atlas-table-title-text" }, column.header + arrow(column)),
          h("span", {
            className: "atlas-table-resize",
            onMouseDown: (event) => resize(column, event),
          }),
        ]),
      ),
      h(
        "div",
        { className: "atlas-table-filters" },
        cells("atlas-table-filter", (column) => [
          {},
          column.filterable === false
            ? null
            : h("input", {
                type: "text",
                "aria-label": `filter ${column.header}`,
                value: drafts[column.field] || "",
                onChange: (event) => typed(column.field, event.target.value),
                onKeyDown: (event) => event.key === "Enter" && applyNow(),
              }),
        ]),
      ),
    );

    const rows = [];
    for (let i = first; i < end; i += 1) {
      const start = Math.floor(i / blockSize) * blockSize;
      const row = (blocks.get(start) || [])[i - start];
      if (!row) continue;
      rows.push(
        h(
          "div",
          { key: i, className: "atlas-table-row", style: { top: i * ROW_HEIGHT, width: offset } },
          cells("atlas-table-cell", (column) => {
            const [shown, exact] = cellText(row[column.field], column.numeric);
            return [{ title: exact }, column.link && row.href ? h("a", { href: row.href }, shown) : shown];
          }),
        ),
      );
    }
    const note =
      count === null ? "Loading rows ..." : count === 0 ? "No rows match these filters." : null;
    return h(
      "div",
      {
        id: props.id,
        className: "atlas-table",
        style: { height: props.height },
        "data-count": count === null ? "" : String(count),
      },
      h(
        "div",
        {
          ref: body,
          className: "atlas-table-scroll",
          onScroll: (event) => setScroll(viewOf(event.currentTarget)),
        },
        head,
        h(
          "div",
          {
            className: "atlas-table-body",
            style: { height: (count || 0) * ROW_HEIGHT, width: offset },
          },
          rows,
        ),
        note ? h("div", { className: "atlas-table-note text-muted small" }, note) : null,
      ),
      h(
        "div",
        { className: "atlas-table-count text-muted small" },
        count === null ? "" : `${count.toLocaleString()} rows`,
      ),
    );
  }


  const LINEAGE_WIDTH = 640;
  const LINEAGE_HEIGHT = 300;

  /** A cluster's merge subtree as a dendrogram (`nodes`: {cluster, parent (index, -1 for the
   * root), formed (iteration), cost, size, folded, x in [0, 1], href, label}): each merge at the
   * height of its iteration, leaves in tree order along the bottom (labelled by member when
   * few). A node is a link to that cluster at the iteration it was formed; hovering one reads
   * out its id, size, iteration and merge cost. Labels are text children, never HTML. */
  function Lineage(props) {
    const nodes = props.nodes || [];
    const [hover, setHover] = React.useState(null);
    if (!nodes.length) return h("div", { id: props.id, className: "atlas-lineage" });
    const leaves = nodes.filter((node, i) => !nodes.some((other) => other.parent === i));
    const labelled = leaves.length <= 24 && leaves.every((node) => node.label);
    const box = { left: 56, right: LINEAGE_WIDTH - 16, top: 28, bottom: LINEAGE_HEIGHT - (labelled ? 90 : 30) };
    const low = Math.min(...nodes.map((node) => node.formed));
    const high = Math.max(...nodes.map((node) => node.formed));
    const x = (node) => box.left + node.x * (box.right - box.left);
    const y = (iteration) =>
      box.bottom - ((iteration - low) / Math.max(high - low, 1)) * (box.bottom - box.top);
    const biggest = Math.max(...nodes.map((node) => node.size));
    const radius = (node) => 2.5 + 5 * Math.sqrt(node.size / biggest);
    const ticks = [...new Set([low, Math.round((low + high) / 2), high])];
    const shown = hover === null ? null : nodes[hover];
    const about = (node) =>
      `cluster ${node.cluster} · ${node.size} members · ` +
      (node.cost === null ? "an initial group" : `formed at iteration ${node.formed}, cost ${readable(node.cost)}`) +
      (node.folded ? " · its merges not drawn" : "") +
      (node.label ? ` · ${node.label}` : "");
    return h(
      "div",
      { id: props.id, className: "atlas-lineage" },
      h(
        "svg",
        {
          viewBox: `0 0 ${LINEAGE_WIDTH} ${LINEAGE_HEIGHT}`,
          width: "100%",
          role: "img",
          "aria-label": props.title,
        },
        text(LINEAGE_WIDTH / 2, 16, props.title, { className: "atlas-chart-title", textAnchor: "middle" }),
        ...ticks.map((tick) =>
          h(
            "g",
            { key: `tick${tick}`, className: "atlas-chart-grid" },
            h("line", { x1: box.left - 4, x2: box.right, y1: y(tick), y2: y(tick) }),
            text(box.left - 8, y(tick) + 4, String(tick), { textAnchor: "end" })
          )
        ),
        text(14, (box.top + box.bottom) / 2, "iteration", {
          key: "y-title",
          textAnchor: "middle",
          className: "atlas-chart-axis-title",
          transform: `rotate(-90 14 ${(box.top + box.bottom) / 2})`,
        }),
        ...nodes
          .filter((node) => node.parent >= 0)
          .map((node, i) => {
            const parent = nodes[node.parent];
            return h("path", {
              key: `edge${i}`,
              className: "atlas-lineage-edge",
              d: `M ${x(node)} ${y(node.formed)} V ${y(parent.formed)} H ${x(parent)}`,
            });
          }),
        ...nodes.map((node, i) =>
          h(
            "a",
            { key: `node${i}`, href: node.href, className: "atlas-lineage-node" },
            h("circle", {
              cx: x(node),
              cy: y(node.formed),
              r: radius(node),
              className:
                (node.folded ? "atlas-lineage-folded" : "") + (node.parent < 0 ? " atlas-lineage-current" : ""),
              "data-cluster": String(node.cluster),
              onMouseEnter: () => setHover(i),
              onMouseLeave: () => setHover(null),
            })
          )
        ),
        ...(labelled
          ? leaves.map((node, i) =>
              text(x(node), box.bottom + 12, node.label, {
                key: `label${i}`,
                className: "atlas-lineage-label",
                textAnchor: "end",
                transform: `rotate(-40 ${x(node)} ${box.bottom + 12})`,
              })
            )
          : []),
        shown ? readout(about(shown), box) : null
      )
    );
  }

  window.atlas_components = { Chart, TokenText, TokenRows, ClusterMap, ServerTable, Lineage };
})();
