#!/usr/bin/env bash
# Runs a single-node Garage (an S3-compatible store) for development and
# tests.
#
#   scripts/garage.sh install
#       Builds Garage 2.5.0 with `cargo install` unless it is there already.
#   scripts/garage.sh start <dir> <s3_port> <rpc_port> <admin_port>
#       Starts a node keeping everything in <dir>, sets up the layout, the
#       `resupload` key and bucket (idempotent: <dir> may hold data of a
#       previous run), and writes <dir>/s3.env (`source` it for the server).
#   scripts/garage.sh stop <dir>
#       Stops the node started from <dir>.
#
# Everything listens on 127.0.0.1 only. Works without a terminal (CI).
set -euo pipefail

readonly GARAGE_VERSION="2.5.0"
readonly BUCKET="resupload"
readonly KEY_NAME="resupload"
readonly START_TIMEOUT_SECONDS=60
readonly STOP_TIMEOUT_SECONDS=30

die() {
  echo "garage.sh: $*" >&2
  exit 1
}

usage() {
  cat >&2 <<'EOF'
usage: scripts/garage.sh install
       scripts/garage.sh start <dir> <s3_port> <rpc_port> <admin_port>
       scripts/garage.sh stop <dir>
EOF
  exit 2
}

# Prints the path of a Garage $GARAGE_VERSION binary (on PATH, else where
# cargo installs it), if there is one.
find_garage() {
  local candidate
  for candidate in "$(command -v garage 2>/dev/null || true)" "${CARGO_HOME:-$HOME/.cargo}/bin/garage"; do
    if [[ -n "$candidate" && -x "$candidate" ]] && is_wanted_version "$candidate"; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# Succeeds if `$1` is Garage $GARAGE_VERSION (it prints
# `garage cargo:2.5.0 [features: ...]`).
is_wanted_version() {
  local version
  version="$("$1" --version 2>/dev/null || true)"
  [[ "$version" =~ (^|[^0-9.])${GARAGE_VERSION//./\\.}([^0-9.]|$) ]]
}

# `count` random bytes as lowercase hex.
random_hex() {
  od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'
}

check_port() {
  if ! [[ "$2" =~ ^[0-9]{1,5}$ ]] || ((10#$2 < 1 || 10#$2 > 65535)); then
    die "$1 must be a port number (1-65535), got '$2'"
  fi
}

# Succeeds if something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Succeeds if process $1 exists and is not a zombie.
alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)"
  [[ "$state" != Z ]]
}

# Prints the pid in $1/garage.pid if it is a live garage process.
running_pid() {
  local pid_file="$1/garage.pid" pid
  [[ -f "$pid_file" ]] || return 1
  pid="$(<"$pid_file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  # Not someone else who got the same pid later.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q garage || return 1
  echo "$pid"
}

# Reads $2 from $1, or creates it with `random_hex $3` (kept for later runs).
kept_secret() {
  local file="$1/$2"
  if [[ ! -s "$file" ]]; then
    (umask 077 && random_hex "$3" >"$file")
  fi
  tr -d ' \n' <"$file"
}

cmd_install() {
  local garage
  if garage="$(find_garage)"; then
    echo "Garage $GARAGE_VERSION is installed: $garage"
    return 0
  fi
  command -v cargo >/dev/null 2>&1 || die "cargo is needed to build Garage"
  echo "building Garage $GARAGE_VERSION from crates.io (once, about 15-20 minutes on 2 cores)..."
  cargo install "garage@$GARAGE_VERSION" --locked
  garage="$(find_garage)" ||
    die "cargo install finished but no Garage $GARAGE_VERSION binary was found"
  echo "Garage $GARAGE_VERSION is installed: $garage"
}

cmd_start() {
  (($# == 4)) || usage
  local dir="$1" s3_port="$2" rpc_port="$3" admin_port="$4"
  check_port s3_port "$s3_port"
  check_port rpc_port "$rpc_port"
  check_port admin_port "$admin_port"

  local garage
  garage="$(find_garage)" || die "Garage $GARAGE_VERSION is not installed: run scripts/garage.sh install"

  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local config="$dir/garage.toml" log="$dir/garage.log" pid_file="$dir/garage.pid"

  local old_pid
  if old_pid="$(running_pid "$dir")"; then
    echo "Garage is already running from $dir (pid $old_pid): restarting it"
    cmd_stop "$dir"
  fi
  local port
  for port in "$s3_port" "$rpc_port" "$admin_port"; do
    ! port_open "$port" || die "port $port on 127.0.0.1 is already in use"
  done

  local rpc_secret admin_token metrics_token
  rpc_secret="$(kept_secret "$dir" rpc_secret 32)"
  admin_token="$(kept_secret "$dir" admin_token 32)"
  metrics_token="$(kept_secret "$dir" metrics_token 32)"
  mkdir -p "$dir/meta" "$dir/data"
  (
    umask 077
    cat >"$config" <<EOF
# Written by scripts/garage.sh: a single-node Garage for development.
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "lmdb"
replication_factor = 1

rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$rpc_secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin_port"
admin_token = "$admin_token"
metrics_token = "$metrics_token"
EOF
  )

  echo "starting Garage: S3 on http://127.0.0.1:$s3_port, log in $log"
  NO_COLOR=1 RUST_LOG="${GARAGE_RUST_LOG:-garage=info}" \
    nohup "$garage" -c "$config" server >>"$log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$pid_file"

  local g=("$garage" -c "$config")
  wait_until "Garage to answer" "$pid" "$log" "${g[@]}" status

  # The layout, once: a node with no role stores nothing.
  wait_until "the cluster layout" "$pid" "$log" "${g[@]}" layout show
  local layout_version
  layout_version="$("${g[@]}" layout show 2>/dev/null | sed -n 's/^Current cluster layout version: *\([0-9]*\).*/\1/p')"
  if [[ -z "$layout_version" || "$layout_version" == 0 ]]; then
    local node_id
    node_id="$("${g[@]}" node id -q 2>/dev/null | cut -d@ -f1)"
    [[ -n "$node_id" ]] || fail_with_log "could not read the node id" "$log"
    "${g[@]}" layout assign -z dc1 -c 10G "$node_id" >/dev/null
    "${g[@]}" layout apply --version 1 >/dev/null
    echo "layout applied (node $node_id, zone dc1, 10G)"
  fi

  # The access key, made once and kept in $dir.
  local key_id key_secret
  if [[ ! -s "$dir/key_id" ]]; then
    (umask 077 && echo "GK$(random_hex 12)" >"$dir/key_id")
  fi
  key_id="$(tr -d ' \n' <"$dir/key_id")"
  key_secret="$(kept_secret "$dir" key_secret 32)"
  # Right after start (or layout apply) the node may still say "Layout not
  # ready": wait until it answers about keys at all.
  wait_until "the layout to be ready" "$pid" "$log" "${g[@]}" key list
  if ! "${g[@]}" key info "$key_id" >/dev/null 2>&1; then
    "${g[@]}" key import --yes -n "$KEY_NAME" "$key_id" "$key_secret" >/dev/null
    echo "key $KEY_NAME imported ($key_id)"
  fi

  if ! "${g[@]}" bucket info "$BUCKET" >/dev/null 2>&1; then
    "${g[@]}" bucket create "$BUCKET" >/dev/null
    echo "bucket $BUCKET created"
  fi
  "${g[@]}" bucket allow --read --write --owner "$BUCKET" --key "$key_id" >/dev/null

  wait_until "the S3 API to listen" "$pid" "$log" port_open "$s3_port"

  (
    umask 077
    cat >"$dir/s3.env" <<EOF
export S3_ENDPOINT=http://127.0.0.1:$s3_port
export S3_BUCKET=$BUCKET
export S3_REGION=garage
export S3_ACCESS_KEY_ID=$key_id
export S3_SECRET_ACCESS_KEY=$key_secret
EOF
  )
  echo "Garage is ready (pid $pid); store settings in $dir/s3.env"
}

# wait_until <what> <pid> <log> <command...>: runs the command every half
# second until it succeeds; fails with the log tail if the process dies or
# $START_TIMEOUT_SECONDS pass.
wait_until() {
  local what="$1" pid="$2" log="$3"
  shift 3
  local deadline=$((SECONDS + START_TIMEOUT_SECONDS))
  until "$@" >/dev/null 2>&1; do
    if ! alive "$pid"; then
      fail_with_log "Garage exited while waiting for $what" "$log"
    fi
    if ((SECONDS >= deadline)); then
      fail_with_log "timed out after ${START_TIMEOUT_SECONDS}s waiting for $what" "$log"
    fi
    sleep 0.5
  done
}

fail_with_log() {
  echo "garage.sh: $1; last lines of $2:" >&2
  tail -n 30 "$2" >&2 || true
  exit 1
}

cmd_stop() {
  (($# == 1)) || usage
  local dir="$1" pid
  if ! pid="$(running_pid "$dir")"; then
    echo "Garage is not running from $dir"
    rm -f "$dir/garage.pid"
    return 0
  fi
  kill -TERM "$pid"
  local deadline=$((SECONDS + STOP_TIMEOUT_SECONDS))
  while alive "$pid"; do
    if ((SECONDS >= deadline)); then
      echo "Garage (pid $pid) did not stop in ${STOP_TIMEOUT_SECONDS}s: killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    # A child of this shell (start then stop in one run) must be reaped.
    wait "$pid" 2>/dev/null || sleep 0.2
  done
  rm -f "$dir/garage.pid"
  echo "Garage stopped (pid $pid)"
}

(($# >= 1)) || usage
command="$1"
shift
case "$command" in
install)
  (($# == 0)) || usage
  cmd_install
  ;;
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
*) usage ;;
esac
