#!/usr/bin/env bash
# Alternate tangle-ft and tangle-gil worker runs of one workload and print
# the median of the per-pair ratios ft/gil (and the range). On a shared,
# noisy machine a ratio taken from back-to-back runs is steadier than two
# medians taken apart. For "ops/s" rows a ratio above 1 means ft is faster;
# for "ns" rows, slower.
# Usage: scripts/bench_pairs.sh WORKLOAD THREADS [PAIRS]   (release build)
set -euo pipefail
cd "$(dirname "$0")/.."
w=$1; t=$2; n=${3:-11}
bin=build/release/bin/tangle
for ((i = 0; i < n; i++)); do
  g=$("$bin" bench --worker "$w" tangle-gil "$t" 0 | awk '/^@@tb ok - /{print $5}')
  f=$("$bin" bench --worker "$w" tangle-ft "$t" 0 | awk '/^@@tb ok - /{print $5}')
  awk -v f="$f" -v g="$g" 'BEGIN{print f / g}'
done | sort -g | awk '{a[NR] = $1} END{printf "%s T=%s: median ft/gil %.3f (min %.3f, max %.3f, %d pairs)\n", "'"$w"'", "'"$t"'", a[int((NR + 1) / 2)], a[1], a[NR], NR}'
