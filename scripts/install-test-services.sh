#!/usr/bin/env bash
# What the tests need beyond Python: Debian's Chromium and ChromeDriver, a Redis server and a
# PostgreSQL server (installed and started here when missing).
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "installing Debian chromium and chromium-driver ..."
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# the scaled-mode tests also start private Redis servers of their own, to stop them mid-run
if ! command -v redis-server >/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting redis-server on 127.0.0.1:6379 ..."
  mkdir -p /tmp/atlas-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/atlas-redis --logfile /tmp/atlas-redis/redis.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null
fi

# PostgreSQL for the store tests: the server at $ATLAS_TEST_POSTGRES (default: this machine's,
# postgres@127.0.0.1:5432, database `test`) when it answers; else a private cluster on a free
# port in a temporary directory. The tests read the URL from .test-services/postgres.url.
if ! command -v psql >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "installing Debian postgresql ..."
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
services="$(cd "$(dirname "$0")/.." && pwd)/.test-services"
mkdir -p "$services"
answers() { psql "$1" -Atqc 'select 1' >/dev/null 2>&1; }
postgres_url="${ATLAS_TEST_POSTGRES:-postgresql://postgres@127.0.0.1:5432/test}"
if ! answers "$postgres_url"; then
  previous="$(cat "$services/postgres.url" 2>/dev/null || true)"
  if [ -n "$previous" ] && answers "$previous"; then
    postgres_url="$previous"  # the private cluster of an earlier run, still up
  else
    bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
    cluster="$(mktemp -d /tmp/atlas-postgres.XXXXXX)"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    as_postgres=()
    if [ "$(id -u)" = 0 ]; then  # initdb refuses to run as root
      chown postgres "$cluster"
      as_postgres=(runuser -u postgres --)
    fi
    echo "starting a private PostgreSQL on 127.0.0.1:$port ($cluster) ..."
    "${as_postgres[@]}" "$bin/initdb" -D "$cluster/data" -U postgres --auth=trust >/dev/null
    "${as_postgres[@]}" "$bin/pg_ctl" -D "$cluster/data" -l "$cluster/log" -w \
      -o "-p $port -h 127.0.0.1 -k $cluster" start >/dev/null
    "${as_postgres[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres test
    postgres_url="postgresql://postgres@127.0.0.1:$port/test"
    answers "$postgres_url"
  fi
fi
echo "$postgres_url" > "$services/postgres.url"
