#!/usr/bin/env bash
# Configures and builds Cairn into ./build (Ninja, RelWithDebInfo).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${CAIRN_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build build -j "${CAIRN_JOBS:-$(nproc)}"
