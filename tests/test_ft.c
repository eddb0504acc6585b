/*
 * tests/test_ft.c — free-threaded mode (issue 7, "Correctness"): biased
 * counts and their merges, owner exit, objects freed by a thread other than
 * their creator, TG_RC_ATOMIC, immortals, lock-free list/dict reads racing
 * writers, critical sections, the collector with several threads attached.
 * docs/free-threading.md has the state machine these tests walk through.
 *
 * Criterion cannot start under TSan (Criterion issue #274): the sanitizer
 * coverage of these paths comes from `tangle stress --mode ft` (scen_ft.c).
 *
 * Worker threads never call cr_assert (it is not thread-safe): they count
 * failures in `bad`, which the main thread asserts is 0. Joins happen with the
 * thread released, so a collection's stop-the-world never waits on a thread
 * blocked in pthread_join.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tg_test.h"
#include "runtime/internal.h"
#include "runtime/ft.h"

/* ------------------------------------------------------------ helpers */

static void init_ft(tg_rc_kind rc)
{
    tg_config c;
    tg_config_default(&c);
    c.mode = TG_MODE_FREE_THREADED;
    c.refcount = rc;
    cr_assert_eq(tg_init(&c), 0, "tg_init(ft): %s", tg_error_message());
    cr_assert_eq(tg_current_mode(), TG_MODE_FREE_THREADED);
}

static void join_released(pthread_t t)
{
    TG_BEGIN_ALLOW_THREADS
    pthread_join(t, NULL);
    TG_END_ALLOW_THREADS
}

static _Atomic long bad;             /* failures seen by worker threads */
#define WCHECK(cond) do { if (!(cond)) atomic_fetch_add(&bad, 1); } while (0)

static int state_of(const tg_obj *o) { return (int)(__atomic_load_n(&o->ob_ref_shared, __ATOMIC_RELAXED) & 3); }
static intptr_t shared_count(const tg_obj *o) { return __atomic_load_n(&o->ob_ref_shared, __ATOMIC_RELAXED) >> 2; }

/* An embedder type whose dealloc counts (and catches a second dealloc). */
#define COOKIE 0x5eedc0ffeeull
typedef struct { uint64_t cookie; tg_obj *ref; } cnt_payload;
static _Atomic long deallocs;
static _Atomic long double_frees;

static void cnt_dealloc(tg_obj *self)
{
    cnt_payload *p = tg_payload(self);
    if (p->cookie != COOKIE) atomic_fetch_add(&double_frees, 1);
    p->cookie = 0;
    atomic_fetch_add(&deallocs, 1);
}

static int cnt_traverse(tg_obj *self, tg_visitproc visit, void *arg)
{
    cnt_payload *p = tg_payload(self);
    return p->ref ? visit(p->ref, arg) : 0;
}

static void cnt_clear(tg_obj *self)
{
    cnt_payload *p = tg_payload(self);
    tg_obj *r = p->ref;
    p->ref = NULL;
    tg_xdecref(r);
}

static tg_type *cnt_type, *cnt_gc_type;

static void make_types(void)
{
    atomic_store(&deallocs, 0);
    atomic_store(&double_frees, 0);
    atomic_store(&bad, 0);
    tg_type_spec s = { .name = "test.counted", .payload_size = sizeof(cnt_payload), .dealloc = cnt_dealloc };
    cnt_type = tg_type_new(&s);
    tg_type_spec g = { .name = "test.counted_gc", .payload_size = sizeof(cnt_payload), .flags = TG_TYPE_GC,
                       .traverse = cnt_traverse, .clear = cnt_clear, .dealloc = cnt_dealloc };
    cnt_gc_type = tg_type_new(&g);
    cr_assert(cnt_type && cnt_gc_type);
}

static tg_obj *cnt_new(tg_type *t)
{
    tg_obj *o = tg_new(t);
    if (o) ((cnt_payload *)tg_payload(o))->cookie = COOKIE;
    return o;
}

/* Run fn in a new attached thread; the thread sets *done (release) after fn
   returns and before it detaches. */
typedef struct {
    void (*fn)(void *);
    void *arg;
    _Atomic int done;
    bool no_detach;
} thr;

static void *thr_main(void *p)
{
    thr *t = p;
    if (tg_thread_attach() != 0) { atomic_fetch_add(&bad, 1); atomic_store(&t->done, 1); return NULL; }
    t->fn(t->arg);
    atomic_store_explicit(&t->done, 1, memory_order_release);
    if (!t->no_detach) tg_thread_detach();
    return NULL;
}

static pthread_t spawn(thr *t)
{
    pthread_t id;
    atomic_store(&t->done, 0);
    cr_assert_eq(pthread_create(&id, NULL, thr_main, t), 0);
    return id;
}

/* Spin (attached, no safepoint) until the thread has run its function. */
static void wait_done_no_safepoint(thr *t)
{
    while (!atomic_load_explicit(&t->done, memory_order_acquire)) sched_yield();
}

/* ----------------------------------------------------- biased merges */

static void decref_fn(void *o) { tg_decref(o); }

Test(ft, biased_merge_frees_at_owners_safepoint)
{
    init_ft(TG_RC_DEFAULT);
    make_types();
    tg_obj *o = OK(cnt_new(cnt_type));
    cr_assert_eq(o->ob_tid, _tg_ts()->tid, "a new object is owned by its creator");
    cr_assert_eq(state_of(o), _TG_REF_BIASED);
    tg_incref(o);                                  /* the reference the other thread drops */
    cr_assert_eq(o->ob_ref_local, 2u);
    cr_assert_eq(o->ob_ref_shared, 0, "the owner's increfs stay local");

    thr t = { .fn = decref_fn, .arg = o };
    pthread_t id = spawn(&t);
    wait_done_no_safepoint(&t);
    /* The shared count was 0: the non-owner's decref queued the object. */
    cr_assert_eq(state_of(o), _TG_REF_QUEUED, "state %d, expected QUEUED", state_of(o));
    cr_assert_eq(shared_count(o), 0);
    cr_assert(atomic_load(&_tg_ts()->eval_breaker) & _TG_EB_MERGE_RC, "the owner was asked to merge");
    cr_assert_eq(atomic_load(&deallocs), 0);

    tg_decref(o);                                  /* local 1: still queued, nothing freed yet */
    cr_assert_eq(atomic_load(&deallocs), 0, "freed before the owner merged");
    tg_safepoint();                                /* merge: 1 + 0 - 1 == 0 */
    cr_assert_eq(atomic_load(&deallocs), 1, "the merge at the owner's safepoint frees it");
    join_released(id);
    cr_assert_eq(atomic_load(&deallocs), 1);
    cr_assert_eq(atomic_load(&double_frees), 0);
    cr_assert_eq(atomic_load(&bad), 0);
    TG_END();
}

Test(ft, biased_merge_keeps_live_object_then_shared_count_only)
{
    init_ft(TG_RC_DEFAULT);
    make_types();
    tg_obj *o = OK(cnt_new(cnt_type));
    tg_incref(o);
    thr t = { .fn = decref_fn, .arg = o };
    pthread_t id = spawn(&t);
    wait_done_no_safepoint(&t);
    cr_assert_eq(state_of(o), _TG_REF_QUEUED);
    cr_assert_eq(tg_refcount(o), 2, "QUEUED: local + shared, the queue's decrement still pending");
    tg_safepoint();                                /* merge: 2 + 0 - 1 == 1 */
    cr_assert_eq(atomic_load(&deallocs), 0);
    cr_assert_eq(state_of(o), _TG_REF_MERGED);
    cr_assert_eq(o->ob_tid, _TG_TID_SHARED);
    cr_assert_eq(o->ob_ref_local, 0u);
    cr_assert_eq(tg_refcount(o), 1);
    tg_incref(o);                                  /* merged: the owner uses the shared count too */
    cr_assert_eq(o->ob_ref_local, 0u);
    cr_assert_eq(shared_count(o), 2);
    tg_decref(o);
    tg_decref(o);                                  /* the last reference: freed right here */
    cr_assert_eq(atomic_load(&deallocs), 1);
    join_released(id);
    TG_END();
}

/* Non-owners take the shared count negative while the object is queued. */
static void decref_n_fn(void *arg)
{
    tg_obj **v = arg;
    for (int i = 0; i < 3; i++) tg_decref(v[0]);
}

Test(ft, queued_shared_count_goes_negative_and_merges)
{
    init_ft(TG_RC_DEFAULT);
    make_types();
    tg_obj *o = OK(cnt_new(cnt_type));
    for (int i = 0; i < 3; i++) tg_incref(o);      /* local 4 */
    tg_obj *arg[1] = { o };
    thr t = { .fn = decref_n_fn, .arg = arg };
    pthread_t id = spawn(&t);
    wait_done_no_safepoint(&t);
    cr_assert_eq(state_of(o), _TG_REF_QUEUED);
    cr_assert_eq(shared_count(o), -2, "first decref queues, the next two go negative");
    cr_assert_eq(atomic_load(&deallocs), 0);
    tg_safepoint();                                /* 4 - 2 - 1 == 1 */
    cr_assert_eq(tg_refcount(o), 1);
    cr_assert_eq(atomic_load(&deallocs), 0);
    tg_decref(o);
    cr_assert_eq(atomic_load(&deallocs), 1);
    join_released(id);
    TG_END();
}

/* The owner drops its last local reference while another thread holds one
   through the shared count: the object becomes MERGED and the other thread's
   decref frees it. */
static tg_obj *_Atomic handed;
static _Atomic int go_drop;
static void hold_then_drop_fn(void *arg)
{
    (void)arg;
    tg_obj *o = atomic_load(&handed);
    tg_incref(o);                                  /* shared +1 */
    atomic_store(&go_drop, 1);
    while (atomic_load(&go_drop) != 2) sched_yield();
    tg_decref(o);                                  /* the last reference */
    WCHECK(atomic_load(&deallocs) == 1);
}

Test(ft, owner_drops_last_local_then_non_owner_frees)
{
    init_ft(TG_RC_DEFAULT);
    make_types();
    tg_obj *o = OK(cnt_new(cnt_type));
    atomic_store(&handed, o);
    atomic_store(&go_drop, 0);
    thr t = { .fn = hold_then_drop_fn };
    pthread_t id = spawn(&t);
    while (atomic_load(&go_drop) != 1) sched_yield();
    tg_decref(o);                                  /* local 0, shared 1 */
    cr_assert_eq(atomic_load(&deallocs), 0);
    cr_assert_eq(state_of(o), _TG_REF_MERGED);
    cr_assert_eq(o->ob_tid, _TG_TID_SHARED);
    atomic_store(&go_drop, 2);
    join_released(id);
    cr_assert_eq(atomic_load(&deallocs), 1);
    cr_assert_eq(atomic_load(&bad), 0);
    TG_END();
}

/* ------------------------------------------- owner exit, cross-thread free */

#define EXIT_OBJS 64
static tg_obj *exit_objs[EXIT_OBJS];

static void create_and_leave_fn(void *arg)
{
    int holders = *(int *)arg;
    for (int i = 0; i < EXIT_OBJS; i++) {
        tg_obj *o = cnt_new(i % 2 ? cnt_type : cnt_gc_type);
        WCHECK(o != NULL);
        for (int k = 1; k < holders; k++) tg_incref(o);   /* one reference per holder, all local */
        exit_objs[i] = o;
        if (i % 3 == 0) tg_safepoint();
    }
}

Test(ft, created_in_one_thread_freed_in_another_after_owner_exit)
{
    init_ft(TG_RC_DEFAULT);
    make_types();
    int holders = 1;
    thr t = { .fn = create_and_leave_fn, .arg = &holders };
    pthread_t id = spawn(&t);
    join_released(id);                             /* the owner has detached and exited */
    for (int i = 0; i < EXIT_OBJS; i++) {
        tg_obj *o = exit_objs[i];
        cr_assert_neq(o->ob_tid, _tg_ts()->tid);
        cr_assert_eq(tg_refcount(o), 1);
        tg_decref(o);                              /* the owner is gone: merged and freed here */
        cr_assert_eq(atomic_load(&deallocs), i + 1, "object %d not freed at its last tg_decref", i);
    }
    cr_assert_eq(atomic_load(&double_frees), 0);
    TG_END();
}

static void drop_share_fn(void *arg)
{
    int which = *(int *)arg;
    for (int i = 0; i < EXIT_OBJS; i++) {
        tg_obj *o = exit_objs[i];
        WCHECK(((cnt_payload *)tg_payload(o))->cookie == COOKIE);
        tg_incref(o);
        tg_decref(o);
        if ((i + which) % 5 == 0) tg_safepoint();
        tg_decref(o);
    }
}

Test(ft, owner_exit_with_references_in_several_threads)
{
    init_ft(TG_RC_DEFAULT);
    make_types();
    enum { HOLDERS = 4 };
    for (int round = 0; round < 20; round++) {
        atomic_store(&deallocs, 0);
        int holders = HOLDERS;
        thr c = { .fn = create_and_leave_fn, .arg = &holders };
        /* half the rounds: the owner exits without tg_thread_detach (thread-exit hook) */
        c.no_detach = round % 2;
        pthread_t cid = spawn(&c);
        join_released(cid);
        thr t[HOLDERS];
        int which[HOLDERS];
        pthread_t ids[HOLDERS];
        for (int k = 0; k < HOLDERS; k++) {
            which[k] = k;
            t[k] = (thr){ .fn = drop_share_fn, .arg = &which[k] };
            ids[k] = spawn(&t[k]);
        }
        for (int k = 0; k < HOLDERS; k++) join_released(ids[k]);
        tg_safepoint();
        cr_assert_eq(atomic_load(&deallocs), EXIT_OBJS, "round %d: %ld of %d freed", round,
                     atomic_load(&deallocs), EXIT_OBJS);
        cr_assert_eq(atomic_load(&double_frees), 0);
        cr_assert_eq(atomic_load(&bad), 0);
    }
    TG_END();
}

/* Objects created by a live thread and freed by others while it keeps running:
   the owner merges at its safepoints. */
static _Atomic int producer_stop;
static tg_obj *_Atomic slot_box[16];

static void producer_fn(void *arg)
{
    (void)arg;
    long made = 0;
    while (!atomic_load(&producer_stop)) {
        for (int i = 0; i < 16; i++) {
            if (atomic_load(&slot_box[i])) continue;
            tg_obj *o = cnt_new(cnt_type);
            WCHECK(o != NULL);
            atomic_store(&slot_box[i], o);         /* our reference goes to the consumer */
            made++;
        }
        tg_safepoint();
    }
}

static void consumer_fn(void *arg)
{
    long *taken = arg;
    long n = 0;
    while (n < 20000) {
        for (int i = 0; i < 16; i++) {
            tg_obj *o = atomic_exchange(&slot_box[i], NULL);
            if (!o) continue;
            WCHECK(((cnt_payload *)tg_payload(o))->cookie == COOKIE);
            tg_decref(o);
            n++;
        }
        tg_safepoint();
    }
    *taken = n;
}

Test(ft, created_by_running_thread_freed_by_another)
{
    init_ft(TG_RC_DEFAULT);
    make_types();
    atomic_store(&producer_stop, 0);
    long taken = 0;
    thr p = { .fn = producer_fn }, c = { .fn = consumer_fn, .arg = &taken };
    pthread_t pid = spawn(&p), cid = spawn(&c);
    join_released(cid);
    atomic_store(&producer_stop, 1);
    join_released(pid);
    for (int i = 0; i < 16; i++) {
        tg_obj *o = atomic_exchange(&slot_box[i], NULL);
        if (o) { tg_decref(o); taken++; }
    }
    tg_safepoint();
    cr_assert_eq(atomic_load(&deallocs), taken, "%ld freed, %ld made", atomic_load(&deallocs), taken);
    cr_assert_eq(atomic_load(&double_frees), 0);
    cr_assert_eq(atomic_load(&bad), 0);
    TG_END();
}

/* ------------------------------------------------------ TG_RC_ATOMIC */

static void storm_fn(void *arg)
{
    tg_obj *o = arg;
    for (int i = 0; i < 100000; i++) {
        tg_incref(o);
        if (i % 7 == 0) tg_incref(o), tg_decref(o);
        tg_decref(o);
    }
    WCHECK(atomic_load(&deallocs) == 0);
}

Test(ft, rc_atomic_objects_are_born_merged)
{
    init_ft(TG_RC_ATOMIC);
    make_types();
    tg_obj *o = OK(cnt_new(cnt_type));
    cr_assert_eq(o->ob_tid, _TG_TID_SHARED, "TG_RC_ATOMIC: no owner");
    cr_assert_eq(o->ob_ref_local, 0u);
    cr_assert_eq(state_of(o), _TG_REF_MERGED);
    cr_assert_eq(shared_count(o), 1);
    tg_incref(o);
    cr_assert_eq(shared_count(o), 2, "the creator's incref is atomic on the shared count");
    cr_assert_eq(o->ob_ref_local, 0u);
    tg_decref(o);
    enum { N = 4 };
    thr t[N];
    pthread_t ids[N];
    for (int k = 0; k < N; k++) { t[k] = (thr){ .fn = storm_fn, .arg = o }; ids[k] = spawn(&t[k]); }
    for (int k = 0; k < N; k++) join_released(ids[k]);
    cr_assert_eq(tg_refcount(o), 1, "no lost update: %" PRIdPTR, tg_refcount(o));
    cr_assert_eq(state_of(o), _TG_REF_MERGED, "atomic objects never go HOT or QUEUED");
    /* freed by a thread that did not create it, at that decref */
    thr d = { .fn = decref_fn, .arg = o };
    pthread_t id = spawn(&d);
    join_released(id);
    cr_assert_eq(atomic_load(&deallocs), 1);
    cr_assert_eq(atomic_load(&bad), 0);
    TG_END();
}

Test(ft, biased_storm_on_shared_object_exact_count)
{
    init_ft(TG_RC_BIASED);
    make_types();
    tg_obj *o = OK(cnt_new(cnt_type));
    enum { N = 4 };
    thr t[N];
    pthread_t ids[N];
    for (int k = 0; k < N; k++) { t[k] = (thr){ .fn = storm_fn, .arg = o }; ids[k] = spawn(&t[k]); }
    for (int k = 0; k < N; k++) join_released(ids[k]);
    tg_safepoint();
    cr_assert_eq(tg_refcount(o), 1, "biased: %" PRIdPTR, tg_refcount(o));
    cr_assert_eq(atomic_load(&deallocs), 0);
    tg_decref(o);
    cr_assert_eq(atomic_load(&deallocs), 1);
    cr_assert_eq(atomic_load(&bad), 0);
    TG_END();
}

/* ----------------------------------------------------------- immortals */

typedef struct { uintptr_t tid; uint32_t local; intptr_t shared; } hdr;
static hdr snap(const tg_obj *o) { return (hdr){ o->ob_tid, o->ob_ref_local, o->ob_ref_shared }; }

static tg_obj *immortals[6];
static void immortal_storm_fn(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50000; i++) {
        tg_obj *o = immortals[i % 6];
        tg_incref(o);
        tg_obj *t = tg_tuple(2, o, o);
        WCHECK(t != NULL);
        tg_decref(t);
        tg_decref(o);
    }
}

Test(ft, immortals_never_written)
{
    init_ft(TG_RC_DEFAULT);
    make_types();
    immortals[0] = tg_none();
    immortals[1] = tg_true();
    immortals[2] = tg_int(7);
    immortals[3] = tg_str_intern("ft_immortal");
    immortals[4] = (tg_obj *)tg_typeof(immortals[2]);
    immortals[5] = (tg_obj *)cnt_type;
    hdr before[6];
    for (int i = 0; i < 6; i++) {
        cr_assert(tg_is_immortal(immortals[i]), "object %d should be immortal", i);
        before[i] = snap(immortals[i]);
    }
    enum { N = 4 };
    thr t[N];
    pthread_t ids[N];
    for (int k = 0; k < N; k++) { t[k] = (thr){ .fn = immortal_storm_fn }; ids[k] = spawn(&t[k]); }
    for (int k = 0; k < N; k++) join_released(ids[k]);
    for (int i = 0; i < 6; i++) {
        hdr a = snap(immortals[i]);
        cr_assert(a.tid == before[i].tid && a.local == before[i].local && a.shared == before[i].shared,
                  "immortal %d's header was written", i);
    }
    tg_decref(immortals[0]); tg_decref(immortals[1]); tg_decref(immortals[2]); tg_decref(immortals[3]);
    cr_assert_eq(atomic_load(&bad), 0);
    TG_END();
}

/* -------------------------------------------- lock-free reads vs writers */

#define LF_SLOTS 64
#define LF_BASE  (INT64_C(1) << 32)
static tg_obj *lf_list, *lf_dict;
static _Atomic int lf_stop;

/* Invariant: list[i] % LF_SLOTS == i % LF_SLOTS for the first LF_SLOTS slots;
   appended tail items are tagged with LF_BASE * 3; dict[k] == k * 7 or absent. */
static void lf_writer(void *arg)
{
    uint64_t seed = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
    for (int n = 0; n < 20000; n++) {
        seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
        int i = (int)(seed % LF_SLOTS);
        switch ((seed >> 20) % 6) {
        case 0: case 1: {
            tg_obj *v = tg_int(LF_BASE + (int64_t)((seed >> 32) % 1000) * LF_SLOTS + i);
            WCHECK(tg_list_set(lf_list, i, v) == 0);
            tg_decref(v);
            break;
        }
        case 2: {                                  /* grow (the block is replaced) then shrink */
            tg_obj *v = tg_int(3 * LF_BASE + n);
            WCHECK(tg_list_append(lf_list, v) == 0);
            tg_decref(v);
            if (tg_list_len(lf_list) > LF_SLOTS + 200) {
                tg_obj *p = tg_list_pop(lf_list, -1);
                WCHECK(p && tg_int_value(p) >= 3 * LF_BASE);
                tg_xdecref(p);
            }
            break;
        }
        case 3: case 4: {
            tg_obj *k = tg_int(LF_BASE + i), *v = tg_int((LF_BASE + i) * 7);
            WCHECK(tg_dict_set(lf_dict, k, v) == 0);
            tg_decref(k); tg_decref(v);
            break;
        }
        default: {
            tg_obj *k = tg_int(LF_BASE + i);
            if (tg_dict_del(lf_dict, k) < 0) { WCHECK(tg_error() == TG_ERR_KEY); tg_error_clear(); }
            tg_decref(k);
        }
        }
        if (n % 64 == 0) tg_safepoint();
    }
}

static void lf_reader(void *arg)
{
    long *reads = arg;
    uint64_t seed = 12345;
    while (!atomic_load(&lf_stop)) {
        seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
        int i = (int)(seed % LF_SLOTS);
        tg_obj *v = tg_list_get(lf_list, i);
        WCHECK(v != NULL);
        if (v) {
            int64_t x = tg_int_value(v);
            WCHECK(x >= LF_BASE && x < 2 * LF_BASE && x % LF_SLOTS == i);
            WCHECK(tg_refcount(v) >= 1);
            tg_decref(v);
        }
        size_t n = tg_list_len(lf_list);
        if (n > LF_SLOTS) {
            tg_obj *t = tg_list_get(lf_list, (ptrdiff_t)(LF_SLOTS + seed % (n - LF_SLOTS)));
            if (t) { WCHECK(tg_int_value(t) >= 3 * LF_BASE); tg_decref(t); }
            else { WCHECK(tg_error() == TG_ERR_INDEX); tg_error_clear(); }   /* popped meanwhile */
        }
        tg_obj *k = tg_int(LF_BASE + i);
        tg_obj *d = tg_dict_get(lf_dict, k);
        if (d) { WCHECK(tg_int_value(d) == (LF_BASE + i) * 7); tg_decref(d); }
        else { WCHECK(tg_error() == TG_ERR_KEY); tg_error_clear(); }
        tg_decref(k);
        (*reads)++;
        if (*reads % 32 == 0) tg_safepoint();
    }
}

Test(ft, lockfree_reads_race_writers, .timeout = 60)
{
    init_ft(TG_RC_DEFAULT);
    lf_list = OK(tg_list_new(0));
    lf_dict = OK(tg_dict_new());
    for (int i = 0; i < LF_SLOTS; i++) {
        tg_obj *v = tg_int(LF_BASE + i);
        cr_assert_eq(tg_list_append(lf_list, v), 0);
        tg_decref(v);
    }
    atomic_store(&lf_stop, 0);
    atomic_store(&bad, 0);
    enum { W = 2, R = 2 };
    thr w[W], r[R];
    long reads[R] = { 0 };
    pthread_t wid[W], rid[R];
    for (int k = 0; k < R; k++) { r[k] = (thr){ .fn = lf_reader, .arg = &reads[k] }; rid[k] = spawn(&r[k]); }
    for (int k = 0; k < W; k++) { w[k] = (thr){ .fn = lf_writer, .arg = (void *)(uintptr_t)(k + 1) }; wid[k] = spawn(&w[k]); }
    for (int k = 0; k < W; k++) join_released(wid[k]);
    atomic_store(&lf_stop, 1);
    for (int k = 0; k < R; k++) join_released(rid[k]);
    cr_assert_eq(atomic_load(&bad), 0, "%ld invariant violations seen by readers/writers", atomic_load(&bad));
    cr_assert_gt(reads[0] + reads[1], 0);
    for (int i = 0; i < LF_SLOTS; i++) {
        tg_obj *v = OK(tg_list_get(lf_list, i));
        cr_assert_eq(tg_int_value(v) % LF_SLOTS, i);
        cr_assert_eq(tg_refcount(v), 2, "list[%d]: refcount %" PRIdPTR " (the list's + ours)", i, tg_refcount(v));
        tg_decref(v);
    }
    tg_decref(lf_list);
    tg_decref(lf_dict);
    TG_END();
}

/* 5 threads x 10,000 appends to one list, no user lock: exactly 50,000. */
static tg_obj *ap_list;
static void append_fn(void *arg)
{
    int64_t base = (int64_t)(uintptr_t)arg * 1000000;
    for (int i = 0; i < 10000; i++) {
        tg_obj *v = tg_int(base + i);
        WCHECK(tg_list_append(ap_list, v) == 0);
        tg_decref(v);
        if (i % 100 == 0) tg_safepoint();
    }
}

Test(ft, five_threads_append_exactly_50000)
{
    init_ft(TG_RC_DEFAULT);
    atomic_store(&bad, 0);
    ap_list = OK(tg_list_new(0));
    thr t[5];
    pthread_t ids[5];
    for (int k = 0; k < 5; k++) { t[k] = (thr){ .fn = append_fn, .arg = (void *)(uintptr_t)(k + 1) }; ids[k] = spawn(&t[k]); }
    for (int k = 0; k < 5; k++) join_released(ids[k]);
    cr_assert_eq(tg_list_len(ap_list), 50000u, "len %zu", tg_list_len(ap_list));
    int64_t next[6] = { 0 };
    for (size_t i = 0; i < 50000; i++) {
        tg_obj *v = OK(tg_list_get(ap_list, (ptrdiff_t)i));
        int64_t x = tg_int_value(v);
        int k = (int)(x / 1000000);
        cr_assert(k >= 1 && k <= 5);
        cr_assert_eq(x % 1000000, next[k], "thread %d's items out of order or lost", k);
        next[k]++;
        tg_decref(v);
    }
    cr_assert_eq(atomic_load(&bad), 0);
    tg_decref(ap_list);
    TG_END();
}

/* The owner's append to its own list, inline (runtime/list.c,
   list_append_fast), with each kind of item: its own (a plain increment),
   another thread's (the shared count, out of line inside the section), an
   immortal (not written); the block growing meanwhile. */
static tg_obj *oa_item;
static void oa_make_fn(void *arg) { (void)arg; oa_item = cnt_new(cnt_type); }

Test(ft, owner_appends_its_own_another_thread_s_and_immortal_items)
{
    init_ft(TG_RC_DEFAULT);
    make_types();
    thr t = { .fn = oa_make_fn };
    join_released(spawn(&t));
    tg_obj *other = OK(oa_item);                  /* made by the thread, now ours to drop */
    tg_obj *mine = OK(cnt_new(cnt_type));
    tg_obj *none = tg_none();
    uint32_t none_local = none->ob_ref_local;
    tg_obj *l = OK(tg_list_new(0));
    for (int i = 0; i < 100; i++) {               /* 300 items: the block grows */
        cr_assert_eq(tg_list_append(l, mine), 0);
        cr_assert_eq(tg_list_append(l, other), 0);
        cr_assert_eq(tg_list_append(l, none), 0);
    }
    cr_assert_eq(tg_list_len(l), 300u);
    cr_assert_eq(tg_refcount(mine), 101);
    cr_assert_eq(tg_refcount(other), 101);
    cr_assert_eq(none->ob_ref_local, none_local, "an immortal's count is never written");
    for (int i = 0; i < 300; i++) {
        tg_obj *v = OK(tg_list_get(l, i));
        cr_assert_eq(v, i % 3 == 0 ? mine : i % 3 == 1 ? other : none, "item %d", i);
        tg_decref(v);
    }
    cr_assert_eq(tg_list_append(l, NULL), -1, "a NULL item is an error");
    tg_decref(l);
    cr_assert_eq(tg_refcount(mine), 1);
    cr_assert_eq(tg_refcount(other), 1);
    tg_decref(mine);
    tg_decref(other);
    cr_assert_eq(atomic_load(&deallocs), 2);
    cr_assert_eq(atomic_load(&double_frees), 0);
    cr_assert_eq(atomic_load(&bad), 0);
    TG_END();
}

/* ------------------------------------------------- owner-biased locks
   sync/bias.c: the creating thread mutates its lists and dicts without their
   lock; the first other thread that locks or reads one revokes the bias
   (once), after which everyone locks. */

#include "sync/sync.h"

static bool have_bias(void) { return _tg_rt.obj_lock_birth == 0; }
static uint8_t lock_bits(const tg_obj *o) { return __atomic_load_n(&o->ob_mutex.v, __ATOMIC_RELAXED); }

static tg_obj *bs_list, *bs_dict;
static void bias_other_fn(void *arg)
{
    (void)arg;
    tg_obj *v = tg_int(777);
    WCHECK(tg_list_append(bs_list, v) == 0);     /* revokes the list's bias */
    tg_obj *got = tg_dict_get(bs_dict, v);         /* a lock-free read revokes too */
    WCHECK(got != NULL && tg_int_value(got) == 7);
    tg_xdecref(got);
    tg_decref(v);
}

Test(ft, bias_owner_mutates_without_lock_until_another_thread_uses_the_object, .timeout = 60)
{
    init_ft(TG_RC_DEFAULT);
    atomic_store(&bad, 0);
    uint64_t before = _tg_bias_revocations();
    bs_list = OK(tg_list_new(0));
    bs_dict = OK(tg_dict_new());
    if (!have_bias()) {
        /* no membarrier() here: objects are born unbiased and always lock */
        cr_assert_eq(lock_bits(bs_list) & _TG_BIAS_OFF, _TG_BIAS_SHARED);
    }
    for (int i = 0; i < 5000; i++) {             /* grows the block in place while biased */
        tg_obj *v = tg_int(i);
        cr_assert_eq(tg_list_append(bs_list, v), 0);
        cr_assert_eq(tg_dict_set(bs_dict, v, v), 0);
        tg_decref(v);
    }
    tg_obj *k = tg_int(777), *seven = tg_int(7);
    cr_assert_eq(tg_dict_set(bs_dict, k, seven), 0);
    cr_assert_eq(tg_dict_del(bs_dict, k), 0);
    cr_assert_eq(tg_dict_set(bs_dict, k, seven), 0);
    tg_obj *p = OK(tg_list_pop(bs_list, 0));
    cr_assert_eq(tg_int_value(p), 0);
    cr_assert_eq(tg_list_insert(bs_list, 0, p), 0);
    tg_decref(p);
    if (have_bias()) {
        cr_assert_eq(lock_bits(bs_list), 0, "the owner's own mutations keep the bias (byte %#x)", lock_bits(bs_list));
        cr_assert_eq(lock_bits(bs_dict), 0);
        cr_assert_eq(_tg_bias_revocations(), before);
    }
    thr t = { .fn = bias_other_fn };
    join_released(spawn(&t));
    cr_assert_eq(atomic_load(&bad), 0);
    if (have_bias()) {
        cr_assert_eq(_tg_bias_revocations(), before + 2, "one revocation per object, got %" PRIu64,
                     _tg_bias_revocations() - before);
        cr_assert_eq(lock_bits(bs_list) & _TG_BIAS_OFF, _TG_BIAS_OFF);
        cr_assert_eq(lock_bits(bs_dict) & _TG_BIAS_OFF, _TG_BIAS_OFF);
    }
    /* the owner now takes the lock; a second thread costs no revocation */
    cr_assert_eq(tg_list_append(bs_list, seven), 0);
    uint64_t after = _tg_bias_revocations();
    thr t2 = { .fn = bias_other_fn };
    join_released(spawn(&t2));
    cr_assert_eq(_tg_bias_revocations(), after);
    cr_assert_eq(tg_list_len(bs_list), 5003u);
    for (int i = 0; i < 5000; i++) {
        tg_obj *v = OK(tg_list_get(bs_list, i));
        cr_assert_eq(tg_int_value(v), i);
        tg_decref(v);
    }
    cr_assert_eq(tg_dict_len(bs_dict), 5000u);
    cr_assert_eq(lock_bits(bs_list) & 3, 0, "left locked");
    tg_decref(k); tg_decref(seven);
    tg_decref(bs_list);
    tg_decref(bs_dict);
    TG_END();
}

/* Keys whose comparison could run code (tuples, embedder types) are not
   compared inside a biased section: the insert falls back to the lock, and
   still replaces the equal key's value. */
Test(ft, bias_dict_tuple_keys_compare_under_the_lock)
{
    init_ft(TG_RC_DEFAULT);
    tg_obj *d = OK(tg_dict_new());
    tg_obj *a = tg_int(1), *b = tg_int(2);
    tg_obj *items[2] = { a, b };
    tg_obj *k1 = OK(tg_tuple_from_array(2, items)), *k2 = OK(tg_tuple_from_array(2, items));
    cr_assert_neq(k1, k2);
    cr_assert_eq(tg_dict_set(d, k1, a), 0);
    cr_assert_eq(tg_dict_set(d, k2, b), 0);      /* equal, not identical: replaces */
    cr_assert_eq(tg_dict_len(d), 1u);
    tg_obj *v = OK(tg_dict_get(d, k1));
    cr_assert_eq(v, b);
    tg_decref(v);
    cr_assert_eq(tg_dict_del(d, k2), 0);
    cr_assert_eq(tg_dict_len(d), 0u);
    if (have_bias()) cr_assert_eq(lock_bits(d) & _TG_BIAS_OFF, 0, "the owner's locked path keeps the bias");
    tg_decref(k1); tg_decref(k2); tg_decref(a); tg_decref(b);
    tg_decref(d);
    TG_END();
}

/* An owner that has exited holds no biased section: revoking its objects
   does not wait, and merged objects (ob_tid SHARED) need no revocation. */
static tg_obj *bx_list;
static void bias_maker_fn(void *arg)
{
    (void)arg;
    bx_list = tg_list_new(0);
    WCHECK(bx_list != NULL);
    for (int i = 0; i < 100 && bx_list; i++) {
        tg_obj *v = tg_int(i);
        WCHECK(tg_list_append(bx_list, v) == 0);
        tg_decref(v);
    }
    /* the reference stays with bx_list; this thread then exits */
}

Test(ft, bias_revoking_an_exited_owners_object, .timeout = 60)
{
    init_ft(TG_RC_DEFAULT);
    atomic_store(&bad, 0);
    thr t = { .fn = bias_maker_fn };
    join_released(spawn(&t));
    cr_assert_eq(atomic_load(&bad), 0);
    uint64_t before = _tg_bias_revocations();
    tg_obj *v = tg_int(100);
    cr_assert_eq(tg_list_append(bx_list, v), 0);
    tg_decref(v);
    uintptr_t tid = __atomic_load_n(&bx_list->ob_tid, __ATOMIC_RELAXED);
    if (have_bias() && tid != _TG_TID_SHARED)
        cr_assert_eq(_tg_bias_revocations(), before + 1);
    else
        cr_assert_eq(_tg_bias_revocations(), before, "merged objects are never biased");
    cr_assert_eq(tg_list_len(bx_list), 101u);
    for (int i = 0; i <= 100; i++) {
        tg_obj *x = OK(tg_list_get(bx_list, i));
        cr_assert_eq(tg_int_value(x), i);
        tg_decref(x);
    }
    tg_decref(bx_list);
    TG_END();
}

Test(ft, bias_rc_atomic_objects_are_never_biased)
{
    init_ft(TG_RC_ATOMIC);
    uint64_t before = _tg_bias_revocations();
    tg_obj *l = OK(tg_list_new(0));
    cr_assert_eq(tg_list_append(l, l), 0);
    cr_assert_eq(_tg_bias_revocations(), before);
    tg_obj *x = OK(tg_list_pop(l, 0));
    tg_decref(x);
    tg_decref(l);
    TG_END();
}

/* ---------------------------------------------------- reserved locks
   (sync/bias.c: a thread that runs many list operations in a row on a list
   whose bias is gone keeps its lock between them; others take it over.) */

static tg_obj *rs_list;
static _Atomic int rs_phase;               /* the main thread's go-ahead for the holder's next step */
static _Atomic int rs_held, rs_forgotten;  /* what the holder saw in its own sticky slot */

static bool sticky(const tg_obj *o) { return (lock_bits(o) & (_TG_LOCK_STICKY | 1)) == (_TG_LOCK_STICKY | 1); }

static void rs_append_n(tg_obj *l, int n, int base)
{
    for (int i = 0; i < n; i++) {
        tg_obj *v = tg_int(base + i);
        WCHECK(v && tg_list_append(l, v) == 0);
        tg_xdecref(v);
    }
}

/* Wait, detached, until rs_phase reaches want. */
static void rs_wait_phase(int want)
{
    TG_BEGIN_ALLOW_THREADS
    while (atomic_load(&rs_phase) < want) sched_yield();
    TG_END_ALLOW_THREADS
}

/* The holder: a streak of appends (the reservation), then it waits, idle,
   while the main thread acts; then it reports whether its slot was cleared;
   with arg != NULL it runs a critical section of its own on the list first. */
static void rs_holder_fn(void *arg)
{
    rs_append_n(rs_list, 40, 1000);
    atomic_store(&rs_held, __atomic_load_n(&_tg_tls_sticky, __ATOMIC_RELAXED) == rs_list);
    if (arg) {
        TG_BEGIN_CRITICAL_SECTION(rs_list)
        rs_append_n(rs_list, 1, 5000);
        TG_END_CRITICAL_SECTION()
    }
    atomic_store(&rs_phase, 1);
    rs_wait_phase(2);
    atomic_store(&rs_forgotten, __atomic_load_n(&_tg_tls_sticky, __ATOMIC_RELAXED) == NULL);
}

/* A list whose bias is gone: made here, first touched by another thread. */
static tg_obj *rs_shared_list(void)
{
    return rs_list = OK(tg_list_new(0));
}

static void rs_touch_fn(void *arg) { (void)arg; rs_append_n(rs_list, 1, 1); }

static void rs_start(thr *t, void *arg, pthread_t *id)
{
    atomic_store(&bad, 0);
    atomic_store(&rs_phase, 0);
    atomic_store(&rs_held, 0);
    atomic_store(&rs_forgotten, 0);
    rs_shared_list();
    thr touch = { .fn = rs_touch_fn };
    join_released(spawn(&touch));           /* revokes the bias: the lock is used from now on */
    t->fn = rs_holder_fn;
    t->arg = arg;
    *id = spawn(t);
    rs_wait_phase(1);
}

/* The end of a test with a live holder: let it report, join it, check. */
static void rs_finish(pthread_t id, size_t want_len)
{
    atomic_store(&rs_phase, 2);
    join_released(id);
    cr_assert(atomic_load(&rs_forgotten), "the holder's sticky slot still names the list");
    cr_assert_eq(atomic_load(&bad), 0);
    cr_assert_eq(tg_list_len(rs_list), want_len);
    tg_decref(rs_list);
}

Test(ft, reserve_after_a_streak_then_taken_over_by_another_thread, .timeout = 60)
{
    init_ft(TG_RC_DEFAULT);
    thr t;
    pthread_t id;
    rs_start(&t, NULL, &id);
    if (!have_bias()) {
        /* no membarrier() (e.g. valgrind): no take-over is possible, so no
           lock is ever kept in reserve */
        cr_assert(!atomic_load(&rs_held));
        cr_assert_eq(lock_bits(rs_list) & (_TG_LOCK_STICKY | 1), 0);
        atomic_store(&rs_phase, 2);
        join_released(id);
        tg_decref(rs_list);
        TG_END();
        return;
    }
    cr_assert(atomic_load(&rs_held), "a streak of 40 appends keeps the lock in reserve");
    cr_assert(sticky(rs_list), "lock byte %#x: LOCKED|STICKY expected", lock_bits(rs_list));
    uint64_t before = _tg_sticky_takeovers();
    rs_append_n(rs_list, 1, 2000);          /* the holder is idle: taken over at once */
    cr_assert_eq(_tg_sticky_takeovers(), before + 1);
    cr_assert_eq(lock_bits(rs_list) & (_TG_LOCK_STICKY | _TG_LOCK_TAKING | 1), 0,
                 "one append, no streak: unlocked after (byte %#x)", lock_bits(rs_list));
    rs_finish(id, 42u);
    TG_END();
}

Test(ft, reserve_taken_over_by_a_critical_section, .timeout = 60)
{
    init_ft(TG_RC_DEFAULT);
    cr_assert(have_bias(), "membarrier() unavailable: the test above covers that case");
    thr t;
    pthread_t id;
    rs_start(&t, NULL, &id);
    cr_assert(sticky(rs_list));
    uint64_t before = _tg_sticky_takeovers();
    TG_BEGIN_CRITICAL_SECTION(rs_list)
    cr_assert_eq(_tg_sticky_takeovers(), before + 1);
    cr_assert_eq(lock_bits(rs_list) & (_TG_LOCK_STICKY | 1), 1, "held by the section, not reserved");
    rs_append_n(rs_list, 3, 3000);
    TG_END_CRITICAL_SECTION()
    cr_assert_eq(lock_bits(rs_list) & (_TG_LOCK_STICKY | 1), 0);
    rs_finish(id, 44u);
    TG_END();
}

Test(ft, reserve_holders_own_critical_section_turns_it_into_a_plain_hold, .timeout = 60)
{
    init_ft(TG_RC_DEFAULT);
    cr_assert(have_bias(), "membarrier() unavailable: the test above covers that case");
    thr t;
    pthread_t id;
    uint64_t before = _tg_sticky_takeovers();
    rs_start(&t, (void *)1, &id);           /* the holder opens a section of its own */
    cr_assert(atomic_load(&rs_held));
    cr_assert_eq(lock_bits(rs_list) & (_TG_LOCK_STICKY | 1), 0, "byte %#x: unlocked by the section's end",
                 lock_bits(rs_list));
    cr_assert_eq(_tg_sticky_takeovers(), before, "no take-over: the holder gave it up itself");
    rs_finish(id, 42u);
    TG_END();
}

/* Freed while reserved: the holder's slot must forget it, or a new list at
   the same address would look reserved to it. */
Test(ft, reserved_list_freed_is_forgotten_by_its_holder, .timeout = 60)
{
    init_ft(TG_RC_DEFAULT);
    cr_assert(have_bias(), "membarrier() unavailable: the test above covers that case");
    thr t;
    pthread_t id;
    rs_start(&t, NULL, &id);
    cr_assert(sticky(rs_list));
    uint64_t before = _tg_sticky_takeovers();
    tg_decref(rs_list);                     /* freed, reservation and all */
    cr_assert_eq(_tg_sticky_takeovers(), before);
    atomic_store(&rs_phase, 2);
    join_released(id);
    cr_assert(atomic_load(&rs_forgotten), "the holder's sticky slot still names the freed list");
    cr_assert_eq(atomic_load(&bad), 0);
    TG_END();
}

static void rs_exit_fn(void *arg) { (void)arg; rs_append_n(rs_list, 40, 1000); }

Test(ft, reserve_of_an_exited_thread_is_taken_over, .timeout = 60)
{
    init_ft(TG_RC_DEFAULT);
    cr_assert(have_bias(), "membarrier() unavailable: the test above covers that case");
    atomic_store(&bad, 0);
    rs_shared_list();
    thr touch = { .fn = rs_touch_fn };
    join_released(spawn(&touch));
    thr t = { .fn = rs_exit_fn };
    join_released(spawn(&t));               /* leaves the lock reserved, held by nobody */
    cr_assert(sticky(rs_list));
    uint64_t before = _tg_sticky_takeovers();
    rs_append_n(rs_list, 1, 2000);
    cr_assert_eq(_tg_sticky_takeovers(), before + 1);
    cr_assert_eq(tg_list_len(rs_list), 42u);
    cr_assert_eq(atomic_load(&bad), 0);
    tg_decref(rs_list);
    TG_END();
}

/* Two threads appending flat out: the reservation changes hands (a busy
   holder keeps it for a time slice) and every append lands exactly once. */
static _Atomic int rs_stop;
static _Atomic long rs_count;
static _tg_ft_tstate *_Atomic rs_hammer;   /* the hammering thread's state, once it runs */
static void rs_hammer_fn(void *arg)
{
    (void)arg;
    atomic_store(&rs_hammer, _tg_tls_ts->ft);
    long n = 0;
    while (!atomic_load_explicit(&rs_stop, memory_order_relaxed) || n < 20000) {
        tg_obj *v = tg_int(1);
        WCHECK(tg_list_append(rs_list, v) == 0);
        tg_decref(v);
        if (++n % 64 == 0) tg_safepoint();
    }
    atomic_store(&rs_count, n);
}

Test(ft, busy_holders_take_turns_and_lose_nothing, .timeout = 60)
{
    init_ft(TG_RC_DEFAULT);
    atomic_store(&bad, 0);
    atomic_store(&rs_stop, 0);
    rs_shared_list();
    thr touch = { .fn = rs_touch_fn };
    join_released(spawn(&touch));
    uint64_t before = _tg_sticky_takeovers();
    thr t = { .fn = rs_hammer_fn };
    pthread_t id = spawn(&t);
    long mine = 0;
    for (; mine < 20000; mine++) {
        tg_obj *v = tg_int(2);
        cr_assert_eq(tg_list_append(rs_list, v), 0);
        tg_decref(v);
        if (mine % 64 == 0) tg_safepoint();
    }
    atomic_store(&rs_stop, 1);
    join_released(id);
    cr_assert_eq(atomic_load(&bad), 0);
    cr_assert_eq((long)tg_list_len(rs_list), 1 + mine + atomic_load(&rs_count));
    if (have_bias()) cr_assert_gt(_tg_sticky_takeovers(), before, "the reservation changed hands");
    tg_decref(rs_list);
    TG_END();
}

/* A list that no thread has read without its lock grows in place; the first
   lock-free reader marks it (under the lock) and zeroes the block's free
   slots, and from then on growth copies. */
static void rs_read_fn(void *arg)
{
    (void)arg;
    tg_obj *v = tg_list_get(rs_list, 0);
    WCHECK(v && tg_int_value(v) == 1);
    tg_xdecref(v);
}

Test(ft, unread_list_grows_in_place_until_a_lockfree_read, .timeout = 60)
{
    init_ft(TG_RC_DEFAULT);
    atomic_store(&bad, 0);
    rs_shared_list();
    thr touch = { .fn = rs_touch_fn };
    join_released(spawn(&touch));           /* bias gone: the lock, and the shared growth rules */
    rs_append_n(rs_list, 3000, 10);
    cr_assert_eq(lock_bits(rs_list) & _TG_LOCK_READERS, 0, "no lock-free reader yet");
    _tg_list *l = (_tg_list *)rs_list;
    /* growth in place leaves the new slots as realloc left them: stand for
       that with garbage the reader must not meet */
    for (size_t i = l->len; i < l->items->cap; i++) l->items->item[i] = (tg_obj *)(uintptr_t)0x5a5a5a5a;
    thr rd = { .fn = rs_read_fn };
    join_released(spawn(&rd));
    cr_assert_eq(atomic_load(&bad), 0);
    cr_assert_neq(lock_bits(rs_list) & _TG_LOCK_READERS, 0, "a lock-free read marks the list");
    cr_assert_eq(l->len, 3001u);
    for (size_t i = l->len; i < l->items->cap; i++)
        cr_assert_null(l->items->item[i], "free slot %zu of %zu not zeroed for readers", i, l->items->cap);
    _tg_items *before = l->items;
    rs_append_n(rs_list, (int)(l->items->cap - l->len) + 1, 20000);   /* one past the capacity */
    cr_assert_neq(l->items, before, "a read list grows by copying");
    for (size_t i = l->len; i < l->items->cap; i++) cr_assert_null(l->items->item[i]);
    for (int i = 0; i < 3000; i++) {
        tg_obj *v = OK(tg_list_get(rs_list, i + 1));
        cr_assert_eq(tg_int_value(v), 10 + i);
        tg_decref(v);
    }
    tg_decref(rs_list);
    TG_END();
}

/* A producer and a consumer taking turns one item at a time: a holder whose
   reservation is found idle so soon after it was made does not reserve the
   list again for a while — a take-over per turn would cost a membarrier()
   each (measured: 25 us a round trip instead of 0.2 us). */
#define PP_TURNS 400
#define PP_TRIES 6
static void rs_producer_fn(void *arg)
{
    (void)arg;
    for (int i = 0; i < PP_TURNS; i++) {
        rs_append_n(rs_list, 1, 100 + i);
        while (tg_list_len(rs_list) != 0) tg_safepoint();
    }
}

Test(ft, lists_used_in_turns_stop_being_reserved, .timeout = 60)
{
    init_ft(TG_RC_DEFAULT);
    atomic_store(&bad, 0);
    rs_shared_list();
    thr touch = { .fn = rs_touch_fn };
    join_released(spawn(&touch));
    tg_obj *x = OK(tg_list_pop(rs_list, -1));    /* empty again */
    tg_decref(x);
    /* Without the rule: one take-over per turn, 2 x PP_TURNS (800). With
       it, a few on a quiet machine; but turns that outlast the hold-off
       (1 ms; a thread preempted: the 2-CPU machine running other tests
       beside this one) let the holder reserve again — one run in eight of
       a loop of this test saw 70 with a 10 ms hold-off, and one run of the
       suite under ctest -j2 saw 608. The limit tells the two apart; up to
       PP_TRIES rounds of PP_TURNS turns, so that a round spent preempted
       does not decide it (without the rule every round has ~800: the test
       fails, checked with step 4 of _tg_sticky_steal compiled out). */
    uint64_t took = 0;
    for (int round = 0; round < PP_TRIES; round++) {
        uint64_t before = _tg_sticky_takeovers();
        thr t = { .fn = rs_producer_fn };
        pthread_t id = spawn(&t);
        for (int i = 0; i < PP_TURNS; i++) {
            while (tg_list_len(rs_list) == 0) tg_safepoint();
            tg_obj *v = OK(tg_list_pop(rs_list, -1));
            cr_assert_eq(tg_int_value(v), 100 + i);
            tg_decref(v);
        }
        join_released(id);
        cr_assert_eq(atomic_load(&bad), 0);
        took = _tg_sticky_takeovers() - before;
        if (took < (uint64_t)PP_TURNS / 2) break;
    }
    cr_assert_lt(took, (uint64_t)PP_TURNS / 2, "%" PRIu64 " take-overs in %d turns (the last of %d rounds): "
                 "taking turns was not noticed", took, PP_TURNS, PP_TRIES);
    cr_assert_eq(lock_bits(rs_list) & (_TG_LOCK_STICKY | 1), 0);
    tg_decref(rs_list);
    TG_END();
}

/* Start a hammering thread (rs_hammer_fn) on a fresh shared list and wait
   until it holds it in reserve. */
static pthread_t hm_start(thr *t)
{
    atomic_store(&bad, 0);
    atomic_store(&rs_stop, 0);
    atomic_store(&rs_hammer, NULL);
    rs_shared_list();
    thr touch = { .fn = rs_touch_fn };
    join_released(spawn(&touch));
    t->fn = rs_hammer_fn;
    t->arg = NULL;
    pthread_t id = spawn(t);
    while (!atomic_load(&rs_hammer) || !sticky(rs_list)) sched_yield();
    return id;
}

static void hm_finish(pthread_t id)
{
    atomic_store(&rs_stop, 1);
    join_released(id);
    cr_assert_eq(atomic_load(&bad), 0);
    tg_decref(rs_list);
}

/* tg_mutex_lock takes a reservation over at once; from a holder busy with
   the list (it reserved it a few microseconds before: the main thread takes
   it as soon as it sees it) that is not turn-taking, and the holder must
   not be told to stop reserving (it would then hammer on the plain lock,
   contended, for the whole hold-off). A holder that happens to be
   preempted looks idle (criterion runs this file's tests in parallel on 2
   CPUs), so some marks are allowed; without the busy test nearly every
   round marks it. */
Test(ft, taking_a_busy_holders_fresh_reservation_does_not_mark_it_as_taking_turns, .timeout = 60)
{
    init_ft(TG_RC_DEFAULT);
    cr_assert(have_bias(), "membarrier() unavailable: reservations are never made");
    thr t;
    pthread_t id = hm_start(&t);
    _tg_ft_tstate *holder = atomic_load(&rs_hammer);
    enum { ROUNDS = 8 };
    int marked = 0, taken = 0;
    for (int r = 0; r < ROUNDS; r++) {
        __atomic_store_n(&holder->turns_obj, NULL, __ATOMIC_RELAXED);
        while (!sticky(rs_list)) _TG_CPU_RELAX();       /* reserved just now */
        uint64_t before = _tg_sticky_takeovers();
        tg_mutex_lock(&rs_list->ob_mutex);
        taken += _tg_sticky_takeovers() != before;
        marked += __atomic_load_n(&holder->turns_obj, __ATOMIC_RELAXED) == rs_list;
        tg_mutex_unlock(&rs_list->ob_mutex);
    }
    hm_finish(id);
    cr_assert_geq(taken, ROUNDS / 2, "the reservations were taken over (%d of %d rounds)", taken, ROUNDS);
    cr_assert_leq(marked, ROUNDS / 2, "a busy holder was marked as taking turns in %d of %d rounds", marked, ROUNDS);
    TG_END();
}

/* A critical section waits out a busy holder's slice (up to 1 ms, as a list
   operation does) instead of taking the reservation at once. A holder
   preempted at that moment (criterion runs this file's tests in parallel
   on 2 CPUs, on a shared VM) looks idle and is taken over at once, so a
   batch of sections passes when two of them waited; up to 24 batches.
   With five batches 1 run in 8 failed on a noisy afternoon (the build
   before and after a change elsewhere alike), with twelve 1 in 20: the
   failing runs took 0.5 s instead of 0.02–0.2 s, the hammering thread off
   its CPU. Taken over at once, a section waits a few microseconds
   (checked, with 24 batches: every batch fails then). */
Test(ft, critical_section_waits_out_a_busy_holders_slice, .timeout = 60)
{
    init_ft(TG_RC_DEFAULT);
    cr_assert(have_bias(), "membarrier() unavailable: reservations are never made");
    thr t;
    pthread_t id = hm_start(&t);
    enum { BATCHES = 24, ROUNDS = 9 };
    int long_waits = 0;
    uint64_t longest = 0;
    for (int b = 0; b < BATCHES && long_waits < 2; b++) {
        long_waits = 0;
        for (int r = 0; r < ROUNDS; r++) {
            while (!sticky(rs_list)) sched_yield();
            uint64_t t0 = _tg_now_ns();
            TG_BEGIN_CRITICAL_SECTION(rs_list)
            uint64_t waited = _tg_now_ns() - t0;
            long_waits += waited >= 300000u;
            if (waited > longest) longest = waited;
            TG_END_CRITICAL_SECTION()
        }
    }
    hm_finish(id);
    cr_assert_geq(long_waits, 2, "%d of %d sections waited 0.3 ms or more in the last batch (longest %" PRIu64
                  " ns): the busy holder's slice was not waited out", long_waits, ROUNDS, longest);
    TG_END();
}

/* Fill rs_list's free slots with garbage the reader must not meet, read
   it from another thread (lock-free), and check that the first lock-free
   read zeroed them; drops rs_list. */
static void rs_garbage_then_read(_tg_list *l)
{
    for (size_t i = l->len; i < l->items->cap; i++) l->items->item[i] = (tg_obj *)(uintptr_t)0x5a5a5a5a;
    thr rd = { .fn = rs_read_fn };
    join_released(spawn(&rd));
    cr_assert_eq(atomic_load(&bad), 0);
    cr_assert_neq(lock_bits(rs_list) & _TG_LOCK_READERS, 0);
    for (size_t i = l->len; i < l->items->cap; i++)
        cr_assert_null(l->items->item[i], "free slot %zu of %zu not zeroed for readers", i, l->items->cap);
    tg_decref(rs_list);
}

/* The owner's biased list grows in place without zeroing its free slots;
   the first lock-free reader from another thread revokes the bias and then
   zeroes them (readers must find NULL past the length). */
Test(ft, biased_list_read_by_another_thread_gets_its_free_slots_zeroed, .timeout = 60)
{
    init_ft(TG_RC_DEFAULT);
    atomic_store(&bad, 0);
    rs_shared_list();                       /* made here: biased to this thread */
    rs_append_n(rs_list, 1, 1);
    rs_append_n(rs_list, 999, 10);
    _tg_list *l = (_tg_list *)rs_list;
    if (have_bias()) cr_assert_eq(lock_bits(rs_list) & (_TG_BIAS_OFF | _TG_LOCK_READERS), 0);
    /* growth in place leaves the new slots as realloc left them */
    rs_garbage_then_read(l);
    TG_END();
}

/* tg_list_new(hint) does not zero the block it allocates either: the
   first lock-free reader does, as for a block grown in place. */
Test(ft, list_made_with_a_capacity_hint_gets_its_free_slots_zeroed_for_readers, .timeout = 60)
{
    init_ft(TG_RC_DEFAULT);
    atomic_store(&bad, 0);
    rs_list = OK(tg_list_new(16));
    rs_append_n(rs_list, 1, 1);
    _tg_list *l = (_tg_list *)rs_list;
    cr_assert_geq(l->items->cap, 16);
    cr_assert_eq(lock_bits(rs_list) & _TG_LOCK_READERS, 0, "no lock-free reader yet");
    /* what the allocator may hand out: a recycled block's old contents */
    rs_garbage_then_read(l);
    TG_END();
}

/* ------------------------------------------------- critical sections */

static tg_obj *cs_a, *cs_b;
static long cs_counter;                     /* guarded by both objects' locks */
static void cs_fn(void *arg)
{
    bool swap = (uintptr_t)arg & 1;
    for (int i = 0; i < 20000; i++) {
        tg_obj *x = swap ? cs_b : cs_a, *y = swap ? cs_a : cs_b;
        TG_BEGIN_CRITICAL_SECTION2(x, y)
        long c = cs_counter;
        cs_counter = c + 1;
        TG_END_CRITICAL_SECTION();
        if (i % 512 == 0) {
            /* nesting: the list's own lock taken inside a section holding it.
               (No exclusion is promised across a nested operation that may
               block: critical sections are suspended while a thread waits,
               as in CPython.) */
            TG_BEGIN_CRITICAL_SECTION(x)
            tg_obj *v = tg_int(i + 1000000);
            WCHECK(tg_list_append(cs_a, v) == 0);
            tg_obj *p = tg_list_pop(cs_a, -1);
            WCHECK(p != NULL);
            tg_xdecref(p);
            tg_decref(v);
            TG_END_CRITICAL_SECTION();
        }
        if (i % 64 == 0) tg_safepoint();
    }
}

Test(ft, critical_section2_any_order_no_deadlock, .timeout = 60)
{
    init_ft(TG_RC_DEFAULT);
    atomic_store(&bad, 0);
    cs_a = OK(tg_list_new(0));
    cs_b = OK(tg_list_new(0));
    cs_counter = 0;
    enum { N = 4 };
    thr t[N];
    pthread_t ids[N];
    for (int k = 0; k < N; k++) { t[k] = (thr){ .fn = cs_fn, .arg = (void *)(uintptr_t)k }; ids[k] = spawn(&t[k]); }
    for (int k = 0; k < N; k++) join_released(ids[k]);
    cr_assert_eq(cs_counter, N * 20000L, "mutual exclusion: %ld", cs_counter);
    cr_assert_eq(tg_list_len(cs_a), 0u);
    cr_assert_eq(atomic_load(&bad), 0);
    /* the same object twice is one lock */
    TG_BEGIN_CRITICAL_SECTION2(cs_a, cs_a)
    cs_counter++;
    TG_END_CRITICAL_SECTION();
    tg_decref(cs_a);
    tg_decref(cs_b);
    TG_END();
}

/* A runtime call on an object inside the embedder's critical section on the
   same object is nested: it must neither block on the lock the thread holds
   nor let another thread in between the embedder's operations — also when
   the call reaches a safepoint and the world stops meanwhile. */
static tg_obj *nest_list;
static _Atomic int nest_stop;

static void nest_appender_fn(void *arg)
{
    (void)arg;
    while (!atomic_load(&nest_stop)) {
        WCHECK(tg_list_append(nest_list, tg_none()) == 0);
        tg_safepoint();
    }
}

static void nest_embedder_fn(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3000; i++) {
        TG_BEGIN_CRITICAL_SECTION(nest_list)
        size_t before = tg_list_len(nest_list);
        tg_obj *fresh = tg_list_new(0);          /* allocates: a safepoint */
        WCHECK(tg_list_append(nest_list, fresh) == 0);
        WCHECK(tg_list_append(nest_list, fresh) == 0);
        tg_decref(fresh);
        /* nobody got in between: exactly our two appends */
        WCHECK(tg_list_len(nest_list) == before + 2);
        tg_obj *last = tg_list_get(nest_list, -1), *prev = tg_list_get(nest_list, -2);
        WCHECK(last == prev);
        tg_xdecref(last); tg_xdecref(prev);
        TG_END_CRITICAL_SECTION();
        if (i % 100 == 0) tg_gc_collect(0);     /* stops the world */
    }
}

Test(ft, nested_critical_section_on_the_same_object_stays_atomic, .timeout = 60)
{
    init_ft(TG_RC_DEFAULT);
    atomic_store(&bad, 0);
    atomic_store(&nest_stop, 0);
    nest_list = OK(tg_list_new(0));
    thr app = { .fn = nest_appender_fn }, emb = { .fn = nest_embedder_fn };
    pthread_t a = spawn(&app), e = spawn(&emb);
    join_released(e);
    atomic_store(&nest_stop, 1);
    join_released(a);
    cr_assert_eq(atomic_load(&bad), 0, "%ld nested operations were not atomic", atomic_load(&bad));
    tg_decref(nest_list);
    TG_END();
}

/* -------------------------------------------------- the collector */

static void cycles_fn(void *arg)
{
    long n = (long)(uintptr_t)arg;
    for (long i = 0; i < n; i++) {
        tg_obj *a = cnt_new(cnt_gc_type), *b = cnt_new(cnt_gc_type);
        WCHECK(a && b);
        ((cnt_payload *)tg_payload(a))->ref = b;   /* a -> b -> a; b's creation ref moves to a */
        tg_incref(a);
        ((cnt_payload *)tg_payload(b))->ref = a;
        tg_decref(a);
        tg_obj *l = tg_list_new(0);                /* and a self-referencing list */
        WCHECK(tg_list_append(l, l) == 0);
        tg_decref(l);
        if (i % 16 == 0) tg_safepoint();
    }
}

Test(ft, collect_cycles_with_threads_attached, .timeout = 60)
{
    init_ft(TG_RC_DEFAULT);
    make_types();
    tg_gc_disable();                               /* only explicit collections here */
    enum { N = 3, PER = 2000 };
    thr t[N];
    pthread_t ids[N];
    for (int k = 0; k < N; k++) { t[k] = (thr){ .fn = cycles_fn, .arg = (void *)(uintptr_t)PER }; ids[k] = spawn(&t[k]); }
    /* collect while they run, too */
    for (int i = 0; i < 5; i++) { tg_gc_collect(-1); tg_safepoint(); }
    for (int k = 0; k < N; k++) join_released(ids[k]);
    tg_gc_collect(-1);
    cr_assert_eq(atomic_load(&deallocs), 2L * N * PER, "%ld of %d cycle nodes freed",
                 atomic_load(&deallocs), 2 * N * PER);
    cr_assert_eq(atomic_load(&double_frees), 0);
    cr_assert_eq(atomic_load(&bad), 0);
    tg_gc_enable();
    TG_END();
}

/* Automatic collections triggered from allocations in several threads keep
   the garbage bounded: at the end, far fewer nodes than were made are alive. */
static _Atomic long max_live_nodes;
static _Atomic long made_nodes;
static void auto_fn(void *arg)
{
    (void)arg;
    for (long i = 0; i < 20000; i++) {
        tg_obj *a = cnt_new(cnt_gc_type), *b = cnt_new(cnt_gc_type);
        WCHECK(a && b);
        ((cnt_payload *)tg_payload(a))->ref = b;
        tg_incref(a);
        ((cnt_payload *)tg_payload(b))->ref = a;
        tg_decref(a);
        long made = atomic_fetch_add(&made_nodes, 2) + 2;
        long live = made - atomic_load(&deallocs);
        long m = atomic_load(&max_live_nodes);
        while (live > m && !atomic_compare_exchange_weak(&max_live_nodes, &m, live)) { }
        if (i % 16 == 0) tg_safepoint();
    }
}

Test(ft, automatic_collections_from_several_threads_bound_memory, .timeout = 60)
{
    init_ft(TG_RC_DEFAULT);
    make_types();
    atomic_store(&max_live_nodes, 0);
    atomic_store(&made_nodes, 0);
    tg_gc_stats before[3], after[3];
    tg_gc_get_stats(before);
    enum { N = 3 };
    thr t[N];
    pthread_t ids[N];
    for (int k = 0; k < N; k++) { t[k] = (thr){ .fn = auto_fn }; ids[k] = spawn(&t[k]); }
    for (int k = 0; k < N; k++) join_released(ids[k]);
    tg_gc_get_stats(after);
    uint64_t cols = 0;
    for (int g = 0; g < 3; g++) cols += after[g].collections - before[g].collections;
    cr_assert_gt(cols, 10, "automatic collections ran %llu times", (unsigned long long)cols);
    /* 120,000 nodes made: a collector that stopped running would leave them
       all alive; garbage that reached older generations waits for their
       (rarer) collections, so the bound is loose */
    cr_assert_lt(atomic_load(&max_live_nodes), 90000, "up to %ld garbage nodes alive at once (of %ld made)",
                 atomic_load(&max_live_nodes), atomic_load(&made_nodes));
    tg_gc_collect(-1);
    cr_assert_eq(atomic_load(&deallocs), atomic_load(&made_nodes));
    cr_assert_eq(atomic_load(&bad), 0);
    TG_END();
}

/* tg_init may follow tg_fini in another mode; nothing survives either. */
Test(ft, reinit_across_modes_leaves_nothing)
{
    for (int r = 0; r < 4; r++) {
        tg_config c;
        tg_config_default(&c);
        c.mode = r % 2 ? TG_MODE_GIL : TG_MODE_FREE_THREADED;
        cr_assert_eq(tg_init(&c), 0);
        tg_obj *l = OK(tg_list_new(0));
        cr_assert_eq(tg_list_append(l, l), 0);
        tg_decref(l);
        TG_END();
    }
}

/* ------------------------------------------------------------- fork */

static _Atomic int fork_stop;
static tg_obj *_Atomic fork_owned;   /* created by a worker, also held by main */

typedef struct { tg_obj *shared; bool make_owned; } fork_arg;

static void fork_worker_fn(void *arg)
{
    fork_arg *a = arg;
    tg_obj *shared = a->shared;
    if (a->make_owned) {
        tg_obj *mine = cnt_new(cnt_type);
        tg_incref(mine);
        atomic_store(&fork_owned, mine);      /* main takes this reference */
        tg_decref(mine);
    }
    while (!atomic_load(&fork_stop)) {
        tg_obj *l = tg_list_new(0);            /* growing lists retire blocks (QSBR) */
        for (int i = 0; i < 64 && l; i++) WCHECK(tg_list_append(l, shared) == 0);
        tg_xdecref(l);
        tg_obj *x = tg_list_get(shared, 0);
        WCHECK(x != NULL);
        tg_xdecref(x);
        tg_safepoint();
    }
}

/* In the child: grow many lists (hundreds of retired blocks force grace
   periods), free an object whose owner thread did not come along, run a new
   attached thread, collect. A hang (a grace period waiting for a thread
   that no longer exists) is caught by the alarm. */
static void fork_child_work(void *arg)
{
    tg_obj *shared = arg;
    for (int k = 0; k < 400; k++) {
        tg_obj *l = tg_list_new(0);
        for (int i = 0; i < 200 && l; i++) if (tg_list_append(l, shared) != 0) _exit(3);
        tg_xdecref(l);
    }
}

Test(ft, fork_while_threads_run_child_has_working_runtime, .timeout = 60)
{
    init_ft(TG_RC_BIASED);
    make_types();
    atomic_store(&fork_stop, 0);
    atomic_store(&fork_owned, NULL);
    atomic_store(&deallocs, 0);
    tg_obj *shared = tg_list_new(0), *one = tg_int(1000);
    cr_assert_eq(tg_list_append(shared, one), 0);
    tg_decref(one);
    fork_arg a0 = { shared, true }, a1 = { shared, false };
    thr w[2] = { { .fn = fork_worker_fn, .arg = &a0 }, { .fn = fork_worker_fn, .arg = &a1 } };
    pthread_t id[2] = { spawn(&w[0]), spawn(&w[1]) };
    while (!atomic_load(&fork_owned)) tg_safepoint();
    tg_obj *owned = atomic_exchange(&fork_owned, NULL);
    for (int i = 0; i < 20; i++) tg_safepoint();

    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        alarm(20);
        long before = atomic_load(&deallocs);
        tg_decref(owned);                      /* owner thread is gone in the child */
        fork_child_work(shared);
#if !TG_TEST_ASAN
        /* A new attached thread in the child. Not under ASan: gcc 12's
           sanitizer allocator has no fork handler; a new thread starts with
           empty allocator caches, and its first malloc or free of a size
           class whose lock a parent thread held at fork() blocks forever
           (8 hangs in 20 runs under the asan preset, the child's thread
           stuck in __asan::QuarantineCallback::Allocate; 0 in 20 in the
           debug build, which runs this part). */
        thr c = { .fn = fork_child_work, .arg = shared };
        pthread_t cid = spawn(&c);
        join_released(cid);
#endif
        if (atomic_load(&bad)) _exit(4);
        tg_gc_collect(-1);
        if (atomic_load(&deallocs) != before + 1) _exit(5);   /* `owned` freed exactly once */
        tg_decref(shared);
        tg_gc_collect(-1);
        _exit(tg_fini() == 0 ? 0 : 6);
    }
    int status = 0;
    TG_BEGIN_ALLOW_THREADS
    waitpid(pid, &status, 0);
    TG_END_ALLOW_THREADS
    atomic_store(&fork_stop, 1);
    join_released(id[0]);
    join_released(id[1]);
    cr_assert(WIFEXITED(status), "child did not exit (signal %d: 14 = hung, killed by its alarm)",
              WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    cr_assert_eq(WEXITSTATUS(status), 0, "child failed with code %d", WEXITSTATUS(status));
    cr_assert_eq(atomic_load(&bad), 0);
    tg_decref(owned);
    tg_decref(shared);
    tg_gc_collect(-1);
    cr_assert_eq(tg_fini(), 0);
    cr_assert_eq(tg_live_objects(), 0);
}
