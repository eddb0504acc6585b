#!/usr/bin/env python3
"""Run several benchmark commands in alternation and print each one's median.

    scripts/alternate.py ROUNDS NAME=COMMAND [NAME=COMMAND ...]

Every round runs each command once, in a fresh random order, so that the
load of a shared, noisy machine falls on all of them alike. A command's
figure is the sum of the "T=<n> <value>M" figures it prints (so a command
that starts two processes, `(a & b; wait)`, reports their total), or, for a
`tangle bench --worker ROW VARIANT T 0` run, the first figure it reports
("@@tb ok - s 3.78": 3.78). Prints the
median, the quartiles and the range per command, then each command's ratio
to the first command's figure of the same round (median and quartiles of
the per-round ratios).

Example (docs/PERFORMANCE.md, "count[0] per thread"): two threads in one
process against two one-thread processes:

    scripts/alternate.py 15 \\
        't1=build/release/bin/gc_probe --threads 1' \\
        't2=build/release/bin/gc_probe --threads 2' \\
        '2proc=(build/release/bin/gc_probe & build/release/bin/gc_probe; wait)'
"""
import random
import re
import statistics
import subprocess
import sys


def main():
    if len(sys.argv) < 3 or not sys.argv[1].isdigit() or any('=' not in a for a in sys.argv[2:]):
        sys.exit(__doc__)
    rounds = int(sys.argv[1])
    cmds = [a.split('=', 1) for a in sys.argv[2:]]
    got = {name: [] for name, _ in cmds}
    for _ in range(rounds):
        order = cmds[:]
        random.shuffle(order)
        for name, cmd in order:
            out = subprocess.run(cmd, shell=True, capture_output=True, text=True)
            vals = [float(v) for v in re.findall(r'^T=\d+ ([0-9.]+)M', out.stdout, re.M)]
            if not vals:                     # a `tangle bench --worker` run: its first figure
                vals = [float(v) for v in re.findall(r'^@@tb ok \S+ \S+ ([0-9.e+-]+)$', out.stdout, re.M)[:1]]
            if out.returncode != 0 or not vals:
                sys.exit(f"{name}: no figure (exit {out.returncode}): {out.stderr.strip()[:300]}")
            got[name].append(sum(vals))
    for name, _ in cmds:
        v = sorted(got[name])
        q = statistics.quantiles(v, n=4) if len(v) > 1 else [v[0]] * 3
        print(f"{name:14s} median {statistics.median(v):8.2f}  quartiles {q[0]:8.2f} .. {q[2]:8.2f}"
              f"  range {v[0]:8.2f} .. {v[-1]:8.2f}  ({len(v)} runs)")
    # Paired: each command against the first one of the same round. A slow
    # phase of the machine lowers both figures of a round, so the ratio of
    # a pair varies less than either median.
    base = cmds[0][0]
    for name, _ in cmds[1:]:
        r = sorted(a / b for a, b in zip(got[name], got[base]))
        q = statistics.quantiles(r, n=4) if len(r) > 1 else [r[0]] * 3
        print(f"{name:14s} / {base}: paired ratio median {statistics.median(r):.3f}  quartiles {q[0]:.3f} .. {q[2]:.3f}")


if __name__ == '__main__':
    main()
