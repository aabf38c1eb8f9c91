#!/usr/bin/env bash
# Runs the demo: a Garage node with its data under ./data, and the dev server
# (demo identities; its uploads table in ./data too)
# on http://127.0.0.1:${PORT:-8080}/. Ctrl-C stops both.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
"$ROOT/scripts/setup.sh"

PORT="${PORT:-8080}"
DATA="$ROOT/data"
step "Garage on 127.0.0.1:${S3_PORT:=3900} (data in ./data)"
"$ROOT/scripts/garage.sh" start "$DATA" "$S3_PORT" "${RPC_PORT:-3901}" "${ADMIN_PORT:-3903}"
trap '"$ROOT/scripts/garage.sh" stop "$DATA"' EXIT
# shellcheck disable=SC1091
source "$DATA/s3.env"

step "dev server"
# --demo-auth: an anonymous identity per browser (a signed cookie) and
# POST /api/demo/sign-in {"user": NAME}, to try resuming on another
# browser; the uploads table (SQLite) and the cookie secret stay in ./data.
"$ROOT/target/debug/resupload-dev-server" --listen "127.0.0.1:$PORT" --www "$ROOT/www" --pkg "$ROOT/pkg" \
  --data-dir "$DATA" --demo-auth &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; "$ROOT/scripts/garage.sh" stop "$DATA"' EXIT
echo "Open http://127.0.0.1:$PORT/ in a browser. Ctrl-C stops the demo."
wait "$SERVER_PID"
