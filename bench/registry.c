/*
 * bench/registry.c — the workloads of BENCH.md (names fixed), their variants,
 * units and targets, and small helpers shared by the backends.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench/bench.h"

static const char *const variant_names[TB_V_COUNT] = {
    "tangle-gil", "tangle-ft", "tangle-ft-atomic",
    "c-plain", "c-atomic", "glibc", "mimalloc", "cpython",
};

const char *tb_variant_name(tb_variant v) { return variant_names[v]; }

int tb_variant_parse(const char *name)
{
    for (int i = 0; i < TB_V_COUNT; i++)
        if (strcmp(name, variant_names[i]) == 0)
            return i;
    return -1;
}

int tb_variant_is_tangle(tb_variant v) { return v <= TB_V_TANGLE_FT_ATOMIC; }

const char *tb_status_name(tb_status st)
{
    switch (st) {
    case TB_OK: return "ok";
    case TB_NOT_YET: return "not_available_yet";
    case TB_NO_BASELINE: return "baseline_unavailable";
    case TB_FAILED: return "failed";
    default: return "pending";
    }
}

#define GIL TB_V_TANGLE_GIL
#define FT  TB_V_TANGLE_FT
#define FTA TB_V_TANGLE_FT_ATOMIC
#define V(...) { __VA_ARGS__ }, (sizeof((tb_variant[]){ __VA_ARGS__ }) / sizeof(tb_variant))

/* Single-thread object and GC rows run tangle-ft-atomic as well where the
   reference count is the point; scaling rows run the two modes (BENCH.md). */
const tb_workload tb_workloads[] = {
    { "rc_private", "ns/op", 0,
      "incref+decref pair on an object owned by the calling thread",
      "tangle-ft <= 1.2 x tangle-gil; tangle-gil <= 1.2 x c-plain",
      V(GIL, FT, FTA, TB_V_C_PLAIN, TB_V_C_ATOMIC) },
    { "rc_shared", "ns/op", TB_WL_FIXED_T2,
      "incref+decref pair on one object shared by 2 threads (per thread)",
      "<= 1.1 x c-atomic",
      V(GIL, FT, FTA, TB_V_C_ATOMIC) },
    { "alloc_churn", "ns/op", 0,
      "free a random slot of a 10,000-slot live set, allocate 16..512 B, write 8 B",
      "<= 1.0 x mimalloc, both modes",
      V(GIL, FT, TB_V_GLIBC, TB_V_MIMALLOC, TB_V_CPYTHON) },
    { "alloc_prodcons", "ns/op", TB_WL_FIXED_T2,
      "thread A allocates, hands over through a 4,096-slot ring, thread B frees",
      "<= 1.0 x mimalloc",
      V(GIL, FT, TB_V_GLIBC, TB_V_MIMALLOC) },
    { "obj_list_new_del", "ns/op", 0, "create and destroy an empty list",
      "<= 0.5 x cpython", V(GIL, FT, FTA, TB_V_CPYTHON) },
    { "obj_tuple2_new_del", "ns/op", 0, "create a 2-tuple of cached ints, destroy it",
      "<= 0.5 x cpython", V(GIL, FT, FTA, TB_V_CPYTHON) },
    { "obj_int_new_del", "ns/op", 0, "create and destroy the int 100000",
      "<= 0.5 x cpython", V(GIL, FT, FTA, TB_V_CPYTHON) },
    { "obj_list_append", "ns/op", 0, "append one of 1M cached ints to a growing list",
      "<= 1.0 x cpython", V(GIL, FT, FTA, TB_V_CPYTHON) },
    { "obj_dict_set", "ns/op", 0, "insert 1M distinct int keys (per insert)",
      "<= 0.7 x cpython", V(GIL, FT, FTA, TB_V_CPYTHON) },
    { "obj_dict_get", "ns/op", 0, "look up each of 1M int keys (per lookup)",
      "<= 0.8 x cpython", V(GIL, FT, FTA, TB_V_CPYTHON) },
    { "gc_full_unreachable", "ns/obj", 0,
      "full collection of 1M unreachable objects in rings of 10 1-element lists",
      "<= 0.5 x cpython", V(GIL, FT, TB_V_CPYTHON) },
    { "gc_full_reachable", "ns/obj", 0, "full collection, the same graph kept alive",
      "<= 0.5 x cpython", V(GIL, FT, TB_V_CPYTHON) },
    { "gc_young", "us", 0, "young collection after 1,000 new cyclic objects, no old objects",
      "<= 0.5 x cpython", V(GIL, FT, TB_V_CPYTHON) },
    { "gc_young_old1m", "us", 0, "the same with 1M old reachable objects alive",
      "<= 0.5 x cpython; <= 1.2 x gc_young in both modes", V(GIL, FT, TB_V_CPYTHON) },
    { "binarytrees", "s", 0, "binary-trees, depth 18, nodes as 2-tuples (whole run)",
      "tangle-gil <= 1.0 x glibc",
      V(GIL, FT, TB_V_GLIBC, TB_V_MIMALLOC, TB_V_CPYTHON) },
    { "scale_private", "ops/s", TB_WL_SCALING | TB_WL_HIGHER_IS_BETTER,
      "each thread builds and drops private 10-object graphs",
      "tangle-ft speedup >= 1.9 at T=2", V(GIL, FT, TB_V_GLIBC) },
    { "scale_list_append_shared", "ops/s", TB_WL_SCALING | TB_WL_HIGHER_IS_BETTER,
      "T threads append to one list (final length checked)",
      "correct length; tangle-ft >= 0.8 x tangle-gil", V(GIL, FT) },
    { "scale_dict_read_shared", "ops/s", TB_WL_SCALING | TB_WL_HIGHER_IS_BETTER,
      "T threads look up one key of one shared dict and drop the result",
      "tangle-ft speedup >= 1.6 at T=2", V(GIL, FT) },
    { "scale_dict_mixed", "ops/s", TB_WL_SCALING | TB_WL_HIGHER_IS_BETTER,
      "90% lookups, 10% inserts/deletes on one shared dict of 10,000 keys",
      "(no target)", V(GIL, FT) },
    { "scale_cycles", "ops/s", TB_WL_SCALING | TB_WL_HIGHER_IS_BETTER,
      "each thread makes cyclic garbage; automatic collections bound memory",
      "tangle-ft speedup >= 1.9 at T=2", V(GIL, FT, TB_V_GLIBC) },
    { "stw_latency", "us", TB_WL_SCALING,
      "stop-the-world request to all-stopped with T busy threads (p50; p99 beside)",
      "p50 <= 10 us, p99 <= 100 us at T=2", V(GIL, FT) },
    { "gil_handoff", "us", TB_WL_FIXED_T2,
      "2 CPU-bound threads: hand-off latency (p50) and each thread's time share",
      "(no target)", V(GIL) },
    { "memory_1m", "B/obj", 0,
      "RSS growth per object: 1M empty lists (primary), 1M 3-key dicts, 1M ints",
      "tangle-gil <= cpython; tangle-ft <= 1.1 x tangle-gil",
      V(GIL, FT, TB_V_CPYTHON) },
};
const int tb_nworkloads = (int)(sizeof tb_workloads / sizeof tb_workloads[0]);

const tb_workload *tb_workload_find(const char *name)
{
    for (int i = 0; i < tb_nworkloads; i++)
        if (strcmp(tb_workloads[i].name, name) == 0)
            return &tb_workloads[i];
    return NULL;
}

/* ------------------------------------------------------------ results */

void tb_result_add(tb_result *r, const char *metric, const char *unit, double value)
{
    if (r->nmetrics >= TB_MAX_METRICS)
        return;
    tb_metric *m = &r->m[r->nmetrics++];
    snprintf(m->name, sizeof m->name, "%s", metric);
    snprintf(m->unit, sizeof m->unit, "%s", unit);
    m->value = value;
}

int tb_result_set(tb_result *r, tb_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    r->st = st;
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
    r->nmetrics = 0;
    return -1;
}

/* ------------------------------------------------------------ helpers */

long tb_rss_bytes(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

long tb_peak_rss_bytes(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss * 1024L;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank on the sorted samples, interpolated between neighbours. */
double tb_percentile(double *v, size_t n, double q)
{
    if (n == 0)
        return 0.0;
    qsort(v, n, sizeof *v, cmp_double);
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)pos;
    if (lo + 1 >= n)
        return v[n - 1];
    double frac = pos - (double)lo;
    return v[lo] * (1.0 - frac) + v[lo + 1] * frac;
}

/* binary-trees checks: a tree of depth d has 2^(d+1) - 1 nodes. */
static long tree_nodes(int d) { return (1L << (d + 1)) - 1; }

long tb_binarytrees_expected(int max_depth)
{
    const int min_depth = 4;
    if (max_depth < min_depth + 2)
        max_depth = min_depth + 2;
    long total = tree_nodes(max_depth + 1);          /* stretch tree */
    for (int d = min_depth; d <= max_depth; d += 2) {
        long iterations = 1L << (max_depth - d + min_depth);
        total += iterations * tree_nodes(d);
    }
    total += tree_nodes(max_depth);                  /* long-lived tree */
    return total;
}
