/*
 * runtime/brc.c — biased reference counting for free-threaded mode
 * (PEP 703; Choi et al., PACT 2018) and per-thread counts for contended
 * objects. docs/free-threading.md has the state machine; in short:
 *
 *   ob_ref_local   the owner's count, plain (relaxed atomics only so that
 *                  racing readers are well defined). Only the owner writes
 *                  it — or whoever merges the object once the owner cannot
 *                  (the owner itself at a safepoint, a thread that queued the
 *                  object to an owner that has exited, the collector with the
 *                  world stopped).
 *   ob_ref_shared  count << 2 | state, changed by everyone else with CAS:
 *     BIASED  local + shared count. A non-owner decref that finds the shared
 *             count at 0 does not decrement: it sets QUEUED and pushes the
 *             object on its owner's queue (the queue now holds that
 *             reference) and sets the owner's _TG_EB_MERGE_RC.
 *     QUEUED  as BIASED; the shared count may go negative. The owner merges
 *             at its next safepoint: count = local + shared - 1 (the queue's
 *             reference), ob_tid = SHARED, state MERGED; zero deallocates.
 *     MERGED  ob_tid == _TG_TID_SHARED, local 0: the shared count is the
 *             count; the decref that takes it to 0 deallocates.
 *     HOT     contended: a thread's lock-free reads (tg_list_get,
 *             tg_dict_get: _tg_try_incref_shared) saw CAS failures on this object's
 *             shared count HOT_PROMOTE_FAILS times in a row. Only
 *             lock-free reads promote — plain tg_incref/tg_decref never do,
 *             so an object that is not read out of a shared container keeps
 *             exact, immediate freeing. the bits above the state are an index into the
 *             hot table, which holds the shared count as `base`; non-owners
 *             count in their own per-thread array (no shared cache line is
 *             written). The collector, with the world stopped, folds every
 *             thread's counts into base; only then can the object be found
 *             dead (total 0) and freed — after the restart.
 *   The owner's decref of its last local reference: shared 0 → deallocate;
 *   otherwise ob_tid = SHARED and the state becomes MERGED (HOT stays HOT).
 *
 * Owners that exit. Thread ids are never reused, so "is the owner alive" is
 * a lookup in the brc registry (brc_lock, a rwlock: readers are the rare
 * queueing decrefs). An exiting thread leaves the registry (write lock),
 * then merges what was queued to it; a later decref that would queue to it
 * finds no owner and merges the object itself — it alone set QUEUED, so it
 * alone writes ob_ref_local, whose last owner write happened before the
 * owner's exit (the write lock orders them).
 *
 * TG_RC_ATOMIC: objects are born MERGED (ob_tid SHARED, local 0, shared 1):
 * every operation is an atomic RMW on ob_ref_shared.
 */
#include <pthread.h>
#include "runtime/ft.h"
#include "sync/sync.h"
#include "sync/chaos.h"

#define STATE(s) ((int)((s) & 3))
#define COUNT(s) ((s) >> 2)
#define MK(c, st) ((intptr_t)((c) * 4 + (st)))

/* ------------------------------------------------------------- vectors */

void _tg_ptrvec_push(_tg_ptrvec *pv, void *p)
{
    if (pv->n == pv->cap) {
        size_t cap = pv->cap ? pv->cap * 2 : 64;
        void **v = realloc(pv->v, cap * sizeof *v);
        if (!v) _tg_fatal("free-threaded mode: out of memory growing a per-thread queue");
        pv->v = v;
        pv->cap = cap;
    }
    pv->v[pv->n++] = p;
}

void _tg_ptrvec_free(_tg_ptrvec *pv) { free(pv->v); pv->v = NULL; pv->n = pv->cap = 0; }

/* ------------------------------------------------------------- registry */

static pthread_rwlock_t brc_lock = PTHREAD_RWLOCK_INITIALIZER;
static _tg_ft_tstate *brc_threads;

/* ------------------------------------------------------------ hot table */

#define HOT_MAX 4096
#define HOT_PROMOTE_FAILS 8
typedef struct { tg_obj *obj; _Atomic int64_t base; } hot_entry;
static pthread_mutex_t hot_lock = PTHREAD_MUTEX_INITIALIZER;
static hot_entry hot_tab[HOT_MAX];
static size_t hot_hi;                 /* entries in use are below this */
static uint32_t hot_free[HOT_MAX];
static size_t hot_nfree;
static _tg_ptrvec stw_pending;        /* references the collector drops after the restart */

static inline _tg_ft_tstate *ft_of(void) { _tg_tstate *ts = _tg_tls_ts; return ts ? ts->ft : NULL; }

static int64_t *hot_slot(_tg_ft_tstate *f, size_t idx)
{
    if (idx >= f->nhot) {
        size_t n = HOT_MAX;
        int64_t *h = realloc(f->hot, n * sizeof *h);
        if (!h) _tg_fatal("free-threaded mode: out of memory for per-thread counts");
        memset(h + f->nhot, 0, (n - f->nhot) * sizeof *h);
        f->hot = h;
        f->nhot = n;
    }
    return &f->hot[idx];
}

/* Switch o to per-thread counting. Objects in the QUEUED state are left. */
static TG_NOINLINE void hot_promote(tg_obj *o)
{
    if (_tg_rt.rc == TG_RC_ATOMIC) return;       /* the atomic variant stays atomic */
    pthread_mutex_lock(&hot_lock);
    size_t idx;
    if (hot_nfree) idx = hot_free[--hot_nfree];
    else if (hot_hi < HOT_MAX) idx = hot_hi++;
    else { pthread_mutex_unlock(&hot_lock); return; }
    intptr_t s = __atomic_load_n(&o->ob_ref_shared, __ATOMIC_RELAXED);
    for (;;) {
        int st = STATE(s);
        if (st == _TG_REF_QUEUED || st == _TG_REF_HOT) { hot_free[hot_nfree++] = (uint32_t)idx; break; }
        atomic_store_explicit(&hot_tab[idx].base, COUNT(s), memory_order_relaxed);
        hot_tab[idx].obj = o;
        if (__atomic_compare_exchange_n(&o->ob_ref_shared, &s, MK((intptr_t)idx, _TG_REF_HOT),
                                        false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            break;
    }
    pthread_mutex_unlock(&hot_lock);
}

static inline void note_contention(tg_obj *o)
{
    _tg_ft_tstate *f = ft_of();
    if (!f) return;
    if (f->suspect == o) {
        if (++f->suspect_fails >= HOT_PROMOTE_FAILS) { f->suspect_fails = 0; hot_promote(o); }
    } else {
        f->suspect = o;
        f->suspect_fails = 1;
    }
}

/* --------------------------------------------------------------- merging */

/* Merge o's local count into the shared count, adding extra. The caller has
   the right to write ob_ref_local (see the top of the file). Returns the
   merged count (1 for a hot object: the collector decides). */
static intptr_t merge(tg_obj *o, intptr_t extra)
{
    TG_CHAOS_POINT(TG_CHAOS_SITE_RC_MERGE);
    uint32_t local = __atomic_load_n(&o->ob_ref_local, __ATOMIC_RELAXED);
    intptr_t s = __atomic_load_n(&o->ob_ref_shared, __ATOMIC_ACQUIRE);
    if (STATE(s) == _TG_REF_HOT) {
        /* merged earlier and promoted since: count the extra per thread */
        _tg_ft_tstate *f = ft_of();
        if (extra) *hot_slot(f, (size_t)COUNT(s)) += extra;
        return 1;
    }
    /* The stores come first: once the CAS publishes MERGED another thread
       may take the count to zero and free the object. */
    __atomic_store_n(&o->ob_ref_local, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&o->ob_tid, _TG_TID_SHARED, __ATOMIC_RELEASE);
    intptr_t n;
    do {
        if (STATE(s) == _TG_REF_HOT) {
            /* promoted between our load and CAS: local moves to our delta */
            _tg_ft_tstate *f = ft_of();
            *hot_slot(f, (size_t)COUNT(s)) += (int64_t)local + extra;
            return 1;
        }
        n = MK(COUNT(s) + (intptr_t)local + extra, _TG_REF_MERGED);
    } while (!__atomic_compare_exchange_n(&o->ob_ref_shared, &s, n, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    if (TG_UNLIKELY(COUNT(n) < 0)) _tg_fatal_obj(o, "tg_decref below zero (merged count negative)");
    return COUNT(n);
}

static void queue_to_owner(tg_obj *o, uintptr_t tid)
{
    TG_CHAOS_POINT(TG_CHAOS_SITE_RC_SLOW);
    pthread_rwlock_rdlock(&brc_lock);
    for (_tg_ft_tstate *f = brc_threads; f; f = f->next) {
        if (f->tid != tid) continue;
        _tg_spin_lock(&f->qlock);
        _tg_ptrvec_push(&f->queue, o);
        _tg_spin_unlock(&f->qlock);
        atomic_fetch_or(&f->ts->eval_breaker, (uintptr_t)_TG_EB_MERGE_RC);
        pthread_rwlock_unlock(&brc_lock);
        return;
    }
    pthread_rwlock_unlock(&brc_lock);
    /* The owner has exited (or the object is being merged right now by its
       owner's zero-local path, which cannot happen while we hold a counted
       reference): merge it here, dropping the queue's reference. */
    if (merge(o, -1) == 0) _tg_dealloc(o);
}

static void merge_vec(_tg_ptrvec *q)
{
    for (size_t i = 0; i < q->n; i++) {
        tg_obj *o = q->v[i];
        if (merge(o, -1) == 0) _tg_dealloc(o);
    }
}

void _tg_ft_merge_own(_tg_tstate *ts)
{
    _tg_ft_tstate *f = ts ? ts->ft : NULL;
    if (!f) return;
    for (;;) {
        _tg_spin_lock(&f->qlock);
        _tg_ptrvec q = f->queue;
        f->queue = (_tg_ptrvec){ 0 };
        _tg_spin_unlock(&f->qlock);
        if (!q.n) { _tg_ptrvec_free(&q); return; }
        merge_vec(&q);                 /* deallocation may queue more */
        _tg_ptrvec_free(&q);
    }
}

void _tg_rc_merge_safepoint(void) { _tg_ft_merge_own(_tg_tls_ts); }

/* --------------------------------------------------------- slow paths */

#if TG_DEBUG >= 1
static TG_COLD void unattached(const tg_obj *o, const char *op)
{
    _tg_fatal("%s on %s object %p from a thread that is not attached (call tg_thread_attach)",
              op, o->ob_flags & _TG_OBF_DEAD ? "a freed" : o->ob_type->name, (const void *)o);
}
#endif

TG_API void _tg_incref_slow(tg_obj *o)
{
    if (_tg_is_immortal(o)) return;              /* the inline test sends immortals here */
#if TG_DEBUG >= 1
    if (o->ob_flags & _TG_OBF_DEAD) _tg_fatal_obj(o, "tg_incref of a freed object");
    if (_tg_tls_tid == 0) unattached(o, "tg_incref");
#endif
    if (!_tg_ft()) {      /* GIL mode: only an unattached caller (release build) */
        __atomic_fetch_add(&o->ob_ref_shared, 4, __ATOMIC_RELAXED);
        return;
    }
    intptr_t s = __atomic_load_n(&o->ob_ref_shared, __ATOMIC_RELAXED);
    bool contended = false;
    for (;;) {
        if (STATE(s) == _TG_REF_HOT) { (*hot_slot(ft_of(), (size_t)COUNT(s)))++; return; }
        if (__atomic_compare_exchange_n(&o->ob_ref_shared, &s, s + 4, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            break;
        contended = true;
    }
    (void)contended;
}

static TG_NOINLINE void zero_local(tg_obj *o)
{
    /* The owner's last local reference. */
    __atomic_store_n(&o->ob_ref_local, 0, __ATOMIC_RELAXED);
    intptr_t s = __atomic_load_n(&o->ob_ref_shared, __ATOMIC_ACQUIRE);
    if (s == 0) { _tg_dealloc(o); return; }
    TG_CHAOS_POINT(TG_CHAOS_SITE_RC_SLOW);
    __atomic_store_n(&o->ob_tid, _TG_TID_SHARED, __ATOMIC_RELEASE);
    intptr_t n;
    do {
        if (STATE(s) == _TG_REF_HOT) return;            /* the collector decides */
        n = MK(COUNT(s), _TG_REF_MERGED);
    } while (!__atomic_compare_exchange_n(&o->ob_ref_shared, &s, n, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    if (n == _TG_REF_MERGED) _tg_dealloc(o);
    else if (TG_UNLIKELY(COUNT(n) < 0)) _tg_fatal_obj(o, "tg_decref below zero (one tg_decref too many)");
}

TG_API void _tg_decref_slow(tg_obj *o)
{
    if (_tg_is_immortal(o)) return;
#if TG_DEBUG >= 1
    if (o->ob_flags & _TG_OBF_DEAD) _tg_fatal_obj(o, "tg_decref of a freed object");
    if (_tg_tls_tid == 0) unattached(o, "tg_decref");
#endif
    uintptr_t tid = __atomic_load_n(&o->ob_tid, __ATOMIC_RELAXED);
    if (tid == _tg_tls_tid) {
        if (TG_UNLIKELY(__atomic_load_n(&o->ob_ref_local, __ATOMIC_RELAXED) == 0))
            _tg_fatal_obj(o, "tg_decref below zero (one tg_decref too many)");
        zero_local(o);
        return;
    }
    if (!_tg_ft()) {      /* GIL mode: an unattached caller (release build) */
        intptr_t prev = __atomic_fetch_sub(&o->ob_ref_shared, 4, __ATOMIC_ACQ_REL);
        (void)prev;
        return;
    }
    intptr_t s = __atomic_load_n(&o->ob_ref_shared, __ATOMIC_RELAXED), n;
    bool queue = false, contended = false;
    for (;;) {
        int st = STATE(s);
        if (st == _TG_REF_HOT) { (*hot_slot(ft_of(), (size_t)COUNT(s)))--; return; }
        queue = st == _TG_REF_BIASED && COUNT(s) == 0;
        n = queue ? MK(0, _TG_REF_QUEUED) : s - 4;
        if (__atomic_compare_exchange_n(&o->ob_ref_shared, &s, n, true, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            break;
        contended = true;
    }
    if (queue) { queue_to_owner(o, tid); return; }
    if (STATE(n) == _TG_REF_MERGED) {
        if (n == _TG_REF_MERGED) { _tg_dealloc(o); return; }
        if (TG_UNLIKELY(COUNT(n) < 0)) _tg_fatal_obj(o, "tg_decref below zero (one tg_decref too many)");
    }
    (void)contended;
}

/* Not immortal, not the calling thread's: the shared count. */
bool _tg_try_incref_shared(tg_obj *o)
{
    intptr_t s = __atomic_load_n(&o->ob_ref_shared, __ATOMIC_RELAXED);
    bool contended = false;
    for (;;) {
        if (STATE(s) == _TG_REF_HOT) { (*hot_slot(ft_of(), (size_t)COUNT(s)))++; return true; }
        if (s == _TG_REF_MERGED) return false;           /* dying */
        if (__atomic_compare_exchange_n(&o->ob_ref_shared, &s, s + 4, true, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            break;
        contended = true;
    }
    if (contended) note_contention(o);
    return true;
}

/* ---------------------------------------------------------- counts */

intptr_t _tg_ft_count(const tg_obj *o)
{
    uint32_t local = __atomic_load_n(&o->ob_ref_local, __ATOMIC_RELAXED);
    if (local == _TG_IMMORTAL_LOCAL) return (intptr_t)_TG_IMMORTAL_LOCAL;
    intptr_t s = __atomic_load_n(&o->ob_ref_shared, __ATOMIC_RELAXED);
    if (STATE(s) != _TG_REF_HOT) return (intptr_t)local + COUNT(s);
    return (intptr_t)local + (intptr_t)atomic_load_explicit(&hot_tab[COUNT(s)].base, memory_order_relaxed);
}

TG_API intptr_t tg_refcount(const tg_obj *o)
{
    intptr_t s = __atomic_load_n(&o->ob_ref_shared, __ATOMIC_RELAXED);
    intptr_t n = _tg_ft_count(o);
    if (STATE(s) == _TG_REF_HOT && _tg_ft()) {
        /* approximate while other threads run: their per-thread counts */
        size_t idx = (size_t)COUNT(s);
        pthread_rwlock_rdlock(&brc_lock);
        for (_tg_ft_tstate *f = brc_threads; f; f = f->next)
            if (idx < f->nhot) n += __atomic_load_n(&f->hot[idx], __ATOMIC_RELAXED);
        pthread_rwlock_unlock(&brc_lock);
    }
    return n;
}

/* -------------------------------------------------------- resurrection */

void _tg_resurrect_begin(tg_obj *o)
{
    __atomic_store_n(&o->ob_tid, _tg_tls_tid, __ATOMIC_RELAXED);
    __atomic_store_n(&o->ob_ref_shared, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&o->ob_ref_local, 1, __ATOMIC_RELAXED);
}

bool _tg_resurrect_end(tg_obj *o)
{
    uint32_t local = __atomic_load_n(&o->ob_ref_local, __ATOMIC_RELAXED) - 1;
    __atomic_store_n(&o->ob_ref_local, local, __ATOMIC_RELAXED);
    if (local != 0) return true;
    intptr_t s = __atomic_load_n(&o->ob_ref_shared, __ATOMIC_ACQUIRE);
    if (s == 0) return false;
    /* references handed to other threads: the shared count carries on */
    __atomic_store_n(&o->ob_tid, _TG_TID_SHARED, __ATOMIC_RELEASE);
    intptr_t n;
    do {
        if (STATE(s) == _TG_REF_HOT) return true;
        n = MK(COUNT(s), _TG_REF_MERGED);
    } while (!__atomic_compare_exchange_n(&o->ob_ref_shared, &s, n, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    return n != _TG_REF_MERGED;
}

/* -------------------------------------------------- owner-biased locks */

int _tg_ft_bias_slot_holds(uintptr_t tid, const tg_obj *o)
{
    int r = -1;
    pthread_rwlock_rdlock(&brc_lock);
    for (_tg_ft_tstate *f = brc_threads; f; f = f->next) {
        if (f->tid != tid) continue;
        /* seq_cst (at least acquire: pairs with the owner's release store
           leaving the section; seq_cst for the TSan build's Dekker pairing) */
        tg_obj *held = __atomic_load_n(f->bias_slot, __ATOMIC_SEQ_CST);
        r = held == o || held == _TG_BIAS_ALL;
        break;
    }
    pthread_rwlock_unlock(&brc_lock);
    return r;
}

bool _tg_ft_any_slot_holds(const tg_obj *o)
{
    bool r = false;
    pthread_rwlock_rdlock(&brc_lock);
    for (_tg_ft_tstate *f = brc_threads; f && !r; f = f->next)
        /* seq_cst: as above (acquire pairs with the holder's release store
           leaving its sticky op) */
        r = __atomic_load_n(f->bias_slot, __ATOMIC_SEQ_CST) == o;
    pthread_rwlock_unlock(&brc_lock);
    return r;
}

int _tg_ft_sticky_holder(const tg_obj *o, uint64_t window_ns)
{
    int r = 0;
    pthread_rwlock_rdlock(&brc_lock);       /* the holder's TLS stays valid while we look */
    for (_tg_ft_tstate *f = brc_threads; f; f = f->next) {
        if (__atomic_load_n(f->sticky_slot, __ATOMIC_RELAXED) != o) continue;
        r = 1;
        /* An operation takes a few nanoseconds and a busy holder runs one
           after another: sampling its slot for a while sees o almost at
           once. Relaxed: only a heuristic. */
        uint64_t end = _tg_now_ns() + window_ns;
        do {
            for (int k = 0; k < 64; k++) {
                if (__atomic_load_n(f->bias_slot, __ATOMIC_RELAXED) == o) { r = 2; goto out; }
                _TG_CPU_RELAX();
            }
        } while (_tg_now_ns() < end);
        break;
    }
out:
    pthread_rwlock_unlock(&brc_lock);
    return r;
}

void _tg_ft_sticky_forget_all(tg_obj *o, uint64_t turns_ns, uint64_t hold_off_ns)
{
    uint64_t now = turns_ns ? _tg_now_ns() : 0;
    pthread_rwlock_rdlock(&brc_lock);
    for (_tg_ft_tstate *f = brc_threads; f; f = f->next) {
        tg_obj *expect = o;
        if (__atomic_compare_exchange_n(f->sticky_slot, &expect, NULL, false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)
            && now - __atomic_load_n(&f->sticky_since, __ATOMIC_RELAXED) < turns_ns) {
            /* relaxed: a heuristic; the holder reads it in _tg_sticky_keep */
            __atomic_store_n(&f->turns_obj, o, __ATOMIC_RELAXED);
            __atomic_store_n(&f->turns_until, now + hold_off_ns, __ATOMIC_RELAXED);
        }
    }
    pthread_rwlock_unlock(&brc_lock);
}

/* -------------------------------------------------------- thread life */

int _tg_ft_thread_init(_tg_tstate *ts)
{
    _tg_ft_tstate *f = calloc(1, sizeof *f);
    if (!f) { _tg_err_nomem(); return -1; }
    f->ts = ts;
    f->tid = ts->tid;
    f->qlock = (_tg_spinlock)_TG_SPINLOCK_INIT;
    f->bias_slot = &_tg_tls_bias;
    f->sticky_slot = &_tg_tls_sticky;
    pthread_rwlock_wrlock(&brc_lock);
    f->next = brc_threads;
    brc_threads = f;
    pthread_rwlock_unlock(&brc_lock);
    ts->ft = f;
    _tg_qsbr_thread_init(f);
    return 0;
}

static void fold_hot(_tg_ft_tstate *f)
{
    for (size_t i = 0; i < f->nhot; i++) {
        if (f->hot[i]) {
            atomic_fetch_add_explicit(&hot_tab[i].base, f->hot[i], memory_order_relaxed);
            f->hot[i] = 0;
        }
    }
}

/* The thread is attached and about to detach for good. */
void _tg_ft_thread_fini(_tg_tstate *ts)
{
    _tg_ft_tstate *f = ts->ft;
    if (!f) return;
    _tg_ft_merge_own(ts);
    _tg_qsbr_thread_fini(f);           /* may decref: before leaving the registry */
    _tg_ft_merge_own(ts);
    /* A lock this thread holds in reserve stays locked, held by nobody:
       the next thread that wants it takes it over (sync/bias.c). */
    __atomic_store_n(&_tg_tls_sticky, NULL, __ATOMIC_RELAXED);
    pthread_rwlock_wrlock(&brc_lock);
    for (_tg_ft_tstate **p = &brc_threads; *p; p = &(*p)->next)
        if (*p == f) { *p = f->next; break; }
    pthread_rwlock_unlock(&brc_lock);
    /* Nobody can queue to us any more; merge what came in meanwhile. */
    _tg_ft_merge_own(ts);
    pthread_mutex_lock(&hot_lock);
    fold_hot(f);
    pthread_mutex_unlock(&hot_lock);
    free(f->hot);
    _tg_ptrvec_free(&f->queue);
    ts->ft = NULL;
    free(f);
}

/* ------------------------------------------------------- stop-the-world */

void _tg_ft_stw_merge(void)
{
    if (!_tg_ft()) return;
    pthread_rwlock_rdlock(&brc_lock);
    for (_tg_ft_tstate *f = brc_threads; f; f = f->next) {
        f->ts->gc_count_delta = 0;
        /* Keep the queue's reference; it is dropped after the restart. */
        for (size_t i = 0; i < f->queue.n; i++) {
            merge(f->queue.v[i], 0);
            _tg_ptrvec_push(&stw_pending, f->queue.v[i]);
        }
        f->queue.n = 0;
        atomic_fetch_and(&f->ts->eval_breaker, ~(uintptr_t)_TG_EB_MERGE_RC);
    }
    pthread_mutex_lock(&hot_lock);
    for (_tg_ft_tstate *f = brc_threads; f; f = f->next) fold_hot(f);
    for (size_t i = 0; i < hot_hi; i++) {
        tg_obj *o = hot_tab[i].obj;
        if (!o) continue;
        uint32_t local = __atomic_load_n(&o->ob_ref_local, __ATOMIC_RELAXED);
        int64_t total = atomic_load_explicit(&hot_tab[i].base, memory_order_relaxed) + local;
        if (total != 0) continue;
        /* Dead: back to an ordinary merged object with one reference, which
           the pending list drops after the restart. */
        __atomic_store_n(&o->ob_ref_local, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&o->ob_tid, _TG_TID_SHARED, __ATOMIC_RELAXED);
        __atomic_store_n(&o->ob_ref_shared, MK(1, _TG_REF_MERGED), __ATOMIC_RELAXED);
        hot_tab[i].obj = NULL;
        hot_free[hot_nfree++] = (uint32_t)i;
        _tg_ptrvec_push(&stw_pending, o);
    }
    pthread_mutex_unlock(&hot_lock);
    for (_tg_ft_tstate *f = brc_threads; f; f = f->next) _tg_qsbr_stw_reclaim_thread(f);
    pthread_rwlock_unlock(&brc_lock);
}

/* fork() child, free-threaded mode. The parent stopped the world for the
   fork, so every other thread was parked at a safepoint, QSBR-offline, with
   no runtime lock held. Their queues are merged and their QSBR lists
   reclaimed as a collection's stop does, then they leave the registry:
   objects they owned have an owner id nobody has, so the next decref that
   would queue them merges them instead (queue_to_owner). */
void _tg_ft_fork_child(_tg_tstate *me)
{
    pthread_rwlock_init(&brc_lock, NULL);
    pthread_mutex_init(&hot_lock, NULL);
    _tg_ft_stw_merge();
    pthread_rwlock_wrlock(&brc_lock);
    for (_tg_ft_tstate **p = &brc_threads; *p;) {
        _tg_ft_tstate *f = *p;
        if (me && f == me->ft) { p = &f->next; continue; }
        *p = f->next;
        free(f->hot);
        _tg_ptrvec_free(&f->queue);
        _tg_ptrvec_free(&f->retired);
        _tg_ptrvec_free(&f->deferred);
        free(f);
    }
    pthread_rwlock_unlock(&brc_lock);
    if (me && me->ft) me->ft->qlock = (_tg_spinlock)_TG_SPINLOCK_INIT;
    _tg_qsbr_fork_child(me);
    _tg_ft_stw_release();
}

void _tg_ft_stw_release(void)
{
    if (!_tg_ft()) return;
    _tg_ptrvec q = stw_pending;
    stw_pending = (_tg_ptrvec){ 0 };
    for (size_t i = 0; i < q.n; i++) tg_decref(q.v[i]);
    _tg_ptrvec_free(&q);
}

/* tg_fini: nothing hot survives a runtime. */
void _tg_ft_runtime_reset(void)
{
    pthread_mutex_lock(&hot_lock);
    memset(hot_tab, 0, sizeof hot_tab);
    hot_hi = hot_nfree = 0;
    pthread_mutex_unlock(&hot_lock);
}

void _tg_ft_stw_defer(tg_obj *o) { _tg_ptrvec_push(&stw_pending, o); }
