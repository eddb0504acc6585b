/*
 * bench/wl_tangle.c — every workload of BENCH.md on tangle, through the public
 * API only (tangle.h). One function per workload; the variant only changes the
 * tg_config given to tg_init.
 *
 * Contracts:
 *   - A call failing with TG_ERR_STATE means the subsystem behind it has not
 *     landed: the cell is reported "not available yet" with the runtime's own
 *     message, never measured around.
 *   - Every figure is checked where it can be: collections must find exactly
 *     the garbage that was made, the shared list must end with every append,
 *     binary-trees must check every node.
 *   - Threads attach after the start barrier (in GIL mode an attached thread
 *     holds the GIL, so waiting attached would deadlock) and call
 *     tg_safepoint() every SAFEPOINT_EVERY ops, as an interpreter's eval loop
 *     would; the main thread waits detached (TG_BEGIN_ALLOW_THREADS).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tangle.h"
#include "bench/bench.h"
#if TB_HAVE_ALLOC_WORKLOADS
#include "bench/alloc_workloads.h"
#endif

#define SAFEPOINT_EVERY 64          /* ops between tg_safepoint() calls in thread loops */
#define MAX_THREADS 64
#define GRAPH_OBJECTS 1000000L      /* gc_full_*, gc_young_old1m: BENCH.md's shape */
#define RING 10                     /* nodes per ring */
#define YOUNG_OBJECTS 1000          /* gc_young: new cyclic objects per collection */

/* Report the calling thread's tangle error on r (TG_ERR_STATE: not landed). */
static int tg_failed(tb_result *r, const char *what)
{
    tg_errcode e = tg_error();
    const char *msg = tg_error_message();
    if (!msg)
        msg = "";
    /* the runtime's message usually names the call already ("tg_init: ...") */
    size_t name_len = strcspn(what, "(");
    if (!strncmp(msg, what, name_len) && msg[name_len] == ':')
        what = "";
    const char *sep = what[0] ? ": " : "";
    if (e == TG_ERR_STATE)
        return tb_result_set(r, TB_NOT_YET, "not available yet: %s%s%s", what, sep, msg);
    return tb_result_set(r, TB_FAILED, "%s%sfailed: %s %s", what, what[0] ? " " : "", tg_errcode_name(e), msg);
}

static int start_runtime(tb_variant v, tb_result *r)
{
    unsetenv("TANGLE_MODE");        /* the variant decides, not the environment */
    tg_config cfg;
    tg_config_default(&cfg);
    cfg.mode = v == TB_V_TANGLE_GIL ? TG_MODE_GIL : TG_MODE_FREE_THREADED;
    cfg.refcount = v == TB_V_TANGLE_FT_ATOMIC ? TG_RC_ATOMIC
                 : v == TB_V_TANGLE_FT ? TG_RC_BIASED : TG_RC_DEFAULT;
    if (tg_init(&cfg) < 0)
        return tg_failed(r, cfg.mode == TG_MODE_GIL ? "tg_init(GIL)" : "tg_init(free-threaded)");
    if (tg_current_mode() != cfg.mode)
        return tb_result_set(r, TB_NOT_YET, "not available yet: tg_init ran in %s mode",
                             tg_current_mode() == TG_MODE_GIL ? "GIL" : "free-threaded");
    if (v == TB_V_TANGLE_FT_ATOMIC && tg_current_refcount() != TG_RC_ATOMIC)
        return tb_result_set(r, TB_NOT_YET, "not available yet: TG_RC_ATOMIC not honoured");
    return 0;
}

static double per_op_ns(double t0, double t1, long n) { return (t1 - t0) * 1e9 / (double)n; }

/* ------------------------------------------------------------ reference counts */

static void rc_private(const tb_params *p, tb_result *r)
{
    long n = p->quick ? 20000000L : 50000000L;
    tg_obj *o = tg_list_new(0);
    if (!o) { tg_failed(r, "tg_list_new"); return; }
    double t0 = tb_now();
    for (long i = 0; i < n; i++) {
        tg_incref(o);
        TB_CLOBBER(o);
        tg_decref(o);
        TB_CLOBBER(o);
    }
    double t1 = tb_now();
    if (tg_refcount(o) != 1) {
        tb_result_set(r, TB_FAILED, "refcount %ld after the loop, expected 1", (long)tg_refcount(o));
        return;
    }
    tg_decref(o);
    tb_result_add(r, "", "ns/op", per_op_ns(t0, t1, n));
}

/* ------------------------------------------------------------ thread harness */

typedef struct harness harness;
typedef int (*op_fn)(harness *h, int tid, uint64_t *rng);   /* 0, or -1 with tg_error set */

struct harness {
    int threads;
    op_fn op;
    long fixed_ops;                 /* > 0: each thread runs exactly this many ops */
    double duration_s;              /* otherwise: run until stopped after this long */
    atomic_int stop;
    pthread_barrier_t start;
    long ops[MAX_THREADS];
    pthread_mutex_t err_lock;
    tb_result err;                  /* first failure of any thread */
    /* shared state of the workloads */
    tg_obj *list, *dict, *key, *keys[10000];
    long nkeys;
    /* stw_latency / gil_handoff samples */
    double *samples;
    long nsamples, max_samples;
    atomic_long last_owner;
    _Atomic double last_time;
    atomic_long sample_idx;
};

typedef struct { harness *h; int tid; } thread_arg;

static void harness_fail(harness *h)
{
    pthread_mutex_lock(&h->err_lock);
    if (h->err.st == TB_OK)
        tg_failed(&h->err, "worker thread");
    pthread_mutex_unlock(&h->err_lock);
    atomic_store(&h->stop, 1);
}

static void *harness_thread(void *arg)
{
    thread_arg *ta = arg;
    harness *h = ta->h;
    int tid = ta->tid;
    uint64_t rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(tid + 1) * 0xBF58476D1CE4E5B9ull;
    long n = 0;
    pthread_barrier_wait(&h->start);
    if (tg_thread_attach() < 0) {
        harness_fail(h);
        return NULL;
    }
    if (h->fixed_ops > 0) {
        while (n < h->fixed_ops) {
            if (h->op(h, tid, &rng) < 0) { harness_fail(h); break; }
            if (++n % SAFEPOINT_EVERY == 0)
                tg_safepoint();
        }
    } else {
        while (!atomic_load_explicit(&h->stop, memory_order_relaxed)) {
            for (int k = 0; k < SAFEPOINT_EVERY; k++)
                if (h->op(h, tid, &rng) < 0) { harness_fail(h); goto out; }
            n += SAFEPOINT_EVERY;
            tg_safepoint();
        }
    }
out:
    h->ops[tid] = n;
    tg_thread_detach();
    return NULL;
}

/* Runs h->threads threads; returns the measured seconds (the main thread waits
   detached). A thread's failure is left in h->err. */
static double harness_run(harness *h)
{
    pthread_t th[MAX_THREADS];
    thread_arg args[MAX_THREADS];
    double t0, t1;
    pthread_barrier_init(&h->start, NULL, (unsigned)h->threads + 1);
    TG_BEGIN_ALLOW_THREADS
    for (int i = 0; i < h->threads; i++) {
        args[i] = (thread_arg){ h, i };
        pthread_create(&th[i], NULL, harness_thread, &args[i]);
    }
    pthread_barrier_wait(&h->start);
    t0 = tb_now();
    if (h->fixed_ops > 0) {
        for (int i = 0; i < h->threads; i++)
            pthread_join(th[i], NULL);
        t1 = tb_now();
    } else {
        double until = t0 + h->duration_s;
        while (!atomic_load(&h->stop) && tb_now() < until) {
            struct timespec ts = { 0, 2000000 };
            nanosleep(&ts, NULL);
        }
        atomic_store(&h->stop, 1);
        t1 = tb_now();
        for (int i = 0; i < h->threads; i++)
            pthread_join(th[i], NULL);
    }
    TG_END_ALLOW_THREADS
    pthread_barrier_destroy(&h->start);
    return t1 - t0;
}

static harness *harness_new(int threads, op_fn op)
{
    harness *h = calloc(1, sizeof *h);
    h->threads = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads;
    h->op = op;
    pthread_mutex_init(&h->err_lock, NULL);
    atomic_store(&h->last_owner, -1);
    return h;
}

static long harness_total(const harness *h)
{
    long t = 0;
    for (int i = 0; i < h->threads; i++)
        t += h->ops[i];
    return t;
}

/* ------------------------------------------------------------ rc_shared */

static int op_rc_shared(harness *h, int tid, uint64_t *rng)
{
    tg_incref(h->list);
    TB_CLOBBER(h->list);
    tg_decref(h->list);
    TB_CLOBBER(h->list);
    return 0;
}

static void rc_shared(const tb_params *p, tb_result *r)
{
    harness *h = harness_new(2, op_rc_shared);
    h->fixed_ops = p->quick ? 4000000L : 10000000L;
    if (!(h->list = tg_list_new(0))) { tg_failed(r, "tg_list_new"); return; }
    double s = harness_run(h);
    if (h->err.st != TB_OK) { *r = h->err; return; }
    if (tg_refcount(h->list) != 1) {
        tb_result_set(r, TB_FAILED, "refcount %ld after the run, expected 1", (long)tg_refcount(h->list));
        return;
    }
    tg_decref(h->list);
    tb_result_add(r, "", "ns/op", s * 1e9 / (double)h->fixed_ops);   /* per thread's pair */
}

/* ------------------------------------------------------------ allocator */

#if TB_HAVE_ALLOC_WORKLOADS
/* The workload's threads attach. In GIL mode they then release the GIL, as
   C code does around work that needs no interpreter state: the allocator's
   heaps are per thread and need no GIL, and a producer spinning on a full
   ring while holding the GIL would never let the consumer in. */
static _Thread_local int attached_here;
static _Thread_local tg_tstate *released_here;
static void alloc_thread_init(void)
{
    if (tg_thread_is_attached() || tg_thread_attach() < 0)
        return;
    attached_here = 1;
    if (tg_current_mode() == TG_MODE_GIL)
        released_here = tg_release();
}
static void alloc_thread_fini(void)
{
    if (!attached_here)
        return;
    if (released_here)
        tg_reacquire(released_here);
    released_here = NULL;
    tg_thread_detach();
    attached_here = 0;
}
#endif

static void alloc_workload(const tb_workload *w, tb_variant v, const tb_params *p, tb_result *r)
{
#if TB_HAVE_ALLOC_WORKLOADS
    bench_allocator a = { tb_variant_name(v), tg_mem_alloc, tg_mem_free,
                          alloc_thread_init, alloc_thread_fini };
    void *probe = tg_mem_alloc(64);
    if (!probe) { tg_failed(r, "tg_mem_alloc"); return; }
    tg_mem_free(probe);
    double ns;
    if (strcmp(w->name, "alloc_churn") == 0) {
        ns = bench_alloc_churn(&a, p->quick ? 4000000L : 10000000L);
    } else {
        /* the producer and consumer threads attach themselves: let them run */
        TG_BEGIN_ALLOW_THREADS
        ns = bench_alloc_prodcons(&a, p->quick ? 400000L : 1000000L);
        TG_END_ALLOW_THREADS
    }
    if (!(ns > 0)) { tb_result_set(r, TB_FAILED, "%s returned %g", w->name, ns); return; }
    tb_result_add(r, "", "ns/op", ns);
#else
    (void)w; (void)v; (void)p;
    tb_result_set(r, TB_NOT_YET, "not available yet: bench/alloc_workloads.c (allocator issue) not present");
#endif
}

/* ------------------------------------------------------------ objects */

static void obj_new_del(const tb_workload *w, const tb_params *p, tb_result *r)
{
    long n = p->quick ? 5000000L : 10000000L;
    tg_obj *one = tg_int(1), *two = tg_int(2);
    if (!one || !two) { tg_failed(r, "tg_int"); return; }
    int kind = strcmp(w->name, "obj_list_new_del") == 0 ? 0
             : strcmp(w->name, "obj_tuple2_new_del") == 0 ? 1 : 2;
    double t0 = tb_now();
    for (long i = 0; i < n; i++) {
        tg_obj *o = kind == 0 ? tg_list_new(0) : kind == 1 ? tg_tuple(2, one, two) : tg_int(100000);
        if (!o) { tg_failed(r, w->name); return; }
        tg_decref(o);
    }
    double t1 = tb_now();
    tb_result_add(r, "", "ns/op", per_op_ns(t0, t1, n));
}

/* 1M distinct ints 0..999999 (0..256 are the cached small ints) */
static tg_obj **make_ints(long n, tb_result *r)
{
    tg_obj **v = malloc((size_t)n * sizeof *v);
    for (long i = 0; i < n; i++)
        if (!(v[i] = tg_int(i))) {
            tg_failed(r, "tg_int");
            return NULL;
        }
    return v;
}

static void drop_all(tg_obj **v, long n)
{
    for (long i = 0; i < n; i++)
        tg_decref(v[i]);
    free(v);
}

static void obj_list_append(const tb_params *p, tb_result *r)
{
    const long n = 1000000L;
    int passes = p->quick ? 3 : 10;
    tg_obj **ints = make_ints(n, r);
    if (!ints) return;
    double total = 0;
    for (int k = 0; k < passes; k++) {
        tg_obj *l = tg_list_new(0);
        if (!l) { tg_failed(r, "tg_list_new"); return; }
        double t0 = tb_now();
        for (long i = 0; i < n; i++)
            if (tg_list_append(l, ints[i]) < 0) { tg_failed(r, "tg_list_append"); return; }
        total += tb_now() - t0;
        if ((long)tg_list_len(l) != n) {
            tb_result_set(r, TB_FAILED, "list length %zu, expected %ld", tg_list_len(l), n);
            return;
        }
        tg_decref(l);
    }
    drop_all(ints, n);
    tb_result_add(r, "", "ns/op", total * 1e9 / ((double)n * passes));
}

static void obj_dict(const tb_workload *w, const tb_params *p, tb_result *r)
{
    const long n = 1000000L;
    int get = strcmp(w->name, "obj_dict_get") == 0;
    int passes = get ? (p->quick ? 3 : 8) : (p->quick ? 2 : 4);
    tg_obj **keys = make_ints(n, r);
    if (!keys) return;
    double total = 0;
    tg_obj *d = NULL;
    for (int k = 0; k < passes; k++) {
        if (!get || !d) {
            if (d) tg_decref(d);
            if (!(d = tg_dict_new())) { tg_failed(r, "tg_dict_new"); return; }
            double t0 = tb_now();
            for (long i = 0; i < n; i++)
                if (tg_dict_set(d, keys[i], keys[i]) < 0) { tg_failed(r, "tg_dict_set"); return; }
            if (!get)
                total += tb_now() - t0;
            if ((long)tg_dict_len(d) != n) {
                tb_result_set(r, TB_FAILED, "dict length %zu, expected %ld", tg_dict_len(d), n);
                return;
            }
        }
        if (get) {
            double t0 = tb_now();
            for (long i = 0; i < n; i++) {
                tg_obj *v = tg_dict_get(d, keys[i]);
                if (v != keys[i]) { tg_failed(r, "tg_dict_get"); return; }
                tg_decref(v);
            }
            total += tb_now() - t0;
        }
    }
    tg_decref(d);
    drop_all(keys, n);
    tb_result_add(r, "", "ns/op", total * 1e9 / ((double)n * passes));
}

/* ------------------------------------------------------------ collector */

/* `objects` nodes in rings of RING: each node a 1-element list holding the
   next. With keep, the first node of every ring is appended to keep. */
static int build_rings(long objects, tg_obj *keep, tb_result *r)
{
    for (long k = 0; k < objects / RING; k++) {
        tg_obj *node[RING];
        for (int j = 0; j < RING; j++)
            if (!(node[j] = tg_list_new(1))) return tg_failed(r, "tg_list_new");
        for (int j = 0; j < RING; j++)
            if (tg_list_append(node[j], node[(j + 1) % RING]) < 0)
                return tg_failed(r, "tg_list_append");
        if (keep && tg_list_append(keep, node[0]) < 0)
            return tg_failed(r, "tg_list_append");
        for (int j = 0; j < RING; j++)
            tg_decref(node[j]);
    }
    return 0;
}

/* a collection of `gen`, checking that it found `expect` unreachable objects */
static int collect_checked(int gen, long expect, double *seconds, tb_result *r)
{
    double t0 = tb_now();
    intptr_t n = tg_gc_collect(gen);
    double t1 = tb_now();
    if (n < 0)
        return tg_failed(r, "tg_gc_collect");
    if (expect >= 0 && n != expect)
        return tb_result_set(r, TB_FAILED, "tg_gc_collect(%d) found %ld unreachable objects, expected %ld",
                             gen, (long)n, expect);
    if (seconds)
        *seconds = t1 - t0;
    return 0;
}

static void gc_full(int reachable, tb_result *r)
{
    tg_gc_disable();                     /* the graph is built without automatic collections */
    if (collect_checked(-1, -1, NULL, r) < 0) return;
    tg_obj *keep = NULL;
    if (reachable && !(keep = tg_list_new(0))) { tg_failed(r, "tg_list_new"); return; }
    if (build_rings(GRAPH_OBJECTS, keep, r) < 0) return;
    double s;
    if (collect_checked(-1, reachable ? 0 : GRAPH_OBJECTS, &s, r) < 0) return;
    tb_result_add(r, "", "ns/obj", s * 1e9 / (double)GRAPH_OBJECTS);
}

static void gc_young(int old1m, const tb_params *p, tb_result *r)
{
    int iterations = p->quick ? 300 : 1000;
    tg_gc_disable();
    if (collect_checked(-1, -1, NULL, r) < 0) return;
    if (old1m) {
        tg_obj *keep = tg_list_new(0);
        if (!keep) { tg_failed(r, "tg_list_new"); return; }
        if (build_rings(GRAPH_OBJECTS, keep, r) < 0) return;
        /* a full collection moves the survivors to the oldest generation */
        if (collect_checked(-1, 0, NULL, r) < 0) return;
    }
    double total = 0, s;
    for (int i = 0; i < iterations; i++) {
        if (build_rings(YOUNG_OBJECTS, NULL, r) < 0) return;
        if (collect_checked(0, YOUNG_OBJECTS, &s, r) < 0) return;
        total += s;
    }
    tb_result_add(r, "", "us", total * 1e6 / iterations);
}

/* ------------------------------------------------------------ binarytrees */

static tg_obj *bt_make(int depth, tg_obj *none)
{
    if (depth == 0)
        return tg_tuple(2, none, none);
    tg_obj *l = bt_make(depth - 1, none);
    tg_obj *rr = l ? bt_make(depth - 1, none) : NULL;
    tg_obj *t = rr ? tg_tuple(2, l, rr) : NULL;
    tg_xdecref(l);
    tg_xdecref(rr);
    return t;
}

static long bt_check(tg_obj *t, tg_obj *none)
{
    /* `l, r = node`: the API returns new references, as unpacking takes them */
    tg_obj *l = tg_tuple_get(t, 0), *rr = tg_tuple_get(t, 1);
    if (!l || !rr) return -1000000000L;
    long n = 1;
    if (l != none)
        n += bt_check(l, none) + bt_check(rr, none);
    tg_decref(l);
    tg_decref(rr);
    return n;
}

static void binarytrees(tb_result *r)
{
    const int min_depth = 4, max_depth = TB_BT_DEPTH;
    tg_obj *none = tg_none();
    long checked = 0;
    double t0 = tb_now();
    tg_obj *stretch = bt_make(max_depth + 1, none);
    if (!stretch) { tg_failed(r, "tg_tuple"); return; }
    checked += bt_check(stretch, none);
    tg_decref(stretch);
    tg_obj *long_lived = bt_make(max_depth, none);
    if (!long_lived) { tg_failed(r, "tg_tuple"); return; }
    for (int d = min_depth; d <= max_depth; d += 2) {
        long iterations = 1L << (max_depth - d + min_depth);
        for (long i = 0; i < iterations; i++) {
            tg_obj *t = bt_make(d, none);
            if (!t) { tg_failed(r, "tg_tuple"); return; }
            checked += bt_check(t, none);
            tg_decref(t);
        }
    }
    checked += bt_check(long_lived, none);
    tg_decref(long_lived);
    double t1 = tb_now();
    if (checked != tb_binarytrees_expected(max_depth)) {
        tb_result_set(r, TB_FAILED, "binarytrees checked %ld nodes, expected %ld",
                      checked, tb_binarytrees_expected(max_depth));
        return;
    }
    tb_result_add(r, "", "s", t1 - t0);
}

/* ------------------------------------------------------------ memory_1m */

static void memory_1m(tb_result *r)
{
    const long n = 1000000L;
    tg_obj **lists = calloc((size_t)n, sizeof *lists);
    tg_obj **dicts = calloc((size_t)n, sizeof *dicts);
    tg_obj **ints = calloc((size_t)n, sizeof *ints);
    memset(lists, 1, (size_t)n * sizeof *lists);    /* fault the holders in before measuring */
    memset(dicts, 1, (size_t)n * sizeof *dicts);
    memset(ints, 1, (size_t)n * sizeof *ints);
    tg_obj *k[3] = { tg_str_intern("a"), tg_str_intern("b"), tg_str_intern("c") };
    tg_obj *v[3] = { tg_int(1), tg_int(2), tg_int(3) };
    for (int i = 0; i < 3; i++)
        if (!k[i] || !v[i]) { tg_failed(r, "tg_str_intern/tg_int"); return; }
    long rss0 = tb_rss_bytes();
    for (long i = 0; i < n; i++)
        if (!(lists[i] = tg_list_new(0))) { tg_failed(r, "tg_list_new"); return; }
    long rss1 = tb_rss_bytes();
    for (long i = 0; i < n; i++) {
        if (!(dicts[i] = tg_dict_new())) { tg_failed(r, "tg_dict_new"); return; }
        for (int j = 0; j < 3; j++)
            if (tg_dict_set(dicts[i], k[j], v[j]) < 0) { tg_failed(r, "tg_dict_set"); return; }
    }
    long rss2 = tb_rss_bytes();
    for (long i = 0; i < n; i++)
        if (!(ints[i] = tg_int(1000000 + i))) { tg_failed(r, "tg_int"); return; }
    long rss3 = tb_rss_bytes();
    tb_result_add(r, "", "B/obj", (double)(rss1 - rss0) / (double)n);
    tb_result_add(r, "dict3", "B/obj", (double)(rss2 - rss1) / (double)n);
    tb_result_add(r, "int", "B/obj", (double)(rss3 - rss2) / (double)n);
}

/* ------------------------------------------------------------ scaling rows */

/* The scaling rows' operations on their own (bench.h: gc/bench's probe
   runs them too). */
int tb_private_graph(void)
{
    tg_obj *root = tg_list_new(3);
    if (!root) return -1;
    for (int i = 0; i < 3; i++) {
        tg_obj *sub = tg_list_new(2);
        if (!sub) { tg_decref(root); return -1; }
        for (int j = 0; j < 2; j++) {
            tg_obj *x = tg_int(100000 + 2 * i + j);
            if (!x || tg_list_append(sub, x) < 0) { tg_xdecref(x); tg_decref(sub); tg_decref(root); return -1; }
            tg_decref(x);
        }
        int rc = tg_list_append(root, sub);
        tg_decref(sub);
        if (rc < 0) { tg_decref(root); return -1; }
    }
    tg_decref(root);
    return 0;
}

int tb_cycle_pair(void)
{
    tg_obj *a = tg_list_new(1), *b = tg_list_new(1);
    int rc = (a && b && tg_list_append(a, b) == 0 && tg_list_append(b, a) == 0) ? 0 : -1;
    tg_xdecref(a);
    tg_xdecref(b);
    return rc;
}

static int op_private_graph(harness *h, int tid, uint64_t *rng) { return tb_private_graph(); }

static int op_list_append_shared(harness *h, int tid, uint64_t *rng)
{
    return tg_list_append(h->list, h->key);
}

static int op_dict_read_shared(harness *h, int tid, uint64_t *rng)
{
    tg_obj *v = tg_dict_get(h->dict, h->key);
    if (!v) return -1;
    tg_decref(v);
    return 0;
}

static int op_dict_mixed(harness *h, int tid, uint64_t *rng)
{
    uint64_t x = tb_xorshift(rng);
    tg_obj *k = h->keys[x % (uint64_t)h->nkeys];
    if ((x >> 32) % 10 == 0) {
        if ((x >> 40) & 1)
            return tg_dict_set(h->dict, k, k);
        if (tg_dict_del(h->dict, k) < 0) {
            if (tg_error() != TG_ERR_KEY) return -1;
            tg_error_clear();
        }
        return 0;
    }
    tg_obj *v = tg_dict_get(h->dict, k);
    if (v) {
        tg_decref(v);
        return 0;
    }
    if (tg_error() != TG_ERR_KEY) return -1;
    tg_error_clear();
    return 0;
}

static int op_cycle(harness *h, int tid, uint64_t *rng) { return tb_cycle_pair(); }

static void scaling(const tb_workload *w, const tb_params *p, tb_result *r)
{
    const char *name = w->name;
    double duration = p->quick ? 0.25 : 0.5;
    harness *h;
    if (strcmp(name, "scale_private") == 0) {
        h = harness_new(p->threads, op_private_graph);
    } else if (strcmp(name, "scale_list_append_shared") == 0) {
        h = harness_new(p->threads, op_list_append_shared);
        h->fixed_ops = p->quick ? 1000000L : 2000000L;
        if (!(h->list = tg_list_new(0)) || !(h->key = tg_int(1))) { tg_failed(r, "setup"); return; }
    } else if (strcmp(name, "scale_dict_read_shared") == 0) {
        h = harness_new(p->threads, op_dict_read_shared);
        tg_obj *value = tg_list_new(0);   /* an ordinary (mortal) value, owned by this thread */
        if (!value || !(h->dict = tg_dict_new()) || !(h->key = tg_str("shared_key"))
            || tg_dict_set(h->dict, h->key, value) < 0) { tg_failed(r, "setup"); return; }
        tg_decref(value);
    } else if (strcmp(name, "scale_dict_mixed") == 0) {
        h = harness_new(p->threads, op_dict_mixed);
        h->nkeys = 10000;
        if (!(h->dict = tg_dict_new())) { tg_failed(r, "tg_dict_new"); return; }
        for (long i = 0; i < h->nkeys; i++)
            if (!(h->keys[i] = tg_int(i)) || tg_dict_set(h->dict, h->keys[i], h->keys[i]) < 0) {
                tg_failed(r, "setup");
                return;
            }
    } else {
        h = harness_new(p->threads, op_cycle);
    }
    h->duration_s = duration;
    double s = harness_run(h);
    if (h->err.st != TB_OK) { *r = h->err; return; }
    long total = harness_total(h);
    if (h->list && (long)tg_list_len(h->list) != total) {
        tb_result_set(r, TB_FAILED, "shared list has %zu items after %ld appends",
                      tg_list_len(h->list), total);
        return;
    }
    tb_result_add(r, "", "ops/s", (double)total / s);
    if (strcmp(name, "scale_cycles") == 0)
        tb_result_add(r, "peak_rss", "MiB", (double)tb_peak_rss_bytes() / 1048576.0);
}

/* stw_latency: thread 0 stops the world every WORK_BETWEEN ops (on average)
   and times tg_stop_the_world(), which returns once every other attached
   thread is parked: request -> all stopped. The others keep running
   private-graph ops, reaching safepoints as the runtime's calls do. */
#define WORK_BETWEEN 500
static int op_stw(harness *h, int tid, uint64_t *rng)
{
    if (op_private_graph(h, tid, rng) < 0) return -1;
    if (tid != 0 || tb_xorshift(rng) % WORK_BETWEEN != 0) return 0;
    double t0 = tb_now();
    if (tg_stop_the_world() < 0) return -1;
    double t1 = tb_now();
    tg_start_the_world();
    long i = atomic_fetch_add(&h->sample_idx, 1);
    if (i < h->max_samples)
        h->samples[i] = (t1 - t0) * 1e6;
    else
        atomic_store(&h->stop, 1);
    return 0;
}

static void stw_latency(const tb_params *p, tb_result *r)
{
    harness *h = harness_new(p->threads, op_stw);
    h->max_samples = p->quick ? 200 : 500;
    h->samples = calloc((size_t)h->max_samples, sizeof *h->samples);
    h->duration_s = p->quick ? 2.0 : 4.0;      /* a cap; normally ends at max_samples */
    harness_run(h);
    if (h->err.st != TB_OK) { *r = h->err; return; }
    long n = atomic_load(&h->sample_idx);
    if (n > h->max_samples) n = h->max_samples;
    if (n < 10) { tb_result_set(r, TB_FAILED, "only %ld stop-the-world samples", n); return; }
    tb_result_add(r, "", "us", tb_percentile(h->samples, (size_t)n, 0.50));
    tb_result_add(r, "p99", "us", tb_percentile(h->samples, (size_t)n, 0.99));
}

/* gil_handoff: 2 CPU-bound threads; a hand-off is seen by the thread that runs
   next: the gap between the other thread's last op and its own first op. */
static int op_handoff(harness *h, int tid, uint64_t *rng)
{
    tg_obj *o = tg_int(100000);
    if (!o) return -1;
    tg_decref(o);
    double now = tb_now();
    long prev = atomic_load_explicit(&h->last_owner, memory_order_relaxed);
    if (prev != tid && prev != -1) {
        long i = atomic_fetch_add(&h->sample_idx, 1);
        if (i < h->max_samples)
            h->samples[i] = (now - atomic_load(&h->last_time)) * 1e6;
    }
    atomic_store_explicit(&h->last_owner, tid, memory_order_relaxed);
    atomic_store(&h->last_time, now);
    return 0;
}

static void gil_handoff(const tb_params *p, tb_result *r)
{
    harness *h = harness_new(2, op_handoff);
    h->max_samples = 100000;
    h->samples = calloc((size_t)h->max_samples, sizeof *h->samples);
    h->duration_s = p->quick ? 0.5 : 1.0;
    double s = harness_run(h);
    if (h->err.st != TB_OK) { *r = h->err; return; }
    long n = atomic_load(&h->sample_idx);
    long total = harness_total(h);
    if (n < 2 || total == 0) {
        tb_result_set(r, TB_FAILED, "no GIL hand-off in %.1f s (ops per thread: %ld, %ld)",
                      s, h->ops[0], h->ops[1]);
        return;
    }
    if (n > h->max_samples) n = h->max_samples;
    double share = (double)(h->ops[0] < h->ops[1] ? h->ops[0] : h->ops[1]) / (double)total;
    double per_s = (double)atomic_load(&h->sample_idx) / s;
    tb_result_add(r, "", "us", tb_percentile(h->samples, (size_t)n, 0.50));
    tb_result_add(r, "p99", "us", tb_percentile(h->samples, (size_t)n, 0.99));
    tb_result_add(r, "share_min", "fraction", share);
    tb_result_add(r, "handoffs", "1/s", per_s);
}

/* ------------------------------------------------------------ dispatch */

void tb_run_tangle(const tb_workload *w, tb_variant v, const tb_params *p, tb_result *r)
{
    if (start_runtime(v, r) < 0)
        return;
    const char *n = w->name;
    if (!strcmp(n, "rc_private")) rc_private(p, r);
    else if (!strcmp(n, "rc_shared")) rc_shared(p, r);
    else if (!strncmp(n, "alloc_", 6)) alloc_workload(w, v, p, r);
    else if (!strcmp(n, "obj_list_append")) obj_list_append(p, r);
    else if (!strncmp(n, "obj_dict_", 9)) obj_dict(w, p, r);
    else if (!strncmp(n, "obj_", 4)) obj_new_del(w, p, r);
    else if (!strcmp(n, "gc_full_unreachable")) gc_full(0, r);
    else if (!strcmp(n, "gc_full_reachable")) gc_full(1, r);
    else if (!strcmp(n, "gc_young")) gc_young(0, p, r);
    else if (!strcmp(n, "gc_young_old1m")) gc_young(1, p, r);
    else if (!strcmp(n, "binarytrees")) binarytrees(r);
    else if (!strcmp(n, "memory_1m")) memory_1m(r);
    else if (!strcmp(n, "stw_latency")) stw_latency(p, r);
    else if (!strcmp(n, "gil_handoff")) gil_handoff(p, r);
    else if (!strncmp(n, "scale_", 6)) scaling(w, p, r);
    else tb_result_set(r, TB_FAILED, "no tangle implementation of %s", n);
    /* the worker exits right after reporting: tg_fini's cost is not measured
       and a leak check is the tests' job, not the benchmark's */
}
