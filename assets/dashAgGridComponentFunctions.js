/* Cell renderers for dash-ag-grid, which looks them up by name in
 * `window.dashAgGridComponentFunctions` (a column's `cellRenderer`).
 *
 * TokenText draws one row's tokens as spans, shaded by their activation, with the exact value in
 * each span's `title`. Token text comes from the corpus: it is only ever a text child, never HTML.
 *
 * Row data: `tokens` (list of str), `values` (activation per token), `start` (window offset of
 * the first token), `window`, `focus` (index of the marked token, or null) and, when colouring
 * by cluster, `clusters` (strongest cluster per token, null where none fires).
 * cellRendererParams: `threshold` (tokens at or under it stay unshaded), `colourBy`
 * ("activation" or "cluster") and `clickable` (a click sends `{window, offset}` to the grid's
 * `cellRendererData`).
 */
(function () {
  "use strict";
  const functions = (window.dashAgGridComponentFunctions =
    window.dashAgGridComponentFunctions || {});

  /** Opacity of a shade for an activation in [0, 1]. */
  function alpha(value) {
    return (0.15 + 0.75 * value).toFixed(2);
  }

  /** Activation shade: red, more opaque the stronger. */
  function activationShade(value) {
    return `rgba(214, 39, 40, ${alpha(value)})`;
  }

  /** The hue of `cluster_colour` in callbacks/sample.py (golden-ratio hues, HSL 75% 55%). */
  function clusterShade(cluster, value) {
    const hue = ((cluster * 0.618034) % 1) * 360;
    return `hsla(${hue.toFixed(1)}, 75%, 55%, ${alpha(value)})`;
  }

  /** Background colour and title of one token. */
  function tokenLook(row, index, offset, props) {
    const value = row.values[index];
    if (props.colourBy === "cluster") {
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
      background: value > (props.threshold || 0) ? activationShade(value) : undefined,
      title: `offset ${offset} · activation ${value.toFixed(3)}`,
    };
  }

  functions.TokenText = function TokenText(props) {
    const row = props.data;
    if (!row || !row.tokens) {
      return null;
    }
    const spans = row.tokens.map((text, index) => {
      const offset = row.start + index;
      const look = tokenLook(row, index, offset, props);
      const classes = ["token"];
      if (index === row.focus) classes.push("token-focus");
      if (props.clickable) classes.push("token-clickable");
      return React.createElement(
        "span",
        {
          key: index,
          className: classes.join(" "),
          title: look.title,
          style: look.background ? { backgroundColor: look.background } : undefined,
          onClick: props.clickable
            ? () => props.setData({ window: row.window, offset: offset })
            : undefined,
        },
        text
      );
    });
    return React.createElement("div", { className: "token-text" }, spans);
  };
})();
