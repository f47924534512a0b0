#!/usr/bin/env bash
# cmake --install into a temporary prefix, then build and run a separate
# project that finds the package with find_package(cairn) and links cairn::cairn.
set -euo pipefail
build_dir=$1
src_dir=$(cd "$(dirname "$0")" && pwd)
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build_dir" --prefix "$prefix" >/dev/null
test -x "$prefix/bin/cairn"
test -f "$prefix/include/cairn/cairn.h"
"$prefix/bin/cairn" --version
cmake -S "$src_dir/consumer" -B "$prefix/consumer-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/consumer-build" >/dev/null
"$prefix/consumer-build/consumer"
