#!/usr/bin/env bash
# The web UI's run page with 10,000 files in headless Chromium (bench/web_run_page.mjs):
# time to first render and to a filtered view, beside the page's one JSON request alone.
# Usage: bench/web_bench.sh [REPEATS=5] [FILES=10000]   (build first: scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
node bench/web_run_page.mjs build "${1:-5}" "${2:-10000}"
