#!/usr/bin/env bash
# Cairn's quick start: installs what is needed, builds, and runs Cairn's main
# job on the embedded default (SQLite + local disk, server on loopback):
#   1. start `cairn server` on a free port with a fresh data directory;
#   2. create an API key for entity "demo" with the admin key;
#   3. train examples/train_resume without interruption: the reference digest;
#   4. train again in another directory, killed with SIGKILL twice; each new
#      start resumes the same run (resume=auto), restores its last checkpoint
#      and continues; it ends with the same digest;
#   5. a separate process loads the run's final checkpoint by run path.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh

bin="$(pwd)/build/bin"
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin/cairn" server --data "$work/data" --listen 127.0.0.1:0 >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 200); do grep -q "listening on" "$work/server.out" && break; sleep 0.05; done
url=$(sed -n 's/^cairn server listening on //p' "$work/server.out")
[ -n "$url" ] || { cat "$work/server.log"; echo "demo: the server did not start" >&2; exit 1; }
echo "== cairn server listening on $url (SQLite + blobs in $work/data)"

export CAIRN_BASE_URL="$url" HOME="$work/home"
mkdir -p "$HOME"
CAIRN_API_KEY=$(CAIRN_API_KEY=$(cat "$work/data/admin.key") "$bin/cairn" keys create --entity demo)
export CAIRN_API_KEY
echo "== created an API key for entity 'demo'"

# The kills below are on purpose: the shell's own job report of them ("Killed ...") goes to
# /dev/null (the { } group's stderr); train_resume's stderr still reaches the pipe.
train() { # dir, extra args...
  local dir=$1; shift
  { CAIRN_DIR="$dir" "$bin/train_resume" --steps 100 --checkpoint-every 10 --project demo "$@" 2>&1; } 2>/dev/null |
    sed 's/^/   | /'
}

echo "== 1. train 100 steps without interruption"
train "$work/clean" | tee "$work/clean.out" | grep -E 'started|final'
reference=$(sed -n 's/.*final weights sha256 //p' "$work/clean.out")

echo "== 2. train in another directory; killed with SIGKILL after step 37"
train "$work/crashy" --crash-at 37 | grep -E 'started|resumed|restored|crashing' || true
echo "== 3. start again: resume=auto takes the same run, restores the last checkpoint; killed after step 74"
train "$work/crashy" --crash-at 74 | grep -E 'started|resumed|restored|crashing' || true
echo "== 4. start again and finish"
train "$work/crashy" | tee "$work/crashy.out" | grep -E 'resumed|restored|final'
resumed=$(sed -n 's/.*final weights sha256 //p' "$work/crashy.out")
run_path=$(sed -n 's/.*resumed run \([^ ]*\).*/\1/p' "$work/crashy.out" | head -1)

echo "== the run's files on the server"
"$bin/cairn" ls "$run_path" | sed 's/^/   /' | tail -4
echo "== 5. another process loads the final weights of $run_path"
"$bin/train_resume" --inspect "$run_path" --root "$work/inspect" | sed 's/^/   /'

echo "   uninterrupted: $reference"
echo "   killed twice:  $resumed"
if [ -n "$reference" ] && [ "$reference" = "$resumed" ]; then
  echo "== demo succeeded: the digests agree"
else
  echo "== demo FAILED: the digests differ" >&2
  exit 1
fi
