#!/usr/bin/env bash
# Installs what `tangle bench` needs beyond the build, from Debian's packages,
# when it is missing: the baselines (libmimalloc-dev, python3.11-dev for
# CPython 3.11's embedding API) and gnuplot-nox for --svg. Idempotent; run as
# root (or with sudo) on Debian 12, then re-run cmake so that the baselines are
# compiled in. Usage: scripts/setup-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential cmake pkg-config liburcu-dev libck-dev
      libmimalloc-dev python3.11-dev gnuplot-nox)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup-bench: installing ${missing[*]}" >&2
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

ok=1
pkg-config --exists python-3.11-embed || { echo "setup-bench: pkg-config cannot find python-3.11-embed" >&2; ok=0; }
[[ -f /usr/include/mimalloc.h ]] || { echo "setup-bench: mimalloc.h missing" >&2; ok=0; }
command -v gnuplot >/dev/null || { echo "setup-bench: gnuplot missing" >&2; ok=0; }
((ok)) && echo "setup-bench: baselines (glibc, mimalloc, CPython 3.11) and gnuplot are installed" >&2
((ok))
