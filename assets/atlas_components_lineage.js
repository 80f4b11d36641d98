/* Lineage: a cluster's merge subtree (registered in window.atlas_components; see atlas_components.js). */
(function () {
  "use strict";
  const { h, readable, text, readout } = window.atlas_base;

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

  Object.assign(window.atlas_components, { Lineage });
})();
