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
 *
 * `chart`: {kind: "bars" | "steps" | "heatmap", title, xTitle, yTitle, ...}
 *   bars, steps: x (a label or number per position), series [{name, values}]
 *   heatmap: x (column labels), y (row labels), z (rows of values), unit (said on hover)
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

  /** Title, axis titles, y grid and labels of a chart with values 0..top on its y axis. */
  function frame(chart, box, ticks) {
    const y = (value) => box.bottom - (value / ticks[ticks.length - 1]) * (box.bottom - box.top);
    return [
      ...ticks.map((tick) =>
        h(
          "g",
          { key: `y${tick}`, className: "atlas-chart-grid" },
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

  /** Bars (one group per position) or a filled step line per series, over positions `x`. */
  function series(chart, hover, setHover) {
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
    const catcher = h("rect", {
      key: "catcher",
      x: box.left,
      y: box.top,
      width: box.right - box.left,
      height: box.bottom - box.top,
      fill: "transparent",
      onMouseMove: (event) => {
        const bounds = event.currentTarget.getBoundingClientRect();
        const at = Math.floor(((event.clientX - bounds.left) / bounds.width) * count);
        setHover(Math.min(count - 1, Math.max(0, at)));
      },
      onMouseLeave: () => setHover(null),
    });
    return [...frame(chart, box, ticks), guide, ...marks, ...xLabels, ...legend(all, box), readout(hovered, box), catcher];
  }

  /** Blues, light to dark, for `value` out of `max`. */
  function blue(value, max) {
    const share = max > 0 ? value / max : 0;
    const [low, high] = BLUES;
    return `rgb(${low.map((c, i) => Math.round(c + (high[i] - c) * share)).join(",")})`;
  }

  /** A cell per (row, column), its value written in it. */
  function heatmap(chart, hover, setHover) {
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

  function Chart(props) {
    const chart = props.chart || {};
    const [hover, setHover] = React.useState(null);
    const draw = chart.kind === "heatmap" ? heatmap : series;
    return h(
      "div",
      { id: props.id, className: `atlas-chart ${props.className || ""}` },
      h(
        "svg",
        { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, width: "100%", role: "img", "aria-label": chart.title },
        text(WIDTH / 2, 16, chart.title, { className: "atlas-chart-title", textAnchor: "middle" }),
        ...draw(chart, hover, setHover)
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

  window.atlas_components = { Chart, TokenText, TokenRows };
})();
