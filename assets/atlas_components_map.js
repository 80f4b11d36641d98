/* ClusterMap: the clusters' 3D map on a canvas (registered in window.atlas_components; see atlas_components.js). */
(function () {
  "use strict";
  const { h } = window.atlas_base;

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

  Object.assign(window.atlas_components, { ClusterMap });
})();
