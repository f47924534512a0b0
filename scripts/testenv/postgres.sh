#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests, on 127.0.0.1 only.
#   postgres.sh start DIR PORT   initdb into DIR, start, create role "ci" (CREATEDB) and database "cidb"
#   postgres.sh stop DIR         stop it (immediate) and remove DIR
# Durability is off (fsync=off): this cluster holds nothing worth keeping.
# As root the server runs as the "postgres" user; otherwise as the caller.
# Adapted from the team's reference tools/postgres-throwaway.sh.
set -euo pipefail
cmd=${1:?usage: postgres.sh start|stop DIR [PORT]}
DIR=${2:?usage: postgres.sh start|stop DIR [PORT]}
PORT=${3:-25432}
# As root the cluster runs as the postgres user, who may not be able to enter
# the build tree (a clone in a 0700 temp dir): keep it under /tmp and leave a
# symlink at the requested place.
ORIG_DIR=$DIR
if [ "$(id -u)" -eq 0 ]; then
  DIR=/tmp/cairn-pg-$(printf %s "$ORIG_DIR" | sha1sum | cut -c1-12)
fi
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop() {
  if [ -f "$DIR/data/postmaster.pid" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  # A database per test leaves ~10^5 files: removing them took 95 s on a
  # loaded 2-core machine. Renamed away at once, removed in the background
  # (detached, so that the CTest cleanup that calls this ends now).
  if [ -e "$DIR" ]; then
    local trash="$DIR.removing.$$"
    mv "$DIR" "$trash" || { rm -rf "$DIR"; return; }
    setsid rm -rf "$trash" </dev/null >/dev/null 2>&1 &
  fi
}

case "$cmd" in
  start)
    if [ ! -x "$PGBIN/initdb" ]; then
      echo "postgres.sh: $PGBIN/initdb not found: install postgresql-15 (scripts/install-deps.sh)" >&2
      exit 1
    fi
    stop
    mkdir -p "$DIR"
    if [ "$DIR" != "$ORIG_DIR" ]; then mkdir -p "$(dirname "$ORIG_DIR")"; ln -sfn "$DIR" "$ORIG_DIR"; fi
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$DIR"; fi
    echo 'supersecret' > "$DIR/pw"
    if [ "$(id -u)" -eq 0 ]; then
      chown postgres "$DIR/pw"
      if ! runuser -u postgres -- test -r "$DIR/pw"; then
        echo "postgres.sh: the postgres user cannot reach $DIR: make its parent directories world-executable (chmod o+x)" >&2
        exit 1
      fi
    fi
    as_pg "$PGBIN/initdb" -D "$DIR/data" -U postgres -A scram-sha-256 --pwfile="$DIR/pw" -N >/dev/null
    as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 60 start \
      -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
      >/dev/null || { tail -20 "$DIR/log" >&2; exit 1; }
    PGPASSWORD=supersecret psql -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -q \
      -c "CREATE ROLE ci LOGIN CREATEDB PASSWORD 'cipw'" -c "CREATE DATABASE cidb OWNER ci"
    echo "postgres.sh: PostgreSQL on postgresql://ci:cipw@127.0.0.1:$PORT/cidb (data $DIR)"
    ;;
  stop)
    stop
    ;;
  *)
    echo "usage: postgres.sh start|stop DIR [PORT]" >&2
    exit 2
    ;;
esac
