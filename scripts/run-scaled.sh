#!/usr/bin/env bash
# The scaled mode on one machine, without containers: Redis, the pages' job worker, the inference
# worker and gunicorn, started with the commands the tests run (tests/browser/test_scaled.py).
#
#   ATLAS_STUDY=demo scripts/run-scaled.sh [serve options, e.g. --host 0.0.0.0 --port 8060]
#
# Settings come from the environment (README, "Settings"). REDIS_URL defaults to
# redis://127.0.0.1:6379/0; a local Redis that does not answer is started (daemonized; it keeps
# running after this script). WORKERS sets gunicorn's worker count (default 2). The workers log to
# $ATLAS_DATA_DIR/logs/ and are stopped when the dashboard stops.
set -euo pipefail

# Paths given relative to where this was started stay so; the commands run in the repository root.
if [ -n "${ATLAS_DATA_DIR:-}" ]; then
  ATLAS_DATA_DIR=$(realpath -m -- "$ATLAS_DATA_DIR")
fi
case "${ATLAS_STUDY:-}" in
  "" | /*) ;;
  */*) # a directory (not a name in the data dir, which `./name` still is for the app)
    [ "$(dirname -- "$ATLAS_STUDY")" = . ] || ATLAS_STUDY=$(realpath -m -- "$ATLAS_STUDY") ;;
esac
cd "$(dirname "$0")/.."
export ATLAS_DATA_DIR=${ATLAS_DATA_DIR:-$PWD/atlas-data}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
[ -z "${ATLAS_STUDY:-}" ] || export ATLAS_STUDY

if [ -x .venv/bin/spd-atlas ]; then
  atlas=$PWD/.venv/bin/spd-atlas
elif command -v spd-atlas >/dev/null; then
  atlas=$(command -v spd-atlas)
else
  echo "run-scaled: spd-atlas is not installed: run 'make install' first" >&2
  exit 1
fi
if ! command -v redis-cli >/dev/null; then
  echo "run-scaled: redis-cli is needed (Debian: apt-get install redis-tools)" >&2
  exit 1
fi

logs=$ATLAS_DATA_DIR/logs
mkdir -p "$logs"

rcli() { redis-cli --no-auth-warning -u "$REDIS_URL" "$@"; }
redis_answers() { [ "$(rcli PING 2>/dev/null)" = PONG ]; }

# Start a Redis server when the URL names this machine and none answers there.
start_local_redis() {
  local rest hostport host port bind
  case $REDIS_URL in
    redis://*) rest=${REDIS_URL#redis://} ;;
    *) return 1 ;;
  esac
  case $rest in *@*) return 1 ;; esac # a password: not one this script would know to set
  hostport=${rest%%/*}
  case $hostport in
    \[*\]:*) host=${hostport%:*} port=${hostport##*:} ;;
    \[*\]) host=$hostport port=6379 ;;
    *:*) host=${hostport%%:*} port=${hostport##*:} ;;
    *) host=$hostport port=6379 ;;
  esac
  case $host in
    127.0.0.1 | localhost) bind=127.0.0.1 ;;
    ::1 | \[::1\]) bind=::1 ;;
    *) return 1 ;;
  esac
  command -v redis-server >/dev/null || {
    echo "run-scaled: no Redis answers at $REDIS_URL and redis-server is not installed" >&2
    exit 1
  }
  echo "starting redis-server on $bind port $port (log: $logs/redis.log) ..."
  mkdir -p "$ATLAS_DATA_DIR/redis"
  redis-server --daemonize yes --bind "$bind" --port "$port" --save "" --appendonly no \
    --dir "$ATLAS_DATA_DIR/redis" --logfile "$logs/redis.log"
  for _ in $(seq 50); do
    redis_answers && return 0
    sleep 0.1
  done
  return 0
}

if ! redis_answers; then
  if ! start_local_redis; then
    echo "run-scaled: no Redis answers at $REDIS_URL (a remote or password-protected Redis" \
      "must be started by its owner)" >&2
    exit 1
  fi
  redis_answers || {
    echo "run-scaled: the Redis server did not start: see $logs/redis.log" >&2
    exit 1
  }
fi

pids=()
# shellcheck disable=SC2329 # called by the EXIT trap
cleanup() {
  trap - EXIT INT TERM
  if [ ${#pids[@]} -gt 0 ]; then
    echo "stopping the dashboard and the workers ..."
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Whether a live worker consumes from the queue: the workers keep a sorted set per queue,
# atlas:workers:<queue>, scored with the Redis time their presence lapses (dashboard/runtime.py).
served() {
  local now count
  now=$(rcli TIME 2>/dev/null | head -n 1) || return 1
  [[ $now =~ ^[0-9]+$ ]] || return 1
  count=$(rcli ZCOUNT "atlas:workers:$1" "$now" +inf 2>/dev/null) || return 1
  [[ $count =~ ^[0-9]+$ ]] && ((count > 0))
}

# Start `spd-atlas worker --queue <option>` and wait until it serves Redis queue <queue>.
start_worker() {
  local option=$1 queue=$2 pid
  echo "starting spd-atlas worker --queue $option (log: $logs/worker-$option.log) ..."
  "$atlas" worker --queue "$option" >>"$logs/worker-$option.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 240); do # 120 s: a worker imports torch and the app before it announces itself
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "run-scaled: the $option worker exited during start-up; the end of its log:" >&2
      tail -n 20 "$logs/worker-$option.log" >&2
      exit 1
    fi
    served "$queue" && return 0
    sleep 0.5
  done
  echo "run-scaled: no $option worker announced itself within 120 s: see $logs/worker-$option.log" >&2
  exit 1
}

start_worker web celery # the pages' background jobs
start_worker gpu gpu    # inference: the model loads inside it on its first job

# In the foreground, though not exec'd: this shell stays to stop the workers when it ends.
"$atlas" serve --workers "${WORKERS:-2}" "$@" &
serve_pid=$!
pids+=("$serve_pid")
status=0
wait "$serve_pid" || status=$?
exit "$status"
