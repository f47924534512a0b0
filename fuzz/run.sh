#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in build-fuzz/ and runs
# each for SECONDS (default 60) from its seed corpus in fuzz/corpus/<target without fuzz_>.
# New inputs go to build-fuzz/corpus/<target>; crashes to build-fuzz/crashes/.
#   fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_FUZZ=ON \
  -DCAIRN_BUILD_TESTS=OFF -DCAIRN_BUILD_EXAMPLES=OFF -DCAIRN_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
targets=(fuzz_run_path fuzz_file_name fuzz_range fuzz_http_request fuzz_json_body fuzz_graphql)
cmake --build build-fuzz -j "${CAIRN_JOBS:-$(nproc)}" --target "${targets[@]}"
mkdir -p build-fuzz/crashes
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  echo "== $t for ${seconds}s"
  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1 \
    "build-fuzz/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="build-fuzz/crashes/$t-" -print_final_stats=1 \
    "build-fuzz/corpus/$t" "fuzz/corpus/${t#fuzz_}" 2>&1 | grep -E '^(#[0-9]+ +DONE|==|stat::number_of_executed_units|.*ERROR|.*Assertion|SUMMARY)' || true
  if ls build-fuzz/crashes/"$t"-* >/dev/null 2>&1; then
    echo "fuzz: $t found a crash: $(ls build-fuzz/crashes/"$t"-*)" >&2
    exit 1
  fi
done
echo "fuzz: all targets ran ${seconds}s without a crash"
