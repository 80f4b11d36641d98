/* TokenText and TokenRows: shaded token text (registered in window.atlas_components; see atlas_components.js). */
(function () {
  "use strict";
  const { h } = window.atlas_base;

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

  Object.assign(window.atlas_components, { TokenText, TokenRows });
})();
