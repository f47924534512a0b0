#!/usr/bin/env bash
# The Debian package end to end (scripts/test.sh phase `package`; root only,
# it installs into this machine):
#   cpack -> cairn_<version>_amd64.deb, lintian clean (overrides documented),
#   dpkg -i, the server started from the unit's ExecStart line with the unit's
#   EnvironmentFile as the cairn user (setpriv; systemd is not running in CI),
#   a save and a restore through it, /metrics and /readyz, a backup (SQLite
#   online backup, then a copy of the blobs) restored into a second data
#   directory that `cairn fsck` passes and a second server serves, then
#   dpkg -r / --purge.
# Usage: package_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
say() { echo "package_test: $*"; }
fail() { echo "package_test: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || { say "skipped: needs root (it installs the package)"; exit 0; }
if dpkg-query -W cairn >/dev/null 2>&1; then fail "a cairn package is already installed; remove it first"; fi
[ ! -e /var/lib/cairn ] || fail "/var/lib/cairn exists; this test would use it"

work=$(mktemp -d)
server_pid=""
created_user=0
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  [ -n "${server2_pid:-}" ] && kill "$server2_pid" 2>/dev/null && wait "$server2_pid" 2>/dev/null || true
  if dpkg-query -W cairn >/dev/null 2>&1; then dpkg --purge cairn >/dev/null || true; fi
  rm -rf /var/lib/cairn "$work"
  if [ "$created_user" -eq 1 ] && getent passwd cairn >/dev/null; then userdel cairn 2>/dev/null || true; fi
}
trap cleanup EXIT

# --- build and lint
(cd "$build" && cpack -G DEB >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack"; }
version=$(grep -m1 '^project(cairn VERSION' "$build/../CMakeLists.txt" 2>/dev/null | sed 's/.*VERSION \([0-9.]*\).*/\1/' || true)
deb=$(ls "$build"/cairn_*_amd64.deb | head -1)
[ -f "$deb" ] || fail "no cairn_<version>_amd64.deb in $build"
say "built $(basename "$deb")"
if command -v lintian >/dev/null; then
  # One run, its report shown and its status kept. TMPDIR: lintian leaves its
  # mldbm-elf-* files behind; they go with $work.
  rc=0
  report=$(TMPDIR=$work lintian --fail-on error,warning "$deb" 2>&1) || rc=$?
  printf '%s\n' "$report" | grep -v 'running with root privileges' || true
  [ "$rc" -eq 0 ] || fail "lintian reports errors or warnings (exit $rc)"
  say "lintian: clean (documented overrides only)"
else
  fail "lintian is missing: scripts/install-deps.sh installs it"
fi

# --- install
getent passwd cairn >/dev/null || created_user=1
dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i"; }
getent passwd cairn >/dev/null || fail "postinst made no cairn user"
unit=/usr/lib/systemd/system/cairn-server.service
for f in /usr/bin/cairn "$unit" /etc/default/cairn /usr/share/man/man1/cairn.1.gz /usr/lib/cmake/cairn/cairnConfig.cmake \
  /usr/include/cairn/cairn.h; do
  [ -e "$f" ] || fail "$f is not installed"
done
for opt in User=cairn StateDirectory=cairn EnvironmentFile= ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes; do
  grep -q "^$opt" "$unit" || fail "the unit lacks $opt"
done
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$unit" 2>"$work/verify.log" || { cat "$work/verify.log"; fail "systemd-analyze verify"; }
fi
man -l /usr/share/man/man1/cairn.1.gz >/dev/null 2>&1 || zcat /usr/share/man/man1/cairn.1.gz | grep -q '^.TH CAIRN' ||
  fail "the man page does not render"

# --- run the unit's ExecStart as the cairn user, as systemd would
mkdir -p /var/lib/cairn && chown cairn:cairn /var/lib/cairn && chmod 0750 /var/lib/cairn  # StateDirectory=
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
set -a
# shellcheck disable=SC1091
. /etc/default/cairn
CAIRN_LISTEN=127.0.0.1:0  # a free port instead of the default 8765
set +a
eval "set -- $exec_start"  # systemd expands ${VAR} as one word and $VAR split on spaces; these values have none
say "ExecStart: $*"
cd /
setpriv --reuid=cairn --regid=cairn --init-groups --no-new-privs -- "$@" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/server.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/server.out")
[ -n "$url" ] || { cat "$work/server.err"; fail "the server did not start"; }
[ "$(stat -c %U /var/lib/cairn/cairn.db)" = cairn ] || fail "the database is not owned by cairn"
say "server up at $url as $(ps -o user= -p "$server_pid")"

export CAIRN_BASE_URL=$url HOME=$work
admin=$(cat /var/lib/cairn/admin.key)
key=$(CAIRN_API_KEY=$admin cairn keys create --entity pkg)
export CAIRN_API_KEY=$key
mkdir -p "$work/src" "$work/out" "$work/out2"
head -c 3000000 /dev/urandom >"$work/src/model.bin"
cairn save "$work/src/model.bin" --base "$work/src" --run pkg/proj/run1 -q >/dev/null
cairn restore model.bin --run pkg/proj/run1 --root "$work/out" -q >/dev/null
cmp "$work/src/model.bin" "$work/out/model.bin" || fail "the restored file differs"
curl -fsS "$url/readyz" >/dev/null || fail "/readyz"
curl -fsS "$url/metrics" >"$work/metrics.txt" || fail "/metrics"
grep -q '^cairn_uploads_total{result="committed"} 1' "$work/metrics.txt" || fail "/metrics did not count the save"
say "save, restore, /readyz and /metrics through the packaged server: ok"

# --- back up while it runs: the database first (SQLite online backup), then
# the blobs (a blob is written before its version commits, so every version
# in the backup finds its blob), then restore into a second data directory.
backup=$work/backup
mkdir -p "$backup"
sqlite3 /var/lib/cairn/cairn.db ".backup '$backup/cairn.db'"
cp -a /var/lib/cairn/blobs "$backup/blobs"
data2=$work/data2
mkdir -p "$data2" && cp -a "$backup/cairn.db" "$backup/blobs" "$data2/"
cairn fsck --data "$data2" >"$work/fsck.out" 2>&1 || { cat "$work/fsck.out"; fail "cairn fsck of the restored backup"; }
say "backup restored into a second data dir; cairn fsck: $(tail -1 "$work/fsck.out")"
CAIRN_ADMIN_KEY=$admin cairn server --data "$data2" --listen 127.0.0.1:0 >"$work/server2.out" 2>"$work/server2.err" &
server2_pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/server2.out" 2>/dev/null && break; sleep 0.1; done
url2=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/server2.out")
CAIRN_BASE_URL=$url2 cairn restore model.bin --run pkg/proj/run1 --root "$work/out2" -q >/dev/null
cmp "$work/src/model.bin" "$work/out2/model.bin" || fail "the file restored from the backup differs"
kill "$server2_pid" && wait "$server2_pid" || true
server2_pid=""
say "the restored backup serves the file with the same key"

kill -TERM "$server_pid"
wait "$server_pid" || fail "the server did not stop cleanly on SIGTERM"
server_pid=""

# --- remove: the binary goes, the data stays (never a package's call)
dpkg -r cairn >/dev/null
[ ! -e /usr/bin/cairn ] || fail "dpkg -r left /usr/bin/cairn"
[ -e /etc/default/cairn ] || fail "dpkg -r removed the conffile (only --purge should)"
dpkg --purge cairn >/dev/null
[ ! -e /etc/default/cairn ] || fail "dpkg --purge left /etc/default/cairn"
[ -e /var/lib/cairn/cairn.db ] || fail "removing the package removed the data"
say "ok: installed, served, backed up, restored, removed (${version:-?})"
