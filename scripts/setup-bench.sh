#!/usr/bin/env bash
# What `tangle bench` needs: scripts/setup.sh --bench (the baselines' Debian
# packages and gnuplot). Re-run cmake afterwards so the baselines are compiled in.
exec "$(dirname "$0")/setup.sh" --bench
