/* ServerTable: a big table of rows sent by the server (registered in window.atlas_components; see atlas_components.js). */
(function () {
  "use strict";
  const { h, readable } = window.atlas_base;

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

  Object.assign(window.atlas_components, { ServerTable });
})();
