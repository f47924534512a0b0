#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test (unit + integration +
# backends) — then what else CI checks, each phase timed:
#   asan     the unit and integration suites built with ASan + UBSan (build-asan/)
#   tsan     the suites that run threads (uploader, server, CLI) under TSan (build-tsan/)
#   fuzz     every libFuzzer target for CAIRN_FUZZ_SECONDS (default 20) s (build-fuzz/)
#   tidy     clang-tidy over src/ with -Wthread-safety (scripts/clang-tidy.sh)
# Before them, `python`: the `cairn` Python package installed into a venv and
# its pytest suite (python/tests) against ./build's server; and `web`: the web
# UI's browser tests (tests/web, headless Chromium and Firefox against ./build's
# server; screenshots in build/web-screenshots/BROWSER); and `package`: the .deb built, linted,
# installed, run and removed (root only).
# CAIRN_CI_QUICK=1 stops after the normal suite (for local runs; ignored when
# CI=true). CAIRN_CI_PHASES="asan tidy" runs only the listed extra phases.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${CAIRN_TEST_JOBS:-2}

phase_report=()
report() {
  echo "=== phase durations"
  for line in "${phase_report[@]}"; do echo "  $line"; done
}
trap report EXIT
phase() {  # phase NAME COMMAND...: runs COMMAND, records its duration
  local name=$1 start=$SECONDS
  shift
  echo "=== phase $name"
  if "$@"; then
    phase_report+=("$(printf '%-12s %5d s' "$name" $((SECONDS - start)))")
  else
    phase_report+=("$(printf '%-12s %5d s  FAILED' "$name" $((SECONDS - start)))")
    exit 1
  fi
}

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

normal_tests() {
  # The `backends` tests (PostgreSQL 15 + Ceph radosgw, started by a CTest
  # fixture) must run here, not skip: fail if their servers are missing.
  # Labels: unit, integration, backends, faults (tests/faults: seeded fault
  # injection; the full-disk cases mount tmpfs and need root, else they skip).
  (cd build && CAIRN_REQUIRE_BACKENDS=1 ctest --output-on-failure -j "$jobs" --timeout 900) &&
    fault_summary
}

# What the fault suite did (seeds, kills, saves acknowledged and verified,
# durations): each fault test prints "[faults] ..." lines, which CTest keeps
# in its log only.
fault_summary() {
  echo "--- fault suite (rerun a case with CAIRN_FAULT_SEED=N):"
  grep -h '^\[faults\]' build/Testing/Temporary/LastTest.log || true
}

# sanitized_build DIR SANITIZERS TARGET...
sanitized_build() {
  local dir=$1 sanitizers=$2
  shift 2
  # `&&`: set -e does not apply inside a function run as an `if` condition (phase).
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_SANITIZE="$sanitizers" \
    -DCAIRN_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null &&
    cmake --build "$dir" -j "$jobs" --target "$@"
}

# sanitized_tests DIR CTEST_ARGS...: every process (test binaries, the servers
# and CLIs they start) logs sanitizer reports to DIR/sanitizer-logs; any
# report fails the phase, even one from a child whose failure a test tolerated.
sanitized_tests() {
  local dir=$1
  shift
  local logs=$PWD/$dir/sanitizer-logs
  rm -rf "$logs" && mkdir -p "$logs"
  local supp=$PWD/scripts/sanitizers
  local common="log_path=$logs/report:log_exe_name=1"
  local rc=0
  (cd "$dir" &&
    ASAN_OPTIONS="$common:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1" \
    LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0" \
    UBSAN_OPTIONS="$common:print_stacktrace=1:halt_on_error=1" \
    TSAN_OPTIONS="$common:halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp" \
    ctest --output-on-failure -j "$jobs" --timeout 900 "$@") || rc=$?
  if compgen -G "$logs/report*" >/dev/null; then
    echo "sanitizer reports (in $logs):" >&2
    cat "$logs"/report* >&2
    rc=1
  fi
  return $rc
}

# Unit + integration, not `backends`, not the install test (a consumer linked
# without the sanitizer runtime cannot load an instrumented libcairn), and not
# the client peak-memory bound (the sanitizer runtime's own memory counts in it).
sanitizer_excluded='install_and_find_package|PeakMemoryUnder|_NOT_BUILT'
sanitizer_suite=(-L 'unit|integration' -LE backends -E "$sanitizer_excluded")
# What runs threads: the uploader (unit + integration), the server under every
# integration test, the CLI's shutdown-in-flight test. The pure parsers
# (common_test, store_test) add nothing under TSan and are not built there;
# ctest names unbuilt test binaries *_NOT_BUILT.
tsan_targets=(cairn_cli train_resume sdk_test server_handlers_test uploader_test http_api_test cli_test
  restore_contract_test resume_test tls_test)
tsan_suite=(-L 'unit|integration' -LE backends -E "$sanitizer_excluded")

# The Python package, installed the documented way (a venv of Debian's Python
# that sees Debian's packages; no PyPI): its setup links ./build's libcairn,
# so nothing is compiled but the extension. -P: import the installed package,
# not python/cairn from the working directory.
python_tests() {
  local venv=build/python-venv
  rm -rf "$venv" &&
    /usr/bin/python3 -m venv --system-site-packages "$venv" &&
    CAIRN_BUILD_DIR=$PWD/build CAIRN_JOBS=$jobs "$venv/bin/pip" install -q --no-index --no-build-isolation ./python &&
    CAIRN_BUILD_DIR=$PWD/build "$venv/bin/python" -P -m pytest -q -p no:cacheprovider python/tests
}

web_tests() { node tests/web/ui_test.mjs build chromium && node tests/web/ui_test.mjs build firefox; }

asan() {
  sanitized_build build-asan address,undefined all && sanitized_tests build-asan "${sanitizer_suite[@]}"
}
tsan() {
  sanitized_build build-tsan thread "${tsan_targets[@]}" && sanitized_tests build-tsan "${tsan_suite[@]}"
}
fuzz() { CAIRN_JOBS=$jobs bash fuzz/run.sh "${CAIRN_FUZZ_SECONDS:-20}"; }
tidy() { bash scripts/clang-tidy.sh build; }

phase deps bash scripts/install-deps.sh
phase build env CAIRN_JOBS="$jobs" bash scripts/build.sh
phase tests normal_tests
phase python python_tests
phase web web_tests
# The Debian package (tests/package/package_test.sh): cpack, lintian, dpkg -i,
# the unit's ExecStart as the cairn user, save/restore, backup + fsck, removal.
# Root only (it installs into this machine); about 30 s.
phase package bash tests/package/package_test.sh build

if [ "${CAIRN_CI_QUICK:-0}" = 1 ] && [ "${CI:-}" != true ]; then
  echo "CAIRN_CI_QUICK=1: skipping the sanitizer, fuzz and clang-tidy phases"
  exit 0
fi
for p in ${CAIRN_CI_PHASES:-tidy fuzz asan tsan}; do
  phase "$p" "$p"
done
