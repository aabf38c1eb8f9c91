# Shared helpers for the scripts (sourced, not run).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$ROOT/node_modules/.bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Starts the dev server in the background; sets SERVER_PID and SERVER_URL.
# Usage: start_server <log file> [extra args...]
start_server() {
  local log="$1"; shift
  "$ROOT/target/debug/resupload-dev-server" --www "$ROOT/www" --pkg "$ROOT/pkg" "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  local i
  for i in $(seq 1 300); do
    SERVER_URL="$(sed -n 's/^resupload dev server: \(http[^ ]*\)\/$/\1/p' "$log" | head -n1)"
    if [ -n "$SERVER_URL" ]; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "the dev server exited:" >&2; tail -n 30 "$log" >&2; return 1
    fi
    sleep 0.1
  done
  echo "the dev server did not start within 30 s:" >&2; tail -n 30 "$log" >&2
  return 1
}

# Starts scripts/page-proxy.mjs in the background; sets PAGE_PROXY_PID and
# PAGE_PROXY_URL. Usage: start_page_proxy <log file>
start_page_proxy() {
  local log="$1" i
  node "$ROOT/scripts/page-proxy.mjs" >"$log" 2>&1 &
  PAGE_PROXY_PID=$!
  for i in $(seq 1 100); do
    PAGE_PROXY_URL="$(sed -n 's/^page proxy: //p' "$log" | head -n1)"
    if [ -n "$PAGE_PROXY_URL" ]; then return 0; fi
    if ! kill -0 "$PAGE_PROXY_PID" 2>/dev/null; then
      echo "the page proxy exited:" >&2; cat "$log" >&2; return 1
    fi
    sleep 0.1
  done
  echo "the page proxy did not start within 10 s:" >&2; cat "$log" >&2
  return 1
}

# Starts Xvfb on a free display; sets XVFB_PID and XVFB_DISPLAY.
# Usage: start_xvfb <log file>
start_xvfb() {
  local log="$1" fifo
  fifo="$(mktemp -u)"
  mkfifo "$fifo"
  Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp 3>"$fifo" >"$log" 2>&1 &
  XVFB_PID=$!
  if ! read -r -t 20 XVFB_DISPLAY <"$fifo"; then
    rm -f "$fifo"
    echo "Xvfb did not start within 20 s:" >&2; cat "$log" >&2; return 1
  fi
  rm -f "$fifo"
  XVFB_DISPLAY=":$XVFB_DISPLAY"
}
