#!/usr/bin/env bash
# Installs every Debian 12 package that building and testing Cairn needs.
# Idempotent; run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libboost1.81-dev
  libcurl4-openssl-dev curl
  libsqlite3-dev sqlite3
  libpq-dev postgresql-15
  ceph-mon ceph-osd radosgw ceph-common
  libssl-dev
  libargon2-dev
  nlohmann-json3-dev
  libcli11-dev
  libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev googletest
  libbenchmark-dev
  procps
  nginx xfsprogs time iproute2
  clang libclang-rt-14-dev clang-tidy   # fuzz/ (libFuzzer runtime), scripts/clang-tidy.sh
  ccache
  prometheus lintian wrk   # promtool checks /metrics; the .deb is linted; bench/ops_bench.sh
  # python/ (the `cairn` package, pybind11) and its tests; examples/python, examples/libtorch
  python3-dev python3-venv python3-pip python3-wheel python3-setuptools python3-pytest
  pybind11-dev python3-pybind11 python3-torch python3-numpy libtorch-dev
  # web/ (the web UI, scripts/build-web.sh) and its browser tests (tests/web: puppeteer-core drives
  # Debian's Chromium over CDP and Firefox ESR over WebDriver BiDi; chromium-driver for WebDriver clients)
  nodejs chromium chromium-driver firefox-esr
)
# npm: Debian's package, unless a Node.js distribution that brings its own is installed.
if ! command -v npm >/dev/null; then packages+=(npm); fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-deps: all packages present"
# The web UI's npm packages, pinned by web/package-lock.json (no browser download).
bash "$(dirname "$0")/build-web.sh"
