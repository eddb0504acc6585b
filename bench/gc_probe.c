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
 *            [--neighbour KIND] [--mix] [--threshold T0,T1,T2]
 *
 * --neighbour KIND: thread 1 runs KIND instead while the others run
 * `cycles`; the figure reported is thread 0's ops/s — what a collecting
 * thread keeps beside a neighbour that does KIND:
 *   spin   a loop over 32 KiB of its own in C, not attached
 *   idle   attached, passing safepoints only
 *   mem    tg_mem_alloc / tg_mem_free of 64 bytes (the allocator only)
 *   memchurn keep 600 blocks of 64 bytes, then free them (the allocator
 *          only, churn's pattern)
 *   glibcchurn the same with glibc's malloc and free
 *   int    make and drop an int object (not a container)
 *   list   make and drop an empty list (tracked, freed by its count)
 *   tree   scale_private's graph (containers, acyclic: no collections)
 *   churn  keep 600 empty lists, then drop them (under threshold[0]: no automatic collection; cycles' allocation
 *          pattern; freed by their counts, no collection)
 *   walk   churn, with a local young collection of the 600 live lists
 *          before each drop (the collector's walk, nothing to free)
 *   cycles the same as thread 0 (its cyclic garbage is collected)
 * --mix is --neighbour tree.
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
#include "alloc/alloc.h"

enum { MAX_T = 64 };
static atomic_int stop;
static pthread_barrier_t start;
enum nb_kind { NB_NONE, NB_SPIN, NB_IDLE, NB_MEM, NB_MEMCHURN, NB_GLIBCCHURN, NB_INT, NB_LIST, NB_TREE, NB_CHURN, NB_WALK, NB_CYCLES };
static const char *const nb_names[] = { "", "spin", "idle", "mem", "memchurn", "glibcchurn", "int", "list", "tree", "churn", "walk", "cycles" };
extern intptr_t _tg_gc_collect_local(void);
static int op_tree, neighbour;
enum { CHURN_MAX = 4096 };
static int churn_n = 600;              /* --churn N: the kept set of churn, walk, memchurn, glibcchurn */
static volatile uint64_t nb_sink;      /* written once, at the end */
static _Thread_local volatile uint64_t nb_count;   /* --neighbour idle: its own line */
static long max_ops = -1;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct { int index; long ops; int failed; } worker;

/* --neighbour spin: xorshift stores over a private 32 KiB, no runtime */
static void spin_loop(void)
{
    static _Thread_local uint64_t buf[4096];
    uint64_t x = 88172645463325252u;
    while (!atomic_load_explicit(&stop, memory_order_relaxed))
        for (int k = 0; k < 4096; k++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            buf[x & 4095] += x;
        }
    nb_sink = buf[x & 4095];
}

/* The churn kinds: keep what make() returns until churn_n are kept, then
   drop() them all (walk: a local young collection of the kept set first). */
static void *make_list(void) { return tg_list_new(0); }
static void drop_obj(void *o) { tg_decref(o); }
static void *make_block(void) { return tg_mem_alloc(64); }
static void *make_malloc(void) { return malloc(64); }
static int churn_step(void *(*make)(void), void (*drop)(void *), bool collect)
{
    static _Thread_local void *kept[CHURN_MAX];
    static _Thread_local int n;
    if (!(kept[n++] = make())) return -1;
    if (n < churn_n) return 0;
    if (collect) _tg_gc_collect_local();   /* -1 while a collection of the generations runs: skipped */
    for (int i = 0; i < churn_n; i++) drop(kept[i]);
    n = 0;
    return 0;
}

/* One operation of thread 1 under --neighbour (attached kinds). */
static int neighbour_op(int k)
{
    switch (neighbour) {
    case NB_IDLE: nb_count++; return 0;
    case NB_MEM: { void *m = tg_mem_alloc(64); if (!m) return -1; tg_mem_free(m); return 0; }
    case NB_MEMCHURN: return churn_step(make_block, tg_mem_free, false);
    case NB_GLIBCCHURN: return churn_step(make_malloc, free, false);
    case NB_INT: { tg_obj *o = tg_int(1000000 + k); if (!o) return -1; tg_decref(o); return 0; }
    case NB_LIST: { tg_obj *o = tg_list_new(0); if (!o) return -1; tg_decref(o); return 0; }
    case NB_TREE: return tb_private_graph();
    case NB_CHURN: return churn_step(make_list, drop_obj, false);
    case NB_WALK: return churn_step(make_list, drop_obj, true);
    default: return tb_cycle_pair();
    }
}

static void *run(void *arg)
{
    worker *w = arg;
    bool nb = neighbour && w->index == 1;
    long n = 0;
    pthread_barrier_wait(&start);
    if (nb && neighbour == NB_SPIN) { spin_loop(); return NULL; }
    if (tg_thread_attach() < 0) { w->failed = 1; return NULL; }
    while (!atomic_load_explicit(&stop, memory_order_relaxed) && (max_ops < 0 || n < max_ops)) {
        for (int k = 0; k < 64; k++)
            if ((nb ? neighbour_op(k) : op_tree ? tb_private_graph() : tb_cycle_pair()) < 0) {
                w->failed = 1;
                goto out;
            }
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
    fprintf(stderr, "usage: gc_probe [--threads T] [--seconds S] [--ops N] [--op cycles|tree]"
                    " [--neighbour spin|idle|mem|memchurn|glibcchurn|int|list|tree|churn|walk|cycles] [--churn N] [--mix] [--threshold T0,T1,T2]\n");
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
        else if (!strcmp(a, "--mix")) neighbour = NB_TREE;
        else if (!strcmp(a, "--churn") && v) { churn_n = atoi(argv[++i]); if (churn_n < 1 || churn_n > CHURN_MAX) usage(); }
        else if (!strcmp(a, "--neighbour") && v) {
            neighbour = NB_NONE;
            for (int k = NB_SPIN; k <= NB_CYCLES; k++) if (!strcmp(v, nb_names[k])) neighbour = k;
            if (neighbour == NB_NONE) usage();
            i++;
        }
        else if (!strcmp(a, "--threshold") && v) {
            if (sscanf(argv[++i], "%ld,%ld,%ld", &cfg.gc_threshold[0], &cfg.gc_threshold[1],
                       &cfg.gc_threshold[2]) != 3) usage();
        } else usage();
    }
    if (threads < 1 || threads > MAX_T || seconds <= 0 || (neighbour && (threads < 2 || op_tree))) usage();
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
    if (neighbour) {
        printf("T=1 %.2fM ops/s (thread 0, cycles; thread 1: %s)\n", (double)w[0].ops / secs / 1e6,
               nb_names[neighbour]);
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
    _tg_alloc_counters ac;
    _tg_alloc_get_counters(&ac);
    printf("  allocator: remote frees %zu, pools adopted %zu\n", ac.remote_frees, ac.pools_adopted);
    tg_fini();
    return 0;
}
