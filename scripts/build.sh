#!/usr/bin/env bash
# Configures and builds Cairn into ./build (Ninja, RelWithDebInfo); ccache when present.
# The web UI first (scripts/build-web.sh: npm ci + esbuild into web/dist, embedded by CMake).
set -euo pipefail
cd "$(dirname "$0")/.."
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
bash scripts/build-web.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${CAIRN_BUILD_TYPE:-RelWithDebInfo}" "${launcher[@]}" >/dev/null
cmake --build build -j "${CAIRN_JOBS:-$(nproc)}"
