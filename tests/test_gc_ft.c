/*
 * tests/test_gc_ft.c — the collector in free-threaded mode (issue 7): PEP 442
 * finalizers, clearing and weakref callbacks run with the world running
 * (gc/collect.c's header has the order). Resurrection once only and
 * transitively, also by a thread the finalizer hands the object to;
 * legacy finalizers in cycles go to tg_gc_garbage(); weakref callbacks
 * inside and outside the trash; finalizers that allocate and lock shared
 * containers while other threads use them; automatic collections started
 * by several threads, with finalizers.
 *
 * The "world running" tests are the ones that fail when finalizers or
 * callbacks run inside the pause: they wait (bounded) for a running worker
 * thread to make progress, which a stopped world does not allow.
 *
 * Worker threads never call cr_assert (not thread-safe): they count failures
 * in `bad`, which the main thread asserts is 0. Joins happen released.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "tg_test.h"
#include "gc_common.h"
#include "runtime/internal.h"
#include "sync/sync.h"
/* gc/gc_internal.h (not included: its names clash with this file's) */
extern intptr_t _tg_gc_collect_local(void);
extern intptr_t _tg_gc_collect_local_gen(int gen);
extern intptr_t _tg_gc_collect_as_automatic(int gen);
extern void (*_tg_gc_local_hook)(void);
void _tg_gc_local_counts(uint64_t *runs, uint64_t *runs1, uint64_t *fallbacks);
static uint64_t local_runs(void) { uint64_t r; _tg_gc_local_counts(&r, NULL, NULL); return r; }
static uint64_t local_fallbacks(void) { uint64_t f; _tg_gc_local_counts(NULL, NULL, &f); return f; }

/* ------------------------------------------------------------ helpers */

static _Atomic long bad;
static _Atomic int bad_line;          /* the line of the last failed check */
#define WCHECK(cond) do { if (!(cond)) { atomic_fetch_add(&bad, 1); atomic_store(&bad_line, __LINE__); } } while (0)

static void init_ft(void)
{
    tg_config c;
    tg_config_default(&c);
    c.mode = TG_MODE_FREE_THREADED;
    cr_assert_eq(tg_init(&c), 0, "tg_init(ft): %s", tg_error_message());
    cr_assert_eq(tg_current_mode(), TG_MODE_FREE_THREADED);
    atomic_store(&bad, 0);
    atomic_store(&bad_line, 0);
}

static void fini_ft(void)
{
    cr_assert_eq(atomic_load(&bad), 0, "%ld failure(s) in worker threads or finalizers (line %d)",
                 atomic_load(&bad), atomic_load(&bad_line));
    cr_assert_eq(tg_fini(), 0, "tg_fini: %s", tg_error_message());
    cr_assert_eq(tg_live_objects(), 0, "%zu object(s) leaked", tg_live_objects());
}

/* Items a container drops are released after a grace period (QSBR, docs/
   free-threading.md): a collection's first pause ends one, so what such a
   drop left as cyclic garbage is found by the collection after. */
static intptr_t collect_twice(void)
{
    intptr_t a = tg_gc_collect(-1);
    return a + tg_gc_collect(-1);
}

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

typedef struct { void (*fn)(void *); void *arg; pthread_t id; } thr;

static void *thr_main(void *p)
{
    thr *t = p;
    if (tg_thread_attach() != 0) { atomic_fetch_add(&bad, 1); return NULL; }
    t->fn(t->arg);
    tg_thread_detach();
    return NULL;
}

static void spawn(thr *t) { cr_assert_eq(pthread_create(&t->id, NULL, thr_main, t), 0); }

static void join_released(thr *t)
{
    TG_BEGIN_ALLOW_THREADS
    pthread_join(t->id, NULL);
    TG_END_ALLOW_THREADS
}

/* A worker that only makes progress while the world runs. */
static _Atomic long ticks;
static _Atomic int stop_workers;

static void ticker_fn(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_workers)) {
        atomic_fetch_add(&ticks, 1);
        tg_safepoint();
    }
}

/* Wait, attached, up to 3 s for the ticker to advance by 1000. True if it did:
   the world is running. (A stopped world parks the ticker at its safepoint.) */
static bool world_runs(void)
{
    long t0 = atomic_load(&ticks);
    uint64_t deadline = now_ms() + 3000;
    while (now_ms() < deadline) {
        if (atomic_load(&ticks) - t0 >= 1000) return true;
        tg_safepoint();             /* a quiescent state: writers' grace periods end */
        sched_yield();
    }
    return false;
}

/* ------------------------------------------------------------ the node type */

enum { PLAIN, RESURRECT, HANDOFF, CHECK_WORLD, BUSY, STORE };
#define COOKIE 0xfeedfacecafeull

typedef struct { uint64_t cookie; int kind; _Atomic int fin_calls; } node_payload;

static tg_obj *survivors;            /* where RESURRECT nodes put themselves */
static _Atomic(tg_obj *) handoff;    /* where HANDOFF nodes publish themselves */
static _Atomic long finalized, deallocated, world_seen_running, world_seen_stopped;
static tg_obj *shared_list, *shared_dict;   /* BUSY finalizers use them */
static tg_obj *store_target;                /* STORE finalizers put a new list there */

static void busy_work(void);

static void node_finalize(tg_obj *self)
{
    node_payload *p = tg_payload(self);
    WCHECK(p->cookie == COOKIE);
    atomic_fetch_add(&p->fin_calls, 1);
    atomic_fetch_add(&finalized, 1);
    switch (p->kind) {
    case RESURRECT:
        WCHECK(tg_list_append(survivors, self) == 0);
        break;
    case HANDOFF: {
        /* Give ourselves to the taker thread and wait until it holds us: the
           only reference that makes us alive is then another thread's. */
        tg_incref(self);
        atomic_store(&handoff, self);
        uint64_t deadline = now_ms() + 3000;
        while (atomic_load(&handoff) && now_ms() < deadline) { tg_safepoint(); sched_yield(); }
        if (atomic_load(&handoff)) {             /* nobody came: the world is stopped */
            atomic_fetch_add(&world_seen_stopped, 1);
            tg_decref(atomic_exchange(&handoff, NULL));
        }
        break;
    }
    case CHECK_WORLD:
        atomic_fetch_add(world_runs() ? &world_seen_running : &world_seen_stopped, 1);
        break;
    case BUSY:
        busy_work();
        break;
    case STORE: {
        tg_obj *n = tg_list_new(0);              /* on this thread's young list */
        WCHECK(n && tg_list_append(store_target, n) == 0);
        if (n) tg_decref(n);
        break;
    }
    }
}

static void node_dealloc(tg_obj *self)
{
    node_payload *p = tg_payload(self);
    WCHECK(p->cookie == COOKIE);                 /* not freed twice */
    WCHECK(atomic_load(&p->fin_calls) == 1);     /* finalized exactly once, before */
    p->cookie = 0;
    atomic_fetch_add(&deallocated, 1);
}

static tg_type *node_type;

static void setup(void)
{
    tg_type_spec s = { .name = "FtNode", .payload_size = sizeof(node_payload), .flags = TG_TYPE_GC,
                       .finalize = node_finalize, .dealloc = node_dealloc };
    node_type = tg_type_new(&s);
    cr_assert_not_null(node_type);
    survivors = tg_list_new(0);
    cr_assert_not_null(survivors);
    atomic_store(&handoff, NULL);
    atomic_store(&finalized, 0);
    atomic_store(&deallocated, 0);
    atomic_store(&world_seen_running, 0);
    atomic_store(&world_seen_stopped, 0);
    atomic_store(&stop_workers, 0);
    atomic_store(&ticks, 0);
}

static void teardown(void)
{
    tg_decref(survivors);
    survivors = NULL;
}

static tg_obj *new_node(int kind)
{
    tg_obj *o = tg_new(node_type);
    if (!o) return NULL;
    node_payload *p = tg_payload(o);
    p->cookie = COOKIE;
    p->kind = kind;
    atomic_store(&p->fin_calls, 0);
    return o;
}

static int fin_calls(tg_obj *o) { return atomic_load(&((node_payload *)tg_payload(o))->fin_calls); }

/* A self-cycle of one node; returns a borrowed id only. */
static uintptr_t drop_self_cycle(int kind)
{
    tg_obj *o = new_node(kind);
    cr_assert_not_null(o);
    cr_assert_eq(tg_setattr(o, "self", o), 0);
    uintptr_t id = tg_id(o);
    tg_decref(o);
    return id;
}

/* -------------------------------------------------- outside the pause */

Test(gc_ft, finalizers_run_with_the_world_running)
{
    init_ft();
    setup();
    thr t = { .fn = ticker_fn };
    spawn(&t);
    drop_self_cycle(CHECK_WORLD);
    drop_self_cycle(CHECK_WORLD);
    cr_assert_eq(tg_gc_collect(-1), 2);
    cr_assert_eq(atomic_load(&finalized), 2);
    cr_assert_eq(atomic_load(&deallocated), 2);
    cr_assert_eq(atomic_load(&world_seen_stopped), 0, "a finalizer ran with the world stopped");
    cr_assert_eq(atomic_load(&world_seen_running), 2);
    atomic_store(&stop_workers, 1);
    join_released(&t);
    teardown();
    fini_ft();
}

/* --------------------------------------------------------- resurrection */

Test(gc_ft, resurrection_once_only)
{
    init_ft();
    setup();
    thr t = { .fn = ticker_fn };
    spawn(&t);
    tg_gc_collect(-1);
    tg_obj *o = new_node(RESURRECT);
    cr_assert_eq(tg_setattr(o, "ref", o), 0);
    tg_obj *w = OK(tg_weakref(o, NULL, NULL));
    tg_decref(o);
    cr_assert_eq(tg_gc_collect(-1), 0, "resurrected: nothing collected");
    cr_assert_eq(atomic_load(&finalized), 1);
    cr_assert_eq(tg_list_len(survivors), 1);
    tg_obj *s = OK(tg_list_get(survivors, 0));
    cr_assert_eq(s, o);
    cr_assert_eq(tg_gc_is_finalized(s), 1);
    cr_assert_eq(tg_gc_is_tracked(s), 1);
    tg_obj *self = OK(tg_getattr(s, "ref"));
    cr_assert_eq(self, s, "a resurrected object is not cleared");
    tg_decref(self);
    tg_obj *r = OK(tg_weakref_get(w));
    cr_assert_eq(r, tg_none(), "weakrefs were cleared before the finalizer ran");
    tg_decref(r);
    tg_decref(w);
    tg_decref(s);
    tg_list_clear(survivors);
    cr_assert_eq(collect_twice(), 1, "the second time it is collected");
    cr_assert_eq(atomic_load(&finalized), 1, "and never finalized again");
    cr_assert_eq(atomic_load(&deallocated), 1);
    atomic_store(&stop_workers, 1);
    join_released(&t);
    teardown();
    fini_ft();
}

Test(gc_ft, resurrection_is_transitive_and_does_not_block_other_cycles)
{
    init_ft();
    setup();
    tg_gc_collect(-1);
    size_t base = tg_live_objects();
    tg_obj *r = OK(new_node(RESURRECT));
    tg_obj *l = OK(tg_list_new(0)), *d = OK(tg_dict_new()), *k = OK(tg_str("x"));
    cr_assert_eq(tg_list_append(l, r), 0);
    cr_assert_eq(tg_dict_set(d, k, l), 0);
    cr_assert_eq(tg_setattr(r, "d", d), 0);         /* r -> d -> l -> r */
    tg_decref(r); tg_decref(l); tg_decref(d); tg_decref(k);
    drop_self_cycle(PLAIN);                          /* independent cycles beside it */
    tg_obj *pl = OK(tg_list_new(0));
    cr_assert_eq(tg_list_append(pl, pl), 0);
    tg_decref(pl);
    cr_assert_eq(tg_gc_collect(-1), 2, "the two other cycles are collected");
    cr_assert_eq(atomic_load(&finalized), 2);
    cr_assert_eq(atomic_load(&deallocated), 1);
    cr_assert_eq(tg_live_objects(), base + 3, "r, its dict and its list survive");
    tg_obj *s = OK(tg_list_get(survivors, 0));
    tg_obj *dd = OK(tg_getattr(s, "d"));
    cr_assert_eq(tg_dict_len(dd), 1, "what the resurrected object reaches was not cleared");
    tg_decref(dd); tg_decref(s);
    tg_list_clear(survivors);
    cr_assert_eq(collect_twice(), 3);
    cr_assert_eq(atomic_load(&finalized), 2, "r is not finalized twice");
    cr_assert_eq(tg_live_objects(), base);
    teardown();
    fini_ft();
}

/* The finalizer hands its object to another thread, which takes the only
   reference while the world runs: the recount (world stopped again) must
   see that thread's reference. */
static _Atomic(tg_obj *) taken;

static void taker_fn(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_workers)) {
        tg_obj *o = atomic_load(&handoff);
        if (o) {
            tg_obj *expect = o;
            if (atomic_compare_exchange_strong(&handoff, &expect, NULL)) atomic_store(&taken, o);
        }
        tg_safepoint();
    }
}

Test(gc_ft, resurrection_by_another_thread)
{
    init_ft();
    setup();
    atomic_store(&taken, NULL);
    thr t = { .fn = taker_fn };
    spawn(&t);
    tg_obj *o = OK(new_node(HANDOFF));
    cr_assert_eq(tg_setattr(o, "self", o), 0);
    tg_obj *inner = OK(tg_list_new(0));
    cr_assert_eq(tg_setattr(o, "inner", inner), 0);
    cr_assert_eq(tg_list_append(inner, o), 0);       /* o -> inner -> o */
    tg_decref(inner);
    tg_decref(o);
    cr_assert_eq(tg_gc_collect(-1), 0, "resurrected by the taker: nothing collected");
    cr_assert_eq(atomic_load(&world_seen_stopped), 0, "the taker could not run during the finalizer");
    cr_assert_eq(atomic_load(&taken), o);
    cr_assert_eq(atomic_load(&deallocated), 0);
    tg_obj *i2 = OK(tg_getattr(o, "inner"));
    cr_assert_eq(tg_list_len(i2), 1, "not cleared");
    tg_decref(i2);
    atomic_store(&stop_workers, 1);
    join_released(&t);
    tg_decref(atomic_exchange(&taken, NULL));        /* the taker's reference */
    cr_assert_eq(tg_gc_collect(-1), 2);
    cr_assert_eq(atomic_load(&finalized), 1, "finalized once only");
    cr_assert_eq(atomic_load(&deallocated), 1);
    teardown();
    fini_ft();
}

/* ------------------------------------------------------ legacy finalizers */

static _Atomic int legacy_calls;
static void legacy_del(tg_obj *self) { (void)self; atomic_fetch_add(&legacy_calls, 1); }

Test(gc_ft, legacy_finalizer_cycles_go_to_garbage)
{
    init_ft();
    setup();
    atomic_store(&legacy_calls, 0);
    tg_type_spec ls = { .name = "FtLegacy", .flags = TG_TYPE_GC | TG_TYPE_LEGACY_DEL, .finalize = legacy_del };
    tg_type *lt = tg_type_new(&ls);
    cr_assert_not_null(lt);
    thr t = { .fn = ticker_fn };
    spawn(&t);
    tg_gc_collect(-1);
    size_t base = tg_live_objects();
    tg_obj *a = OK(tg_new(lt));
    cr_assert_eq(tg_setattr(a, "a", a), 0);
    tg_obj *n = OK(new_node(PLAIN));                 /* reached from a: kept, not finalized */
    cr_assert_eq(tg_setattr(a, "n", n), 0);
    cr_assert_eq(tg_setattr(n, "back", a), 0);
    tg_decref(n);
    tg_decref(a);
    drop_self_cycle(PLAIN);                          /* a plain cycle beside it: freed */
    intptr_t got = tg_gc_collect(-1);
    cr_assert_eq(got, 3, "one collected + two uncollectable, got %zd", (ssize_t)got);
    cr_assert_eq(atomic_load(&legacy_calls), 0, "the collector never calls legacy finalizers");
    cr_assert_eq(atomic_load(&finalized), 1, "only the free cycle's node was finalized");
    cr_assert_eq(atomic_load(&deallocated), 1);
    cr_assert_eq(fin_calls(n), 0, "what a legacy object reaches is not finalized");
    tg_obj *g = OK(tg_gc_garbage());
    cr_assert_eq(tg_list_len(g), 1, "only the legacy object is listed");
    tg_obj *x = OK(tg_list_get(g, 0));
    cr_assert_eq(x, a);
    cr_assert_eq(tg_live_objects(), base + 2 + 1 /* garbage list */);
    /* the embedder breaks the cycle */
    cr_assert_eq(tg_delattr(x, "a"), 0);
    cr_assert_eq(tg_delattr(x, "n"), 0);
    tg_list_clear(g);
    tg_decref(g);
    tg_decref(x);
    cr_assert_eq(tg_gc_collect(-1), 0, "the list's deferred reference to a goes after this pause");
    cr_assert_eq(atomic_load(&legacy_calls), 1, "a died by refcounting: its legacy finalizer ran");
    cr_assert_eq(atomic_load(&finalized), 2, "n died with a: finalized then");
    cr_assert_eq(atomic_load(&deallocated), 2);
    cr_assert_eq(tg_gc_collect(-1), 0);
    atomic_store(&stop_workers, 1);
    join_released(&t);
    teardown();
    fini_ft();
}

/* ------------------------------------------------------ weakref callbacks */

static _Atomic int cb_calls, cb_saw_referent, cb_world_stopped;
static void wr_cb(tg_obj *w, void *arg)
{
    (void)arg;
    atomic_fetch_add(&cb_calls, 1);
    tg_obj *r = tg_weakref_get(w);
    if (r != tg_none()) atomic_fetch_add(&cb_saw_referent, 1);
    tg_xdecref(r);
    if (!world_runs()) atomic_fetch_add(&cb_world_stopped, 1);
}

Test(gc_ft, weakref_callbacks_outside_and_inside_the_trash)
{
    init_ft();
    setup();
    atomic_store(&cb_calls, 0);
    atomic_store(&cb_saw_referent, 0);
    atomic_store(&cb_world_stopped, 0);
    thr t = { .fn = ticker_fn };
    spawn(&t);
    tg_obj *a = OK(new_node(PLAIN)), *b = OK(new_node(PLAIN));
    cr_assert_eq(tg_setattr(a, "b", b), 0);
    cr_assert_eq(tg_setattr(b, "a", a), 0);
    tg_obj *outside = OK(tg_weakref(a, wr_cb, NULL));   /* survives: its callback runs */
    tg_obj *inside = OK(tg_weakref(b, wr_cb, NULL));    /* garbage itself: no callback */
    cr_assert_eq(tg_setattr(a, "w", inside), 0);
    tg_decref(inside);
    tg_decref(a);
    tg_decref(b);
    cr_assert_eq(tg_gc_collect(-1), 2);
    cr_assert_eq(atomic_load(&cb_calls), 1, "only the surviving weakref's callback runs");
    cr_assert_eq(atomic_load(&cb_saw_referent), 0, "the callback sees the weakref cleared");
    cr_assert_eq(atomic_load(&cb_world_stopped), 0, "a callback ran with the world stopped");
    cr_assert_eq(atomic_load(&deallocated), 2);
    tg_obj *r = OK(tg_weakref_get(outside));
    cr_assert_eq(r, tg_none());
    tg_decref(r);
    tg_decref(outside);
    atomic_store(&stop_workers, 1);
    join_released(&t);
    teardown();
    fini_ft();
}

/* ------------------------------ finalizers that allocate and take locks */

/* Workers mutate shared_list / shared_dict and make their own cyclic
   garbage; finalizers in the collector's thread do the same, with locks on
   those containers, while the workers run. */
static void busy_work(void)
{
    tg_obj *l = tg_list_new(0);
    WCHECK(l != NULL);
    if (!l) return;
    WCHECK(tg_list_append(l, l) == 0);               /* new cyclic garbage */
    /* Hold both shared containers' locks: the workers' appends, pops, sets
       and deletes wait (the lengths cannot change). Nothing inside blocks:
       a blocking call — even a list operation on a locked object, which
       takes the same lock again — suspends the section (sync/critical.c). */
    TG_BEGIN_CRITICAL_SECTION2(shared_list, shared_dict)
    size_t n = tg_list_len(shared_list), m = tg_dict_len(shared_dict);
    for (int i = 0; i < 50; i++) sched_yield();
    WCHECK(tg_list_len(shared_list) == n);
    WCHECK(tg_dict_len(shared_dict) == m);
    TG_END_CRITICAL_SECTION()
    WCHECK(tg_list_append(shared_list, l) == 0);
    tg_obj *x = tg_list_pop(shared_list, -1);
    WCHECK(x != NULL);
    tg_xdecref(x);
    tg_obj *k = tg_int(7);
    WCHECK(k && tg_dict_set(shared_dict, k, l) == 0);
    tg_xdecref(k);
    tg_decref(l);
    atomic_fetch_add(&world_seen_running, world_runs() ? 1 : 0);
}

static void mutator_fn(void *arg)
{
    long id = (long)(intptr_t)arg;
    long n = 0;
    while (!atomic_load(&stop_workers)) {
        tg_obj *v = tg_int(id * 1000000 + n++);
        WCHECK(v != NULL);
        WCHECK(tg_list_append(shared_list, v) == 0);
        tg_obj *p = tg_list_pop(shared_list, 0);
        WCHECK(p != NULL);
        tg_xdecref(p);
        WCHECK(tg_dict_set(shared_dict, v, v) == 0);
        WCHECK(tg_dict_del(shared_dict, v) == 0);
        tg_decref(v);
        tg_obj *c = tg_list_new(0);                   /* cyclic garbage */
        WCHECK(c && tg_list_append(c, c) == 0);
        tg_xdecref(c);
        atomic_fetch_add(&ticks, 1);
        tg_safepoint();
    }
}

Test(gc_ft, finalizers_allocate_and_lock_shared_containers_while_threads_run, .timeout = 60)
{
    init_ft();
    setup();
    shared_list = OK(tg_list_new(0));
    shared_dict = OK(tg_dict_new());
    thr w[2] = { { .fn = mutator_fn, .arg = (void *)1 }, { .fn = mutator_fn, .arg = (void *)2 } };
    spawn(&w[0]);
    spawn(&w[1]);
    long made = 0;
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 20; i++) {
            tg_obj *a = OK(new_node(BUSY)), *b = OK(new_node(BUSY));
            cr_assert_eq(tg_setattr(a, "b", b), 0);
            cr_assert_eq(tg_setattr(b, "a", a), 0);
            tg_decref(a);
            tg_decref(b);
            made += 2;
        }
        tg_gc_collect(-1);
    }
    atomic_store(&stop_workers, 1);
    join_released(&w[0]);
    join_released(&w[1]);
    tg_gc_collect(-1);
    cr_assert_eq(atomic_load(&finalized), made, "every finalizer ran once (%ld of %ld)", atomic_load(&finalized), made);
    cr_assert_eq(atomic_load(&deallocated), made);
    cr_assert_eq(atomic_load(&world_seen_running), made, "every finalizer saw the workers run");
    cr_assert_eq(tg_list_len(shared_list), 0, "the workers' appends and pops balance");
    cr_assert_eq(tg_dict_len(shared_dict), 1, "only the finalizers' key 7 is left");
    tg_decref(shared_list);
    tg_decref(shared_dict);
    shared_list = shared_dict = NULL;
    teardown();
    fini_ft();
}

/* ------------------------- automatic collections from several threads */

#define MAXCOLLECTORS 16
static _Atomic(pthread_t) collectors[MAXCOLLECTORS];
static _Atomic int ncollectors;
static _Atomic long ncollections;

static void gc_cb(int phase, const tg_gc_info *info, void *arg)
{
    (void)info; (void)arg;
    if (phase != TG_GC_START) return;
    atomic_fetch_add(&ncollections, 1);
    pthread_t me = pthread_self();
    int n = atomic_load(&ncollectors);
    for (int i = 0; i < n; i++) if (pthread_equal(atomic_load(&collectors[i]), me)) return;
    if (n < MAXCOLLECTORS) { atomic_store(&collectors[n], me); atomic_fetch_add(&ncollectors, 1); }
}

static pthread_mutex_t survivors_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic long made_auto;

static _Atomic int gate;

static void cycle_maker_fn(void *arg)
{
    long id = (long)(intptr_t)arg;
    atomic_fetch_add(&gate, 1);
    while (atomic_load(&gate) < 4) tg_safepoint();   /* all start together */
    for (long i = 0; i < 10000; i++) {
        int kind = i % 97 == 0 ? RESURRECT : PLAIN;
        tg_obj *a = new_node(kind), *b = new_node(PLAIN);
        WCHECK(a && b);
        if (!a || !b) { tg_xdecref(a); tg_xdecref(b); return; }
        atomic_fetch_add(&made_auto, 2);
        WCHECK(tg_setattr(a, "b", b) == 0);
        WCHECK(tg_setattr(b, "a", a) == 0);
        if (i % 5 == 0) {                              /* weakrefs to the garbage, dropped */
            tg_obj *w = tg_weakref(b, NULL, NULL);
            WCHECK(w != NULL);
            tg_xdecref(w);
        }
        tg_decref(a);
        tg_decref(b);
        if (id == 0 && i % 500 == 0) {              /* drain the resurrected now and then */
            pthread_mutex_lock(&survivors_mu);
            tg_list_clear(survivors);
            pthread_mutex_unlock(&survivors_mu);
        }
    }
}

Test(gc_ft, automatic_collections_from_several_threads_with_finalizers, .timeout = 120)
{
    init_ft();
    setup();
    atomic_store(&ncollectors, 0);
    atomic_store(&ncollections, 0);
    atomic_store(&made_auto, 0);
    atomic_store(&gate, 0);
    tg_gc_set_threshold(200, 10, 10);
    cr_assert_eq(tg_gc_add_callback(gc_cb, NULL), 0);
    enum { N = 4 };
    thr w[N];
    for (int i = 0; i < N; i++) { w[i] = (thr){ .fn = cycle_maker_fn, .arg = (void *)(intptr_t)i }; spawn(&w[i]); }
    for (int i = 0; i < N; i++) join_released(&w[i]);
    long autos = atomic_load(&ncollections);
    int who = atomic_load(&ncollectors);
    /* RESURRECT nodes append to survivors from whichever thread collects:
       the list is shared (it locks itself). */
    fprintf(stderr, "gc_ft automatic: %ld collections started by %d thread(s)\n", autos, who);
    /* The last collections' RESURRECT nodes are in survivors; clearing it
       makes them garbage again (once: they are finalized already). */
    for (int k = 0; k < 3; k++) {
        tg_list_clear(survivors);
        collect_twice();
    }
    /* How many is up to the schedule: 4 threads on 2 CPUs, and a
       collection's own frees cancel the others' allocations in count[0]
       (clamped at 0, as in GIL mode). Twelve runs of this test on the
       2-CPU machine gave 4 to 100, so the check is only that they ran. */
    cr_assert_geq(autos, 1, "automatic collections ran (%ld)", autos);
    /* Which thread collects is up to the schedule: the one whose count
       flush finds count[0] over the threshold first. Often the thread that
       collected last (it runs on, the others were stopped), so no "at least
       two collectors" assertion: it would be flaky on a 2-CPU machine. */
    cr_assert_geq(who, 1);
    long made = atomic_load(&made_auto);
    cr_assert_eq(atomic_load(&finalized), made, "every node finalized exactly once (%ld of %ld)",
                 atomic_load(&finalized), made);
    cr_assert_eq(atomic_load(&deallocated), made);
    cr_assert_eq(tg_gc_remove_callback(gc_cb, NULL), 0);
    teardown();
    fini_ft();
}

/* tests/gc_common.h: the common garbage drops exactly its outside references */
Test(gc_ft, common_garbage_drops_exactly_its_outside_references)
{
    init_ft();
    common_garbage_scenario();
    fini_ft();
}

/* ------------------------------------------- young lists and collections */

/* Threads that hold young-list slots (claimed at their first track) until
   told to go, waiting released. */
static _Atomic int holders_ready, holders_go;

static void holder_fn(void *arg)
{
    (void)arg;
    tg_obj *l = tg_list_new(0);                  /* claims a slot */
    WCHECK(l != NULL);
    if (l) tg_decref(l);
    atomic_fetch_add(&holders_ready, 1);
    TG_BEGIN_ALLOW_THREADS
    while (!atomic_load(&holders_go)) sched_yield();
    TG_END_ALLOW_THREADS
}

enum { GC_SLOT_SHIFT_T = 4 };     /* gc/gc_internal.h: GC_SLOT_SHIFT */
enum { GC_NSLOTS_T = 16 };        /* gc/gc_internal.h: GC_NSLOTS (slot 0: none) */
/* Run c in a thread with a young-list slot of 4-7 (or none): `holders`
   threads take slots first (with the main thread's, slot 1), and go once c
   is done. */
static void run_in_high_slot(thr *c, int holders)
{
    atomic_store(&holders_ready, 0);
    atomic_store(&holders_go, 0);
    thr h[GC_NSLOTS_T];
    cr_assert_leq(holders, GC_NSLOTS_T);
    for (int i = 0; i < holders; i++) { h[i] = (thr){ holder_fn, NULL, 0 }; spawn(&h[i]); }
    while (atomic_load(&holders_ready) < holders) { tg_safepoint(); sched_yield(); }
    spawn(c);
    join_released(c);
    atomic_store(&holders_go, 1);
    for (int i = 0; i < holders; i++) join_released(&h[i]);
}

static _Atomic intptr_t store_collected;

static void store_collector_fn(void *arg)
{
    (void)arg;
    /* g -> x -> g; x's finalizer stores a new list, made on this thread's
       young list, into g while the world runs; the recount then walks g. */
    tg_obj *g = tg_list_new(0), *x = new_node(STORE);
    WCHECK(g && x);
    if (!g || !x) return;
    store_target = g;
    WCHECK(tg_list_append(g, x) == 0);
    WCHECK(tg_setattr(x, "g", g) == 0);
    tg_decref(x);
    tg_decref(g);
    atomic_store(&store_collected, tg_gc_collect(-1));
    store_target = NULL;
}

/* The young slot's bits (GC_LOCAL | slot << 4) overlap the collector's state
   bits: slots 4-7 and 12-15 carry the bit of "unreachable". A young object
   stored into the garbage by a finalizer must not be taken for a member of
   the unreachable set by the resurrection recount (its list links would be
   overwritten with a gc_refs). The collecting thread here has slot >= 5. */
Test(gc_ft, young_object_stored_by_a_finalizer_from_a_high_slot)
{
    init_ft();
    setup();
    thr c = { store_collector_fn, NULL, 0 };
    run_in_high_slot(&c, 4);                         /* the collector: slot >= 5 */
    cr_assert_eq(atomic_load(&store_collected), 2, "the list and the node (the new list is not garbage yet)");
    cr_assert_eq(atomic_load(&finalized), 1);
    tg_gc_collect(-1);
    cr_assert_eq(atomic_load(&deallocated), 1);
    teardown();
    fini_ft();
}

/* A thread past the young-list slots (the main thread and 14 holders take
   all 15) tracks on the global generation 0 under the track lock: its
   objects carry GC_TRACKED alone, its own untrack unlinks them from there,
   and a collection of generation 0 frees the cycle it made. */
static _Atomic int noslot_bits = -1, noslot_after = -1;
static _Atomic intptr_t noslot_collected = -1;

static void noslot_fn(void *arg)
{
    (void)arg;
    tg_obj *a = tg_list_new(0), *b = tg_list_new(0), *c = tg_list_new(0);
    WCHECK(a && b && c);
    if (!a || !b || !c) return;
    atomic_store(&noslot_bits, a->ob_gc_bits);
    tg_decref(c);                                    /* untracked from generation 0, freed */
    WCHECK(tg_list_append(a, b) == 0 && tg_list_append(b, a) == 0);
    tg_decref(a);
    tg_decref(b);
    atomic_store(&noslot_collected, tg_gc_collect(0));
    tg_obj *d = tg_list_new(0);                      /* the fast path is still not taken */
    WCHECK(d != NULL);
    if (d) { atomic_store(&noslot_after, d->ob_gc_bits); tg_decref(d); }
}

Test(gc_ft, a_thread_past_the_young_list_slots_tracks_on_generation_0)
{
    init_ft();
    tg_decref(OK(tg_list_new(0)));                   /* the main thread takes slot 1 */
    tg_gc_collect(-1);
    size_t live = tg_live_objects();
    thr c = { noslot_fn, NULL, 0 };
    run_in_high_slot(&c, GC_NSLOTS_T - 2);           /* slots 1-15 taken: c has none */
    cr_assert_eq(atomic_load(&noslot_bits), 1, "bits %#x: GC_TRACKED alone (generation 0, not local)",
                 (unsigned)atomic_load(&noslot_bits));
    cr_assert_eq(atomic_load(&noslot_after), 1);
    cr_assert_eq(atomic_load(&noslot_collected), 2, "the two-list cycle of the slotless thread");
    cr_assert_eq(tg_live_objects(), live);
    fini_ft();
}

/* A zombie — an object of another thread's young list, untracked by this
   thread, linked until its owner unlinks it — that is not queued yet when a
   collection starts: here the collection runs from a finalizer called while
   the zombie's destroy drops its items. The collector's O(1) splice of
   young lists must not take it into generation 0 (its owner set the
   slot's zombie flag). */
static _Atomic(tg_obj *) zombie_pub;
static _Atomic int zombie_step;
static _Atomic intptr_t zombie_collected = -1;

/* The main thread's side of the zombie tests: take the owner's published
   list, hang a finalizer-carrying object of type t on it, let the owner
   drop its reference, then destroy the list (a zombie whose object's
   finalizer runs collections), and check that they ran. */
static void zombie_drive(thr *w, _Atomic int *step, _Atomic intptr_t *collected, tg_type *t, const char *what)
{
    atomic_store(&zombie_pub, NULL);
    atomic_store(step, 0);
    atomic_store(collected, -1);
    spawn(w);
    tg_obj *l;
    while (!(l = atomic_load(&zombie_pub))) { tg_safepoint(); sched_yield(); }
    tg_incref(l);
    tg_obj *f = OK(tg_new(t));
    cr_assert_eq(tg_list_append(l, f), 0);
    tg_decref(f);
    atomic_store(step, 1);
    while (atomic_load(step) < 2) { tg_safepoint(); sched_yield(); }
    tg_decref(l);                                /* destroy: a zombie; f's finalizer collects */
    cr_assert_geq(atomic_load(collected), 0, "%s", what);
    atomic_store(step, 3);
    join_released(w);
}

static void collect_in_finalizer(tg_obj *self)
{
    (void)self;
    atomic_store(&zombie_collected, tg_gc_collect(0));
}

/* The owner's side: a new list (young; aged: moved to this thread's aged
   list by a local collection) published, then its reference dropped when
   the main thread says so; stays attached until step 3. */
static void zombie_owner(_Atomic int *step, bool aged)
{
    tg_obj *l = tg_list_new(0);                  /* on this thread's young list */
    WCHECK(l != NULL);
    if (!l) { atomic_store(step, 3); return; }
    if (aged) WCHECK(_tg_gc_collect_local() == 0);   /* l: on this thread's aged list */
    atomic_store(&zombie_pub, l);
    while (atomic_load(step) < 1) { tg_safepoint(); sched_yield(); }
    tg_decref(l);                                /* the main thread's reference is the last */
    atomic_store(step, 2);
    while (atomic_load(step) < 3) { tg_safepoint(); sched_yield(); }
}
static void zombie_owner_fn(void *arg) { (void)arg; zombie_owner(&zombie_step, false); }

Test(gc_ft, zombie_not_yet_queued_when_a_collection_starts)
{
    init_ft();
    tg_type_spec spec = { .name = "CollectOnDeath", .flags = TG_TYPE_GC, .finalize = collect_in_finalizer };
    tg_type *t = tg_type_new(&spec);
    cr_assert_not_null(t);
    thr w = { zombie_owner_fn, NULL, 0 };
    zombie_drive(&w, &zombie_step, &zombie_collected, t, "the finalizer ran a collection");
    cr_assert_eq(tg_gc_collect(-1), 0);
    fini_ft();
}

/* The common garbage (lists and tuples) is freed whole with the world
   running (gc/collect.c, bulk_delete), also when its members belong to
   other threads that are running: here every cycle joins a list of this
   thread to one another thread made (swapped through shared slots), with
   a tuple in between and an outside object they hold, while automatic
   collections run from any thread. Nothing may leak (fini_ft), be freed
   twice, or be freed while referenced (ASan); the outside objects keep
   exactly their own references. */
enum { XT_SLOTS = 8, XT_THREADS = 4, XT_ROUNDS = 3000 };
static _Atomic(tg_obj *) xt_slot[XT_SLOTS];
static tg_obj *xt_outside[XT_THREADS];

static void cross_cycle_fn(void *arg)
{
    int me = (int)(intptr_t)arg;
    uint32_t r = 2463534242u + (uint32_t)me;
    for (int i = 0; i < XT_ROUNDS; i++) {
        r ^= r << 13; r ^= r >> 17; r ^= r << 5;
        tg_obj *a = tg_list_new(0), *c = tg_list_new(0);
        WCHECK(a && c);
        if (!a || !c) return;
        tg_obj *b = atomic_exchange(&xt_slot[r % XT_SLOTS], c);   /* c's reference goes to the slot */
        if (!b) { tg_decref(a); continue; }
        tg_obj *t = tg_tuple(2, b, xt_outside[r % XT_THREADS]);
        WCHECK(t != NULL);
        if (!t) { tg_decref(a); tg_decref(b); return; }
        WCHECK(tg_list_append(a, t) == 0);               /* a -> (b, outside) */
        WCHECK(tg_list_append(b, a) == 0);               /* b -> a */
        tg_decref(t);
        tg_decref(a);
        tg_decref(b);
        if (i % 64 == 0) tg_safepoint();
    }
}

Test(gc_ft, common_garbage_across_threads, .timeout = 120)
{
    init_ft();
    tg_gc_collect(-1);
    tg_gc_set_threshold(100, 10, 10);
    for (int i = 0; i < XT_SLOTS; i++) atomic_store(&xt_slot[i], NULL);
    for (int i = 0; i < XT_THREADS; i++) xt_outside[i] = OK(tg_list_new(0));
    thr w[XT_THREADS];
    for (int i = 0; i < XT_THREADS; i++) { w[i] = (thr){ .fn = cross_cycle_fn, .arg = (void *)(intptr_t)i }; spawn(&w[i]); }
    for (int i = 0; i < XT_THREADS; i++) join_released(&w[i]);
    for (int i = 0; i < XT_SLOTS; i++) {
        tg_obj *o = atomic_exchange(&xt_slot[i], NULL);
        if (o) tg_decref(o);
    }
    collect_twice();
    for (int i = 0; i < XT_THREADS; i++) {
        cr_assert_eq(tg_refcount(xt_outside[i]), 1, "outside list %d: %ld references", i, (long)tg_refcount(xt_outside[i]));
        tg_decref(xt_outside[i]);
    }
    tg_gc_stats st[3];
    tg_gc_get_stats(st);
    cr_assert_gt(st[0].collections, 10, "automatic collections ran");
    fini_ft();
}

/* ------------------------------------------- local young collections
   A thread's automatic young collection examines only its own young list,
   with the world running, when every object on it is eligible (gc/collect.c,
   _tg_gc_collect_local_main). _tg_gc_collect_local() runs one directly:
   -1 when it does not apply (then the automatic path stops the world). */

static bool have_bias(void) { return !(_tg_rt.obj_lock_birth & _TG_BIAS_SHARED); }
static bool lock_bits_off(const tg_obj *o) { return (__atomic_load_n(&o->ob_mutex.v, __ATOMIC_RELAXED) & _TG_BIAS_OFF) != 0; }

/* The main thread's young list emptied (everything so far to generation 2),
   automatic collections off: what the test makes next is all it holds. */
static void local_setup(void)
{
    init_ft();
    setup();
    tg_gc_disable();
    tg_gc_collect(-1);
}

/* local_setup(); false, after cleaning up, without biased counts (no
   membarrier(): no collection is ever local). */
static bool local_setup_biased(void)
{
    local_setup();
    if (have_bias()) return true;
    tg_gc_enable();
    teardown();
    fini_ft();
    return false;
}

/* local_setup_biased() with a ticker running beside it (the world is seen
   to run). */
static bool local_setup_ticking(thr *t)
{
    if (!local_setup_biased()) return false;
    *t = (thr){ .fn = ticker_fn };
    atomic_store(&stop_workers, 0);
    spawn(t);
    cr_assert(world_runs());
    return true;
}

/* The end of a test that began with local_setup_ticking: the ticker
   stopped, the default thresholds and the collector back, the runtime
   finished. */
static void local_teardown_ticking(thr *t)
{
    atomic_store(&stop_workers, 1);
    join_released(t);
    tg_gc_set_threshold(700, 10, 10);
    tg_gc_enable();
    teardown();
    fini_ft();
}

/* n two-list cycles, dropped */
static void drop_cycles(int n)
{
    for (int i = 0; i < n; i++) {
        tg_obj *a = OK(tg_list_new(0)), *b = OK(tg_list_new(0));
        cr_assert_eq(tg_list_append(a, b), 0);
        cr_assert_eq(tg_list_append(b, a), 0);
        tg_decref(a);
        tg_decref(b);
    }
}

/* Runs inside the local collection, while the thread holds its biases:
   the world is running iff the ticker advances meanwhile. No safepoint. */
static _Atomic int hook_saw_ticks;
static void hook_world_runs(void)
{
    long t0 = atomic_load(&ticks);
    uint64_t deadline = now_ms() + 3000;
    while (now_ms() < deadline && atomic_load(&ticks) - t0 < 1000) sched_yield();
    atomic_store(&hook_saw_ticks, atomic_load(&ticks) - t0 >= 1000);
}

Test(gc_ft, local_collection_frees_a_private_cycle_while_another_thread_runs, .timeout = 60)
{
    thr t;
    if (!local_setup_ticking(&t)) return;
    drop_cycles(100);
    tg_gc_stats before[3], after[3];
    tg_gc_get_stats(before);
    uint64_t runs = local_runs();
    _tg_gc_local_hook = hook_world_runs;
    intptr_t n = _tg_gc_collect_local();
    _tg_gc_local_hook = NULL;
    cr_assert_eq(n, 200, "a local collection freed the 100 cycles (got %ld)", (long)n);
    cr_assert(atomic_load(&hook_saw_ticks), "the other thread ran during the examination");
    cr_assert_eq(local_runs(), runs + 1);
    tg_gc_get_stats(after);
    cr_assert_eq(after[0].collections, before[0].collections + 1, "counted as a generation-0 collection");
    cr_assert_eq(after[0].collected, before[0].collected + 200);
    local_teardown_ticking(&t);
}

/* A cycle that a shared container refers to survives into generation 1, as
   does one through a tuple (any thread may read a tuple's items without
   revoking anything, so tuples count as referenced from outside); both go
   with a collection of the generations once dropped. */
static _Atomic(tg_obj *) shared_pub;
static _Atomic int reader_step;
static void shared_reader_fn(void *arg)
{
    (void)arg;
    tg_obj *s = atomic_load(&shared_pub);
    tg_obj *x = OK(tg_int(5));
    WCHECK(tg_list_append(s, x) == 0);               /* revokes the list's bias */
    tg_decref(x);
    atomic_store(&reader_step, 1);
    while (atomic_load(&reader_step) != 2) { tg_safepoint(); sched_yield(); }
    /* s[1] is the list a, a[0] is b, b[0] is a: intact after the collection */
    tg_obj *a = tg_list_get(s, 1);
    WCHECK(a != NULL && tg_list_len(a) == 1);
    if (a) {
        tg_obj *b = tg_list_get(a, 0);
        WCHECK(b != NULL && tg_list_len(b) == 1);
        if (b) {
            tg_obj *a2 = tg_list_get(b, 0);
            WCHECK(a2 == a);
            tg_xdecref(a2);
            tg_decref(b);
        }
        tg_decref(a);
    }
    atomic_store(&reader_step, 3);
}

Test(gc_ft, local_collection_keeps_a_cycle_reachable_from_a_shared_container, .timeout = 60)
{
    if (!local_setup_biased()) return;
    tg_obj *s = OK(tg_list_new(0));
    tg_gc_collect(-1);                               /* s is old now */
    atomic_store(&shared_pub, s);
    atomic_store(&reader_step, 0);
    thr t = { .fn = shared_reader_fn };
    spawn(&t);
    while (atomic_load(&reader_step) != 1) { tg_safepoint(); sched_yield(); }
    cr_assert(lock_bits_off(s), "the other thread revoked s's bias");
    tg_obj *a = OK(tg_list_new(0)), *b = OK(tg_list_new(0));
    cr_assert_eq(tg_list_append(a, b), 0);
    cr_assert_eq(tg_list_append(b, a), 0);
    cr_assert_eq(tg_list_append(s, a), 0);           /* s -> a <-> b */
    tg_decref(a);
    tg_decref(b);
    /* and a cycle through a tuple: c -> (c,) */
    tg_obj *c = OK(tg_list_new(0));
    tg_obj *tu = OK(tg_tuple(1, c));
    cr_assert_eq(tg_list_append(c, tu), 0);
    tg_decref(tu);
    tg_decref(c);
    drop_cycles(10);
    intptr_t n = _tg_gc_collect_local();
    cr_assert_eq(n, 20, "only the 10 private cycles are freed (got %ld)", (long)n);
    cr_assert(tg_gc_is_tracked(a) && tg_gc_is_tracked(b), "a and b survive");
    atomic_store(&reader_step, 2);
    while (atomic_load(&reader_step) != 3) { tg_safepoint(); sched_yield(); }
    join_released(&t);
    cr_assert_eq(tg_list_len(s), 2);
    tg_decref(OK(tg_list_pop(s, 1)));                /* drops s's reference to a */
    cr_assert_eq(collect_twice(), 4, "a, b and the tuple cycle go with the generations");
    atomic_store(&shared_pub, NULL);
    tg_decref(s);
    tg_gc_enable();
    teardown();
    fini_ft();
}

/* Another thread that starts to append to, or read, one of the collecting
   thread's young lists while that thread examines it waits until the
   examination is over, and then sees the list as it was. */
static _Atomic(tg_obj *) young_pub;
static _Atomic int toucher_go, toucher_started, toucher_done;
static _Atomic int hook_saw_toucher_wait;

static void toucher_fn(void *arg)
{
    int read = (int)(intptr_t)arg;
    while (!atomic_load(&toucher_go)) { tg_safepoint(); sched_yield(); }
    tg_obj *l = atomic_load(&young_pub);
    atomic_store(&toucher_started, 1);
    if (read) {
        tg_obj *x = tg_list_get(l, 2);               /* a lock-free read revokes the bias */
        WCHECK(x != NULL && tg_int_value(x) == 2);
        tg_xdecref(x);
    } else {
        tg_obj *x = OK(tg_int(99));
        WCHECK(tg_list_append(l, x) == 0);           /* a locked mutation revokes it */
        tg_decref(x);
    }
    atomic_store(&toucher_done, 1);
}

/* Inside the examination: let the toucher start, and see it wait. */
static void hook_toucher(void)
{
    atomic_store(&toucher_go, 1);
    uint64_t deadline = now_ms() + 3000;
    while (!atomic_load(&toucher_started) && now_ms() < deadline) sched_yield();
    uint64_t until = now_ms() + 50;                  /* 50 ms: it must still be waiting */
    while (now_ms() < until && !atomic_load(&toucher_done)) sched_yield();
    atomic_store(&hook_saw_toucher_wait, atomic_load(&toucher_started) && !atomic_load(&toucher_done));
}

static void toucher_waits(int read)
{
    if (!local_setup_biased()) return;
    atomic_store(&toucher_go, 0);
    atomic_store(&toucher_started, 0);
    atomic_store(&toucher_done, 0);
    tg_obj *l = OK(tg_list_new(0));
    for (int i = 0; i < 5; i++) {
        tg_obj *x = OK(tg_int(i));
        cr_assert_eq(tg_list_append(l, x), 0);
        tg_decref(x);
    }
    atomic_store(&young_pub, l);                     /* l's reference is the test's */
    drop_cycles(20);
    thr t = { .fn = toucher_fn, .arg = (void *)(intptr_t)read };
    spawn(&t);
    uint64_t rev = _tg_bias_revocations();
    _tg_gc_local_hook = hook_toucher;
    intptr_t n = _tg_gc_collect_local();
    _tg_gc_local_hook = NULL;
    cr_assert_eq(n, 40, "the local collection ran (got %ld)", (long)n);
    cr_assert(atomic_load(&hook_saw_toucher_wait), "the other thread waited for the examination");
    join_released(&t);
    cr_assert(atomic_load(&toucher_done));
    cr_assert_eq(_tg_bias_revocations(), rev + 1);
    cr_assert_eq(tg_list_len(l), read ? 5 : 6);
    for (int i = 0; i < (int)tg_list_len(l); i++) {
        tg_obj *x = OK(tg_list_get(l, i));
        cr_assert_eq(tg_int_value(x), i < 5 ? i : 99);
        tg_decref(x);
    }
    cr_assert(tg_gc_is_tracked(l));
    atomic_store(&young_pub, NULL);
    tg_decref(l);
    tg_gc_enable();
    teardown();
    fini_ft();
}

Test(gc_ft, append_during_a_local_collection_waits_and_sees_the_list, .timeout = 60) { toucher_waits(0); }
Test(gc_ft, read_during_a_local_collection_waits_and_sees_the_list, .timeout = 60) { toucher_waits(1); }

/* What a local collection does not handle makes it fall back: the
   automatic collection then stops the world, as before. */
static int cb_local_start, cb_local_stop;
static intptr_t cb_local_collected;
static void local_cb(int phase, const tg_gc_info *info, void *arg)
{
    (void)arg;
    if (info->generation != 0) return;
    if (phase == TG_GC_START) cb_local_start++;
    else { cb_local_stop++; cb_local_collected += info->collected; }
}

static void plain_traverse_type_cycle(tg_type *t)
{
    tg_obj *o = OK(tg_new(t));
    cr_assert_eq(tg_setattr(o, "self", o), 0);
    tg_decref(o);
}

Test(gc_ft, local_collection_falls_back_for_finalizers_weakrefs_and_embedder_types, .timeout = 60)
{
    if (!local_setup_biased()) return;
    cr_assert_eq(tg_gc_add_callback(local_cb, NULL), 0);
    /* eligible: runs, with callbacks for generation 0 */
    drop_cycles(5);
    cr_assert_eq(_tg_gc_collect_local(), 10);
    cr_assert_eq(cb_local_start, 1);
    cr_assert_eq(cb_local_stop, 1);
    cr_assert_eq(cb_local_collected, 10);
    /* a finalizer (an embedder GC type with one) */
    drop_self_cycle(PLAIN);
    drop_cycles(5);
    uint64_t fb = local_fallbacks();
    cr_assert_eq(_tg_gc_collect_local(), -1);
    cr_assert_eq(local_fallbacks(), fb + 1);
    cr_assert_eq(cb_local_start, 1, "no callback for a collection that falls back");
    cr_assert_eq(tg_gc_collect(0), 11);
    cr_assert_eq(atomic_load(&finalized), 1);
    /* a weakref to a young object (a plain instance: eligible without it) */
    tg_obj *l = OK(tg_object_new(NULL));
    cr_assert_eq(tg_setattr(l, "self", l), 0);
    tg_obj *w = OK(tg_weakref(l, NULL, NULL));
    tg_decref(l);
    cr_assert_eq(_tg_gc_collect_local(), -1);
    cr_assert_eq(tg_gc_collect(0), 1);
    tg_obj *r = tg_weakref_get(w);
    cr_assert(r == NULL || r == tg_none());
    tg_xdecref(r);
    tg_decref(w);
    /* an embedder GC type without a finalizer */
    tg_type_spec sp = { .name = "PlainGc", .payload_size = 8, .flags = TG_TYPE_GC };
    tg_type *pt = tg_type_new(&sp);
    cr_assert_not_null(pt);
    plain_traverse_type_cycle(pt);
    cr_assert_eq(_tg_gc_collect_local(), -1);
    cr_assert_eq(tg_gc_collect(0), 1);
    /* the automatic path: a young list with a finalizer is collected with
       the world stopped (the fallback), and local collections resume */
    drop_self_cycle(PLAIN);
    fb = local_fallbacks();
    uint64_t runs = local_runs();
    tg_gc_set_threshold(50, 1000, 1000);
    tg_gc_enable();
    for (int i = 0; i < 40; i++) drop_cycles(1);
    cr_assert_gt(local_fallbacks(), fb, "the first automatic collection fell back");
    cr_assert_eq(atomic_load(&finalized), 2, "and collected the finalizer's cycle");
    for (int i = 0; i < 100; i++) drop_cycles(1);
    cr_assert_gt(local_runs(), runs, "later ones are local");
    cr_assert_eq(tg_gc_remove_callback(local_cb, NULL), 0);
    teardown();
    fini_ft();
}

/* A local collection that meets an object it cannot handle late in the
   list (after a parent already gave it its gc_refs) puts the list back as
   it was: the collection with the world stopped that follows validates the
   lists (TG_DEBUG >= 2) and finds exactly the garbage. */
static _Atomic(tg_obj *) revoke_me;
static void revoker_fn(void *arg)
{
    (void)arg;
    tg_obj *x = tg_list_get(atomic_load(&revoke_me), 0);    /* revokes its bias */
    WCHECK(x != NULL && tg_int_value(x) == 7);
    tg_xdecref(x);
}

Test(gc_ft, local_collection_that_falls_back_leaves_the_young_list_intact, .timeout = 60)
{
    if (!local_setup_biased()) return;
    drop_cycles(5);
    tg_obj *a = OK(tg_list_new(0)), *s = OK(tg_list_new(0)), *seven = OK(tg_int(7));
    cr_assert_eq(tg_list_append(s, seven), 0);
    cr_assert_eq(tg_list_append(a, s), 0);           /* a (earlier in the list) refers to s */
    tg_decref(seven);
    drop_cycles(5);
    atomic_store(&revoke_me, s);
    thr t = { .fn = revoker_fn };
    spawn(&t);
    join_released(&t);
    cr_assert(lock_bits_off(s));
    uint64_t fb = local_fallbacks();
    cr_assert_eq(_tg_gc_collect_local(), -1, "s is shared now: not eligible");
    cr_assert_eq(local_fallbacks(), fb + 1);
    cr_assert(tg_gc_is_tracked(a) && tg_gc_is_tracked(s));
    cr_assert_eq(tg_gc_collect(0), 20, "the 10 cycles, found by the collection that stops the world");
    cr_assert_eq(tg_list_len(a), 1);
    tg_obj *x = OK(tg_list_get(a, 0));
    cr_assert_eq(x, s);
    tg_decref(x);
    drop_cycles(3);
    cr_assert_eq(_tg_gc_collect_local(), 6, "a and s are old now: local collections resume");
    atomic_store(&revoke_me, NULL);
    tg_decref(a);
    tg_decref(s);
    tg_gc_enable();
    teardown();
    fini_ft();
}

/* count[1] counts collections of generation 0. A local collection collects
   one thread's young list, about 1/N of generation 0 with N threads that
   have one: with one thread each adds 1 to count[1] (the GIL-mode rule),
   with two it takes two. */
static atomic_int cnt_hold;
static void young_holder_fn(void *arg)
{
    (void)arg;
    tg_obj *l = tg_list_new(0);              /* tracked: this thread gets a young list */
    atomic_store(&cnt_hold, 1);
    while (atomic_load(&cnt_hold) == 1) {
        TG_BEGIN_ALLOW_THREADS
        sched_yield();
        TG_END_ALLOW_THREADS
    }
    tg_xdecref(l);
}

Test(gc_ft, local_collections_count_as_a_share_of_generation_0, .timeout = 60)
{
    if (!local_setup_biased()) return;
    long c[3], d[3];
    drop_cycles(1);
    tg_gc_get_count(c);
    cr_assert_eq(_tg_gc_collect_local(), 2);
    tg_gc_get_count(d);
    cr_assert_eq(d[1], c[1] + 1, "one thread: a local collection is a whole generation-0 collection");
    atomic_store(&cnt_hold, 0);
    thr t = { .fn = young_holder_fn };
    spawn(&t);
    while (atomic_load(&cnt_hold) == 0) {
        TG_BEGIN_ALLOW_THREADS
        sched_yield();
        TG_END_ALLOW_THREADS
    }
    tg_gc_get_count(c);
    long added = 0;
    for (int i = 0; i < 4; i++) {
        drop_cycles(1);
        cr_assert_eq(_tg_gc_collect_local(), 2);
        tg_gc_get_count(d);
        added = d[1] - c[1];
    }
    cr_assert_eq(added, 2, "two threads with young lists: 4 local collections add 2 to count[1], not %ld", added);
    atomic_store(&cnt_hold, 2);
    join_released(&t);
    tg_gc_enable();
    teardown();
    fini_ft();
}

/* count[0] is per thread in this mode: a thread's young list is collected
   when its own part passes threshold[0] (no thread writes a shared count);
   tg_gc_get_count sums the parts, a collection of the generations zeroes
   them all, and a thread's part stays counted after it exits. Counts are
   flushed every 32 allocations: 64 makes a part exact. */
static atomic_int part_step;
static tg_obj *part_kept[128];

static void part_alloc(tg_obj **kept, int n)
{
    for (int i = 0; i < n; i++) WCHECK((kept[i] = tg_list_new(0)) != NULL);
}

static void part_fn(void *arg)
{
    (void)arg;
    part_alloc(part_kept, 64);
    atomic_store(&part_step, 1);
    TG_BEGIN_ALLOW_THREADS
    while (atomic_load(&part_step) == 1) sched_yield();
    TG_END_ALLOW_THREADS
    part_alloc(part_kept + 64, 64);
}

static long gen0_collections(void)
{
    tg_gc_stats st[3];
    tg_gc_get_stats(st);
    return (long)st[0].collections;
}

Test(gc_ft, each_thread_counts_its_own_part_of_count_0, .timeout = 60)
{
    local_setup();
    tg_gc_set_threshold(100, 1000, 1000);
    tg_gc_collect(0);                        /* every part 0, no delta pending */
    long c[3];
    tg_gc_get_count(c);
    cr_assert_eq(c[0], 0);
    atomic_store(&part_step, 0);
    thr t = { .fn = part_fn };
    spawn(&t);
    while (atomic_load(&part_step) == 0) {
        TG_BEGIN_ALLOW_THREADS
        sched_yield();
        TG_END_ALLOW_THREADS
    }
    tg_gc_enable();
    long before = gen0_collections();
    tg_obj *mine[128];
    part_alloc(mine, 64);
    tg_gc_get_count(c);
    cr_assert_eq(c[0], 128, "the sum of both parts (got %ld)", c[0]);
    cr_assert_eq(gen0_collections(), before,
                 "no collection: the sum passed threshold[0], neither thread's part did");
    part_alloc(mine + 64, 64);               /* this thread's part: 128 > 100 */
    cr_assert_eq(gen0_collections(), before + 1, "this thread's part passed threshold[0]");
    tg_gc_get_count(c);
    /* a local collection leaves the other thread's part; one that stopped
       the world (no biased counts here) zeroed it too */
    cr_assert_eq(c[0], have_bias() ? 64 : 0, "got %ld", c[0]);
    tg_gc_collect(0);
    tg_gc_get_count(c);
    cr_assert_eq(c[0], 0, "a collection of the generations zeroes every part (got %ld)", c[0]);
    atomic_store(&part_step, 2);
    join_released(&t);
    tg_gc_get_count(c);
    cr_assert_eq(c[0], 64, "the exited thread's part stays counted (got %ld)", c[0]);
    for (int i = 0; i < 128; i++) { tg_xdecref(part_kept[i]); tg_decref(mine[i]); }
    teardown();
    fini_ft();
}

/* ------------------------------------------- local collections of generation 1

   A local young collection's survivors go to the thread's own aged list
   (its private part of generation 1); a local collection of generation 1
   examines the young and aged lists together, with the world running; its
   aged survivors join generation 2, its young survivors go back to the
   aged list (promoted at the next round if they survive it). */

/* n two-list cycles, kept: out[2i], out[2i+1] hold one reference each */
static void make_cycles(int n, tg_obj **out)
{
    for (int i = 0; i < n; i++) {
        tg_obj *a = OK(tg_list_new(0)), *b = OK(tg_list_new(0));
        cr_assert_eq(tg_list_append(a, b), 0);
        cr_assert_eq(tg_list_append(b, a), 0);
        out[2 * i] = a;
        out[2 * i + 1] = b;
    }
}

Test(gc_ft, local_collection_of_generation_1_collects_the_aged_list_while_another_thread_runs, .timeout = 60)
{
    thr t;
    if (!local_setup_ticking(&t)) return;
    tg_obj *kept[20];
    make_cycles(10, kept);
    drop_cycles(5);
    cr_assert_eq(_tg_gc_collect_local(), 10, "the dropped cycles; the kept ones survive (aged)");
    for (int i = 0; i < 20; i++) tg_decref(kept[i]);  /* now garbage, on the aged list */
    drop_cycles(3);
    cr_assert_eq(_tg_gc_collect_local(), 6, "a young collection does not examine the aged list");
    drop_cycles(2);
    long c[3], d[3];
    tg_gc_get_count(c);
    tg_gc_stats before[3], after[3];
    tg_gc_get_stats(before);
    uint64_t runs = local_runs();
    atomic_store(&hook_saw_ticks, 0);
    _tg_gc_local_hook = hook_world_runs;
    intptr_t n = _tg_gc_collect_local_gen(1);
    _tg_gc_local_hook = NULL;
    cr_assert_eq(n, 24, "young and aged garbage, locally (got %ld)", (long)n);
    cr_assert(atomic_load(&hook_saw_ticks), "the other thread ran during the examination");
    cr_assert_eq(local_runs(), runs + 1);
    tg_gc_get_stats(after);
    cr_assert_eq(after[1].collections, before[1].collections + 1, "counted as a generation-1 collection");
    cr_assert_eq(after[1].collected, before[1].collected + 24);
    cr_assert_eq(after[0].collections, before[0].collections);
    tg_gc_get_count(d);
    cr_assert_eq(d[0], 0);
    cr_assert_eq(d[2], c[2] + 1, "one thread with a young list: a whole generation-1 collection in count[2]");
    /* survivors: the aged one (y) goes to generation 2, the young one (x)
       back to the aged list; at the next round x goes to generation 2 */
    tg_obj *y = OK(tg_list_new(0));
    cr_assert_eq(_tg_gc_collect_local(), 0);
    tg_obj *x = OK(tg_list_new(0));
    cr_assert_eq(tg_list_append(x, y), 0);
    cr_assert_eq(_tg_gc_collect_local_gen(1), 0);
    cr_assert_eq(y->ob_gc_bits & 0x07, 0x05, "the aged survivor is in generation 2 (bits %#x)", y->ob_gc_bits);
    cr_assert_eq(x->ob_gc_bits & 0x0f, 0x0b, "the young survivor is aged, on its thread's list (bits %#x)",
                 x->ob_gc_bits);
    cr_assert_eq(_tg_gc_collect_local_gen(1), 0);
    cr_assert_eq(x->ob_gc_bits & 0x07, 0x05, "aged at this round: generation 2 (bits %#x)", x->ob_gc_bits);
    tg_obj *g2 = OK(tg_gc_get_objects(2));
    int found = 0;
    for (size_t i = 0; i < tg_list_len(g2); i++) {
        tg_obj *o = OK(tg_list_get(g2, i));
        found += o == x || o == y;
        tg_decref(o);
    }
    tg_decref(g2);
    cr_assert_eq(found, 2, "the survivors are in generation 2");
    tg_decref(x);
    tg_decref(y);
    local_teardown_ticking(&t);
}

/* What a collection of generation 1 finds in GIL mode it finds here too:
   a cycle through a tuple (a tuple's items can be read by any thread, so a
   local collection cannot judge it) and a cycle through another thread's
   container make the local collection of generation 1 not eligible, and
   the collection of generation 1 that stops the world finds them. */
static _Atomic(tg_obj *) xg_mine, xg_theirs;
static void other_half_fn(void *arg)
{
    (void)arg;
    tg_obj *u = tg_list_new(0);                      /* this thread's */
    WCHECK(u != NULL);
    tg_obj *m = atomic_load(&xg_mine);
    WCHECK(u && tg_list_append(u, m) == 0);          /* u -> m */
    atomic_store(&xg_theirs, u);                     /* u's reference is the main thread's now */
}

Test(gc_ft, local_collection_of_generation_1_leaves_tuple_and_cross_thread_cycles_to_the_stopped_world, .timeout = 60)
{
    if (!local_setup_biased()) return;
    /* a tuple cycle: c -> (c,) */
    tg_obj *c = OK(tg_list_new(0));
    tg_obj *tu = OK(tg_tuple(1, c));
    cr_assert_eq(tg_list_append(c, tu), 0);
    tg_decref(tu);
    tg_decref(c);
    drop_cycles(2);
    cr_assert_eq(_tg_gc_collect_local(), 4, "the tuple cycle survives a local young collection");
    uint64_t fb = local_fallbacks();
    cr_assert_eq(_tg_gc_collect_local_gen(1), -1, "a tuple on the aged list: not eligible");
    cr_assert_eq(local_fallbacks(), fb + 1);
    cr_assert_eq(tg_gc_collect(1), 2, "found by the collection of generation 1");
    /* a cycle through another thread's list: m -> u -> m, and m <-> h (h
       keeps m's count this thread's: an object only the other thread
       refers to would be merged, and not eligible for that reason) */
    tg_obj *m = OK(tg_list_new(0)), *h = OK(tg_list_new(0));
    cr_assert_eq(tg_list_append(h, m), 0);
    cr_assert_eq(tg_list_append(m, h), 0);
    tg_decref(h);
    atomic_store(&xg_mine, m);
    atomic_store(&xg_theirs, NULL);
    thr t = { .fn = other_half_fn };
    spawn(&t);
    join_released(&t);
    tg_obj *u = atomic_load(&xg_theirs);
    cr_assert_not_null(u);
    cr_assert_eq(tg_list_append(m, u), 0);           /* m -> u */
    tg_decref(u);
    tg_decref(m);
    drop_cycles(2);
    intptr_t got = _tg_gc_collect_local();
    cr_assert_eq(got, 4, "m and h survive (u, outside, refers to m): got %ld", (long)got);
    cr_assert(tg_gc_is_tracked(m) && tg_gc_is_tracked(h));
    fb = local_fallbacks();
    cr_assert_eq(_tg_gc_collect_local_gen(1), -1, "m refers to another thread's container: not eligible");
    cr_assert_eq(local_fallbacks(), fb + 1);
    cr_assert_eq(tg_gc_collect(1), 3, "found by the collection of generation 1");
    drop_cycles(3);
    cr_assert_eq(_tg_gc_collect_local_gen(1), 6, "and local collections of generation 1 resume");
    tg_gc_enable();
    teardown();
    fini_ft();
}

/* A local collection of generation 0 untracks tuples of atoms, as a
   collection with the world stopped does (count_refs_first): a tree of
   them in one walk, children first. A tuple that holds a list, or another
   thread's tuple (whose bits its owner may be writing), stays tracked. */
static _Atomic(tg_obj *) their_tuple;
static void their_tuple_fn(void *arg)
{
    (void)arg;
    tg_obj *t = tg_tuple(2, tg_none(), tg_none());   /* a tuple of atoms, this thread's */
    WCHECK(t != NULL);
    WCHECK(_tg_gc_collect_local() == 0);             /* ... untracked by its owner */
    WCHECK(t && !tg_gc_is_tracked(t));
    atomic_store(&their_tuple, t);                   /* its reference is the main thread's now */
}

Test(gc_ft, local_collection_untracks_tuples_of_atoms_and_only_the_thread_s_own, .timeout = 60)
{
    if (!local_setup_biased()) return;
    thr t = { .fn = their_tuple_fn };
    spawn(&t);
    join_released(&t);
    tg_obj *theirs = atomic_load(&their_tuple);
    cr_assert_not_null(theirs);
    tg_obj *five = OK(tg_int(123456)), *s = OK(tg_str("atom"));
    tg_obj *leaf1 = OK(tg_tuple(2, five, s)), *leaf2 = OK(tg_tuple(2, tg_none(), five));
    tg_obj *node = OK(tg_tuple(2, leaf1, leaf2));
    tg_obj *root = OK(tg_tuple(2, node, leaf1));
    tg_obj *l = OK(tg_list_new(0));
    tg_obj *with_list = OK(tg_tuple(2, leaf1, l));
    tg_obj *with_theirs = OK(tg_tuple(1, theirs));
    tg_obj *all[] = { leaf1, leaf2, node, root, with_list, with_theirs };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        cr_assert(tg_gc_is_tracked(all[i]), "tuple %zu tracked when made", i);
    cr_assert_eq(_tg_gc_collect_local(), 0, "nothing is garbage");
    cr_assert_not(tg_gc_is_tracked(leaf1));
    cr_assert_not(tg_gc_is_tracked(leaf2));
    cr_assert_not(tg_gc_is_tracked(node), "a tuple of untracked tuples, untracked in the same walk");
    cr_assert_not(tg_gc_is_tracked(root));
    cr_assert(tg_gc_is_tracked(with_list), "a tuple that holds a list stays tracked");
    cr_assert(tg_gc_is_tracked(with_theirs),
              "a tuple that holds another thread's tuple stays tracked, untracked as that one is");
    /* untracked tuples still work and are freed by their counts */
    tg_obj *x = OK(tg_tuple_get(root, 0));
    cr_assert_eq(x, node);
    tg_decref(x);
    tg_obj *objs[] = { five, s, leaf1, leaf2, node, root, l, with_list, with_theirs, theirs };
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) tg_decref(objs[i]);
    cr_assert_eq(_tg_gc_collect_local(), 0);
    tg_gc_enable();
    teardown();
    fini_ft();
}

/* Automatic collections, one thread making cyclic garbage while another
   runs: every collection of generations 0 and 1 is local (each one runs
   the local hook; a collection that stops the world does not), generation
   1 is collected about once per threshold1 collections of generation 0,
   as in GIL mode, and memory stays bounded. */
static _Atomic long auto_hooks;
static long auto_stops[3];
static void hook_count(void) { atomic_fetch_add(&auto_hooks, 1); }
static void auto_cb(int phase, const tg_gc_info *info, void *arg)
{
    (void)arg;
    if (phase == TG_GC_STOP) auto_stops[info->generation]++;
}

Test(gc_ft, automatic_collections_of_generations_0_and_1_are_local, .timeout = 60)
{
    thr t;
    if (!local_setup_ticking(&t)) return;
    cr_assert_eq(tg_gc_add_callback(auto_cb, NULL), 0);
    atomic_store(&auto_hooks, 0);
    memset(auto_stops, 0, sizeof auto_stops);
    tg_gc_set_threshold(100, 5, 1000000);          /* generation 2: never, here */
    _tg_gc_local_hook = hook_count;
    size_t live0 = tg_live_objects();
    tg_gc_enable();
    for (int i = 0; i < 20000; i++) {
        drop_cycles(1);
        cr_assert_lt(tg_live_objects(), live0 + 1000, "bounded");
    }
    tg_gc_disable();
    _tg_gc_local_hook = NULL;
    cr_assert_eq(tg_gc_remove_callback(auto_cb, NULL), 0);
    cr_assert_eq(auto_stops[2], 0);
    cr_assert_gt(auto_stops[1], 0, "generation 1 was collected");
    cr_assert_eq(atomic_load(&auto_hooks), auto_stops[0] + auto_stops[1],
                 "every collection was local (%ld hooks, %ld + %ld collections)",
                 atomic_load(&auto_hooks), auto_stops[0], auto_stops[1]);
    long ratio = auto_stops[0] / auto_stops[1];
    cr_assert(ratio >= 5 && ratio <= 6, "generation 1 once per ~6 of generation 0 (%ld : %ld)",
              auto_stops[0], auto_stops[1]);
    local_teardown_ticking(&t);
}

/* Objects in flight when a round of generation 1 comes (scale_cycles: the
   first list of a pair is alive while the second is allocated, and an
   allocation starts the collection) survive it and then die in a cycle.
   They go back to the aged list, and the next local round frees them:
   nothing is promoted, so no full collection (which stops the world) is
   due, even with threshold2 = 1; memory stays bounded. Before, each round
   promoted them and a full collection ran every threshold2 rounds to free
   them. */
Test(gc_ft, objects_in_flight_at_a_round_are_freed_by_the_next_round, .timeout = 60)
{
    thr t;
    if (!local_setup_ticking(&t)) return;
    /* the mechanism, step by step: a young survivor of a round dies in a
       cycle with a younger object; a young collection keeps the pair (the
       aged one refers to the young one), the next round frees both */
    tg_obj *a = OK(tg_list_new(0));
    cr_assert_eq(_tg_gc_collect_local_gen(1), 0);
    cr_assert_eq(a->ob_gc_bits & 0x0f, 0x0b, "a survived the round on the aged list (bits %#x)", a->ob_gc_bits);
    tg_obj *b = OK(tg_list_new(0));
    cr_assert_eq(tg_list_append(a, b), 0);
    cr_assert_eq(tg_list_append(b, a), 0);
    tg_decref(a);
    tg_decref(b);
    cr_assert_eq(_tg_gc_collect_local(), 0, "the young one is referred to by the aged one");
    tg_gc_stats before[3], after[3];
    tg_gc_get_stats(before);
    cr_assert_eq(_tg_gc_collect_local_gen(1), 2, "the next round frees the pair, locally");
    /* automatic collections */
    cr_assert_eq(tg_gc_add_callback(auto_cb, NULL), 0);
    memset(auto_stops, 0, sizeof auto_stops);
    tg_gc_set_threshold(100, 5, 1);
    size_t live0 = tg_live_objects();
    tg_gc_enable();
    for (int i = 0; i < 2000; i++) drop_cycles(1);   /* what was alive before is promoted by now */
    long full0 = auto_stops[2], young0 = auto_stops[0], rounds0 = auto_stops[1];
    for (int i = 0; i < 20000; i++) {
        drop_cycles(1);
        cr_assert_lt(tg_live_objects(), live0 + 1000, "bounded");
    }
    tg_gc_disable();
    cr_assert_eq(tg_gc_remove_callback(auto_cb, NULL), 0);
    cr_assert_gt(auto_stops[0], young0 + 100);
    cr_assert_gt(auto_stops[1], rounds0 + 20, "rounds of generation 1 ran (%ld)", auto_stops[1] - rounds0);
    cr_assert_eq(auto_stops[2], full0, "no full collection: nothing was promoted (%ld of them)",
                 auto_stops[2] - full0);
    tg_gc_get_stats(after);
    cr_assert_eq(after[2].collections - before[2].collections, (uint64_t)auto_stops[2]);
    local_teardown_ticking(&t);
}

/* Objects thawed by tg_gc_unfreeze count as promoted: cyclic garbage
   frozen, then thawed into generation 2, is freed by an automatic full
   collection, though the automatic collections around it promote nothing
   (without the count, no full collection would be due). */
Test(gc_ft, thawed_objects_make_a_full_collection_due, .timeout = 60)
{
    thr t;
    if (!local_setup_ticking(&t)) return;
    cr_assert_geq(tg_gc_collect(-1), 0);          /* what is alive: generation 2, nothing pending */
    tg_obj *kept[6];
    make_cycles(3, kept);
    tg_gc_freeze();
    for (int i = 0; i < 6; i++) tg_decref(kept[i]);   /* garbage, frozen */
    tg_gc_unfreeze();
    tg_gc_stats before[3], after[3];
    tg_gc_get_stats(before);
    tg_gc_set_threshold(100, 2, 1);
    tg_gc_enable();
    for (int i = 0; i < 5000; i++) drop_cycles(1);
    tg_gc_disable();
    tg_gc_get_stats(after);
    cr_assert_gt(after[2].collections, before[2].collections, "a full collection ran");
    cr_assert_geq(after[2].collected - before[2].collected, 6, "the thawed cycles were freed (%llu)",
                  (unsigned long long)(after[2].collected - before[2].collected));
    local_teardown_ticking(&t);
}

/* A zombie on another thread's aged list, not queued yet when two
   collections run (from a finalizer called while the zombie's destroy
   drops its items): the first, of generation 0, leaves the aged lists
   where they are but clears the slot's zombie flag, so it must unlink the
   zombie; the second, of generation 1, splices the aged lists whole. */
static _Atomic int azombie_step;
static _Atomic intptr_t azombie_collected = -1;
static void collect_twice_in_finalizer(tg_obj *self)
{
    (void)self;
    intptr_t a = tg_gc_collect(0);
    atomic_store(&azombie_collected, a + tg_gc_collect(1));
}

static void aged_zombie_owner_fn(void *arg) { (void)arg; zombie_owner(&azombie_step, true); }

Test(gc_ft, zombie_on_an_aged_list_not_yet_queued_when_collections_start)
{
    init_ft();
    if (!have_bias()) { fini_ft(); return; }         /* no membarrier(): no local collection, no aged list */
    tg_type_spec spec = { .name = "CollectTwiceOnDeath", .flags = TG_TYPE_GC, .finalize = collect_twice_in_finalizer };
    tg_type *t = tg_type_new(&spec);
    cr_assert_not_null(t);
    tg_gc_disable();
    tg_gc_collect(-1);
    thr w = { aged_zombie_owner_fn, NULL, 0 };
    zombie_drive(&w, &azombie_step, &azombie_collected, t, "the finalizer ran two collections");
    cr_assert_eq(tg_gc_collect(-1), 0);
    tg_gc_enable();
    fini_ft();
}

/* ------------------------- automatic collections and other threads' lists

   A collection of the generations that an automatic trigger starts leaves
   out the young lists of the other threads that collect them themselves (a
   local collection of the slot since the last automatic collection): their
   owners free that garbage, not the collector (gc/gc.c, young_gather_lazy).
   An idle thread's young list is gathered by the next one; tg_gc_collect
   gathers every list. _tg_gc_collect_as_automatic runs the collection an
   automatic trigger would. */

enum { YL_CYCLES = 50 };
static _Atomic int yl_phase;          /* the worker's progress; the main thread's go */
static _Atomic intptr_t yl_local;     /* what the worker's second local collection freed */

/* Collects its young list once (so it counts as collecting its own), leaves
   YL_CYCLES two-list cycles on it, and waits released; at phase 2 it runs a local
   collection (when asked: arg != NULL) and reports what it freed. */
static void yl_worker(void *arg)
{
    tg_obj *x = tg_list_new(0);                 /* claims a slot */
    WCHECK(x != NULL);
    tg_xdecref(x);
    WCHECK(_tg_gc_collect_local() >= 0);
    for (int i = 0; i < YL_CYCLES; i++) {
        tg_obj *a = tg_list_new(0), *b = tg_list_new(0);
        WCHECK(a && b && tg_list_append(a, b) == 0 && tg_list_append(b, a) == 0);
        tg_xdecref(a);
        tg_xdecref(b);
    }
    atomic_store(&yl_phase, 1);
    TG_BEGIN_ALLOW_THREADS
    while (atomic_load(&yl_phase) < 2) sched_yield();
    TG_END_ALLOW_THREADS
    if (arg) atomic_store(&yl_local, _tg_gc_collect_local());
    atomic_store(&yl_phase, 3);
}

/* local_setup, then the worker started and its cycle made; false (cleaned
   up) without biased counts */
static bool yl_start(thr *w, bool collect_later)
{
    if (!local_setup_biased()) return false;
    atomic_store(&yl_phase, 0);
    atomic_store(&yl_local, -1);
    *w = (thr){ .fn = yl_worker, .arg = collect_later ? (void *)w : NULL };
    spawn(w);
    while (atomic_load(&yl_phase) < 1) { tg_safepoint(); sched_yield(); }
    return true;
}

static void yl_finish(thr *w)
{
    atomic_store(&yl_phase, 2);
    join_released(w);
    tg_gc_enable();
    teardown();
    fini_ft();
}

Test(gc_ft, automatic_collection_leaves_a_collecting_thread_s_young_list_to_it, .timeout = 60)
{
    thr w;
    if (!yl_start(&w, true)) return;
    long before[3];
    tg_gc_get_count(before);
    cr_assert_eq(_tg_gc_collect_as_automatic(2), 0, "the worker's cycles are its own to free");
    long after[3];
    tg_gc_get_count(after);
    /* (less what its last count flush had not passed on: < 32) */
    cr_assert_geq(after[0], 2 * YL_CYCLES - 32, "the worker's part of count[0] still counts its young objects (%ld)",
                  after[0]);
    atomic_store(&yl_phase, 2);
    while (atomic_load(&yl_phase) < 3) sched_yield();
    cr_assert_eq(atomic_load(&yl_local), 2 * YL_CYCLES, "the worker's own collection freed its cycles (got %ld)",
                 (long)atomic_load(&yl_local));
    yl_finish(&w);
}

Test(gc_ft, automatic_collection_gathers_an_idle_thread_s_young_list, .timeout = 60)
{
    thr w;
    if (!yl_start(&w, false)) return;
    cr_assert_eq(_tg_gc_collect_as_automatic(2), 0, "left out: the worker had collected since the last one");
    cr_assert_eq(_tg_gc_collect_as_automatic(2), 2 * YL_CYCLES, "gathered: the worker has not collected since");
    yl_finish(&w);
}

Test(gc_ft, explicit_collection_gathers_every_young_list, .timeout = 60)
{
    thr w;
    if (!yl_start(&w, false)) return;
    cr_assert_eq(tg_gc_collect(-1), 2 * YL_CYCLES);
    yl_finish(&w);
}

/* Slots 4-7 and 12-15 put the bit of "unreachable" in their young and aged
   objects' bits at rest. A local young collection there whose garbage refers
   to an aged object of the same thread (outside the set) must drop that
   reference: the garbage's bulk free once took the aged object for a member
   of the set and skipped it, and the object leaked. */
static _Atomic long aged_count_after;

static void aged_ref_fn(void *arg)
{
    (void)arg;
    tg_obj *a = tg_list_new(0);
    WCHECK(a != NULL);
    if (!a) return;
    WCHECK((a->ob_gc_bits >> GC_SLOT_SHIFT_T) & 4);          /* a slot of 4-7 */
    WCHECK(_tg_gc_collect_local() == 0);                      /* a: aged */
    tg_obj *g = tg_list_new(0), *h = tg_list_new(0);
    WCHECK(g && h && tg_list_append(g, h) == 0 && tg_list_append(h, g) == 0 && tg_list_append(g, a) == 0);
    tg_xdecref(g);
    tg_xdecref(h);
    WCHECK(_tg_gc_collect_local() == 2);
    atomic_store(&aged_count_after, (long)tg_refcount(a));
    tg_decref(a);
}

Test(gc_ft, local_collection_in_a_high_slot_drops_its_garbage_s_reference_to_an_aged_object, .timeout = 60)
{
    if (!local_setup_biased()) return;
    atomic_store(&aged_count_after, -1);
    thr c = { aged_ref_fn, NULL, 0 };
    run_in_high_slot(&c, 3);                         /* slots: main 1, holders 2-4 -> the worker 5 */
    cr_assert_eq(atomic_load(&aged_count_after), 1, "the aged list's count after its referrer was freed: %ld",
                 atomic_load(&aged_count_after));
    tg_gc_enable();
    teardown();
    fini_ft();
}

/* The same overlap, phase 3: a collection of generation 0 (which leaves the
   aged lists out) whose garbage has a legacy finalizer moves what that
   garbage reaches out of the set. An aged object it reaches, from a slot of
   4-7, once looked like a member and was moved (and counted uncollectable)
   with it. */
static _Atomic intptr_t legacy_high_got;
static _Atomic int legacy_high_bits;

static void legacy_high_fn(void *arg)
{
    tg_type *lt = arg;
    tg_obj *p = tg_list_new(0);
    WCHECK(p != NULL);
    if (!p) return;
    WCHECK((p->ob_gc_bits >> GC_SLOT_SHIFT_T) & 4);          /* a slot of 4-7 */
    WCHECK(_tg_gc_collect_local() == 0);                      /* p: aged */
    tg_obj *a = tg_new(lt);
    WCHECK(a && tg_setattr(a, "a", a) == 0 && tg_setattr(a, "p", p) == 0);
    tg_xdecref(a);
    atomic_store(&legacy_high_got, tg_gc_collect(0));
    atomic_store(&legacy_high_bits, p->ob_gc_bits & 0x0f);   /* at rest: generation, GC_LOCAL */
    tg_obj *g = tg_gc_garbage();                             /* the embedder breaks the cycle */
    WCHECK(g && tg_list_len(g) == 1);
    if (g && tg_list_len(g) == 1) {
        tg_obj *x = tg_list_get(g, 0);
        WCHECK(x && tg_delattr(x, "a") == 0 && tg_delattr(x, "p") == 0);
        tg_list_clear(g);
        tg_xdecref(x);
    }
    tg_xdecref(g);
    tg_decref(p);
}

Test(gc_ft, legacy_garbage_in_a_high_slot_leaves_an_aged_object_it_reaches_alone, .timeout = 60)
{
    if (!local_setup_biased()) return;
    atomic_store(&legacy_calls, 0);
    tg_type_spec ls = { .name = "FtLegacyHigh", .flags = TG_TYPE_GC | TG_TYPE_LEGACY_DEL, .finalize = legacy_del };
    tg_type *lt = tg_type_new(&ls);
    cr_assert_not_null(lt);
    atomic_store(&legacy_high_got, -1);
    thr c = { legacy_high_fn, lt, 0 };
    run_in_high_slot(&c, 3);                         /* slots: main 1, holders 2-4 -> the worker 5 */
    cr_assert_eq(atomic_load(&legacy_high_got), 1, "only the legacy object is uncollectable (got %ld)",
                 (long)atomic_load(&legacy_high_got));
    cr_assert_eq(atomic_load(&legacy_high_bits), 0x0b, "the aged object is still aged (bits %#x)",
                 atomic_load(&legacy_high_bits));
    tg_gc_enable();
    teardown();
    fini_ft();
}
