#!/usr/bin/env bash
# Runs a throwaway PostgreSQL cluster (Debian's packages) for tests and the
# bench, on 127.0.0.1 only, with trust authentication and no fsync.
#
#   scripts/postgres.sh start <dir> <port>
#       Creates a cluster in <dir> (a folder of its own, e.g. from
#       `mktemp -d`; as root it is handed to the `postgres` user, since
#       initdb refuses root), starts it on 127.0.0.1:<port>, and writes
#       <dir>/pg.env with DATABASE_URL=postgres://postgres@127.0.0.1:<port>/postgres.
#   scripts/postgres.sh stop <dir>
#       Stops it (fast, then immediate). <dir> is left for the caller to remove.
#
# Every step has a timeout; works without a terminal (CI).
set -euo pipefail

readonly START_TIMEOUT_SECONDS=60
readonly STOP_TIMEOUT_SECONDS=20

die() {
  echo "postgres.sh: $*" >&2
  exit 1
}

usage() {
  echo "usage: scripts/postgres.sh start <dir> <port> | stop <dir>" >&2
  exit 2
}

# The newest installed server's bin directory (Debian: /usr/lib/postgresql/<v>/bin).
bin_dir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
  [[ -n "$dir" && -x "$dir/initdb" ]] ||
    die "no PostgreSQL server found under /usr/lib/postgresql (apt-get install postgresql; scripts/setup.sh --test does)"
  echo "$dir"
}

# Runs "$@" as the cluster's owner: the postgres user when we are root.
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then
    setpriv --reuid=postgres --regid=postgres --clear-groups -- "$@"
  else
    "$@"
  fi
}

cmd_start() {
  (($# == 2)) || usage
  local dir="$1" port="$2" bin
  [[ "$port" =~ ^[0-9]{1,5}$ ]] || die "port must be a number, got '$port'"
  bin="$(bin_dir)"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [[ "$(id -u)" == 0 ]]; then
    id postgres >/dev/null 2>&1 || die "no 'postgres' user (apt-get install postgresql creates it)"
    chown postgres:postgres "$dir"
    as_owner test -w "$dir" ||
      die "the postgres user cannot reach $dir: every folder above it must be open to it (use mktemp -d under /tmp)"
  fi
  if [[ ! -f "$dir/data/PG_VERSION" ]]; then
    as_owner timeout "$START_TIMEOUT_SECONDS" "$bin/initdb" -D "$dir/data" -U postgres \
      --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t "$START_TIMEOUT_SECONDS" \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null ||
    { tail -n 30 "$dir/postgres.log" >&2; die "the server did not start on 127.0.0.1:$port"; }
  echo "DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres" >"$dir/pg.env"
  echo "PostgreSQL on 127.0.0.1:$port (cluster in $dir)"
}

cmd_stop() {
  (($# == 1)) || usage
  local dir="$1" bin pid
  [[ -f "$dir/data/postmaster.pid" ]] || return 0
  # Already gone (killed with its test run, say): nothing to stop.
  pid="$(head -n1 "$dir/data/postmaster.pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 0
  bin="$(bin_dir)"
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t "$STOP_TIMEOUT_SECONDS" stop >/dev/null 2>&1 ||
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t "$STOP_TIMEOUT_SECONDS" stop >/dev/null 2>&1 ||
    die "could not stop the cluster in $dir"
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) usage ;;
esac
