#!/usr/bin/env bash
# Makes tests/fixtures/datadir-<label>.tar.gz: a data directory written by the
# given `cairn` binary (a previous release), for upgrade_test.cc. It holds the
# admin key (admin.key), keys made with `cairn keys create` (listed in
# fixture-keys.txt: test secrets of this fixture only), two runs, and files
# with two versions.
#
#   scripts/make-upgrade-fixture.sh /path/to/old/cairn 0.1
set -euo pipefail
bin=$(realpath "$1")
label=${2:-0.1}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
data=$work/datadir
export HOME=$work/home CAIRN_CACHE_MAX_BYTES=0
mkdir -p "$HOME" "$work/src/ckpt"
unset CAIRN_ADMIN_KEY CAIRN_API_KEY CAIRN_DB_URL CAIRN_BLOBS_URL CAIRN_DATA_DIR

"$bin" server --data "$data" --listen 127.0.0.1:0 >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/server.log" | head -1 || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/server.log"; exit 1; }

admin=$(cat "$data/admin.key")
alice=$(CAIRN_API_KEY=$admin "$bin" --base-url "$url" keys create --entity alice)
alice_ro=$(CAIRN_API_KEY=$admin "$bin" --base-url "$url" keys create --entity alice --read-only)
bob=$(CAIRN_API_KEY=$admin "$bin" --base-url "$url" keys create --entity bob)

printf 'first weights\n' >"$work/src/ckpt/model.pt"
CAIRN_API_KEY=$alice "$bin" --base-url "$url" save --run alice/mnist/r1 --base "$work/src" "$work/src/ckpt/model.pt"
printf 'second weights\n' >"$work/src/ckpt/model.pt"
printf 'step,loss\n1,0.5\n' >"$work/src/metrics.csv"
CAIRN_API_KEY=$alice "$bin" --base-url "$url" save --run alice/mnist/r1 --base "$work/src" \
  "$work/src/ckpt/model.pt" "$work/src/metrics.csv"
printf 'bob was here\n' >"$work/src/notes.txt"
CAIRN_API_KEY=$bob "$bin" --base-url "$url" save --run bob/nlp/r9 --base "$work/src" "$work/src/notes.txt"

kill -TERM "$server"
wait "$server" || true
server=
cat >"$data/fixture-keys.txt" <<KEYS
admin $admin
alice $alice
alice-read-only $alice_ro
bob $bob
KEYS
"$bin" --version >"$data/fixture-made-by.txt"
mkdir -p "$repo/tests/fixtures"
tar -C "$work" -czf "$repo/tests/fixtures/datadir-$label.tar.gz" --sort=name --owner=0 --group=0 --numeric-owner datadir
echo "wrote tests/fixtures/datadir-$label.tar.gz"
