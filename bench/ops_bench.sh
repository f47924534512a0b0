#!/usr/bin/env bash
# What watching the server costs: requests per second of a small-file
# metadata call (GET .../meta/{path}, authenticated) against two servers in
# the same run, alternating round by round:
#   off: --no-metrics --log-format text  (no request samples, no store timing;
#        the one text log line per request the server always wrote)
#   on:  --log-format json               (metrics + a JSON access line per request)
# Logs go to files, as they would to journald. Prints each round, the medians
# and on/off (target >= 0.95).
#   bench/ops_bench.sh [ROUNDS=5] [SECONDS=5] [CONNECTIONS=8]
# Run from the repository root after scripts/build.sh; needs wrk (install-deps).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/paired_lib.sh
rounds=${1:-5}
secs=${2:-5}
conns=${3:-8}
bin="$(pwd)/build/bin"
[ -x "$bin/cairn" ] || { echo "ops_bench: build first (scripts/build.sh)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "ops_bench: wrk is missing; run scripts/install-deps.sh" >&2; exit 2; }

work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT

# start NAME ARGS...: a server with ARGS; sets url_NAME and key_NAME, one small file saved.
start() {
  local name=$1
  shift
  mkdir -p "$work/$name/home" "$work/$name/src"
  "$bin/cairn" server --data "$work/$name/data" --listen 127.0.0.1:0 --threads 2 "$@" \
    >"$work/$name/server.out" 2>"$work/$name/server.log" &
  pids+=($!)
  for _ in $(seq 1 200); do grep -qs "listening on" "$work/$name/server.out" && break; sleep 0.05; done
  local url key
  url=$(sed -n 's/^cairn server listening on //p' "$work/$name/server.out")
  key=$(CAIRN_API_KEY=$(cat "$work/$name/data/admin.key") HOME=$work/$name/home "$bin/cairn" --base-url "$url" \
    keys create --entity bench)
  echo "small" >"$work/$name/src/small.txt"
  HOME=$work/$name/home CAIRN_API_KEY=$key "$bin/cairn" --base-url "$url" save "$work/$name/src/small.txt" \
    --base "$work/$name/src" --run bench/p/r -q >/dev/null
  printf -v "url_$name" '%s' "$url"
  printf -v "key_$name" '%s' "$key"
}
start off --no-metrics --log-format text
start on --log-format json

# rps NAME: one wrk round against server NAME; prints requests/s.
rps() {
  local url_var="url_$1" key_var="key_$1"
  wrk -t1 -c"$conns" -d"${secs}s" -H "Authorization: Bearer ${!key_var}" \
    "${!url_var}/api/v1/runs/bench/p/r/meta/small.txt" | awk '/^Requests\/sec:/ {print $2}'
}

rps off >/dev/null  # warm up both
rps on >/dev/null
: >"$work/off.txt"
: >"$work/on.txt"
for i in $(seq 1 "$rounds"); do
  # Alternate which goes first, so that drift hits both alike.
  if [ $((i % 2)) -eq 1 ]; then order="off on"; else order="on off"; fi
  for s in $order; do rps "$s" >>"$work/$s.txt"; done
  echo "round $i: off $(tail -1 "$work/off.txt") req/s, on $(tail -1 "$work/on.txt") req/s"
done
off=$(median <"$work/off.txt")
on=$(median <"$work/on.txt")
lines=$(grep -c '"type":"access"' "$work/on/server.log" || true)
echo "ops_bench: GET meta of a small file, $conns connections, ${secs}s x $rounds rounds, 2 server threads"
echo "ops_bench: median off (no metrics, text log) $off req/s; on (metrics + JSON access log) $on req/s"
echo "ops_bench: on/off $(awk -v a="$on" -v b="$off" 'BEGIN{printf "%.3f", a/b}') (target >= 0.95); $lines JSON access lines written"
