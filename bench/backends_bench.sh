#!/usr/bin/env bash
# PostgreSQL + radosgw against the embedded default, with their references:
#   1. a cold 1 GiB restore through radosgw -- proxied by `cairn server`, and
#      redirected to a presigned URL (--s3-presign) -- against `curl` fetching the
#      same object from radosgw directly (SigV4), as ratios;
#   2. metadata throughput: small-file saves per second over the HTTP API (one
#      keep-alive curl, 1 KiB files, 1 blob + 1 version each) on SQLite + disk,
#      PostgreSQL + disk (the metadata store alone changes) and PostgreSQL + radosgw.
# Starts its own throwaway PostgreSQL and Ceph (scripts/testenv/backends.sh, root),
# and stops them at the end. Usage: bench/backends_bench.sh [BUILD_DIR] (default build).
# Note: the test PostgreSQL runs with fsync=off; SQLite commits with fsync (synchronous=FULL).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
bin=$build/bin/cairn
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench-XXXXXX")
chmod 755 "$work"  # PostgreSQL runs as the postgres user
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  bash "$root/scripts/testenv/backends.sh" stop "$work/backends" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

bash "$root/scripts/testenv/backends.sh" start "$work/backends" "${CAIRN_BENCH_PORT_BASE:-25500}" >/dev/null
set -a; . "$work/backends/backends.env"; set +a
s3_endpoint=${CAIRN_TEST_BLOBS_URL#*endpoint=}; s3_endpoint=${s3_endpoint%%&*}
blobs="s3://cairn-test/bench?endpoint=$s3_endpoint&region=us-east-1"
export CAIRN_ADMIN_KEY=cairn_benchbenchbenchbenchbenchbenchbench0001
export HOME=$work/home; mkdir -p "$HOME"

start_server() { # name, extra args... ; sets $url (not in a subshell: $pids must see the pid)
  local name=$1; shift
  "$bin" server --data "$work/$name" --listen 127.0.0.1:0 "$@" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=($!)
  for _ in $(seq 1 200); do grep -q "listening on" "$work/$name.out" 2>/dev/null && break; sleep 0.05; done
  url=$(sed -n 's/^cairn server listening on //p' "$work/$name.out")
  [ -n "$url" ] || { cat "$work/$name.log" >&2; echo "bench: server $name did not start" >&2; exit 1; }
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

start_server proxy --db "$CAIRN_TEST_DB_URL" --blobs "$blobs"; proxy=$url
start_server presign --db "$CAIRN_TEST_DB_URL" --blobs "$blobs" --s3-presign; presign=$url
key=$(CAIRN_API_KEY=$CAIRN_ADMIN_KEY "$bin" --base-url "$proxy" keys create --entity bench)
export CAIRN_API_KEY=$key

# --- 1. cold 1 GiB restore ---
head -c $((1 << 30)) /dev/urandom > "$work/big.bin"
sha=$(sha256sum "$work/big.bin" | cut -d' ' -f1)
"$bin" --base-url "$proxy" save "$work/big.bin" --run bench/p/r1 --base "$work" >/dev/null
rm -f "$work/big.bin"
t0=$(now); "$bin" --base-url "$proxy" restore big.bin --run bench/p/r1 --root "$work/out-proxy" >/dev/null; t1=$(now)
t2=$(now); "$bin" --base-url "$presign" restore big.bin --run bench/p/r1 --root "$work/out-presign" >/dev/null; t3=$(now)
key_path="bench/${sha:0:2}/${sha:2:2}/$sha"
t4=$(now)
curl -sf -o "$work/direct.bin" --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
  -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$s3_endpoint/cairn-test/$key_path"
t5=$(now)
for f in "$work/out-proxy/big.bin" "$work/out-presign/big.bin" "$work/direct.bin"; do
  [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$sha" ] || { echo "bench: $f has the wrong digest" >&2; exit 1; }
done
proxy_s=$(secs "$t0" "$t1"); presign_s=$(secs "$t2" "$t3"); curl_s=$(secs "$t4" "$t5")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "cold 1 GiB restore: cairn via proxy ${proxy_s}s ($(ratio "$proxy_s" "$curl_s")x curl), cairn via presigned URL ${presign_s}s ($(ratio "$presign_s" "$curl_s")x curl), curl from radosgw ${curl_s}s"

# --- 2. small-file saves per second ---
n=${CAIRN_BENCH_SMALL_FILES:-500}
mkdir -p "$work/small"
for i in $(seq 1 "$n"); do printf 'small file %06d %01000d' "$i" 0 > "$work/small/$i"; done
saves_per_s() { # base URL, run path -> saves/s
  local url=$1 run=$2 cfg=$work/curl-$RANDOM.cfg
  curl -sf -X PUT -H "Authorization: Bearer $key" --data '{"resume":"allow"}' "$url/api/v1/runs/$run" >/dev/null
  : > "$cfg"
  for i in $(seq 1 "$n"); do
    local s; s=$(sha256sum "$work/small/$i" | cut -d' ' -f1)
    [ "$i" -gt 1 ] && echo next >> "$cfg"
    printf 'url = "%s/api/v1/runs/%s/files/f%d.bin"\nupload-file = "%s"\nheader = "Authorization: Bearer %s"\nheader = "X-Cairn-Sha256: %s"\noutput = "/dev/null"\nsilent\nfail\n' \
      "$url" "$run" "$i" "$work/small/$i" "$key" "$s" >> "$cfg"
  done
  local a b; a=$(now); curl -K "$cfg"; b=$(now)
  awk -v n="$n" -v a="$a" -v b="$b" 'BEGIN { printf "%.0f", n / (b - a) }'
}
start_server sqlite; sqlite=$url
start_server pgdisk --db "$CAIRN_TEST_DB_URL"; pg_disk=$url
sqlite_rate=$(saves_per_s "$sqlite" bench/small/sqlite)
pg_disk_rate=$(saves_per_s "$pg_disk" bench/small/pgdisk)
pg_rate=$(saves_per_s "$proxy" bench/small/pg)
echo "small-file saves ($n x 1 KiB, one keep-alive connection): SQLite + disk ${sqlite_rate}/s," \
  "PostgreSQL + disk ${pg_disk_rate}/s, PostgreSQL + radosgw ${pg_rate}/s"
