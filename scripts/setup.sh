#!/usr/bin/env bash
# Installs and builds what the demo (and, with --test, the tests) need.
# Safe to run again: each step is skipped when already done.
#   scripts/setup.sh          toolchain, npm packages, Garage, the wasm package, the dev server
#   scripts/setup.sh --test   the same plus Chromium and chromedriver
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

step "Rust target wasm32-unknown-unknown"
rustup target add wasm32-unknown-unknown

# wasm-bindgen-cli must be exactly the version the library links (Cargo.lock).
WBG_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
step "wasm-bindgen-cli $WBG_VERSION"
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WBG_VERSION"; then
  echo "building wasm-bindgen-cli $WBG_VERSION from crates.io (once, 2-4 minutes)..."
  cargo install wasm-bindgen-cli --version "$WBG_VERSION"
fi

step "wasm-pack"
if ! command -v wasm-pack >/dev/null; then
  echo "building wasm-pack from crates.io (once, about 4 minutes)..."
  cargo install wasm-pack --locked
fi

if [ "${1:-}" = "--test" ]; then
  step "Chromium and chromedriver (Debian packages)"
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    install_chromium() {
      apt-get update -o DPkg::Lock::Timeout=600 &&
        apt-get install -y -o DPkg::Lock::Timeout=600 chromium chromium-driver
    }
    install_chromium || { sleep 10; install_chromium; }
  fi
fi

step "npm packages (playwright-core, binaryen's wasm-opt)"
npm ci --no-audit --no-fund

step "Garage 2.5.0"
"$ROOT/scripts/garage.sh" install

step "the wasm package (pkg/)"
# --mode no-install: use the wasm-bindgen on PATH, never download one;
# wasm-opt comes from the npm package binaryen (Debian's breaks the output).
wasm-pack build --target web --mode no-install --out-dir pkg --release

step "the dev server"
cargo build -p resupload-dev-server
