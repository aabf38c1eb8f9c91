#!/usr/bin/env bash
# Installs and builds what the demo (and, with --test, the tests) need.
# Safe to run again: each step is skipped when already done.
#   scripts/setup.sh          toolchain, npm packages, Garage, the npm package (pkg/), the dev server
#   scripts/setup.sh --test   the same plus the browsers and WebDriver servers the tests drive,
#                             PostgreSQL's server and wrk
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

step "Rust target wasm32-unknown-unknown, and the standard library's source"
rustup target add wasm32-unknown-unknown
# The package build compiles std for size from its source (scripts/build.mjs).
rustup component add rust-src

# wasm-bindgen-cli must be exactly the version the library links (Cargo.lock).
WBG_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
step "wasm-bindgen-cli $WBG_VERSION"
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WBG_VERSION"; then
  echo "building wasm-bindgen-cli $WBG_VERSION from crates.io (once, 2-4 minutes)..."
  cargo install wasm-bindgen-cli --version "$WBG_VERSION"
fi

if [ "${1:-}" = "--test" ]; then
  # The engines the tests run in, and their WebDriver servers: Chromium
  # (playwright-core drives it), Firefox ESR (geckodriver), WebKitGTK
  # (WebKitWebDriver, under Xvfb: it has no headless mode) and WPE WebKit
  # (WPEWebDriver with cog, headless).
  # Also PostgreSQL's server (the backend tests and the bench start
  # throwaway clusters of it: scripts/postgres.sh) and wrk (the bench's
  # backend load section).
  step "browsers and their drivers, PostgreSQL, wrk (Debian packages)"
  # A first run stopped while dpkg worked leaves packages unpacked but not
  # configured (no postgres user; apt refusing until this runs): finish them
  # (dpkg --audit lists such packages, and nothing on a clean system).
  if [ -n "$(dpkg --audit 2>/dev/null)" ]; then
    DEBIAN_FRONTEND=noninteractive dpkg --configure -a
  fi
  wanted=(chromium chromium-driver firefox-esr webkit2gtk-driver xvfb wpewebkit-driver cog wrk)
  commands=(chromium chromedriver firefox-esr WebKitWebDriver Xvfb WPEWebDriver cog wrk)
  missing=()
  for i in "${!commands[@]}"; do
    command -v "${commands[$i]}" >/dev/null || missing+=("${wanted[$i]}")
  done
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
  if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    install_packages() {
      apt-get update -o DPkg::Lock::Timeout=600 &&
        apt-get install -y -o DPkg::Lock::Timeout=600 "${missing[@]}"
    }
    install_packages || { sleep 10; install_packages; }
  fi
  step "geckodriver (Firefox's WebDriver server)"
  # 0.36 or later: the tests start it with --allow-system-access (browsers.mjs).
  # Pinned: a newer release may need a newer rustc than this toolchain, and
  # cargo install then fails rather than take an older one.
  # `|| true`: on a fresh machine there is no geckodriver, and under
  # pipefail the missing command (127) would end the set-up here.
  gecko="$(geckodriver --version 2>/dev/null | awk 'NR == 1 { print $2 }' || true)"
  if [ -z "$gecko" ] || [ "$(printf '%s\n' 0.36.0 "$gecko" | sort -V | head -1)" != 0.36.0 ]; then
    echo "building geckodriver from crates.io (once, about 2 minutes)..."
    cargo install geckodriver --locked --version 0.37.1
  fi
fi

step "npm packages (binaryen's wasm-opt; for the tests playwright-core, selenium-webdriver, the bundlers)"
npm ci --no-audit --no-fund

step "Garage 2.5.0"
"$ROOT/scripts/garage.sh" install

step "the npm package (pkg/)"
# cargo, then wasm-bindgen and binaryen's wasm-opt (Debian's breaks the output).
node scripts/build.mjs

step "the dev server"
cargo build -p resupload-dev-server
