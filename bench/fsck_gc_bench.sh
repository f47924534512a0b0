#!/usr/bin/env bash
# The operator tools on the embedded store (SQLite + local disk), with their references:
#   1. `cairn fsck` over N MiB of blobs against `openssl sha256` reading the same
#      blob files (the floor: every byte read and hashed once), as a ratio of medians;
#   2. `cairn gc` removing M unreferenced small blobs (and keeping the referenced
#      ones), against `find -delete` of the same files, as a ratio of medians.
# Both tools run beside a live server, as an operator would.
# Usage: bench/fsck_gc_bench.sh [BUILD_DIR] (default build); RUNS (5), MIB (256), ORPHANS (2000).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
bin=$build/bin/cairn
runs=${RUNS:-5}
mib=${MIB:-256}
orphans=${ORPHANS:-2000}
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench-XXXXXX")
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export CAIRN_ADMIN_KEY=cairn_benchbenchbenchbenchbenchbenchbench0002 HOME=$work/home
mkdir -p "$HOME"

"$bin" server --data "$work/data" --listen 127.0.0.1:0 >"$work/out" 2>"$work/log" &
server_pid=$!
for _ in $(seq 1 200); do grep -q "listening on" "$work/out" 2>/dev/null && break; sleep 0.05; done
url=$(sed -n 's/^cairn server listening on //p' "$work/out")
CAIRN_API_KEY=$(CAIRN_API_KEY=$CAIRN_ADMIN_KEY "$bin" --base-url "$url" keys create --entity bench)
export CAIRN_API_KEY

# N MiB in 8 MiB files, saved once.
mkdir -p "$work/src"
for i in $(seq 1 $((mib / 8))); do head -c $((8 << 20)) /dev/urandom >"$work/src/f$i.bin"; done
(cd "$work/src" && "$bin" --base-url "$url" save --run bench/p/r ./*.bin >/dev/null)

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
seconds() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s%N); awk "BEGIN {print ($t1 - $t0) / 1e9}"; }
div() { awk "BEGIN {print $1 / $2}"; }

fsck_t=() ref_t=()
for _ in $(seq 1 "$runs"); do
  fsck_t+=("$(seconds "$bin" fsck --data "$work/data")")
  ref_t+=("$(seconds bash -c "find '$work/data/blobs' -path '*/tmp' -prune -o -type f -print0 | xargs -0 openssl sha256")")
done
f=$(printf '%s\n' "${fsck_t[@]}" | median)
r=$(printf '%s\n' "${ref_t[@]}" | median)
printf 'fsck  %4d MiB: median %.3f s (%.0f MiB/s); openssl sha256 of the blob files %.3f s; ratio %.2f\n' \
  "$mib" "$f" "$(div "$mib" "$f")" "$r" "$(div "$f" "$r")"

plant() { # ORPHANS small unreferenced blobs, 2 hours old
  local i data sha dir
  for i in $(seq 1 "$orphans"); do
    data="orphan $i $RANDOM$RANDOM$RANDOM"
    sha=$(printf '%s' "$data" | sha256sum | cut -c1-64)
    dir=$work/data/blobs/${sha:0:2}/${sha:2:2}
    mkdir -p "$dir" && printf '%s' "$data" >"$dir/$sha" && echo "$dir/$sha"
  done | xargs touch -d '2 hours ago'
}
gc_t=() del_t=()
for _ in $(seq 1 "$runs"); do
  plant; gc_t+=("$(seconds "$bin" gc --data "$work/data")")
  plant; del_t+=("$(seconds find "$work/data/blobs" -path '*/tmp' -prune -o -type f -size -100c -delete)")
done
g=$(printf '%s\n' "${gc_t[@]}" | median)
d=$(printf '%s\n' "${del_t[@]}" | median)
printf 'gc    %4d orphans (+%d referenced): median %.3f s; find -delete %.3f s; ratio %.2f\n' \
  "$orphans" "$((mib / 8))" "$g" "$d" "$(div "$g" "$d")"
"$bin" fsck --data "$work/data" >/dev/null 2>&1 && echo "fsck after gc: clean"
