#!/usr/bin/env bash
# Runs a command next to a private, throw-away PostgreSQL on 127.0.0.1, then stops it.
#
#   scripts/pg-test.sh cargo test -p hubspot-cloud --lib queue::postgres -- --ignored
#
# The server runs from a temporary directory (data, socket, log), on port $PGPORT or a free one,
# as the `postgres` user when run as root (PostgreSQL refuses to run as root), with trust
# authentication and no fsync (test data only). The command sees
# HUBSPOT_TEST_PG_URL=postgres://postgres@127.0.0.1:PORT/postgres. The server is stopped and the
# directory removed however the command ends; the script exits with the command's status.
# Installs the Debian `postgresql` package if no PostgreSQL server is found.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]   (e.g. $0 cargo test -p hubspot-cloud --lib queue::postgres -- --ignored)" >&2
  exit 2
fi

find_bindir() {
  local d
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir 2>/dev/null || true)
    if [ -n "$d" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then
      echo "$d"
      return
    fi
  fi
  # Newest version first.
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -rn); do
    if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then
      echo "$d"
      return
    fi
  done
}

BIN=$(find_bindir)
if [ -z "$BIN" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "pg-test: no PostgreSQL server found (initdb, pg_ctl); install the Debian package 'postgresql' as root" >&2
    exit 1
  fi
  echo "pg-test: installing PostgreSQL (apt-get install postgresql)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends postgresql >/dev/null
  BIN=$(find_bindir)
  if [ -z "$BIN" ]; then
    echo "pg-test: PostgreSQL was installed but initdb/pg_ctl are still not found" >&2
    exit 1
  fi
fi

# As root, the server runs as `postgres` (created by the Debian package; created here if missing).
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
  as_pg=(runuser -u postgres --)
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/hubspot-pg.XXXXXX")
if [ "$(id -u)" -eq 0 ]; then
  chown postgres "$DIR"
fi
STARTED=0

cleanup() {
  if [ "$STARTED" -eq 1 ]; then
    "${as_pg[@]}" "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

"${as_pg[@]}" "$BIN/initdb" -D "$DIR/data" -A trust -U postgres -E UTF8 --no-locale >"$DIR/initdb.log" 2>&1 || {
  echo "pg-test: initdb failed:" >&2
  cat "$DIR/initdb.log" >&2
  exit 1
}

start() {
  "${as_pg[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 60 \
    -o "-p $1 -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null
}

if [ -n "${PGPORT:-}" ]; then
  PORT=$PGPORT
  start "$PORT" || {
    echo "pg-test: PostgreSQL did not start on port $PORT:" >&2
    tail -n 20 "$DIR/log" >&2 || true
    exit 1
  }
else
  # A random free port; try again if another process took it in between.
  PORT=
  for _ in 1 2 3 4 5 6 7 8; do
    p=$((20000 + RANDOM % 40000))
    port_free "$p" || continue
    if start "$p"; then
      PORT=$p
      break
    fi
  done
  if [ -z "$PORT" ]; then
    echo "pg-test: PostgreSQL did not start on any port tried:" >&2
    tail -n 20 "$DIR/log" >&2 || true
    exit 1
  fi
fi
STARTED=1

export HUBSPOT_TEST_PG_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
echo "pg-test: PostgreSQL $("$BIN/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$PORT (HUBSPOT_TEST_PG_URL=$HUBSPOT_TEST_PG_URL)" >&2

set +e
"$@"
status=$?
set -e
exit "$status"
