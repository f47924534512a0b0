#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test (unit + integration).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
cd build
ctest --output-on-failure -j "${CAIRN_TEST_JOBS:-2}" --timeout 900
