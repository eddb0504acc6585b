#!/usr/bin/env bash
# The whole test suite: set up, then
#   1. debug build (TANGLE_DEBUG=2: internal asserts), every test with ctest;
#   2. the same suite under AddressSanitizer;
#   3. the stress programs (ctest label "stress", incl. a short chaos run of
#      `tangle stress`) under ThreadSanitizer. Criterion's runner cannot start
#      under TSan (Criterion issue #274), so the unit tests are not built there.
# Usage: scripts/test.sh [--quick]   (--quick: step 1 only)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --bench
jobs=$(nproc)

build() {
  local preset=$1; shift
  echo "== $preset: configure and build" >&2
  cmake --preset "$preset" "$@" >/dev/null
  cmake --build --preset "$preset" -j "$jobs" >/dev/null
}

build debug -DTANGLE_BUILD_BENCH=ON
echo "== debug: ctest" >&2
ctest --preset debug -j "$jobs"
[[ "${1:-}" == "--quick" ]] && exit 0

build asan -DTANGLE_BUILD_BENCH=OFF
echo "== asan: ctest" >&2
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 ctest --preset asan -j "$jobs"

build tsan -DTANGLE_BUILD_BENCH=OFF -DTANGLE_BUILD_TESTS=ON
echo "== tsan: stress (ctest -L stress)" >&2
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ctest --preset tsan -L stress -j "$jobs"
