#!/usr/bin/env bash
# Does the content cache slow a cold restore? (issue 13; docs/adr/0014-cache-fill-by-reflink.md)
# One SIZE_MIB random file, cold restores into DIR (default: a directory on the root
# filesystem, ext4 here), each step once per repeat, every step after removing all earlier
# outputs and `sync`, in an order shuffled for each repeat:
#   curl -o from nginx (sendfile) to DIR   -- the reference
#   the same curl, then `sync FILE`        -- durable as Cairn's restore is (shown, not the goal)
#   openssl dgst -sha256 of the cached source -- the verification alone: a verifying restore's floor
#   cairn restore, cache off (CAIRN_CACHE_MAX_BYTES=0)
#   cairn restore, cache on, default fill (reflink only)
#   cairn restore, cache on, CAIRN_CACHE_FILL=copy (the fill before ADR 0014)
# The cache starts empty in every step and lives in DIR too. Prints medians, the median of
# the paired ratios (reference time / step time: >= 1.0 is as fast as curl) and the CPU each
# step used (user + sys, with its server's: nginx or cairn server; and the whole machine's busy
# time, which adds the kernel's writeback), then two estimates of what a restore that verifies
# SHA-256 could reach on this machine if it received and wrote as curl does: it does curl's work
# and the hash's, so on N cores it takes at least max(hash time, (curl CPU + hash CPU) / N); a
# durable one does the work of `curl -o && sync FILE` (the machine's busy time in that step) and
# the hash's. They are not floors: a restore that writes more cheaply than curl beats them.
#
# Usage: bench/cache_fill_bench.sh [REPEATS=5] [SIZE_MIB=1024] [DIR]   (build first)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-5}
size_mib=${2:-1024}
source bench/paired_lib.sh
bench_require cache_fill_bench

work=$(mktemp -d /var/tmp/cairn-cache-fill-bench.XXXXXX)
client=${3:-$work/client}
mkdir -p "$client"
pids=()
# Every output a step leaves in DIR (curl's file, each restore's root, the cache).
clear_outputs() { rm -rf "${client:?}"/{curl.bin,off,on,copy,cache}; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
  clear_outputs
}
trap cleanup EXIT


head -c $((size_mib << 20)) /dev/urandom >"$work/src.bin"
sha=$(sha256sum "$work/src.bin" | cut -c1-64)
mkdir -p "$work/www" "$work/nginx"
port=$((20000 + RANDOM % 20000))
cat >"$work/nginx/nginx.conf" <<EOF
$([ "$(id -u)" -eq 0 ] && echo "user root;")
worker_processes 1; daemon off; pid $work/nginx/nginx.pid; error_log $work/nginx/error.log;
events { worker_connections 64; }
http { sendfile on; tcp_nopush on; access_log off;
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy; fastcgi_temp_path $work/nginx/fcgi;
  uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  server { listen 127.0.0.1:$port; root $work/www; } }
EOF
ln "$work/src.bin" "$work/www/big.bin"
"$nginx_bin" -c "$work/nginx/nginx.conf" -p "$work/nginx" 2>/dev/null &
nginx_pid=$!
pids+=("$nginx_pid")
start_cairn_server "$work"
cairn_pid=${pids[-1]}
export CAIRN_CACHE_DIR="$client/cache" CAIRN_CACHE_MAX_BYTES=$((4 * (size_mib << 20)))
"$bin/cairn" save "$work/src.bin" --run bench/cache/r1 --base "$work" >/dev/null
cat "$work/src.bin" >/dev/null  # both servers read the same cached bytes

fstype=$(df --output=fstype "$client" | tail -1 | tr -d ' ')
echo "cache_fill_bench: ${size_mib} MiB, $repeats paired repeats, targets and cache on $client ($fstype)"
for s in curl synced hash off on copy; do : >"$work/t.$s"; : >"$work/r.$s"; : >"$work/u.$s"; done
# step NAME: one step, after removing every earlier output (and the cache) and `sync`, so that
# no step pays for another's writeback.
step() {
  clear_outputs
  sync
  case $1 in
    curl) cpu_timed "$work/t.curl" "$work/u.curl" "$nginx_pid" curl -sf -o "$client/curl.bin" "http://127.0.0.1:$port/big.bin" ;;
    synced) cpu_timed "$work/t.synced" "$work/u.synced" "$nginx_pid" sh -c 'curl -sf -o "$1" "$2" && sync "$1"' sh "$client/curl.bin" "http://127.0.0.1:$port/big.bin" ;;
    hash) cpu_timed "$work/t.hash" "$work/u.hash" "" openssl dgst -sha256 "$work/src.bin" ;;
    off | on | copy)
      case $1 in off) setting=(CAIRN_CACHE_MAX_BYTES=0) ;; on) setting=() ;; copy) setting=(CAIRN_CACHE_FILL=copy) ;; esac
      cpu_timed "$work/t.$1" "$work/u.$1" "$cairn_pid" env "${setting[@]}" "$bin/cairn" restore src.bin --run bench/cache/r1 --root "$client/$1" -q
      [ "$(sha256sum "$client/$1/src.bin" | cut -c1-64)" = "$sha" ] || echo "cache_fill_bench: $1 copy differs!" >&2
      { find "$client/cache" -type f -path "*/blobs/*" -printf "%s\n" 2>/dev/null || true; } | awk "{s+=\$1} END{print s+0}" >"$work/c.$1"
      ;;
  esac
}
# Each repeat runs every step once, in its own shuffled order (the same for every run of the
# bench: seeded by the repeat's number). On a VM that hands freed memory back to its host, a
# step's cost depends on what ran just before it (memory freed a moment earlier is cheap to reuse,
# memory freed a second earlier must be faulted in again), so a fixed order -- or a rotation of
# one, which keeps each step's predecessor -- would charge the same step every time. Ratios pair
# each step with the reference of the same repeat.
steps=(curl synced hash off on copy)
for r in $(seq 1 "$repeats"); do
  mapfile -t order < <(printf '%s\n' "${steps[@]}" | shuf --random-source=<(yes "$r"))
  for s in "${order[@]}"; do step "$s"; done
  for s in synced hash off on copy; do paired "$work/t.curl" "$work/t.$s" "$work/r.$s"; done
done
clear_outputs
row() { printf '%-44s %9s %14s %8s %10s %12s\n' "$@"; }
# cols STEP: its median time, paired ratio, CPU and machine time (the reference's ratio is 1).
cols() {
  local ratio=1.00; [ "$1" = curl ] || ratio=$(median <"$work/r.$1")
  echo "$(median <"$work/t.$1")" "$ratio" "$(median <"$work/u.$1")" "$(median <"$work/u.$1.all")"
}
row "cold restore of ${size_mib} MiB" "median s" "ratio (paired)" "CPU s" "machine s" "cache bytes"
# shellcheck disable=SC2046 # cols prints four words, one per column
{
  row "curl -o from nginx (reference)" $(cols curl) "-"
  row "curl -o, then sync FILE (durable)" $(cols synced) "-"
  row "openssl dgst -sha256, from the page cache" $(cols hash) "-"
  row "cairn, cache off" $(cols off) "$(cat "$work/c.off")"
  row "cairn, cache on (default: fill by reflink)" $(cols on) "$(cat "$work/c.on")"
  row "cairn, cache on, CAIRN_CACHE_FILL=copy" $(cols copy) "$(cat "$work/c.copy")"
}
# The estimates: a verifying restore does what curl and nginx do (receive, write) plus the hash;
# a durable one also what `sync FILE` makes the kernel do (writeback: the machine's busy time).
estimate() {
  awk -v n="$(nproc)" -v w="$(median <"$work/t.curl")" -v c="$2" -v hw="$(median <"$work/t.hash")" \
    -v hc="$(median <"$work/u.hash")" -v what="$1" 'BEGIN {
    t = (c + hc) / n; if (hw > t) t = hw
    printf "on %d cores, %s + the hash take >= max(%.2f, (%.2f + %.2f) / %d) = %.2f s: ratio %.2f\n", n, what, hw, c, hc, n, t, w / t }'
}
estimate "curl's work" "$(median <"$work/u.curl")"
estimate "curl's work made durable (sync)" "$(median <"$work/u.synced.all")"
echo "each repeat, s: curl $(each "$work/t.curl"); curl+sync $(each "$work/t.synced"); sha256 $(each "$work/t.hash"); off $(each "$work/t.off"); on $(each "$work/t.on"); copy $(each "$work/t.copy")"
