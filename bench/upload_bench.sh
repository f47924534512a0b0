#!/usr/bin/env bash
# Upload benchmarks (issue 4, the upload half), each beside its reference in one run, on one
# 1 GiB random file (medians of REPEATS, default 3):
#   openssl dgst -sha256                (reference for an unchanged save: hashing is the floor)
#   cp + sync                           (reference: a local disk copy)
#   curl -T to nginx (dav PUT)          (reference: a plain HTTP upload; skipped without nginx)
#   cairn save, cold                    (new content each time: by-reference miss, then parts)
#   cairn save, unchanged content       (same bytes under a new name: committed by reference)
#   cairn save killed at ~50%, rerun    (the rerun's time and the bytes it sends)
#   server peak RSS, 8 concurrent 1 GiB downloads (sendfile)
# Bytes moved: what the Cairn server logged as request bodies (in=...B) and the loopback
# counter of /proc/net/dev (machine-wide: other traffic on lo counts too).
# Usage: bench/upload_bench.sh [REPEATS]   (build first: cmake --build build --target cairn_cli)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
bin="$(pwd)/build/bin"
work=$(mktemp -d)
server_pid="" nginx_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f\n", b-a}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", (b > 0) ? a/b : 0}'; }
lo_bytes() { awk '/^ *lo:/ {sub(/^ *lo:/, ""); print $1}' /proc/net/dev; }
mib() { awk -v b="$1" 'BEGIN{printf "%.2f MiB", b/1048576}'; }
# Request body bytes the server logged since line $1 of its log.
server_in() { tail -n +"$1" "$work/server.log" | sed -n 's/.* in=\([0-9]*\)B.*/\1/p' | awk '{s+=$1} END {print s+0}'; }
log_lines() { wc -l <"$work/server.log" | awk '{print $1+1}'; }
start_server() {
  "$bin/cairn" server --data "$work/data" --listen "127.0.0.1:${port:-0}" >"$work/server.out" 2>>"$work/server.log" &
  server_pid=$!
  for _ in $(seq 1 200); do grep -q "listening on" "$work/server.out" && break; sleep 0.05; done
  url=$(sed -n 's/^cairn server listening on //p' "$work/server.out")
  port=${url##*:}
}
stop_server() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""; }

start_server
export CAIRN_BASE_URL=$url HOME="$work/home" CAIRN_DIR="$work/cwd"
mkdir -p "$HOME" "$CAIRN_DIR"
export CAIRN_API_KEY=$(CAIRN_API_KEY=$(cat "$work/data/admin.key") "$bin/cairn" keys create --entity bench)

f="$work/src/ckpt.bin"
mkdir -p "$work/src"
head -c $((1 << 30)) /dev/urandom >"$f"
size=$(stat -c %s "$f")
# A new digest per call: rewrite the first 16 bytes.
fresh() { printf '%016d' "$1" | dd of="$f" conv=notrunc bs=16 count=1 2>/dev/null; }

nginx_url=""
if command -v nginx >/dev/null; then
  nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$work/nginx/root" "$work/nginx/tmp"
  # As root, nginx's workers would run as nobody, who cannot write here.
  user=""; [ "$(id -u)" = 0 ] && user="user root;"
  cat >"$work/nginx/nginx.conf" <<CONF
$user daemon off; worker_processes 1; pid $work/nginx/nginx.pid; error_log $work/nginx/error.log;
events {}
http { access_log off; sendfile on; client_max_body_size 0; client_body_temp_path $work/nginx/tmp;
  server { listen 127.0.0.1:$nport; root $work/nginx/root; location / { dav_methods PUT; } } }
CONF
  nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" 2>/dev/null &
  nginx_pid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$nport/" && break; sleep 0.05; done
  nginx_url="http://127.0.0.1:$nport"
fi

: >"$work/t_sha"; : >"$work/t_cp"; : >"$work/t_curl"; : >"$work/t_cold"; : >"$work/t_same"; : >"$work/t_resume"
: >"$work/b_cold"; : >"$work/b_same"; : >"$work/b_resume"; : >"$work/lo_cold"; : >"$work/lo_same"
for r in $(seq 1 "$repeats"); do
  fresh "$r"; sync
  t0=$(now); openssl dgst -sha256 "$f" >/dev/null; elapsed "$t0" >>"$work/t_sha"
  rm -f "$work/cp.bin"
  t0=$(now); cp "$f" "$work/cp.bin"; sync "$work/cp.bin"; elapsed "$t0" >>"$work/t_cp"
  rm -f "$work/cp.bin"
  if [ -n "$nginx_url" ]; then
    t0=$(now); curl -sf -o /dev/null -H "Expect:" -T "$f" "$nginx_url/c$r.bin"; elapsed "$t0" >>"$work/t_curl"
    rm -f "$work/nginx/root/c$r.bin"
  fi

  # Cold: content the server has never seen.
  l=$(log_lines); lo0=$(lo_bytes)
  t0=$(now); "$bin/cairn" save "$f" --run "bench/up/cold$r" --base "$work/src" >/dev/null; elapsed "$t0" >>"$work/t_cold"
  echo $(($(lo_bytes) - lo0)) >>"$work/lo_cold"; server_in "$l" >>"$work/b_cold"

  # Unchanged: the same bytes under another name in another run (a hard link: the same cached
  # file that openssl hashed, without a copy's writeback competing).
  ln "$f" "$work/src/same.bin"
  l=$(log_lines); lo0=$(lo_bytes)
  t0=$(now); "$bin/cairn" save "$work/src/same.bin" --run "bench/up/same$r" --base "$work/src" >/dev/null
  elapsed "$t0" >>"$work/t_same"
  echo $(($(lo_bytes) - lo0)) >>"$work/lo_same"; server_in "$l" >>"$work/b_same"
  rm -f "$work/src/same.bin"

  # Killed at ~50% (of the parts), then rerun.
  fresh $((r + 1000)); sync
  parts=$(( (size + (32 << 20) - 1) / (32 << 20) ))
  "$bin/cairn" save "$f" --run "bench/up/resume$r" --base "$work/src" >/dev/null 2>&1 &
  save_pid=$!
  while kill -0 "$save_pid" 2>/dev/null; do
    n=$(find "$work/data/uploads" -path '*/parts/*' -type f 2>/dev/null | wc -l)
    [ "$n" -ge $((parts / 2)) ] && break
    sleep 0.02
  done
  kill -9 "$save_pid" 2>/dev/null || true; wait "$save_pid" 2>/dev/null || true
  l=$(log_lines)
  t0=$(now); "$bin/cairn" save "$f" --run "bench/up/resume$r" --base "$work/src" >/dev/null; elapsed "$t0" >>"$work/t_resume"
  server_in "$l" >>"$work/b_resume"
done

t_sha=$(median <"$work/t_sha"); t_cp=$(median <"$work/t_cp"); t_cold=$(median <"$work/t_cold")
t_same=$(median <"$work/t_same"); t_resume=$(median <"$work/t_resume")
echo "== 1 GiB upload, medians of $repeats"
printf '   openssl dgst -sha256             %7.3f s\n' "$t_sha"
printf '   cp + sync                        %7.3f s\n' "$t_cp"
ref=$t_cp; refname=cp
if [ -s "$work/t_curl" ]; then
  t_curl=$(median <"$work/t_curl"); ref=$t_curl; refname="curl -T nginx"
  printf '   curl -T to nginx (dav PUT)       %7.3f s\n' "$t_curl"
fi
printf '   cairn save, cold                 %7.3f s   %s/s; ratio to %s %s, to cp %s; server received %s, loopback %s\n' \
  "$t_cold" "$(mib "$(awk -v s="$size" -v t="$t_cold" 'BEGIN{print s/t}')")" "$refname" "$(ratio "$t_cold" "$ref")" \
  "$(ratio "$t_cold" "$t_cp")" "$(mib "$(median <"$work/b_cold")")" "$(mib "$(median <"$work/lo_cold")")"
printf '   cairn save, unchanged content    %7.3f s   ratio to openssl %s (target <= 1.2); server received %s, loopback %s\n' \
  "$t_same" "$(ratio "$t_same" "$t_sha")" "$(mib "$(median <"$work/b_same")")" "$(mib "$(median <"$work/lo_same")")"
printf '   cairn save rerun after kill@50%%  %7.3f s   ratio to cold %s; server received %s (%s of the file)\n' \
  "$t_resume" "$(ratio "$t_resume" "$t_cold")" "$(mib "$(median <"$work/b_resume")")" \
  "$(awk -v b="$(median <"$work/b_resume")" -v s="$size" 'BEGIN{printf "%.0f%%", 100*b/s}')"

# Server memory with 8 concurrent downloads of the 1 GiB file (a fresh server: peak RSS since start).
stop_server; start_server
t0=$(now)
pids=()
for i in $(seq 1 8); do
  curl -sf -o /dev/null -H "Authorization: Bearer $CAIRN_API_KEY" "$url/api/v1/runs/bench/up/resume1/files/ckpt.bin" &
  pids+=($!)
done
peak=0
while true; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")
  [ "$rss" -gt "$peak" ] && peak=$rss
  sleep 0.05
  alive=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && break
done
wait "${pids[@]}"
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")
printf '   8 concurrent 1 GiB downloads     %7.3f s   server peak RSS %s MiB (VmHWM %s MiB; target < 128)\n' \
  "$(elapsed "$t0")" "$((peak / 1024))" "$((hwm / 1024))"
