#!/usr/bin/env bash
# Rebuild dashboard/static/plotly-atlas.min.js from the pinned plotly.js (package.json); run after changing the trace types the dashboard draws or plotly's version (it
# must be the plotly.js that the installed plotly package ships: tests/test_plotly_bundle.py
# checks both).
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --silent
version=$(node -p 'require("plotly.js/package.json").version')
build() {  # entry, output, trace types (for the banner)
  # map traces are not included: their CSS, required by plotly's registry, is left out
  npx esbuild "$1" --bundle --minify --format=iife --define:global=window \
    --loader:.css=empty --legal-comments=eof \
    --banner:js="/* plotly.js $version (MIT), traces: $3; built by scripts/plotly-bundle/build.sh */" \
    --outfile="../../dashboard/static/$2"
}
build entry.js plotly-atlas.min.js "bar heatmap scatter scattergl"
