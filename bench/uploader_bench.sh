#!/usr/bin/env bash
# Uploader benchmarks (issue 3), each beside its reference in the same run:
#  A. finish() flushing 10 checkpoints of 100 MiB, vs `cp` of the same files
#     to another directory and vs `curl -T` PUTting them to the same server.
#  B. a training loop that saves every step (train_resume --checkpoint-every 1)
#     vs the same loop with Cairn disabled (CAIRN_MODE=disabled).
# Usage: bench/uploader_bench.sh [REPEATS]   (build first: scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
bin="$(pwd)/build/bin"
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin/cairn" server --data "$work/data" --listen 127.0.0.1:0 >"$work/server.out" 2>/dev/null &
server_pid=$!
for _ in $(seq 1 200); do grep -q "listening on" "$work/server.out" && break; sleep 0.05; done
export CAIRN_BASE_URL=$(sed -n 's/^cairn server listening on //p' "$work/server.out") HOME="$work/home"
mkdir -p "$HOME"
export CAIRN_API_KEY=$(CAIRN_API_KEY=$(cat "$work/data/admin.key") "$bin/cairn" keys create --entity bench)

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }

echo "== A. flush 10 x 100 MiB checkpoints"
mkdir -p "$work/ckpt"
for i in $(seq 0 9); do head -c $((100 << 20)) /dev/urandom >"$work/ckpt/c$i.bin"; done
: >"$work/a_cairn"; : >"$work/a_cp"; : >"$work/a_curl"
for r in $(seq 1 "$repeats"); do
  # Fresh content per repeat so nothing is deduplicated.
  for i in $(seq 0 9); do printf '%08d' "$r" | dd of="$work/ckpt/c$i.bin" conv=notrunc bs=1 seek=0 2>/dev/null; done
  sync
  rm -rf "$work/cp-dst"; mkdir -p "$work/cp-dst"
  t0=$(now); cp "$work"/ckpt/*.bin "$work/cp-dst/"; sync; t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}' >>"$work/a_cp"
  "$bin/cairn" save "$work/ckpt/c0.bin" --run "bench/flush/curl$r" --base "$work/ckpt" >/dev/null
  t0=$(now)
  for i in $(seq 0 9); do
    sha=$(sha256sum "$work/ckpt/c$i.bin" | cut -c1-64)
    curl -sf -o /dev/null -H "Expect:" -T "$work/ckpt/c$i.bin" -H "Authorization: Bearer $CAIRN_API_KEY" \
      -H "X-Cairn-Sha256: $sha" "$CAIRN_BASE_URL/api/v1/runs/bench/flush/curl$r/files/c$i.bin"
  done
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}' >>"$work/a_curl"
  CAIRN_DIR="$work/flush$r" "$bin/flush_bench" "$work/ckpt" "bench-flush-$r" >>"$work/a_cairn"
done
a_cp=$(median <"$work/a_cp"); a_curl=$(median <"$work/a_curl"); a_cairn=$(median <"$work/a_cairn")
printf '   cp (disk copy)              median %6.2f s\n' "$a_cp"
printf '   curl -T + sha256sum (HTTP)  median %6.2f s\n' "$a_curl"
printf '   cairn save x10 + finish()   median %6.2f s   ratio to curl %.2f, to cp %.2f\n' "$a_cairn" \
  "$(awk -v a="$a_cairn" -v b="$a_curl" 'BEGIN{print a/b}')" "$(awk -v a="$a_cairn" -v b="$a_cp" 'BEGIN{print a/b}')"

# B runs twice: a tight loop (steps of well under 1 ms, so the uploader's
# per-file cost and finish() dominate: the worst case) and steps of 20 ms
# (a small real model), 300 steps each, saving two files per step.
for step_ms in 0 20; do
  echo "== B. training loop saving every step (--step-ms $step_ms, 300 steps)"
  : >"$work/b_off"; : >"$work/b_on"
  for r in $(seq 1 "$repeats"); do
    t0=$(now); CAIRN_MODE=disabled CAIRN_DIR="$work/off$step_ms-$r" "$bin/train_resume" --steps 300 --checkpoint-every 1 --step-ms "$step_ms" >/dev/null; t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}' >>"$work/b_off"
    t0=$(now); CAIRN_DIR="$work/on$step_ms-$r" "$bin/train_resume" --steps 300 --checkpoint-every 1 --step-ms "$step_ms" --project loop >/dev/null; t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}' >>"$work/b_on"
  done
  b_off=$(median <"$work/b_off"); b_on=$(median <"$work/b_on")
  printf '   saving off (CAIRN_MODE=disabled)  median %6.2f s\n' "$b_off"
  printf '   saving every step (online)       median %6.2f s   ratio %.2f\n' "$b_on" "$(awk -v a="$b_on" -v b="$b_off" 'BEGIN{print a/b}')"
done
