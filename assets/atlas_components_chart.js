/* Chart: small SVG charts (registered in window.atlas_components; see atlas_components.js). */
(function () {
  "use strict";
  const { h, readable, niceTicks, labelled, text, frame, legend, readout, WIDTH, HEIGHT, COLOURS, BLUES } =
    window.atlas_base;

  /** The transparent rectangle over a plot that takes its pointer events (`handlers`). */
  function catcherRect(box, className, handlers) {
    return h("rect", {
      key: "catcher",
      x: box.left,
      y: box.top,
      width: box.right - box.left,
      height: box.bottom - box.top,
      fill: "transparent",
      className,
      ...handlers,
    });
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
    const catcher = catcherRect(box, canBrush ? "atlas-chart-brushable" : undefined, {
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
      catcherRect(box, chart.pick ? "atlas-chart-pickable" : undefined, {
        onMouseMove: (event) => setHover(nearest(event)),
        onMouseLeave: () => setHover(null),
        onClick: chart.pick ? (event) => ui.picked(xs[nearest(event)]) : undefined,
      }),
    ];
  }

  /** A chart; a range dragged across its bars (`chart.brush`) sets `selected` to
   * {range: [low, high], timestamp}. */

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

  Object.assign(window.atlas_components, { Chart });
})();
