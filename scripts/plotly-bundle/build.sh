#!/usr/bin/env bash
# Rebuild dashboard/static/plotly-atlas.min.js from the pinned plotly.js (package.json); run after
# changing the trace types the dashboard draws or plotly's version (it must be the plotly.js that
# the installed plotly package ships: tests/test_plotly_bundle.py checks both).
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --silent
# map traces are not included: their CSS, required by plotly's registry, is left out
npx esbuild entry.js --bundle --minify --format=iife --define:global=window \
  --loader:.css=empty --legal-comments=eof \
  --banner:js="/* plotly.js $(node -p 'require("plotly.js/package.json").version') (MIT), traces: bar heatmap scatter scattergl scatter3d; built by scripts/plotly-bundle/build.sh */" \
  --outfile=../../dashboard/static/plotly-atlas.min.js
