#!/usr/bin/env bash
# Installs what tangle needs from Debian's packages, when it is missing.
# Idempotent; run as root (or with sudo) on Debian 12.
#   scripts/setup.sh           build and test: compiler, CMake, liburcu, Concurrency Kit, Criterion, valgrind
#   scripts/setup.sh --bench   also the bench baselines (mimalloc, CPython 3.11's embedding API) and gnuplot
set -euo pipefail

pkgs=(build-essential cmake pkg-config liburcu-dev libck-dev libcriterion-dev valgrind)
bench=0
[[ "${1:-}" == "--bench" ]] && bench=1
((bench)) && pkgs+=(libmimalloc-dev python3.11-dev gnuplot-nox)

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

ok=1
for m in liburcu-qsbr ck criterion; do
  pkg-config --exists "$m" || { echo "setup: pkg-config cannot find $m" >&2; ok=0; }
done
if ((bench)); then
  pkg-config --exists python-3.11-embed || { echo "setup: pkg-config cannot find python-3.11-embed" >&2; ok=0; }
  [[ -f /usr/include/mimalloc.h ]] || { echo "setup: mimalloc.h missing" >&2; ok=0; }
  command -v gnuplot >/dev/null || { echo "setup: gnuplot missing" >&2; ok=0; }
fi
((ok))
