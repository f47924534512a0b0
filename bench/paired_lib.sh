# Helpers of the paired benchmarks (cache_fill_bench.sh, many_files_bench.sh), sourced from the
# repository root: Cairn and its reference alternate repeat by repeat; medians and paired ratios.

# Checks the build and nginx for benchmark $1; sets bin and nginx_bin. CAIRN_BENCH_BIN (a
# directory holding cairn) compares another build in the same minutes.
bench_require() {
  bin="${CAIRN_BENCH_BIN:-$(pwd)/build/bin}"
  [ -x "$bin/cairn" ] || { echo "$1: build first (scripts/build.sh)" >&2; exit 2; }
  nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
  [ -x "$nginx_bin" ] || { echo "$1: nginx is missing; run scripts/install-deps.sh" >&2; exit 2; }
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.4f\n", b-a}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# timed FILE CMD...: appends CMD's wall time in seconds to FILE.
timed() { local out=$1; shift; local t0; t0=$(now); "$@" >/dev/null; elapsed "$t0" >>"$out"; }
# paired REF STEP OUT: appends to OUT the last REF time / the last STEP time (>= 1: STEP is faster).
paired() { awk -v a="$(tail -1 "$1")" -v b="$(tail -1 "$2")" 'BEGIN{printf "%.3f\n", a/b}' >>"$3"; }
each() { tr '\n' ' ' <"$1" | sed 's/ $//'; }
# start_cairn_server WORK: `cairn server` on a free loopback port with data in WORK/data (pid
# appended to pids); exports CAIRN_BASE_URL, HOME=WORK/home and a CAIRN_API_KEY of entity bench.
start_cairn_server() {
  "$bin/cairn" server --data "$1/data" --listen 127.0.0.1:0 >"$1/server.out" 2>"$1/server.log" &
  pids+=($!)
  for _ in $(seq 1 200); do grep -qs "listening on" "$1/server.out" && break; sleep 0.05; done
  CAIRN_BASE_URL=$(sed -n 's/^cairn server listening on //p' "$1/server.out")
  export CAIRN_BASE_URL HOME="$1/home"
  mkdir -p "$HOME"
  CAIRN_API_KEY=$(CAIRN_API_KEY=$(cat "$1/data/admin.key") "$bin/cairn" keys create --entity bench)
  export CAIRN_API_KEY
}
# tree_cpu PID...: user+sys CPU seconds so far of each PID and its live children (a server and
# its workers), from /proc/PID/stat (utime, stime; the fields after the command name).
tree_cpu() {
  local p t=0 tck; tck=$(getconf CLK_TCK)
  for p in "$@" $(for q in "$@"; do pgrep -P "$q"; done); do
    [ -r "/proc/$p/stat" ] || continue
    t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  awk -v t="$t" -v k="$tck" 'BEGIN{printf "%.2f\n", t/k}'
}
# machine_busy: CPU seconds the whole machine has been busy, all cores (user, nice, system, irq,
# softirq of /proc/stat; not idle, iowait or steal): also the kernel threads' work, such as
# writeback and a loop device's copies, that no process's own CPU time shows.
machine_busy() {
  awk -v k="$(getconf CLK_TCK)" '$1 == "cpu" {printf "%.2f\n", ($2 + $3 + $4 + $7 + $8) / k; exit}' /proc/stat
}
# cpu_timed WALL CPU "SERVER_PIDS" CMD...: as timed, and appends to CPU the user+sys seconds of
# CMD (with its children) plus what SERVER_PIDS (space-separated) spent meanwhile, and to
# CPU.all the machine's busy seconds meanwhile (machine_busy; on a quiet machine).
cpu_timed() {
  local wall=$1 cpu=$2 servers=$3; shift 3
  local s0 s1 m0 t0; s0=$(tree_cpu $servers); m0=$(machine_busy); t0=$(now)
  /usr/bin/time -f "%U %S" -o "$cpu.one" "$@" >/dev/null
  elapsed "$t0" >>"$wall"
  awk -v a="$m0" -v b="$(machine_busy)" 'BEGIN{printf "%.2f\n", b - a}' >>"$cpu.all"
  s1=$(tree_cpu $servers)
  awk -v a="$s0" -v b="$s1" '{printf "%.2f\n", $1 + $2 + b - a}' "$cpu.one" >>"$cpu"
}
