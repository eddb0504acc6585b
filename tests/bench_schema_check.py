#!/usr/bin/env python3
"""Strict check of `tangle bench --json` output against BENCH.md's schema.

usage: bench_schema_check.py FILE [--workloads A,B] [--variants V1,V2,...]

BENCH.md's fields are required with their types; the extras tangle bench
documents (status, reason, metric; date, command, quick, seconds, threads,
targets) are allowed and checked; anything else is an error. With
--workloads/--variants, every named workload must report every named variant
(a variant that cannot run is reported with a status, never dropped).
Timings are not judged, only their consistency (min <= median <= max, the
median and range of the samples).
"""
import json
import math
import statistics
import sys

WORKLOADS = {
    "rc_private", "rc_shared", "alloc_churn", "alloc_prodcons", "obj_list_new_del",
    "obj_tuple2_new_del", "obj_int_new_del", "obj_list_append", "obj_dict_set",
    "obj_dict_get", "gc_full_unreachable", "gc_full_reachable", "gc_young",
    "gc_young_old1m", "binarytrees", "scale_private", "scale_list_append_shared",
    "scale_dict_read_shared", "scale_dict_mixed", "scale_cycles", "stw_latency",
    "gil_handoff", "memory_1m",
}
VARIANTS = {"tangle-gil", "tangle-ft", "tangle-ft-atomic", "c-plain", "c-atomic",
            "glibc", "mimalloc", "cpython"}
STATUSES = {"ok", "not_available_yet", "baseline_unavailable", "failed"}

errors = []


def err(msg):
    errors.append(msg)


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_keys(obj, where, required, optional=()):
    if not isinstance(obj, dict):
        err(f"{where}: not an object")
        return False
    for k in required:
        if k not in obj:
            err(f"{where}: missing '{k}'")
    for k in obj:
        if k not in required and k not in optional:
            err(f"{where}: unexpected key '{k}'")
    return True


def close(a, b):
    return abs(a - b) <= 1e-5 * max(abs(a), abs(b), 1e-12)


def check_result(r, i, rounds):
    where = f"results[{i}]"
    if not check_keys(r, where,
                      ("workload", "variant", "threads", "unit", "median", "min", "max",
                       "samples", "status"),
                      ("metric", "reason")):
        return
    if r.get("workload") not in WORKLOADS:
        err(f"{where}: unknown workload {r.get('workload')!r}")
    if r.get("variant") not in VARIANTS:
        err(f"{where}: unknown variant {r.get('variant')!r}")
    if not is_int(r.get("threads")) or r["threads"] < 1:
        err(f"{where}: threads must be a positive integer")
    if not isinstance(r.get("unit"), str) or not r["unit"]:
        err(f"{where}: unit must be a non-empty string")
    if "metric" in r and (not isinstance(r["metric"], str) or not r["metric"]):
        err(f"{where}: metric must be a non-empty string")
    st = r.get("status")
    if st not in STATUSES:
        err(f"{where}: unknown status {st!r}")
        return
    samples = r.get("samples")
    if not isinstance(samples, list):
        err(f"{where}: samples must be a list")
        return
    if st == "ok":
        if "reason" in r:
            err(f"{where}: an ok result has no reason")
        for k in ("median", "min", "max"):
            if not is_num(r.get(k)):
                err(f"{where}: {k} must be a number")
                return
        if not samples or not all(is_num(s) for s in samples):
            err(f"{where}: samples must be a non-empty list of numbers")
            return
        if len(samples) != rounds:
            err(f"{where}: {len(samples)} samples for {rounds} rounds")
        if not (r["min"] <= r["median"] <= r["max"]):
            err(f"{where}: not min <= median <= max")
        if not (close(r["min"], min(samples)) and close(r["max"], max(samples))):
            err(f"{where}: min/max are not those of the samples")
        if not close(r["median"], statistics.median(samples)):
            err(f"{where}: median is not the samples' median")
    else:
        if not isinstance(r.get("reason"), str) or not r["reason"]:
            err(f"{where}: status {st} needs a reason")
        for k in ("median", "min", "max"):
            if r.get(k) is not None:
                err(f"{where}: {k} must be null when the status is {st}")
        if samples:
            err(f"{where}: samples must be empty when the status is {st}")


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    want_w, want_v = None, None
    args = argv[2:]
    while args:
        if args[0] == "--workloads" and len(args) > 1:
            want_w = args[1].split(",")
        elif args[0] == "--variants" and len(args) > 1:
            want_v = args[1].split(",")
        else:
            print(f"unknown argument {args[0]}", file=sys.stderr)
            return 2
        args = args[2:]
    with open(argv[1]) as f:
        doc = json.load(f)

    check_keys(doc, "top level", ("tangle_version", "machine", "rounds", "results"),
               ("quick", "date", "command", "seconds", "threads", "targets"))
    if not isinstance(doc.get("tangle_version"), str) or not doc.get("tangle_version"):
        err("tangle_version must be a non-empty string")
    m = doc.get("machine")
    if check_keys(m, "machine", ("nproc", "cpu")):
        if not is_int(m.get("nproc")) or m["nproc"] < 1:
            err("machine.nproc must be a positive integer")
        if not isinstance(m.get("cpu"), str):
            err("machine.cpu must be a string")
    rounds = doc.get("rounds")
    if not is_int(rounds) or rounds < 1:
        err("rounds must be a positive integer")
        rounds = 0
    if "quick" in doc and not isinstance(doc["quick"], bool):
        err("quick must be a boolean")
    for k in ("date", "command"):
        if k in doc and not isinstance(doc[k], str):
            err(f"{k} must be a string")
    if "threads" in doc and (not isinstance(doc["threads"], list)
                             or not all(is_int(t) and t > 0 for t in doc["threads"])):
        err("threads must be a list of positive integers")
    for i, t in enumerate(doc.get("targets", [])):
        if check_keys(t, f"targets[{i}]", ("workload", "target", "value", "limit", "met")):
            if t.get("met") not in (True, False, None):
                err(f"targets[{i}]: met must be true, false or null")
            if t.get("value") is not None and not is_num(t.get("value")):
                err(f"targets[{i}]: value must be a number or null")

    results = doc.get("results")
    if not isinstance(results, list) or not results:
        err("results must be a non-empty list")
        results = []
    seen = set()
    for i, r in enumerate(results):
        check_result(r, i, rounds)
        if isinstance(r, dict):
            key = (r.get("workload"), r.get("variant"), r.get("threads"), r.get("metric"))
            if key in seen:
                err(f"results[{i}]: duplicate row {key}")
            seen.add(key)
    got_w = {r.get("workload") for r in results if isinstance(r, dict)}
    if want_w is not None and got_w != set(want_w):
        err(f"workloads {sorted(got_w)} != expected {sorted(want_w)}")
    if want_v is not None:
        for w in (want_w or got_w):
            got_v = {r.get("variant") for r in results if isinstance(r, dict) and r.get("workload") == w}
            if got_v != set(want_v):
                err(f"{w}: variants {sorted(got_v)} != expected {sorted(want_v)}")

    for e in errors:
        print("schema: " + e, file=sys.stderr)
    if errors:
        return 1
    print(f"schema: ok ({len(results)} results)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
