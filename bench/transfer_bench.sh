#!/usr/bin/env bash
# Transfer benchmark (issue 4), one command, one run, same file throughout:
#   reference: nginx (sendfile on) + `curl -o` to disk; `cp`; `openssl dgst -sha256`
#   Cairn: cold restore, restore of an already-present file (in process),
#   cache-hit restore into a new root, cold save, save of unchanged content,
#   8 concurrent restores, a restore killed at ~50% then rerun.
# Prints each step's median of REPEATS, its ratio to the reference, the bytes
# it moved over loopback and the peak RSS of client and server.
#
# Usage: bench/transfer_bench.sh [REPEATS=3] [SIZE_MIB=1024]   (build first: scripts/build.sh)
#
# As root it runs in its own network namespace (so the loopback counters of
# /proc/net/dev count this benchmark's bytes only) and puts every client-side
# file (curl/cp outputs, restore roots, the content cache) on a loop-mounted
# XFS image made with reflink=1, so cache hits are reflinks. Otherwise it uses
# a plain directory, says so, and loopback counts include other traffic.
# To compare builds on the machine's own filesystem: CAIRN_BENCH_BIN (the directory holding cairn
# and restore_bench; default build/bin), CAIRN_BENCH_WORK (the parent of the work directory;
# default /var/tmp) and CAIRN_BENCH_NO_XFS=1 (client files in the work directory, no XFS image).
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
size_mib=${2:-1024}
size=$((size_mib << 20))
bin="${CAIRN_BENCH_BIN:-$(pwd)/build/bin}"
for b in cairn restore_bench; do
  [ -x "$bin/$b" ] || { echo "transfer_bench: $bin/$b is missing; build first (scripts/build.sh)" >&2; exit 2; }
done
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "transfer_bench: nginx is missing; run scripts/install-deps.sh" >&2; exit 2; }
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

if [ "$(id -u)" -eq 0 ] && [ -z "${CAIRN_BENCH_IN_NETNS:-}" ] && command -v unshare >/dev/null; then
  export CAIRN_BENCH_IN_NETNS=1
  exec unshare -n -- "$0" "$@"
fi
netns="shared with the rest of the machine (loopback counts include other traffic)"
if [ -n "${CAIRN_BENCH_IN_NETNS:-}" ]; then
  ip link set lo up
  netns="private network namespace (loopback counts are this benchmark's only)"
fi

work=$(mktemp -d "${CAIRN_BENCH_WORK:-/var/tmp}/cairn-transfer-bench.XXXXXX")
pids=()
mnt=""
loopdev=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [ -n "$mnt" ] && umount "$mnt" 2>/dev/null || true
  [ -n "$loopdev" ] && losetup -d "$loopdev" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- where client-side files go: XFS with reflink when we can make it ---
client="$work/client"
mkdir -p "$client"
fs_note="plain directory $(df --output=fstype "$work" | tail -1 | tr -d ' ') (reflink unavailable: cache hits are copies)"
if [ "$(id -u)" -eq 0 ] && [ -z "${CAIRN_BENCH_NO_XFS:-}" ] && command -v mkfs.xfs >/dev/null; then
  truncate -s $(((size_mib * 14 + 2048) << 20)) "$work/xfs.img"
  # direct-io: the image's writes go straight to the disk, not through a second page cache.
  if mkfs.xfs -q -m reflink=1 "$work/xfs.img" && loopdev=$(losetup -f --show --direct-io=on "$work/xfs.img") &&
    mount "$loopdev" "$client"; then
    mnt="$client"
    fs_note="loop-mounted XFS image (mkfs.xfs -m reflink=1): cache hits are reflinks"
  fi
fi

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.4f\n", b-a}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
lo_bytes() { awk '/^ *lo:/ {sub(/^ *lo:/, ""); print $1}' /proc/net/dev; }
hwm_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
reset_hwm() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }'; }
# Before each timed transfer: finish what earlier steps left to the kernel
# (XFS frees a removed file's extents in the background, and dirty pages wait
# for writeback), so that no step pays for the one before it.
settle() { sync; }
mib() { awk -v b="$1" 'BEGIN{printf "%.1f MiB", b/1048576}'; }
# Runs a command under /usr/bin/time; appends "seconds max_rss_kib cpu_seconds"
# to $1 (cpu: user + system time of the command).
# (wall time from date +%s.%N: /usr/bin/time's %e has 10 ms steps)
timed() {
  local out=$1; shift
  local t0; t0=$(now)
  /usr/bin/time -f "%M %U %S" -o "$work/time.$$" "$@" >/dev/null
  echo "$(elapsed "$t0") $(tail -1 "$work/time.$$" | awk '{printf "%s %.2f", $1, $2 + $3}')" >>"$out"
}

echo "transfer_bench: ${size_mib} MiB random file, median of $repeats; client files on $fs_note; $netns"
head -c "$size" /dev/urandom >"$work/src.bin"
sha=$(openssl dgst -sha256 -r "$work/src.bin" | cut -c1-64)

# --- reference: nginx with sendfile + curl -o ---
mkdir -p "$work/www" "$work/nginx"
port=$((20000 + RANDOM % 20000))
cat >"$work/nginx/nginx.conf" <<EOF
$([ "$(id -u)" -eq 0 ] && echo "user root;  # the work directory is private (mktemp -d)")
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 64; }
http {
  sendfile on;
  tcp_nopush on;
  access_log off;
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi; uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  server { listen 127.0.0.1:$port; root $work/www; }
}
EOF
ln "$work/src.bin" "$work/www/big.bin"
"$nginx_bin" -c "$work/nginx/nginx.conf" -p "$work/nginx" 2>/dev/null &
nginx_pid=$!; pids+=("$nginx_pid")
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/big.bin" -r 0-0 && break; sleep 0.05; done
cat "$work/src.bin" >/dev/null  # warm the page cache: every step reads the same cached source

declare -A med rss bytes srv
step_times() { cut -d' ' -f1 "$1" | median; }
step_rss() { cut -d' ' -f2 "$1" | sort -n | tail -1; }
step_cpu() { cut -d' ' -f3 "$1" | median; }
# Appends to $3 the ratio of the last times of steps $1 and $2 (same repeat).
paired() {
  awk -v a="$(tail -1 "$1" | cut -d' ' -f1)" -v b="$(tail -1 "$2" | cut -d' ' -f1)" 'BEGIN{printf "%.3f\n", a/b}' >>"$3"
}

: >"$work/t.cp"
for r in $(seq 1 "$repeats"); do rm -f "$client/cp.bin"; timed "$work/t.cp" cp "$work/src.bin" "$client/cp.bin"; done
med[cp]=$(step_times "$work/t.cp"); rm -f "$client/cp.bin"

: >"$work/t.openssl"
for r in $(seq 1 "$repeats"); do timed "$work/t.openssl" openssl dgst -sha256 "$work/src.bin"; done
med[openssl]=$(step_times "$work/t.openssl")

# --- Cairn ---
"$bin/cairn" server --data "$work/data" --listen 127.0.0.1:0 >"$work/server.out" 2>"$work/server.log" &
server_pid=$!; pids+=("$server_pid")
for _ in $(seq 1 200); do grep -qs "listening on" "$work/server.out" && break; sleep 0.05; done
export CAIRN_BASE_URL=$(sed -n 's/^cairn server listening on //p' "$work/server.out") HOME="$work/home"
mkdir -p "$HOME"
export CAIRN_API_KEY=$(CAIRN_API_KEY=$(cat "$work/data/admin.key") "$bin/cairn" keys create --entity bench)
export CAIRN_CACHE_DIR="$client/cache"
run=bench/xfer/r1

# Cold save: new bytes every repeat (the first 8 bytes change), so nothing is deduplicated.
: >"$work/t.save"; srv_hwm=0; lo0=$(lo_bytes)
for r in $(seq 1 "$repeats"); do
  printf '%08d' "$r" | dd of="$work/src.bin" conv=notrunc bs=1 seek=0 2>/dev/null
  reset_hwm "$server_pid"
  timed "$work/t.save" "$bin/cairn" save "$work/src.bin" --run "$run" --base "$work"
  h=$(hwm_kib "$server_pid"); [ "$h" -gt "$srv_hwm" ] && srv_hwm=$h
done
bytes[save]=$((($(lo_bytes) - lo0) / repeats)); med[save]=$(step_times "$work/t.save"); rss[save]=$(step_rss "$work/t.save"); srv[save]=$srv_hwm
sha=$(openssl dgst -sha256 -r "$work/src.bin" | cut -c1-64)

# Unchanged save: the same bytes again, each repeat paired with an openssl
# hash of the file (the ratio is the median of the paired ratios).
: >"$work/t.unchanged"; : >"$work/t.openssl2"; : >"$work/ratio.unchanged"; lo0=$(lo_bytes)
for r in $(seq 1 "$repeats"); do
  timed "$work/t.openssl2" openssl dgst -sha256 "$work/src.bin"
  timed "$work/t.unchanged" "$bin/cairn" save "$work/src.bin" --run "$run" --base "$work"
  paired "$work/t.unchanged" "$work/t.openssl2" "$work/ratio.unchanged"
done
bytes[unchanged]=$((($(lo_bytes) - lo0) / repeats)); med[unchanged]=$(step_times "$work/t.unchanged"); rss[unchanged]=$(step_rss "$work/t.unchanged")
version=$("$bin/cairn" versions "$run" src.bin | tail -1 | cut -f1 | tr -d v)

# Cold restore against the reference, interleaved repeat by repeat so that
# both see the same machine (others' load drifts): curl -o, curl -o + sync,
# cairn restore (cache empty: the bytes are also added to it, by reflink where
# possible), and cairn restore with 4 connections (CAIRN_PARALLEL_PARTS=4; the default is one).
# The ratio is the median of the per-repeat ratios.
: >"$work/t.curl"; : >"$work/t.curlsync"; : >"$work/t.cold"; : >"$work/t.cold1"; : >"$work/ratio.cold"
srv_hwm=0; lo_curl=0; lo_cold=0
for r in $(seq 1 "$repeats"); do
  rm -f "$client/curl.bin"; settle
  lo0=$(lo_bytes)
  timed "$work/t.curl" curl -sf -o "$client/curl.bin" "http://127.0.0.1:$port/big.bin"
  lo_curl=$((lo_curl + $(lo_bytes) - lo0))
  [ "$(openssl dgst -sha256 -r "$client/curl.bin" | cut -c1-64)" = "$sha" ] || echo "transfer_bench: curl copy differs!" >&2
  rm -f "$client/curl.bin"; settle
  t0=$(now); curl -sf -o "$client/curl.bin" "http://127.0.0.1:$port/big.bin"; sync "$client/curl.bin"; elapsed "$t0" >>"$work/t.curlsync"
  rm -f "$client/curl.bin"

  rm -rf "$client/cold" "$client/cache"; settle
  reset_hwm "$server_pid"
  lo0=$(lo_bytes)
  timed "$work/t.cold" "$bin/cairn" restore src.bin --run "$run" --root "$client/cold" -q
  lo_cold=$((lo_cold + $(lo_bytes) - lo0))
  h=$(hwm_kib "$server_pid"); [ "$h" -gt "$srv_hwm" ] && srv_hwm=$h
  paired "$work/t.curl" "$work/t.cold" "$work/ratio.cold"
  [ "$(openssl dgst -sha256 -r "$client/cold/src.bin" | cut -c1-64)" = "$sha" ] || echo "transfer_bench: restored copy differs!" >&2

  rm -rf "$client/cold" "$client/cache"; settle
  timed "$work/t.cold1" env CAIRN_PARALLEL_PARTS=4 "$bin/cairn" restore src.bin --run "$run" --root "$client/cold" -q
done
bytes[curl]=$((lo_curl / repeats)); med[curl]=$(step_times "$work/t.curl"); rss[curl]=$(step_rss "$work/t.curl")
med[curlsync]=$(median <"$work/t.curlsync")
bytes[cold]=$((lo_cold / repeats)); med[cold]=$(step_times "$work/t.cold"); rss[cold]=$(step_rss "$work/t.cold"); srv[cold]=$srv_hwm
med[cold1]=$(step_times "$work/t.cold1"); rss[cold1]=$(step_rss "$work/t.cold1")
ratio_cold=$(median <"$work/ratio.cold")
# The cache-hit step below needs the cache filled by a cold restore.
rm -rf "$client/cold" "$client/cache"
"$bin/cairn" restore src.bin --run "$run" --root "$client/cold" -q >/dev/null

# Already present (replace false), in process.
read -r present_us present_p99 < <("$bin/restore_bench" "$client/cold" src.bin "$run" 2000)

# Cache hit into a new root (a pinned version: no metadata request either).
: >"$work/t.hit"; lo0=$(lo_bytes)
for r in $(seq 1 "$repeats"); do
  timed "$work/t.hit" "$bin/cairn" restore src.bin --run "$run" --version "$version" --root "$client/hit$r" -q
done
bytes[hit]=$((($(lo_bytes) - lo0) / repeats)); med[hit]=$(step_times "$work/t.hit"); rss[hit]=$(step_rss "$work/t.hit")
[ "$(openssl dgst -sha256 -r "$client/hit1/src.bin" | cut -c1-64)" = "$sha" ] || echo "transfer_bench: cache-hit copy differs!" >&2
rm -rf "$client"/hit* "$client/cold"

# 8 concurrent restores into 8 roots, cache off (each one downloads).
: >"$work/t.conc"; : >"$work/rss.conc"; srv_hwm=0; lo0=$(lo_bytes)
for r in $(seq 1 "$repeats"); do
  rm -rf "$client"/conc*
  reset_hwm "$server_pid"
  t0=$(now)
  for i in $(seq 1 8); do
    CAIRN_CACHE_MAX_BYTES=0 /usr/bin/time -f "%M" -o "$work/rss.conc.$i" \
      "$bin/cairn" restore src.bin --run "$run" --root "$client/conc$i" -q >/dev/null &
  done
  wait $(jobs -p | grep -v -w -e "$server_pid" -e "$nginx_pid") 2>/dev/null || true
  elapsed "$t0" >>"$work/t.conc"
  cat "$work"/rss.conc.* >>"$work/rss.conc"
  h=$(hwm_kib "$server_pid"); [ "$h" -gt "$srv_hwm" ] && srv_hwm=$h
done
bytes[conc]=$((($(lo_bytes) - lo0) / repeats)); med[conc]=$(median <"$work/t.conc"); rss[conc]=$(sort -n "$work/rss.conc" | tail -1); srv[conc]=$srv_hwm
for i in $(seq 1 8); do
  [ "$(stat -c %s "$client/conc$i/src.bin" 2>/dev/null)" = "$size" ] || echo "transfer_bench: concurrent restore $i is incomplete!" >&2
done
rm -rf "$client"/conc*

# Killed at ~50% (throttled so the kill lands near half-way), then rerun at full speed.
: >"$work/t.resume"; : >"$work/moved.resume"
sidecar="$client/kill/.src.bin.cairn-partial.json"
for r in $(seq 1 "$repeats"); do
  rm -rf "$client/kill"
  CAIRN_CACHE_MAX_BYTES=0 CAIRN_MAX_RECV_BYTES_PER_SEC=$((size / 16)) \
    "$bin/cairn" restore src.bin --run "$run" --root "$client/kill" -q >/dev/null 2>&1 &
  victim=$!
  while kill -0 "$victim" 2>/dev/null; do
    done_bytes=$({ grep -o '\[[0-9]*,[0-9]*\]' "$sidecar" 2>/dev/null || true; } | tr -d '[]' | awk -F, '{s+=$2-$1} END{print s+0}')
    [ "$done_bytes" -ge $((size / 2)) ] && break
    sleep 0.02
  done
  kill -9 "$victim" 2>/dev/null || true; wait "$victim" 2>/dev/null || true
  sleep 0.2
  lo0=$(lo_bytes)
  timed "$work/t.resume" env CAIRN_CACHE_MAX_BYTES=0 "$bin/cairn" restore src.bin --run "$run" --root "$client/kill" -q
  echo $(($(lo_bytes) - lo0)) >>"$work/moved.resume"
done
bytes[resume]=$(median <"$work/moved.resume"); med[resume]=$(step_times "$work/t.resume"); rss[resume]=$(step_rss "$work/t.resume")
[ "$(openssl dgst -sha256 -r "$client/kill/src.bin" | cut -c1-64)" = "$sha" ] || echo "transfer_bench: resumed copy differs!" >&2

# --- report ---
thr() { awk -v s="$size" -v t="$1" 'BEGIN{ if (t > 0) printf "%.0f MiB/s", s/1048576/t; else print "-" }'; }
row() { printf '%-38s %9s s  %12s  %-22s %14s %14s\n' "$1" "$2" "$3" "$4" "$5" "$6"; }
echo
row "step" "median" "throughput" "ratio" "loopback/run" "RSS cli/srv"
row "nginx sendfile + curl -o (reference)" "${med[curl]}" "$(thr "${med[curl]}")" "1.00" "$(mib "${bytes[curl]}")" "${rss[curl]} KiB"
row "  curl -o, then sync the file" "${med[curlsync]}" "$(thr "${med[curlsync]}")" "$(ratio "${med[curl]}" "${med[curlsync]}") of ref thr" "" ""
row "cp (disk to disk)" "${med[cp]}" "$(thr "${med[cp]}")" "$(ratio "${med[curl]}" "${med[cp]}") of ref thr" "" ""
row "openssl dgst -sha256" "${med[openssl]}" "$(thr "${med[openssl]}")" "" "" ""
row "cairn cold restore (sha256, fsync)" "${med[cold]}" "$(thr "${med[cold]}")" "${ratio_cold} of ref thr (paired)" "$(mib "${bytes[cold]}")" "${rss[cold]}/${srv[cold]} KiB"
row "  the same, 4 connections" "${med[cold1]}" "$(thr "${med[cold1]}")" "$(ratio "${med[curl]}" "${med[cold1]}") of ref thr" "" "${rss[cold1]} KiB"
row "cairn restore, already present" "$(awk -v u="$present_us" 'BEGIN{printf "%.6f", u/1e6}')" "" "median ${present_us} us, p99 ${present_p99} us" "0" "in process"
row "cairn cache-hit restore, new root" "${med[hit]}" "$(thr "${med[hit]}")" "$(ratio "${med[hit]}" "${med[curl]}") of ref time" "$(mib "${bytes[hit]}")" "${rss[hit]} KiB"
row "cairn cold save" "${med[save]}" "$(thr "${med[save]}")" "$(ratio "${med[curl]}" "${med[save]}") of ref thr" "$(mib "${bytes[save]}")" "${rss[save]}/${srv[save]} KiB"
row "cairn save, unchanged content" "${med[unchanged]}" "" "$(median <"$work/ratio.unchanged") x openssl (paired)" "$(mib "${bytes[unchanged]}")" "${rss[unchanged]} KiB"
row "cairn 8 concurrent restores (8 files)" "${med[conc]}" "$(awk -v s="$size" -v t="${med[conc]}" 'BEGIN{printf "%.0f MiB/s", 8*s/1048576/t}')" "$(ratio "$(awk -v t="${med[conc]}" 'BEGIN{print t/8}')" "${med[curl]}") x ref time/file" "$(mib "${bytes[conc]}")" "${rss[conc]}/${srv[conc]} KiB"
row "cairn rerun after kill at ~50%" "${med[resume]}" "" "moved $(ratio "${bytes[resume]}" "$size") of the file" "$(mib "${bytes[resume]}")" "${rss[resume]} KiB"
echo
echo "client CPU (user+sys), median s: curl -o $(step_cpu "$work/t.curl"); cairn cold restore $(step_cpu "$work/t.cold"),"\
  "4 connections $(step_cpu "$work/t.cold1"); openssl $(step_cpu "$work/t.openssl"); unchanged save $(step_cpu "$work/t.unchanged")"
# Every repeat of the cold step, so that a noisy machine shows as noise.
each() { cut -d' ' -f1 "$1" | awk '{printf "%s%.2f", (NR > 1 ? " " : ""), $1}'; }
each_cpu() { cut -d' ' -f3 "$1" | tr '\n' ' ' | sed 's/ $//'; }
echo "each repeat, s (cpu s): reference $(each "$work/t.curl") ($(each_cpu "$work/t.curl")); cairn cold $(each "$work/t.cold")"\
  "($(each_cpu "$work/t.cold")); 4 connections $(each "$work/t.cold1") ($(each_cpu "$work/t.cold1"))"
echo "targets: cold >= 0.90 of ref throughput; cache hit < 0.25 s and no network; unchanged save < 1 MiB sent and"
echo "         <= 1.2 x openssl; rerun after kill moves <= 0.55; 8 concurrent: server < 131072 KiB, each client < 65536 KiB;"
echo "         already present < 1000 us in process. RSS figures are peaks (client: /usr/bin/time; server: VmHWM, reset per step)."
