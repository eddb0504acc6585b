/*
 * bench/gc_probe.c — where the time of a collecting workload goes, per
 * thread: the free-threaded runtime, T threads each running one of
 *   cycles  make and drop a two-list cycle (scale_cycles' operation)
 *   tree    build and drop a private 10-object graph (scale_private's)
 * — the bench's own operations (bench/wl_tangle.c, tb_cycle_pair and
 * tb_private_graph) —
 * for a fixed time, then ops/s and, from tg_gc_get_stats, the thread time
 * per operation split into the mutator and each generation's collections,
 * collections per operation, and the local-collection counters. Not run by
 * ctest; docs/PERFORMANCE.md ("count[0] per thread") has what it measured.
 *
 *   gc_probe [--threads T] [--seconds S] [--ops N] [--op cycles|tree]
 *            [--mix] [--threshold T0,T1,T2]
 *
 * --mix: thread 1 runs `tree` while the others run `cycles`; the figure
 * reported is thread 0's ops/s (what a collecting thread keeps when its
 * neighbour uses the runtime without collecting).
 * --ops N: each thread stops after N operations (for callgrind, where time
 * means nothing); --seconds is then only an upper bound.
 * The first line is "T=<threads> <ops/s>M ..." (scripts/ab.py reads it).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "tangle.h"
#include "bench/bench.h"
#include "gc/gc_internal.h"

enum { MAX_T = 64 };
static atomic_int stop;
static pthread_barrier_t start;
static int op_tree, mix;
static long max_ops = -1;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct { int index; long ops; int failed; } worker;

static void *run(void *arg)
{
    worker *w = arg;
    int use_tree = op_tree || (mix && w->index == 1);
    long n = 0;
    pthread_barrier_wait(&start);
    if (tg_thread_attach() < 0) { w->failed = 1; return NULL; }
    while (!atomic_load_explicit(&stop, memory_order_relaxed) && (max_ops < 0 || n < max_ops)) {
        for (int k = 0; k < 64; k++)
            if ((use_tree ? tb_private_graph() : tb_cycle_pair()) < 0) { w->failed = 1; goto out; }
        n += 64;
        tg_safepoint();
    }
out:
    __atomic_store_n(&w->ops, n, __ATOMIC_RELAXED);   /* main polls it (--ops) */
    tg_thread_detach();
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: gc_probe [--threads T] [--seconds S] [--ops N] [--op cycles|tree] [--mix]"
                    " [--threshold T0,T1,T2]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int threads = 1;
    double seconds = 0.5;
    tg_config cfg;
    tg_config_default(&cfg);
    cfg.mode = TG_MODE_FREE_THREADED;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--threads") && v) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--seconds") && v) seconds = atof(argv[++i]);
        else if (!strcmp(a, "--ops") && v) max_ops = atol(argv[++i]);
        else if (!strcmp(a, "--op") && v) { op_tree = !strcmp(v, "tree"); if (!op_tree && strcmp(v, "cycles")) usage(); i++; }
        else if (!strcmp(a, "--mix")) mix = 1;
        else if (!strcmp(a, "--threshold") && v) {
            if (sscanf(argv[++i], "%ld,%ld,%ld", &cfg.gc_threshold[0], &cfg.gc_threshold[1],
                       &cfg.gc_threshold[2]) != 3) usage();
        } else usage();
    }
    if (threads < 1 || threads > MAX_T || seconds <= 0 || (mix && threads < 2)) usage();
    if (tg_init(&cfg) < 0) { fprintf(stderr, "gc_probe: tg_init: %s\n", tg_error_message()); return 1; }

    pthread_t th[MAX_T];
    worker w[MAX_T];
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    tg_tstate *me = tg_release();
    for (int i = 0; i < threads; i++) {
        w[i] = (worker){ .index = i };
        pthread_create(&th[i], NULL, run, &w[i]);
    }
    pthread_barrier_wait(&start);
    double t0 = now_s(), until = t0 + seconds;
    long done = 0;
    while (now_s() < until && (max_ops < 0 || done < threads)) {
        struct timespec nap = { 0, 2000000 };
        nanosleep(&nap, NULL);
        if (max_ops >= 0) {        /* (the workers' own stop: --ops) */
            done = 0;
            for (int i = 0; i < threads; i++) done += __atomic_load_n(&w[i].ops, __ATOMIC_RELAXED) != 0;
        }
    }
    atomic_store(&stop, 1);
    double t1 = now_s();
    long total = 0;
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        total += w[i].ops;
        failed |= w[i].failed;
    }
    tg_reacquire(me);
    if (failed) { fprintf(stderr, "gc_probe: an operation failed: %s\n", tg_error_message()); return 1; }

    double secs = t1 - t0;
    if (mix) {
        printf("T=1 %.2fM ops/s (thread 0, cycles, beside a tree thread)\n", (double)w[0].ops / secs / 1e6);
        tg_fini();
        return 0;
    }
    tg_gc_stats st[3];
    tg_gc_get_stats(st);
    double ops = (double)total, thread_ns = threads * secs * 1e9;
    /* a collection that stops the world costs every thread its pause */
    double g[3] = { (double)st[0].pause_ns_total, (double)st[1].pause_ns_total,
                    (double)st[2].pause_ns_total * threads };
    printf("T=%d %.2fM ops/s (%s)\n", threads, ops / secs / 1e6, op_tree ? "tree" : "cycles");
    printf("  thread ns per op: %.1f = mutator %.1f + gen0 %.1f + gen1 %.1f + gen2 %.1f\n",
           thread_ns / ops, (thread_ns - g[0] - g[1] - g[2]) / ops, g[0] / ops, g[1] / ops, g[2] / ops);
    for (int i = 0; i < 3; i++)
        if (st[i].collections)
            printf("  gen%d: %lu collections, %.2f us each (max %.1f), one per %.0f ops\n", i,
                   (unsigned long)st[i].collections, st[i].pause_ns_total / 1e3 / st[i].collections,
                   st[i].pause_ns_max / 1e3, ops / st[i].collections);
    uint64_t runs, runs1, fallbacks;
    _tg_gc_local_counts(&runs, &runs1, &fallbacks);
    printf("  local collections %lu (of generation 1: %lu), fallbacks %lu\n",
           (unsigned long)runs, (unsigned long)runs1, (unsigned long)fallbacks);
    tg_fini();
    return 0;
}
