#!/usr/bin/env bash
# The external backends the `backends` tests need, started once per ctest run
# (tests/CMakeLists.txt registers this as the FIXTURES_SETUP/CLEANUP pair):
# a throwaway PostgreSQL 15 cluster and a single-node Ceph radosgw, on loopback.
#   backends.sh start DIR [BASE_PORT]   ports BASE (PostgreSQL), BASE+1 (radosgw), BASE+2..3 (ceph mon)
#   backends.sh stop DIR
# `start` writes DIR/backends.env (KEY='VALUE' lines: CAIRN_TEST_DB_URL, CAIRN_TEST_BLOBS_URL,
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), which tests/testing/backends.cc reads; for a manual
# session: set -a; . DIR/backends.env; set +a.
# When the server binaries are not installed it writes DIR/unavailable (the tests then skip and
# say why) and succeeds -- unless CAIRN_REQUIRE_BACKENDS=1 (CI), where it fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: backends.sh start|stop DIR [BASE_PORT]}
DIR=${2:?usage: backends.sh start|stop DIR [BASE_PORT]}
BASE=${3:-25400}

case "$cmd" in
  stop)
    bash "$here/ceph-rgw.sh" stop "$DIR/ceph" || true
    bash "$here/postgres.sh" stop "$DIR/pg" || true
    rm -rf "$DIR"
    exit 0
    ;;
  start) ;;
  *) echo "usage: backends.sh start|stop DIR [BASE_PORT]" >&2; exit 2 ;;
esac

rm -rf "$DIR/unavailable" "$DIR/backends.env"
mkdir -p "$DIR"
missing=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)
for b in ceph-mon ceph-osd radosgw radosgw-admin; do command -v "$b" >/dev/null || missing+=("$b"); done
if [ "$(id -u)" -ne 0 ] && [ "${#missing[@]}" -eq 0 ]; then missing+=("root (the Ceph daemons run as root)"); fi
if [ "${#missing[@]}" -gt 0 ]; then
  note="PostgreSQL/radosgw tests need ${missing[*]}: run scripts/install-deps.sh (as root)"
  if [ "${CAIRN_REQUIRE_BACKENDS:-0}" = 1 ]; then echo "backends.sh: $note" >&2; exit 1; fi
  echo "$note" > "$DIR/unavailable"
  echo "backends.sh: $note -- the backends tests will skip"
  exit 0
fi

start_ms=$(( $(date +%s%N) / 1000000 ))
PG_PORT=$BASE; RGW_PORT=$((BASE + 1)); MON_PORT=$((BASE + 2))
bash "$here/postgres.sh" start "$DIR/pg" "$PG_PORT"
BUCKET=cairn-test bash "$here/ceph-rgw.sh" start "$DIR/ceph" "$RGW_PORT" "$MON_PORT"
cat > "$DIR/backends.env.tmp" <<ENV
CAIRN_TEST_DB_URL='postgresql://ci:cipw@127.0.0.1:$PG_PORT/cidb'
CAIRN_TEST_BLOBS_URL='s3://cairn-test/ci?endpoint=http://127.0.0.1:$RGW_PORT&region=us-east-1'
AWS_ACCESS_KEY_ID='CIKEY'
AWS_SECRET_ACCESS_KEY='CISECRET'
ENV
mv "$DIR/backends.env.tmp" "$DIR/backends.env"
echo "backends.sh: ready in $(( $(date +%s%N) / 1000000 - start_ms )) ms; environment in $DIR/backends.env"
