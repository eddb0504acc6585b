#!/usr/bin/env bash
# The whole test suite: set up, build (debug preset: internal asserts), run
# every test with ctest, then the same suite under AddressSanitizer.
# Usage: scripts/test.sh [--quick]   (--quick: debug build only)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
jobs=$(nproc)

run_preset() {
  local preset=$1
  echo "== $preset: configure and build" >&2
  cmake --preset "$preset" -DTANGLE_BUILD_BENCH=OFF >/dev/null
  cmake --build --preset "$preset" -j "$jobs" >/dev/null
  echo "== $preset: ctest" >&2
  ctest --preset "$preset" -j "$jobs"
}

run_preset debug
[[ "${1:-}" == "--quick" ]] && exit 0
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 run_preset asan
