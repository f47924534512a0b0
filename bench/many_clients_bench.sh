#!/usr/bin/env bash
# Many clients (issue 13): CLIENTS concurrent clients mixing saves and restores of small files
# (1-64 KiB) for SECONDS against one `cairn server` on loopback, then every saved version restored
# and checked against its digest (bench/many_clients.cc). Once on the embedded default (SQLite +
# local disk under /var/tmp), once on PostgreSQL 15 + Ceph radosgw (scripts/testenv/backends.sh,
# root; PostgreSQL runs with fsync=off there). Fails when a request fails or a version is lost.
#
# Usage: bench/many_clients_bench.sh [CLIENTS=100] [SECONDS=60] [sqlite|backends|both=both]
# Ports: CAIRN_BENCH_PORT_BASE (default 26500) .. +3 for the backends.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
clients=${1:-100}
seconds=${2:-60}
which=${3:-both}
bin=$root/build/bin
for b in cairn many_clients; do
  [ -x "$bin/$b" ] || { echo "many_clients_bench: build $b first" >&2; exit 2; }
done
work=$(mktemp -d /var/tmp/cairn-many-clients.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  bash "$root/scripts/testenv/backends.sh" stop "$work/backends" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
export HOME=$work/home CAIRN_ADMIN_KEY=cairn_benchbenchbenchbenchbenchbenchbench0001
mkdir -p "$HOME"

run() { # NAME ARGS...: a server, then the clients against it
  local name=$1; shift
  "$bin/cairn" server --data "$work/$name" --listen 127.0.0.1:0 "$@" >"$work/$name.out" 2>"$work/$name.log" &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 400); do grep -qs "listening on" "$work/$name.out" && break; sleep 0.05; done
  local url; url=$(sed -n 's/^cairn server listening on //p' "$work/$name.out")
  [ -n "$url" ] || { cat "$work/$name.log" >&2; exit 1; }
  echo "== $name ($*)"
  local rc=0
  "$bin/many_clients" "$url" "$CAIRN_ADMIN_KEY" "$clients" "$seconds" || rc=$?
  kill "$pid"; wait "$pid" 2>/dev/null || true
  [ "$rc" = 0 ] || { echo "many_clients_bench: $name FAILED (server log: $(tail -3 "$work/$name.log"))" >&2; exit 1; }
}

if [ "$which" = sqlite ] || [ "$which" = both ]; then
  run sqlite
fi
if [ "$which" = backends ] || [ "$which" = both ]; then
  bash "$root/scripts/testenv/backends.sh" start "$work/backends" "${CAIRN_BENCH_PORT_BASE:-26500}" >/dev/null
  set -a; . "$work/backends/backends.env"; set +a
  s3_endpoint=${CAIRN_TEST_BLOBS_URL#*endpoint=}; s3_endpoint=${s3_endpoint%%&*}
  run postgres-radosgw --db "$CAIRN_TEST_DB_URL" --blobs "s3://cairn-test/many?endpoint=$s3_endpoint&region=us-east-1"
fi
