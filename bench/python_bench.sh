#!/usr/bin/env bash
# Python benchmark (issue 12), one command, one server, each beside its reference:
#   1. cairn.restore of a SIZE_MIB file from Python vs `cairn restore` on the
#      command line (the reference): same server, same file, cold (no local
#      copy, content cache off), whole processes timed (Python's interpreter
#      start and `import cairn` count against it), alternating, median of
#      REPEATS; ratio = CLI / Python (>= 0.95 is the target: as fast).
#   2. examples/python/train_torch.py saving a checkpoint every step of
#      STEP_MS ms: online (run.save + background uploads + finish) vs
#      mode="disabled" (the reference: the same loop, nothing uploaded);
#      median of REPEATS of the training loop's time (what train_torch.py
#      prints) and of the whole process; ratio = online / disabled (<= 1.05
#      is the target for the loop).
#
# Usage: bench/python_bench.sh [REPEATS=3] [SIZE_MIB=1024] [STEPS=100] [STEP_MS=20]
# Needs ./build (scripts/build.sh) and the package in a venv: it makes one in
# build/python-venv (as scripts/test.sh does) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
size_mib=${2:-1024}
steps=${3:-100}
step_ms=${4:-20}
root=$(pwd)
bin="$root/build/bin"
[ -x "$bin/cairn" ] || { echo "python_bench: $bin/cairn is missing; build first (scripts/build.sh)" >&2; exit 2; }
venv="$root/build/python-venv"
if ! "$venv/bin/python" -P -c 'import cairn' 2>/dev/null; then
  echo "python_bench: installing the cairn package into $venv"
  rm -rf "$venv"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  CAIRN_BUILD_DIR="$root/build" "$venv/bin/pip" install -q --no-index --no-build-isolation ./python
fi
py="$venv/bin/python"

work=$(mktemp -d /var/tmp/cairn-python-bench.XXXXXX)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f\n", b-a}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.3f", a/b; else print "-" }'; }

# --- the server, a key, the file ---
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin/cairn" server --data "$work/data" --listen "127.0.0.1:$port" >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 300); do grep -q "listening on" "$work/server.out" 2>/dev/null && break; sleep 0.05; done
export CAIRN_BASE_URL="http://127.0.0.1:$port" HOME="$work/home" CAIRN_CACHE_MAX_BYTES=0
mkdir -p "$HOME"
CAIRN_API_KEY=$(cat "$work/data/admin.key") "$bin/cairn" keys create --entity bench >"$work/key"
CAIRN_API_KEY=$(cat "$work/key")
export CAIRN_API_KEY
mkdir -p "$work/src"
head -c $((size_mib << 20)) /dev/urandom >"$work/src/big.bin"
"$bin/cairn" save "$work/src/big.bin" --run bench/py/r1 --base "$work/src" >/dev/null
rm -f "$work/src/big.bin"
echo "python_bench: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), client dir on" \
  "$(df --output=fstype "$work" | tail -1 | tr -d ' '), $repeats repeats"

# --- 1. restore: Python vs CLI ---
: >"$work/t_py"
: >"$work/t_cli"
restore_py() {
  rm -rf "$work/r" && sync
  local t
  t=$(now)
  "$py" -P -c 'import cairn, sys; f = cairn.restore("big.bin", run_path="bench/py/r1", root=sys.argv[1]); f.close()' "$work/r"
  elapsed "$t" >>"$work/t_py"
}
restore_cli() {
  rm -rf "$work/r" && sync
  local t
  t=$(now)
  "$bin/cairn" restore big.bin --run bench/py/r1 --root "$work/r" >/dev/null
  elapsed "$t" >>"$work/t_cli"
}
# Alternating which goes first (ABBA), so a drift in the machine's load hits both alike.
for i in $(seq "$repeats"); do
  if [ $((i % 2)) = 1 ]; then restore_py && restore_cli; else restore_cli && restore_py; fi
done
py_s=$(median <"$work/t_py")
cli_s=$(median <"$work/t_cli")
printf 'restore %d MiB cold   cairn.restore (python) %6.3f s   cairn restore (CLI, reference) %6.3f s   ratio CLI/python %s   (runs: py %s | cli %s)\n' \
  "$size_mib" "$py_s" "$cli_s" "$(ratio "$cli_s" "$py_s")" "$(paste -sd' ' "$work/t_py")" "$(paste -sd' ' "$work/t_cli")"

# --- 2. a PyTorch loop checkpointing every step: online vs disabled ---
rm -f "$work"/[lp]_*
for i in $(seq "$repeats"); do
  for mode in disabled online; do
    dir="$work/train-$mode-$i"
    mkdir -p "$dir"
    t=$(now)
    (cd "$dir" && CAIRN_DIR="$dir" "$py" -P "$root/examples/python/train_torch.py" --steps "$steps" \
      --checkpoint-every 1 --step-ms "$step_ms" --project bench --mode "$mode" >"$dir/out")
    elapsed "$t" >>"$work/p_$mode"
    grep -q "final weights sha256" "$dir/out" || { echo "python_bench: train_torch ($mode) failed" >&2; exit 1; }
    awk '/^train loop/ {print $3}' "$dir/out" >>"$work/l_$mode"
  done
done
# The loop (steps, checkpoints, run.save) is what a user waits for; the
# process adds `import torch`, init's round trips and finish's last upload.
for what in l p; do
  on_s=$(median <"$work/${what}_online")
  off_s=$(median <"$work/${what}_disabled")
  label=$([ "$what" = l ] && echo "training loop" || echo "whole process")
  printf 'train_torch %d steps x %d ms, checkpoint every step, %-13s   online %6.3f s   disabled (reference) %6.3f s   ratio online/disabled %s   (runs: on %s | off %s)\n' \
    "$steps" "$step_ms" "$label" "$on_s" "$off_s" "$(ratio "$on_s" "$off_s")" \
    "$(paste -sd' ' "$work/${what}_online")" "$(paste -sd' ' "$work/${what}_disabled")"
done
