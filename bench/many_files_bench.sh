#!/usr/bin/env bash
# Many small files (issue 13): FILES files of KIB KiB, on DIR (default: the root filesystem).
# Repeat by repeat, alternating Cairn and its reference so that both see the same machine:
#   restore: one `curl` process fetching every file from nginx over one keep-alive
#            connection (no verification, no fsync)  vs  `cairn restore 'shards/*'` cold
#            (default settings: cache on) and with CAIRN_CACHE_MAX_BYTES=0
#   save:    one `curl -T` process PUTting every file into nginx (dav_methods PUT) over one
#            keep-alive connection  vs  `cairn save shards/` (a new run each repeat)
# Prints medians and the median of paired ratios (reference time / Cairn time: >= 1.0 is as
# fast as the reference). Every restored file is checked against its digest.
#
# Usage: bench/many_files_bench.sh [REPEATS=3] [FILES=2000] [KIB=64] [DIR]   (build first)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
files=${2:-2000}
kib=${3:-64}
source bench/paired_lib.sh
bench_require many_files_bench

work=$(mktemp -d /var/tmp/cairn-many-files-bench.XXXXXX)
client=${4:-$work/client}
client=$client/many-files-bench.$$
mkdir -p "$client"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work" "$client"
}
trap cleanup EXIT


# The files, and curl's config files: one process, one connection, every URL.
mkdir -p "$work/src/shards" "$work/www/shards" "$work/dav" "$work/nginx"
for i in $(seq -f '%06g' 1 "$files"); do
  head -c $((kib << 10)) /dev/urandom >"$work/src/shards/s-$i.bin"
done
cp -r "$work/src/shards" "$work/www/"
(cd "$work/src" && sha256sum shards/* >"$work/sums")
port=$((20000 + RANDOM % 20000))
cat >"$work/nginx/nginx.conf" <<EOF
$([ "$(id -u)" -eq 0 ] && echo "user root;")
worker_processes 1; daemon off; pid $work/nginx/nginx.pid; error_log $work/nginx/error.log;
events { worker_connections 64; }
http { sendfile on; tcp_nopush on; access_log off; keepalive_requests 1000000; client_max_body_size 0;
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy; fastcgi_temp_path $work/nginx/fcgi;
  uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  server { listen 127.0.0.1:$port; root $work/www;
    location /dav/ { root $work; dav_methods PUT; create_full_put_path on; } } }
EOF
"$nginx_bin" -c "$work/nginx/nginx.conf" -p "$work/nginx" 2>/dev/null &
pids+=($!)
nginx_pid=$!
: >"$work/get.cfg"; : >"$work/put.cfg"
for f in "$work"/src/shards/*; do
  b=$(basename "$f")
  printf 'url = "http://127.0.0.1:%s/shards/%s"\noutput = "%s"\n' "$port" "$b" "$client/curl/shards/$b" >>"$work/get.cfg"
  printf 'url = "http://127.0.0.1:%s/dav/up/shards/%s"\nupload-file = "%s"\n' "$port" "$b" "$f" >>"$work/put.cfg"
done

start_cairn_server "$work"
cairn_pid=${pids[-1]}
export CAIRN_CACHE_DIR="$client/cache"
"$bin/cairn" save "$work/src/shards" --run bench/many/r0 --base "$work/src" -q >/dev/null
cat "$work"/src/shards/* "$work"/www/shards/* >/dev/null  # both servers read cached bytes

fstype=$(df --output=fstype "$client" | tail -1 | tr -d ' ')
echo "many_files_bench: $files files x $kib KiB, $repeats paired repeats, client files on $client ($fstype)"
for s in curl on off put save; do : >"$work/t.$s"; : >"$work/r.$s"; : >"$work/c.$s"; done
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$repeats"); do
  rm -rf "$client/curl" "$client/on" "$client/off" "$client/cache"; mkdir -p "$client/curl/shards"; sync
  cpu_timed "$work/t.curl" "$work/c.curl" "$nginx_pid" curl -s --fail-early -K "$work/get.cfg"
  sync
  cpu_timed "$work/t.on" "$work/c.on" "$cairn_pid" "$bin/cairn" restore 'shards/*' --run bench/many/r0 --root "$client/on" -q
  paired "$work/t.curl" "$work/t.on" "$work/r.on"
  sync
  cpu_timed "$work/t.off" "$work/c.off" "$cairn_pid" env CAIRN_CACHE_MAX_BYTES=0 "$bin/cairn" restore 'shards/*' --run bench/many/r0 --root "$client/off" -q
  paired "$work/t.curl" "$work/t.off" "$work/r.off"
  (cd "$client/on" && sha256sum --quiet -c "$work/sums") || echo "many_files_bench: a restored file differs!" >&2
  rm -rf "$work/dav/up"; sync
  cpu_timed "$work/t.put" "$work/c.put" "$nginx_pid" curl -s --fail-early -K "$work/put.cfg"
  # What curl -T left unsynced is written out before the save, as before every other step:
  # the server's syncfs would otherwise flush it inside the save's time.
  sync
  cpu_timed "$work/t.save" "$work/c.save" "$cairn_pid" "$bin/cairn" save "$work/src/shards" --run "bench/many/s$r" --base "$work/src" -q
  paired "$work/t.put" "$work/t.save" "$work/r.save"
done
# CPU: user+sys of the client process plus its server meanwhile (cairn server, nginx): less
# sensitive to other load on the machine than wall time.
row() { printf '%-58s %9s %14s %8s\n' "$@"; }
row "$files files x $kib KiB" "median s" "ratio (paired)" "CPU s"
row "restore reference: one curl process, keep-alive, from nginx" "$(median <"$work/t.curl")" "1.00" "$(median <"$work/c.curl")"
row "cairn restore 'shards/*' (cold; cache on, the default)" "$(median <"$work/t.on")" "$(median <"$work/r.on")" "$(median <"$work/c.on")"
row "cairn restore 'shards/*' (CAIRN_CACHE_MAX_BYTES=0)" "$(median <"$work/t.off")" "$(median <"$work/r.off")" "$(median <"$work/c.off")"
row "save reference: one curl -T process into nginx dav PUT" "$(median <"$work/t.put")" "1.00" "$(median <"$work/c.put")"
row "cairn save shards/" "$(median <"$work/t.save")" "$(median <"$work/r.save")" "$(median <"$work/c.save")"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "each repeat, s: curl $(each "$work/t.curl"); on $(each "$work/t.on"); off $(each "$work/t.off");" \
  "put $(each "$work/t.put"); save $(each "$work/t.save")"
