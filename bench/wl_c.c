/*
 * bench/wl_c.c — the plain-C baselines: c-plain and c-atomic reference counts,
 * glibc malloc and mimalloc (alloc_churn, alloc_prodcons, binarytrees; glibc
 * as the machine's reference for scale_private and scale_cycles).
 *
 * mimalloc is dlopen'ed (RTLD_LOCAL) in the mimalloc worker only, never
 * linked: Debian's libmimalloc.so exports malloc/free, so linking it would
 * silently turn every other variant's malloc — glibc's baseline included —
 * into mimalloc.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#if TB_HAVE_ALLOC_WORKLOADS
#include "bench/alloc_workloads.h"
#endif

int tb_have_mimalloc(void) { return TB_HAVE_MIMALLOC; }
int tb_have_alloc_workloads(void) { return TB_HAVE_ALLOC_WORKLOADS; }

/* ------------------------------------------------------------ allocators */

typedef struct c_alloc {
    void *(*alloc)(size_t);
    void (*free)(void *);
} c_alloc;

static int load_allocator(tb_variant v, c_alloc *a, tb_result *r)
{
    if (v == TB_V_GLIBC) {
        a->alloc = malloc;
        a->free = free;
        return 0;
    }
#if TB_HAVE_MIMALLOC
    void *h = dlopen(TB_MIMALLOC_PATH, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return tb_result_set(r, TB_NO_BASELINE, "mimalloc: %s", dlerror());
    *(void **)&a->alloc = dlsym(h, "mi_malloc");
    *(void **)&a->free = dlsym(h, "mi_free");
    if (!a->alloc || !a->free)
        return tb_result_set(r, TB_NO_BASELINE, "mimalloc: mi_malloc/mi_free not found");
    return 0;
#else
    return tb_result_set(r, TB_NO_BASELINE,
                         "baseline unavailable: libmimalloc-dev missing at configure time");
#endif
}

/* ------------------------------------------------------------ rc_private */

typedef struct c_obj { long rc; long pad[3]; } c_obj;

static void rc_private_plain(long n, tb_result *r)
{
    c_obj *o = calloc(1, sizeof *o);
    o->rc = 1;
    double t0 = tb_now();
    for (long i = 0; i < n; i++) {
        o->rc++;
        TB_CLOBBER(o);
        if (--o->rc == 0)
            abort();
        TB_CLOBBER(o);
    }
    double t1 = tb_now();
    free(o);
    tb_result_add(r, "", "ns/op", (t1 - t0) * 1e9 / (double)n);
}

static void rc_private_atomic(long n, tb_result *r)
{
    c_obj *o = calloc(1, sizeof *o);
    o->rc = 1;
    double t0 = tb_now();
    for (long i = 0; i < n; i++) {
        __atomic_fetch_add(&o->rc, 1, __ATOMIC_RELAXED);
        if (__atomic_sub_fetch(&o->rc, 1, __ATOMIC_ACQ_REL) == 0)
            abort();
    }
    double t1 = tb_now();
    free(o);
    tb_result_add(r, "", "ns/op", (t1 - t0) * 1e9 / (double)n);
}

/* ------------------------------------------------------------ rc_shared */

typedef struct shared_ctx {
    c_obj *o;
    long n;
    pthread_barrier_t start;
} shared_ctx;

static void *rc_shared_thread(void *arg)
{
    shared_ctx *c = arg;
    c_obj *o = c->o;
    pthread_barrier_wait(&c->start);
    for (long i = 0; i < c->n; i++) {
        __atomic_fetch_add(&o->rc, 1, __ATOMIC_RELAXED);
        if (__atomic_sub_fetch(&o->rc, 1, __ATOMIC_ACQ_REL) == 0)
            abort();
    }
    return NULL;
}

static void rc_shared_atomic(int threads, long n, tb_result *r)
{
    shared_ctx c = { .o = aligned_alloc(64, 64), .n = n };
    c.o->rc = 1;
    pthread_t th[64];
    pthread_barrier_init(&c.start, NULL, (unsigned)threads + 1);
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, rc_shared_thread, &c);
    pthread_barrier_wait(&c.start);
    double t0 = tb_now();
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double t1 = tb_now();
    pthread_barrier_destroy(&c.start);
    free(c.o);
    tb_result_add(r, "", "ns/op", (t1 - t0) * 1e9 / (double)n);
}

/* ------------------------------------------------------------ binarytrees */

typedef struct bt_node { struct bt_node *l, *r; } bt_node;

static bt_node *bt_make(const c_alloc *a, int depth)
{
    bt_node *n = a->alloc(sizeof *n);
    if (depth > 0) {
        n->l = bt_make(a, depth - 1);
        n->r = bt_make(a, depth - 1);
    } else {
        n->l = n->r = NULL;
    }
    return n;
}

static long bt_check(const bt_node *n)
{
    return 1 + (n->l ? bt_check(n->l) + bt_check(n->r) : 0);
}

static void bt_free(const c_alloc *a, bt_node *n)
{
    if (n->l) {
        bt_free(a, n->l);
        bt_free(a, n->r);
    }
    a->free(n);
}

static void binarytrees(const c_alloc *a, tb_result *r)
{
    const int min_depth = 4, max_depth = TB_BT_DEPTH;
    long checked = 0;
    double t0 = tb_now();
    bt_node *stretch = bt_make(a, max_depth + 1);
    checked += bt_check(stretch);
    bt_free(a, stretch);
    bt_node *long_lived = bt_make(a, max_depth);
    for (int d = min_depth; d <= max_depth; d += 2) {
        long iterations = 1L << (max_depth - d + min_depth);
        for (long i = 0; i < iterations; i++) {
            bt_node *t = bt_make(a, d);
            checked += bt_check(t);
            bt_free(a, t);
        }
    }
    checked += bt_check(long_lived);
    bt_free(a, long_lived);
    double t1 = tb_now();
    if (checked != tb_binarytrees_expected(max_depth)) {
        tb_result_set(r, TB_FAILED, "binarytrees checked %ld nodes, expected %ld",
                      checked, tb_binarytrees_expected(max_depth));
        return;
    }
    tb_result_add(r, "", "s", t1 - t0);
}

/* ------------------------------------------------------------ scaling rows

   The machine's reference for scale_private and scale_cycles: the same
   allocation shape with no runtime, on T threads for the same time —
   scale_private's graph (a 3-list of 2-lists of fresh ints) as malloc'ed
   nodes with item arrays and plain reference counts; scale_cycles' two
   lists that refer to each other, linked and then freed at once (no
   collector to find them). Nothing is shared between the threads, so what
   the T=2 row reaches is what this machine gives two threads of
   allocation-bound code at that moment: on a shared VM the tangle rows'
   speedups are read against it. */

typedef struct c_node { long rc, n, cap; struct c_node **items; long value; } c_node;

typedef struct c_scale {
    const c_alloc *a;
    int cycles;
    atomic_int stop, failed;
    pthread_barrier_t start;
    long ops[64];
} c_scale;

static c_node *node_new(const c_alloc *a, long cap)
{
    c_node *o = a->alloc(sizeof *o);
    if (!o) return NULL;
    o->rc = 1;
    o->n = 0;
    o->cap = cap;
    o->value = 0;
    o->items = NULL;
    if (cap && !(o->items = a->alloc((size_t)cap * sizeof *o->items))) {
        a->free(o);
        return NULL;
    }
    return o;
}

static void node_decref(const c_alloc *a, c_node *o)
{
    if (--o->rc) return;
    for (long i = 0; i < o->n; i++) node_decref(a, o->items[i]);
    a->free(o->items);
    a->free(o);
}

static void node_append(c_node *l, c_node *x)
{
    l->items[l->n++] = x;                   /* capacities are exact here */
    x->rc++;
}

static int private_graph(const c_alloc *a)
{
    c_node *root = node_new(a, 3);
    if (!root) return -1;
    for (int i = 0; i < 3; i++) {
        c_node *sub = node_new(a, 2);
        if (!sub) { node_decref(a, root); return -1; }
        for (int j = 0; j < 2; j++) {
            c_node *x = node_new(a, 0);
            if (!x) { node_decref(a, sub); node_decref(a, root); return -1; }
            x->value = 100000 + 2 * i + j;
            node_append(sub, x);
            node_decref(a, x);
        }
        node_append(root, sub);
        node_decref(a, sub);
    }
    TB_CLOBBER(root);
    node_decref(a, root);
    return 0;
}

static int cycle_pair(const c_alloc *a)
{
    c_node *x = node_new(a, 1), *y = node_new(a, 1);
    if (!x || !y) {
        if (x) { a->free(x->items); a->free(x); }
        if (y) { a->free(y->items); a->free(y); }
        return -1;
    }
    node_append(x, y);
    node_append(y, x);
    TB_CLOBBER(x);
    x->n = y->n = 0;                         /* what a collector does: break, free both */
    a->free(x->items); a->free(x);
    a->free(y->items); a->free(y);
    return 0;
}

typedef struct { c_scale *s; int tid; } c_scale_arg;

static void *scale_thread(void *arg)
{
    c_scale_arg *ta = arg;
    c_scale *s = ta->s;
    long n = 0;
    pthread_barrier_wait(&s->start);
    while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
        for (int k = 0; k < 64; k++)
            if ((s->cycles ? cycle_pair(s->a) : private_graph(s->a)) < 0) {
                atomic_store(&s->failed, 1);
                atomic_store(&s->stop, 1);
                break;
            }
        n += 64;
    }
    s->ops[ta->tid] = n;
    return NULL;
}

static void scaling(const c_alloc *a, int cycles, const tb_params *p, tb_result *r)
{
    int threads = p->threads < 1 ? 1 : p->threads > 64 ? 64 : p->threads;
    c_scale *s = calloc(1, sizeof *s);
    if (!s) { tb_result_set(r, TB_FAILED, "out of memory"); return; }
    s->a = a;
    s->cycles = cycles;
    pthread_t th[64];
    c_scale_arg args[64];
    pthread_barrier_init(&s->start, NULL, (unsigned)threads + 1);
    for (int i = 0; i < threads; i++) {
        args[i] = (c_scale_arg){ s, i };
        pthread_create(&th[i], NULL, scale_thread, &args[i]);
    }
    pthread_barrier_wait(&s->start);
    double t0 = tb_now(), until = t0 + (p->quick ? 0.25 : 0.5);   /* as the tangle rows */
    while (!atomic_load(&s->stop) && tb_now() < until) {
        struct timespec nap = { 0, 2000000 };
        nanosleep(&nap, NULL);
    }
    atomic_store(&s->stop, 1);
    double t1 = tb_now();
    long total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        total += s->ops[i];
    }
    pthread_barrier_destroy(&s->start);
    if (atomic_load(&s->failed)) tb_result_set(r, TB_FAILED, "allocation failed");
    else tb_result_add(r, "", "ops/s", (double)total / (t1 - t0));
    free(s);
}

/* ------------------------------------------------------------ alloc_* */

#if TB_HAVE_ALLOC_WORKLOADS
static void noop(void) {}
#endif

static void alloc_workload(const tb_workload *w, const c_alloc *ca, tb_variant v,
                           const tb_params *p, tb_result *r)
{
#if TB_HAVE_ALLOC_WORKLOADS
    bench_allocator a = { tb_variant_name(v), ca->alloc, ca->free, noop, noop };
    if (strcmp(w->name, "alloc_churn") == 0)
        tb_result_add(r, "", "ns/op", bench_alloc_churn(&a, p->quick ? 4000000L : 10000000L));
    else
        tb_result_add(r, "", "ns/op", bench_alloc_prodcons(&a, p->quick ? 400000L : 1000000L));
#else
    tb_result_set(r, TB_NOT_YET, "not available yet: bench/alloc_workloads.c (allocator issue) not present");
#endif
}

void tb_run_c(const tb_workload *w, tb_variant v, const tb_params *p, tb_result *r)
{
    const char *name = w->name;
    if (strcmp(name, "rc_private") == 0) {
        long n = p->quick ? 20000000L : 50000000L;
        if (v == TB_V_C_PLAIN)
            rc_private_plain(n, r);
        else
            rc_private_atomic(n, r);
        return;
    }
    if (strcmp(name, "rc_shared") == 0) {
        rc_shared_atomic(2, p->quick ? 4000000L : 10000000L, r);
        return;
    }
    c_alloc a;
    if (load_allocator(v, &a, r) < 0)
        return;
    if (strcmp(name, "binarytrees") == 0)
        binarytrees(&a, r);
    else if (strcmp(name, "scale_private") == 0 || strcmp(name, "scale_cycles") == 0)
        scaling(&a, strcmp(name, "scale_cycles") == 0, p, r);
    else if (strncmp(name, "alloc_", 6) == 0)
        alloc_workload(w, &a, v, p, r);
    else
        tb_result_set(r, TB_FAILED, "no C baseline for %s", name);
}
