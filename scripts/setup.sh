#!/usr/bin/env bash
# Installs what tangle needs to build, test and benchmark, from Debian's
# packages, when it is missing. Idempotent; run as root (or with sudo) on
# Debian 12. Usage: scripts/setup.sh [--bench]
set -euo pipefail

pkgs=(build-essential cmake pkg-config liburcu-dev libck-dev libcriterion-dev valgrind)
bench_pkgs=(libmimalloc-dev python3.11-dev gnuplot-nox clang)
[[ "${1:-}" == "--bench" ]] && pkgs+=("${bench_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for m in liburcu-qsbr ck criterion; do
  pkg-config --exists "$m" || { echo "setup: pkg-config cannot find $m" >&2; exit 1; }
done
