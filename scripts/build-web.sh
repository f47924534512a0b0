#!/usr/bin/env bash
# Builds the web UI (web/src -> web/dist) with the npm packages pinned in
# web/package-lock.json (`npm ci`: Preact, htm, esbuild; puppeteer-core for the
# browser tests). CMake embeds web/dist in `cairn server` when it is present;
# a plain C++ build needs neither this nor the network (docs/adr/0023-web-ui.md).
# CAIRN_SKIP_WEB=1 skips it; so does a machine without npm (with a note).
set -euo pipefail
cd "$(dirname "$0")/../web"
if [ "${CAIRN_SKIP_WEB:-0}" = 1 ]; then exit 0; fi
if ! command -v npm >/dev/null; then
  echo "build-web: npm not found: cairn server is built without its web UI (install nodejs and npm)" >&2
  exit 0
fi
# npm ci reinstalls everything: skip it when node_modules is from this lock file.
stamp=node_modules/.cairn-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi
node build.mjs
echo "build-web: web/dist ($(du -sk dist | cut -f1) KiB)"
