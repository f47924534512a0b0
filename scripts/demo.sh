#!/usr/bin/env bash
# Cairn's quick start: installs what is needed, builds, and runs the demo on
# the embedded default (SQLite + local disk, server on loopback):
#   1. start `cairn server` on a free port with a fresh data directory;
#   2. create an API key for entity "demo" with the admin key;
#   3. process A: init a run, write a checkpoint, save it, finish;
#   4. process B: restore the checkpoint by run path and check every byte.
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
echo "== cairn server listening on $url (data in $work/data)"

export CAIRN_BASE_URL="$url" HOME="$work/home"
mkdir -p "$HOME"
CAIRN_API_KEY=$(cat "$work/data/admin.key") "$bin/cairn" keys create --entity demo >"$work/demo.key"
export CAIRN_API_KEY
CAIRN_API_KEY=$(cat "$work/demo.key")
echo "== created an API key for entity 'demo'"

echo "== process A: train, checkpoint, save"
(cd "$work" && CAIRN_DIR="$work/train" "$bin/checkpoint_demo" save --project demo) | tee "$work/save.out"
run_path=$(sed -n 's/^RUN_PATH=//p' "$work/save.out")

echo "== process B: restore $run_path into a fresh directory"
"$bin/checkpoint_demo" restore --run-path "$run_path" --root "$work/restored"
echo "== the same file through the CLI"
"$bin/cairn" ls "$run_path"
"$bin/cairn" restore checkpoint.bin --run "$run_path" --root "$work/cli-restored"
cmp "$work/restored/checkpoint.bin" "$work/cli-restored/checkpoint.bin"
echo "== demo succeeded"
