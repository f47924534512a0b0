#!/usr/bin/env bash
# Metadata at scale (issue 13): a store holding VERSIONS file versions against an empty one.
# bench/metadata_fill fills the store directly (one transaction: a prepared INSERT in SQLite,
# COPY in PostgreSQL, then VACUUM (ANALYZE) as autovacuum would have): run bench/scale/big with
# 10,000 files, then runs of 1,000 files x 10 versions. Two `cairn server`s on loopback, one on
# the full store and one on an empty store:
#   meta:  p50/p99 of GET .../meta/{path} (random files of every run), one keep-alive curl
#   list:  p50/p99 of GET .../files?limit=1000 for each page of the 10,000-file run
#   ls:    `cairn ls` of the 10,000-file run as a whole process (median)
#   save:  `cairn save` of SAVE_FILES x 4 KiB into a new run, full store vs empty store,
#          alternating repeat by repeat; the paired ratio empty time / full time (>= 0.8 goal)
# Goals: p99 < 10 ms, ls < 0.5 s, save ratio >= 0.8.
#
# Usage: bench/metadata_scale_bench.sh sqlite|postgres [VERSIONS=1000000] [REPEATS=5] [SAVE_FILES=1000]
# PostgreSQL: a throwaway cluster (scripts/testenv/postgres.sh; fsync=off) on port
# CAIRN_BENCH_PG_PORT (default 26432).
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:?usage: metadata_scale_bench.sh sqlite|postgres [VERSIONS] [REPEATS] [SAVE_FILES]}
versions=${2:-1000000}
repeats=${3:-5}
save_files=${4:-1000}
source bench/paired_lib.sh
bench_require metadata_scale_bench
[ -x "$bin/metadata_fill" ] || { echo "metadata_scale_bench: build bench/metadata_fill first" >&2; exit 2; }

work=$(mktemp -d /var/tmp/cairn-metadata-scale.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [ "$store" = postgres ] && bash scripts/testenv/postgres.sh stop "$work/pg" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
export HOME=$work/home CAIRN_ADMIN_KEY=cairn_benchbenchbenchbenchbenchbenchbench0001
mkdir -p "$HOME"

db_full=() db_empty=()
if [ "$store" = postgres ]; then
  pg_port=${CAIRN_BENCH_PG_PORT:-26432}
  bash scripts/testenv/postgres.sh start "$work/pg" "$pg_port" >/dev/null
  for d in scale_full scale_empty; do
    PGPASSWORD=cipw psql -q -h 127.0.0.1 -p "$pg_port" -U ci cidb -c "CREATE DATABASE $d" >/dev/null
  done
  db_full=(--db "postgresql://ci:cipw@127.0.0.1:$pg_port/scale_full")
  db_empty=(--db "postgresql://ci:cipw@127.0.0.1:$pg_port/scale_empty")
fi

start() { # NAME ARGS...: a server on its own data dir; sets url_NAME
  local name=$1; shift
  "$bin/cairn" server --data "$work/$name" --listen 127.0.0.1:0 "$@" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=($!)
  for _ in $(seq 1 400); do grep -qs "listening on" "$work/$name.out" && break; sleep 0.05; done
  local u; u=$(sed -n 's/^cairn server listening on //p' "$work/$name.out")
  [ -n "$u" ] || { cat "$work/$name.log" >&2; exit 1; }
  printf -v "url_$name" %s "$u"
}
start full "${db_full[@]}"
start empty "${db_empty[@]}"
export CAIRN_API_KEY=$CAIRN_ADMIN_KEY
# The server made the schema; the fill adds entity, project, runs and versions.
if [ "$store" = postgres ]; then
  "$bin/metadata_fill" postgres "${db_full[1]}" bench scale "$versions" 10000
else
  "$bin/metadata_fill" sqlite "$work/full/cairn.db" bench scale "$versions" 10000
fi

pct() { sort -g | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p/100+0.999999); if(i<1)i=1; printf "%.2f", a[i]*1000}'; }
auth="header = \"Authorization: Bearer $CAIRN_API_KEY\""
# meta: 2,000 requests over files of the big run and of fill runs.
{
  echo "$auth"
  for i in $(seq 1 2000); do
    if [ $((i % 2)) = 0 ]; then run=big; f=$((RANDOM % 10000 + 1)); else run=$(printf 'fill-%04d' $((RANDOM % ((versions - 10000) / 10000)))); f=$((RANDOM % 1000 + 1)); fi
    printf 'url = "%s/api/v1/runs/bench/scale/%s/meta/shards/s-%06d.bin"\noutput = "/dev/null"\n' "$url_full" "$run" "$f"
  done
} >"$work/meta.cfg"
curl -s -K "$work/meta.cfg" -w '%{http_code} %{time_total}\n' >"$work/meta.codes"
check_codes() { # FILE: every answer 200, else the bench is measuring errors
  if awk '$1 != 200 {bad++} END {exit bad > 0}' "$1"; then awk '{print $2}' "$1"; else
    echo "metadata_scale_bench: non-200 answers in $1: $(awk '$1 != 200' "$1" | sort | uniq -c | head -3)" >&2; exit 1; fi
}
check_codes "$work/meta.codes" >"$work/meta.t"
# list: every page of the big run (limit 1000), 20 times over; cursors from one walk.
cursor=""
: >"$work/cursors"
while :; do
  echo "$cursor" >>"$work/cursors"
  page=$(curl -s --fail -H "Authorization: Bearer $CAIRN_API_KEY" \
    "$url_full/api/v1/runs/bench/scale/big/files?limit=1000&cursor=$(printf %s "$cursor" | jq -sRr @uri)")
  cursor=$(printf %s "$page" | jq -r '.next_cursor // empty')
  [ -n "$cursor" ] || break
done
{
  echo "$auth"
  for _ in $(seq 1 20); do
    while read -r c; do
      printf 'url = "%s/api/v1/runs/bench/scale/big/files?limit=1000&cursor=%s"\noutput = "/dev/null"\n' \
        "$url_full" "$(printf %s "$c" | jq -sRr @uri)"
    done <"$work/cursors"
  done
} >"$work/list.cfg"
curl -s -K "$work/list.cfg" -w '%{http_code} %{time_total}\n' >"$work/list.codes"
check_codes "$work/list.codes" >"$work/list.t"
# ls as a whole process; save full vs empty, alternating.
mkdir -p "$work/src/small"
for i in $(seq -f '%05g' 1 "$save_files"); do head -c 4096 /dev/urandom >"$work/src/small/f-$i.bin"; done
: >"$work/t.ls"; : >"$work/t.full"; : >"$work/t.empty"; : >"$work/r.save"
for r in $(seq 1 "$repeats"); do
  CAIRN_BASE_URL=$url_full timed "$work/t.ls" "$bin/cairn" ls bench/scale/big
  CAIRN_BASE_URL=$url_empty timed "$work/t.empty" "$bin/cairn" save "$work/src/small" --run "bench/scale/save-$r" --base "$work/src" -q
  CAIRN_BASE_URL=$url_full timed "$work/t.full" "$bin/cairn" save "$work/src/small" --run "bench/scale/save-$r" --base "$work/src" -q
  paired "$work/t.empty" "$work/t.full" "$work/r.save"
done
lines=$(CAIRN_BASE_URL=$url_full "$bin/cairn" ls bench/scale/big | wc -l)

fs=$(df --output=fstype "$work" | tail -1 | tr -d ' ')
echo "metadata_scale_bench: $store, $versions versions, $repeats repeats, data on $work ($fs); cairn ls printed $lines lines"
row() { printf '%-62s %12s %12s\n' "$@"; }
row "work" "p50 / median" "p99 / ratio"
row "GET meta of one file (2,000 requests, keep-alive), ms" "$(pct 50 <"$work/meta.t")" "$(pct 99 <"$work/meta.t")"
row "GET files?limit=1000, pages of a 10,000-file run, ms" "$(pct 50 <"$work/list.t")" "$(pct 99 <"$work/list.t")"
row "cairn ls of the 10,000-file run (whole process), s" "$(median <"$work/t.ls")" ""
row "cairn save $save_files x 4 KiB, empty store, s" "$(median <"$work/t.empty")" "1.00"
row "cairn save $save_files x 4 KiB, store of $versions versions, s" "$(median <"$work/t.full")" "$(median <"$work/r.save")"
echo "each repeat, s: ls $(each "$work/t.ls"); save empty $(each "$work/t.empty"); save full $(each "$work/t.full")"
