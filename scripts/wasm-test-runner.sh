#!/usr/bin/env bash
# cargo's runner for wasm32 test binaries (.cargo/config.toml): strips the
# `target_features` section as the package build does (scripts/build.mjs
# says why), then hands the binary to wasm-bindgen-test-runner.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wasm="$1"
shift
plain="${wasm%.wasm}.plain.wasm"
# (binaryen rewrites DWARF in a form wasm-bindgen cannot read: drop it.)
"$root/node_modules/.bin/wasm-opt" "$wasm" --strip-target-features --strip-dwarf -o "$plain"
exec wasm-bindgen-test-runner "$plain" "$@"
