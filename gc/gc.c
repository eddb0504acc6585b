/*
 * gc/gc.c — the collector's public API: tracking, generations, thresholds and
 * automatic collection, freeze, callbacks, stats, garbage, introspection.
 * The collection algorithm itself is gc/collect.c; docs/gc.md explains both.
 *
 * Counting rules (CPython's):
 *   count[0]  tracked allocations minus deallocations since gen 0 was collected
 *   count[i]  collections of generation i-1 since generation i was collected
 * Collecting generation g zeroes count[0..g] and adds one to count[g+1].
 * An allocation that takes count[0] over threshold[0] (threshold[0] > 0, the
 * collector enabled, no collection running) collects the oldest generation
 * whose count is over its threshold; generation 2 only when the objects
 * promoted into it since the last full collection exceed 25% of it (the
 * long-lived rule: full collections stay linear in the heap overall).
 */
#include <sched.h>
#include <stdio.h>
#include <time.h>
#include "gc/gc_internal.h"
#include "sync/sync.h"
#include "runtime/ft.h"

_tg_gcstate _tg_gcs;

/* Free-threaded mode (docs/free-threading.md): every thread tracks and
   untracks, so the generation lists are under track_lock — a spinlock held
   for a few pointer writes (a collection runs with the world stopped, when
   no other thread can hold it). Allocation counts are per thread
   (_tg_tstate.gc_count_delta), flushed into count[0] with one atomic add
   every GC_COUNT_QUANTUM allocations or deallocations. */
static _tg_spinlock track_lock = _TG_SPINLOCK_INIT;
#define GC_COUNT_QUANTUM 32
static _tg_tstate *_Atomic collector_ts;   /* the thread collecting, or NULL */

static inline void track_lock_acquire(void) { if (_tg_ft()) _tg_spin_lock(&track_lock); }
static inline void track_lock_release(void) { if (_tg_ft()) _tg_spin_unlock(&track_lock); }
void _tg_gc_track_lock(void) { track_lock_acquire(); }
void _tg_gc_track_unlock(void) { track_lock_release(); }

/* Per-thread young lists (free-threaded mode): the invariant is written in
   gc/gc_internal.h. young_slots[s] is reached through _tg_tstate.gc_state
   by its owner; young_none (slot 0) is what a thread without a slot (or
   past its exit) points at: it tracks on the global generation 0. */
typedef struct young_slot {
    /* slots 128-byte aligned: the owner writes head on every track and
       untrack, so neighbouring slots must not share a line (nor the
       adjacent-line prefetcher's pair) */
    _Alignas(128) _tg_gchead head;   /* the owner's young list */
    _tg_gchead   aged;        /* the owner's aged list: survivors of its local
                                 young collections (its part of generation 1) */
    long         aged_round;  /* the round of local generation-1 collections
                                 (gcs.aged_round) this slot's aged list was last
                                 collected in (relaxed; the owner, or anyone with
                                 the world stopped) */
    int          aged_tuples; /* a tuple may be on the aged list: a local collection
                                 of generation 1 would not be eligible, so it is
                                 not tried (relaxed; set by the owner, cleared
                                 with the world stopped when the aged lists are
                                 gathered) */
    _tg_tstate  *owner;       /* NULL: free (slot_lock) */
    _tg_spinlock qlock;       /* remote */
    _tg_ptrvec   remote;      /* zombies queued by other threads, freed by the owner */
    int          pending;     /* remote.n != 0 (relaxed: a hint for the owner) */
    int          zombies;     /* another thread may have made a zombie on this list
                                 since the last walk of it (relaxed; set by that
                                 thread, cleared by whoever walks the list) */
    uint8_t      slot;
    uint8_t      rest;        /* gc_bits_young(slot): a young object's bits at rest */
    int          local;       /* the owner is inside a local collection (owner only) */
    /* The owner's collector bookkeeping, kept here rather than in _tg_gcs
       so that threads collecting their own lists write no shared line.
       Written by the owner (or with the world stopped) with relaxed
       stores, summed by readers with relaxed loads. */
    _Alignas(64) long count0; /* the owner's part of count[0]: its tracked
                                 allocations minus deallocations (clamped at
                                 0) since its young list was last collected */
    long         share0, share1;  /* local collections of generation 0 / 1 not
                                     yet counted in count[1] / count[2] (owner) */
    uint64_t     runs, runs1, fallbacks;  /* local collections (tests, stress) */
    uint64_t     runs_seen;   /* runs at the last automatic collection of the
                                 generations (world stopped) */
    tg_gc_stats  lstats[2];   /* the local collections' statistics, gen 0 and 1 */
} young_slot;
static young_slot young_slots[GC_NSLOTS];
static young_slot young_none;
/* The calling thread's own slot (1..GC_NSLOTS-1), NULL without one (GIL
   mode, a thread past the slots, not attached or not yet tracking): what
   _tg_tstate.gc_state points at when that is a slot of its own, one
   thread-local load away for the tracking fast paths. Set and cleared
   with gc_state, by the thread itself. */
static _Thread_local young_slot *tls_young TG_TLS_IE;
/* With tls_young, for the untrack fast path: an object on the calling
   thread's own young or aged list has (bits & GC_OWN_MASK) == tls_own_key
   (its slot, GC_LOCAL, generation 0 or 1). 1 without a slot: no bits match
   it under the mask. */
enum { GC_OWN_MASK = GC_SLOT_MASK | GC_LOCAL | (2u << GC_GEN_SHIFT) };
static _Thread_local uint8_t tls_own_key TG_TLS_IE = 1;
static inline void tls_young_set(young_slot *y)
{
    tls_young = y;
    tls_own_key = y ? (uint8_t)(GC_LOCAL | (y->slot << GC_SLOT_SHIFT)) : 1;
}
static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
/* Slots with an owner (changed under slot_lock, read lock-free): the N of a
   local collection's 1/N share of generation 0 (_tg_gc_collect_local). */
static long young_owners;

static TG_NOINLINE young_slot *young_attach(_tg_tstate *ts)
{
    young_slot *y = &young_none;
    pthread_mutex_lock(&slot_lock);
    for (int i = 1; i < GC_NSLOTS; i++) {
        if (!young_slots[i].owner) {
            y = &young_slots[i];
            y->owner = ts;
            y->local = 0;       /* (a fork child: its last owner may have been mid-collection) */
            /* nothing aged yet: no round owed */
            __atomic_store_n(&y->aged_round, __atomic_load_n(&_tg_gcs.aged_round, __ATOMIC_RELAXED),
                             __ATOMIC_RELAXED);
            __atomic_add_fetch(&young_owners, 1, __ATOMIC_RELAXED);
            break;
        }
    }
    pthread_mutex_unlock(&slot_lock);
    ts->gc_state = y;
    if (ts == _tg_tls_ts) tls_young_set(y->slot ? y : NULL);
    return y;
}

/* Free a zombie popped from a queue: unlink it if still linked (then it is
   on the caller's own list, or the world is stopped). */
static void zombie_free(tg_obj *o)
{
    _tg_gchead *g = _tg_as_gc(o);
    if (g->gc_next) gc_list_remove(g);
    g->gc_next = g->gc_prev = 0;
    o->ob_gc_bits = 0;
    const tg_type *t = o->ob_type;
    if (t->release) t->release(o); else _tg_obj_free(o);
}

/* The owner (or, with the world stopped, anyone) frees what other threads
   queued on slot y. force: without looking at the hint first. */
static void young_drain(young_slot *y, bool force)
{
    if (!force && !__atomic_load_n(&y->pending, __ATOMIC_RELAXED)) return;
    _tg_spin_lock(&y->qlock);
    _tg_ptrvec q = y->remote;
    y->remote = (_tg_ptrvec){ 0 };
    __atomic_store_n(&y->pending, 0, __ATOMIC_RELAXED);
    _tg_spin_unlock(&y->qlock);
    for (size_t i = 0; i < q.n; i++) zombie_free(q.v[i]);
    _tg_ptrvec_free(&q);
}

/* Move a slot's list h (young: gen 0; aged: gen 1) to the global
   generation gen: bits to that generation's at rest, zombies (untracked by
   another thread, being destroyed) unlinked with gc_next = 0 — their
   destroyer queues them and the queue's next popper frees them. With the
   world stopped, or by the owner giving its slot back under track_lock:
   then a non-owner may be turning an object into a zombie at the same
   moment, hence the compare-and-swap (the loser of the race untracks it
   from the global list, under track_lock). gen < 0: only the zombies are
   unlinked, the list and the other objects' bits stay (world stopped). */
static void slot_list_splice(_tg_gchead *h, int gen)
{
    _tg_gchead *next;
    uint8_t bits = gc_bits_at_rest(gen < 0 ? 0 : gen);
    for (_tg_gchead *g = (_tg_gchead *)h->gc_next; g != h; g = next) {
        next = (_tg_gchead *)g->gc_next;
        tg_obj *o = _tg_from_gc(g);
        uint8_t b = __atomic_load_n(&o->ob_gc_bits, __ATOMIC_RELAXED);
        if (b & GC_TRACKED) {
            if (gen < 0) continue;
            if (__atomic_compare_exchange_n(&o->ob_gc_bits, &b, bits, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                continue;
        }
        gc_list_remove(g);                  /* a zombie */
        g->gc_next = g->gc_prev = 0;
    }
    if (gen >= 0) gc_list_merge(h, &_tg_gcs.gen_head[gen]);
}
static void young_splice(young_slot *y)
{
    if (!gc_list_empty(&y->head)) slot_list_splice(&y->head, 0);
    if (!gc_list_empty(&y->aged)) slot_list_splice(&y->aged, 1);
}

/* World stopped (or GIL held): every young list joins generation 0, every
   aged list generation 1. O(young + aged). */
static void young_gather(void)
{
    long round = __atomic_load_n(&_tg_gcs.aged_round, __ATOMIC_RELAXED);
    for (int i = 1; i < GC_NSLOTS; i++) {
        young_slot *y = &young_slots[i];
        if (__atomic_load_n(&y->pending, __ATOMIC_RELAXED)) young_drain(y, true);
        young_splice(y);
        __atomic_store_n(&y->zombies, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&y->aged_round, round, __ATOMIC_RELAXED);    /* nothing aged left */
        __atomic_store_n(&y->aged_tuples, 0, __ATOMIC_RELAXED);
    }
}

/* The same for a collection of generation gen, world stopped, in O(1) per
   list: a list with no zombie is spliced whole and its objects keep
   GC_LOCAL | slot << 4 (and, aged, gen 1) — the collection's first walk,
   which meets every object of the set, rewrites them (gc/collect.c,
   tables_for_generation) before the world runs again. A list another
   thread may have left a zombie on (a linked object that is no longer
   tracked: it must not be counted) is walked as before. Zombies queued are
   freed (and unlinked) first; a zombie not yet queued was made by a thread
   that set y->zombies right after making it, before any safepoint, so the
   stop made that store visible here. Aged lists join generation 1 only for
   a collection of generation 1 or 2 (then every slot has collected its
   aged list in this round); a collection of generation 0 leaves them, but
   unlinks their zombies when the flag is set, since it clears the flag.

   automatic (an automatic collection): the young lists of the other
   threads that collect them themselves — a local collection of the slot
   succeeded since the last automatic collection, and the list has no
   zombie — stay where they are, outside the set; their owners collect
   them within threshold[0] of their own allocations. Examining them here
   meant walking another core's cold lines and freeing its garbage from
   this thread (scale_cycles at 2 threads: sets of 96 objects instead of
   53, 36,000-51,000 remote frees a second instead of 11,000-13,000; with
   N threads, N - 1 young lists in every pause; docs/free-threading.md).
   A young list whose owner has not collected it since (idle, or its
   lists are not eligible) is gathered, so garbage does not wait on an
   idle thread. Returns the slots left out (bit s: slot s), for the set's
   membership (gc/collect.c). */
static uint16_t young_gather_lazy(int gen, bool automatic)
{
    long round = __atomic_load_n(&_tg_gcs.aged_round, __ATOMIC_RELAXED);
    young_slot *me = _tg_tls_ts ? _tg_tls_ts->gc_state : NULL;
    uint16_t skipped = 0;
    for (int i = 1; i < GC_NSLOTS; i++) {
        young_slot *y = &young_slots[i];
        if (__atomic_load_n(&y->pending, __ATOMIC_RELAXED)) young_drain(y, true);
        bool zombies = __atomic_load_n(&y->zombies, __ATOMIC_RELAXED);
        uint64_t runs = __atomic_load_n(&y->runs, __ATOMIC_RELAXED);
        bool active = runs != y->runs_seen;
        if (automatic) y->runs_seen = runs;
        bool skip = automatic && active && !zombies && y != me && y->owner;
        if (skip) {
            skipped |= (uint16_t)(1u << i);
        } else if (!gc_list_empty(&y->head)) {
            if (zombies) slot_list_splice(&y->head, 0);
            else gc_list_merge(&y->head, &_tg_gcs.gen_head[0]);
        }
        if (!gc_list_empty(&y->aged)) {
            if (gen >= 1) {
                if (zombies) slot_list_splice(&y->aged, 1);
                else gc_list_merge(&y->aged, &_tg_gcs.gen_head[1]);
            } else if (zombies) {
                slot_list_splice(&y->aged, -1);
            }
        }
        if (zombies) __atomic_store_n(&y->zombies, 0, __ATOMIC_RELAXED);
        if (gen >= 1) {
            __atomic_store_n(&y->aged_round, round, __ATOMIC_RELAXED);
            __atomic_store_n(&y->aged_tuples, 0, __ATOMIC_RELAXED);
        }
    }
    return skipped;
}

/* runtime/tstate.c, the thread detaching (still attached): its young
   objects go to the global generation 0, its slot is free again. */
void _tg_gc_thread_fini(_tg_tstate *ts)
{
    young_slot *y = ts->gc_state;
    ts->gc_state = &young_none;
    if (ts == _tg_tls_ts) tls_young_set(NULL);
    if (!y || !y->slot) return;
    young_drain(y, true);
    _tg_spin_lock(&track_lock);
    young_splice(y);                       /* young -> generation 0, aged -> 1 */
    _tg_spin_unlock(&track_lock);
    /* (a non-owner racing with the splice may set it again: harmless, the
       next gather walks a list that has no zombie) */
    __atomic_store_n(&y->zombies, 0, __ATOMIC_RELAXED);
    /* its part of count[0] goes with its young objects */
    __atomic_add_fetch(&_tg_gcs.count[0], __atomic_load_n(&y->count0, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
    __atomic_store_n(&y->count0, 0, __ATOMIC_RELAXED);
    y->share0 = y->share1 = 0;
    pthread_mutex_lock(&slot_lock);
    y->owner = NULL;
    __atomic_sub_fetch(&young_owners, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&slot_lock);
}

/* runtime/object.c: o was untracked by a thread other than its young
   list's owner (_tg_gc_untrack returned false) and is destroyed: queue it
   for its owner to unlink and free. */
void _tg_gc_free_deferred(tg_obj *o)
{
    uint8_t b = __atomic_load_n(&o->ob_gc_bits, __ATOMIC_RELAXED);
    young_slot *y = &young_slots[b >> GC_SLOT_SHIFT];
    _tg_spin_lock(&y->qlock);
    _tg_ptrvec_push(&y->remote, o);
    __atomic_store_n(&y->pending, 1, __ATOMIC_RELAXED);
    _tg_spin_unlock(&y->qlock);
}

/* Stop the world for the collector or an introspection walk (free-threaded
   mode, unless the caller already stopped it). */
static bool gc_world_stop(void)
{
    if (!_tg_ft() || _tg_stw_is_stopped()) return false;
    _tg_stw_stop();
    return true;
}

/* Long-lived rule: a full collection only when pending > total / 4. */
#define GC_LONG_LIVED_DIVISOR 4

size_t _tg_gc_list_size(const _tg_gchead *h)
{
    size_t n = 0;
    for (const _tg_gchead *g = (const _tg_gchead *)h->gc_next; g != h; g = (const _tg_gchead *)g->gc_next) n++;
    return n;
}

int _tg_gc_init(void)
{
    _tg_gcstate *s = &_tg_gcs;
    for (int i = 0; i <= GC_NGENS; i++) gc_list_init(&s->gen_head[i]);
    for (int i = 0; i < GC_NGENS; i++) {
        s->threshold[i] = _tg_rt.config.gc_threshold[i];
        s->count[i] = 0;
        memset(&s->stats[i], 0, sizeof s->stats[i]);
    }
    s->long_lived_total = s->long_lived_pending = 0;
    s->enabled = _tg_rt.config.gc_enabled;
    s->collecting = 0;
    s->locals_ok = 0;
    s->debug = 0;
    s->parity = 0;
    s->garbage = NULL;
    s->ncbs = 0;
    for (int i = 0; i < GC_NSLOTS; i++) {
        young_slot *y = &young_slots[i];
        gc_list_init(&y->head);
        gc_list_init(&y->aged);
        y->aged_round = 0;
        y->aged_tuples = 0;
        y->owner = NULL;
        _tg_ptrvec_free(&y->remote);
        y->pending = 0;
        y->zombies = 0;
        y->local = 0;
        y->slot = (uint8_t)i;
        y->rest = i ? gc_bits_young((unsigned)i) : 0;
        y->count0 = y->share0 = y->share1 = 0;
        y->runs = y->runs1 = y->fallbacks = y->runs_seen = 0;
        memset(y->lstats, 0, sizeof y->lstats);
    }
    young_none = young_slots[0];
    __atomic_store_n(&young_owners, 0, __ATOMIC_RELAXED);
    _tg_gc_local_tables_init();
    s->aged_round = 0;
    if (_tg_tls_ts) _tg_tls_ts->gc_state = NULL;
    tls_young_set(NULL);
    return 0;
}

/* tg_fini has run a full collection already. Frozen objects are thawed and
   collected, then the garbage list is released and collected once more (what
   DEBUG_SAVEALL kept goes now). Cycles with legacy finalizers stay: they are
   uncollectable, as in CPython, and tg_live_objects reports them. */
void _tg_gc_fini(void)
{
    _tg_gcstate *s = &_tg_gcs;
    s->debug &= ~(unsigned)TG_GC_DEBUG_SAVEALL;
    tg_gc_unfreeze();
    tg_gc_collect(2);
    if (s->garbage) {
        tg_obj *g = s->garbage;
        s->garbage = NULL;
        tg_list_clear(g);
        tg_decref(g);
        tg_gc_collect(2);
    }
    if (s->garbage) {                 /* made by the last collection */
        tg_obj *g = s->garbage;
        s->garbage = NULL;
        tg_list_clear(g);
        tg_decref(g);
    }
    free(s->cbs);
    s->cbs = NULL;
    s->ncbs = s->capcbs = 0;
}

/* ---------------------------------------------------------------- tracking */

static void track_slow(tg_obj *o);

void _tg_gc_track(tg_obj *o)
{
#if TG_DEBUG >= 1
    if (o->ob_gc_bits & GC_TRACKED) _tg_fatal_obj(o, "gc: object tracked twice");
#endif
    if (_tg_ft()) {
        young_slot *y = tls_young;
        if (TG_LIKELY(y)) {                  /* own young list: no lock, no atomic */
            gc_list_append(_tg_as_gc(o), &y->head);
            o->ob_gc_bits = y->rest;
            return;
        }
        track_slow(o);
        return;
    }
    gc_list_append(_tg_as_gc(o), &_tg_gcs.gen_head[0]);   /* GIL mode: the GIL is the lock */
    o->ob_gc_bits = GC_TRACKED;
}

/* Free-threaded mode, no slot of the thread's own: its first tracked
   object (it takes one), or none to be had (the global generation 0). */
static TG_NOINLINE void track_slow(tg_obj *o)
{
    _tg_tstate *ts = _tg_tls_ts;
    young_slot *y = ts ? ts->gc_state : &young_none;
    if (!y) y = young_attach(ts);
    if (y->slot) {
        gc_list_append(_tg_as_gc(o), &y->head);
        o->ob_gc_bits = y->rest;
        return;
    }
    track_lock_acquire();
    gc_list_append(_tg_as_gc(o), &_tg_gcs.gen_head[0]);
    o->ob_gc_bits = GC_TRACKED;
    track_lock_release();
}

bool _tg_gc_untrack(tg_obj *o)
{
    _tg_gchead *g = _tg_as_gc(o);
    /* relaxed: an owner giving its slot back may be rewriting them */
    uint8_t b = __atomic_load_n(&o->ob_gc_bits, __ATOMIC_RELAXED);
    if (TG_UNLIKELY(gc_bits_local(b))) {
        /* Free-threaded mode, on a thread's young or aged list. */
        if (TG_LIKELY((b & GC_OWN_MASK) == tls_own_key)) {
            gc_list_remove(g);
            g->gc_next = g->gc_prev = 0;
            o->ob_gc_bits = 0;
            return true;
        }
        /* Another thread's: a zombie until its owner unlinks it. */
        if (__atomic_compare_exchange_n(&o->ob_gc_bits, &b, (uint8_t)(b & ~GC_TRACKED), false,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            __atomic_store_n(&young_slots[b >> GC_SLOT_SHIFT].zombies, 1, __ATOMIC_RELAXED);
            return false;
        }
        /* Lost to the owner giving its slot back: now in the global generation 0. */
    }
    track_lock_acquire();
    gc_list_remove(g);
    g->gc_next = g->gc_prev = 0;
    o->ob_gc_bits = 0;
    track_lock_release();
    return true;
}

bool _tg_gc_is_tracked(const tg_obj *o) { return (__atomic_load_n(&o->ob_gc_bits, __ATOMIC_RELAXED) & GC_TRACKED) != 0; }

bool _tg_gc_untrack_is_local(const tg_obj *o)
{
    uint8_t b = __atomic_load_n(&o->ob_gc_bits, __ATOMIC_RELAXED);
    return !gc_bits_local(b) || (b & GC_OWN_MASK) == tls_own_key;
}

static TG_NOINLINE void collect_automatic(void);

/* Free-threaded mode: count[0] is per thread. A thread with a young list
   keeps its part in its slot (count0: its allocations minus deallocations
   since its young list was last collected, clamped at 0, as GIL mode
   clamps count[0]) and collects its young list when that part passes
   threshold[0] — each thread's young list is collected as the one list
   of a one-thread process would be, and no shared counter is written
   (one count[0] that every thread added to was a line all of them
   wrote: docs/free-threading.md has what it cost). A thread
   without a slot (past GC_NSLOTS - 1 threads) tracks on the global
   generation 0 and counts in the global count[0]. tg_gc_get_count sums
   both. A collection of the generations zeroes all of them. */
static inline long count_add_shared(long d)
{
    long c = __atomic_load_n(&_tg_gcs.count[0], __ATOMIC_RELAXED), n;
    do n = c + d < 0 ? 0 : c + d;
    while (!__atomic_compare_exchange_n(&_tg_gcs.count[0], &c, n, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return n;
}

/* Add d to the calling thread's count (its slot's, or the shared one). */
static inline long count_add(_tg_tstate *ts, long d)
{
    young_slot *y = ts ? ts->gc_state : NULL;
    if (!y || !y->slot) return count_add_shared(d);
    long c = __atomic_load_n(&y->count0, __ATOMIC_RELAXED) + d;
    if (c < 0) c = 0;
    __atomic_store_n(&y->count0, c, __ATOMIC_RELAXED);
    return c;
}

/* The collection's garbage is about to be freed by this thread: its
   deallocations will count the calling thread's count down (see
   gc/collect.c, release_extra_refs); credit them first. */
void _tg_gc_count_credit(long n) { if (n) count_add(_tg_tls_ts, n); }

static TG_NOINLINE void ft_count_flush(_tg_tstate *ts, bool alloc)
{
    _tg_gcstate *s = &_tg_gcs;
    long c = count_add(ts, (long)ts->gc_count_delta);
    ts->gc_count_delta = 0;
    young_slot *y = ts->gc_state;
    if (y) young_drain(y, false);
    if (alloc && c > s->threshold[0] && s->threshold[0] > 0 && s->enabled
        && (!__atomic_load_n(&s->collecting, __ATOMIC_RELAXED)
            || __atomic_load_n(&s->locals_ok, __ATOMIC_RELAXED)))   /* a local one may run */
        collect_automatic();
}

/* World stopped (or GIL mode): count[0] and every thread's part are 0 —
   but for the slots whose young lists the collection left out (bit s:
   slot s; young_gather_lazy): their parts still count what is on them. */
static void counts_zero_stopped(uint16_t skipped)
{
    _tg_gcs.count[0] = 0;
    for (int i = 1; i < GC_NSLOTS; i++)
        if (!(skipped & (1u << i))) __atomic_store_n(&young_slots[i].count0, 0, __ATOMIC_RELAXED);
}

void _tg_gc_on_alloc(void)
{
    _tg_gcstate *s = &_tg_gcs;
    if (_tg_ft()) {
        _tg_tstate *ts = _tg_tls_ts;
        if (TG_UNLIKELY(++ts->gc_count_delta >= GC_COUNT_QUANTUM)) ft_count_flush(ts, true);
        return;
    }
    long c = ++s->count[0];
    if (TG_UNLIKELY(c > s->threshold[0]) && s->threshold[0] > 0 && s->enabled && !s->collecting)
        collect_automatic();
}

void _tg_gc_on_dealloc(void)
{
    if (_tg_ft()) {
        _tg_tstate *ts = _tg_tls_ts;
        /* Clamped at 0, as in GIL mode (count_add): a collection resets
           the count and then frees its garbage, whose deallocations would
           otherwise drive it far below zero and delay the next automatic
           collection by as many allocations (3 threads making cyclic
           garbage saw count[0] at -6000 and 12 collections where ~170 were
           due). */
        if (TG_UNLIKELY(--ts->gc_count_delta <= -GC_COUNT_QUANTUM)) ft_count_flush(ts, false);
        return;
    }
    if (_tg_gcs.count[0] > 0) _tg_gcs.count[0]--;
}

/* Free-threaded mode: claim the collector (one collection at a time, from
   any thread). wait: keep trying (tg_gc_collect) — at safepoints, so that
   the thread collecting can stop us. */
static bool collector_claim(bool wait)
{
    _tg_tstate *me = _tg_tls_ts;
    for (;;) {
        int z = 0;
        if (__atomic_compare_exchange_n(&_tg_gcs.collecting, &z, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            atomic_store_explicit(&collector_ts, me, memory_order_relaxed);
            return true;
        }
        if (!wait || atomic_load_explicit(&collector_ts, memory_order_relaxed) == me) return false;
        tg_safepoint();
        sched_yield();
    }
}

static void collector_release(void)
{
    __atomic_store_n(&_tg_gcs.locals_ok, 0, __ATOMIC_RELAXED);
    atomic_store_explicit(&collector_ts, NULL, memory_order_relaxed);
    __atomic_store_n(&_tg_gcs.collecting, 0, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------- collecting */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Run the callbacks over a snapshot: a callback may add or remove callbacks. */
static void invoke_callbacks(int phase, const tg_gc_info *info)
{
    _tg_gcstate *s = &_tg_gcs;
    size_t n = s->ncbs;
    if (n == 0) return;
    gc_cb small[8], *snap = n <= 8 ? small : malloc(n * sizeof *snap);
    if (!snap) return;
    memcpy(snap, s->cbs, n * sizeof *snap);
    for (size_t i = 0; i < n; i++) snap[i].fn(phase, info, snap[i].arg);
    if (snap != small) free(snap);
}

/* The pauses of the collection in progress (the collector's, under its
   guard): a split collection (free-threaded mode) stops the world once or
   twice; the stats count the time stopped, not the finalizers. */
static uint64_t pause_t0, pause_acc;

void _tg_gc_world_restart(void)
{
    pause_acc += now_ns() - pause_t0;
    _tg_stw_start();
    _tg_ft_stw_release();
}

void _tg_gc_world_stop_again(void)
{
    pause_t0 = now_ns();
    _tg_stw_stop();
    /* Exact counts for the recount: queued biased decrefs merged, per-thread
       counts of hot objects folded. This also zeroes every thread's pending
       gc count (< GC_COUNT_QUANTUM each): a few allocations not counted
       towards the next collection. */
    _tg_ft_stw_merge();
}

/* Per-generation totals. Atomic: local young collections (free-threaded
   mode) run in several threads at once, and beside the end of a collection
   of the generations. */
static void stats_add(int gen, intptr_t collected, intptr_t uncollectable, uint64_t pause)
{
    tg_gc_stats *st = &_tg_gcs.stats[gen];
    __atomic_add_fetch(&st->collections, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&st->collected, (uint64_t)collected, __ATOMIC_RELAXED);
    __atomic_add_fetch(&st->uncollectable, (uint64_t)uncollectable, __ATOMIC_RELAXED);
    __atomic_add_fetch(&st->pause_ns_total, pause, __ATOMIC_RELAXED);
    uint64_t m = __atomic_load_n(&st->pause_ns_max, __ATOMIC_RELAXED);
    while (pause > m && !__atomic_compare_exchange_n(&st->pause_ns_max, &m, pause, true,
                                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
}

/* One collection with callbacks, stats and the counting rules. The guard is
   held by the caller. automatic: free-threaded mode's automatic collections,
   which leave out the young lists their owners collect (young_gather_lazy).
   Returns the unreachable objects found. */
static intptr_t collect_with_callbacks(int gen, bool automatic)
{
    _tg_gcstate *s = &_tg_gcs;
    tg_errcode saved = tg_error();
    char savedmsg[_TG_ERRMSG_MAX];
    if (saved) snprintf(savedmsg, sizeof savedmsg, "%s", tg_error_message());

    tg_gc_info info = { .generation = gen };
    invoke_callbacks(TG_GC_START, &info);
    if (s->debug & TG_GC_DEBUG_STATS) {
        fprintf(stderr, "gc: collecting generation %d...\n", gen);
        fprintf(stderr, "gc: objects in each generation: %zu %zu %zu\n",
                _tg_gc_list_size(&s->gen_head[0]), _tg_gc_list_size(&s->gen_head[1]),
                _tg_gc_list_size(&s->gen_head[2]));
        fprintf(stderr, "gc: objects in permanent generation: %zu\n", _tg_gc_list_size(&s->gen_head[3]));
    }

    intptr_t collected = 0, uncollectable = 0;
    /* The counting rules apply before the work: objects the finalizers
       allocate count towards the next collection. */
    /* Free-threaded mode: the world is stopped, every thread's queued
       biased counts merged and the per-thread counts of hot objects folded
       (runtime/brc.c), the young lists gathered; collect_main restarts the
       world before it runs finalizers, clears the garbage and runs weakref
       callbacks (split), and stops it once more to recount if a finalizer
       ran. What the merges found dead, and the references QSBR deferred,
       are dropped after each restart. Callbacks run outside the pause. When
       the caller had stopped the world itself (tg_stop_the_world), or in GIL
       mode, the collection runs in one piece. */
    pause_acc = 0;
    pause_t0 = now_ns();
    bool stopped = gc_world_stop();
    _tg_ft_stw_merge();               /* also zeroes the per-thread gc counts */
    /* collect_main rewrites the young and aged objects' bits */
    uint16_t skipped = young_gather_lazy(gen, automatic);
    if (gen + 1 < GC_NGENS) s->count[gen + 1]++;
    for (int i = 1; i <= gen; i++) s->count[i] = 0;
    counts_zero_stopped(skipped);     /* count[0], and every thread's part of it */
    _tg_gc_collect_main(gen, &collected, &uncollectable, stopped, skipped);
    if (!stopped) {                   /* else collect_main restarted the world */
        pause_acc += now_ns() - pause_t0;
        _tg_ft_stw_release();
    }
    uint64_t pause = pause_acc;

    stats_add(gen, collected, uncollectable, pause);
    if (s->debug & TG_GC_DEBUG_STATS)
        fprintf(stderr, "gc: done, %zd unreachable, %zd uncollectable, %.4fs elapsed\n",
                (ssize_t)(collected + uncollectable), (ssize_t)uncollectable, pause / 1e9);

    info.collected = collected;
    info.uncollectable = uncollectable;
    info.pause_ns = pause;
    invoke_callbacks(TG_GC_STOP, &info);
    if (saved) _tg_err_set(saved, "%s", savedmsg); else tg_error_clear();
    return collected + uncollectable;
}

/* May a local collection of generation gen start now? Not while a
   collection of the generations holds the guard — except, for a young one,
   in its last phase, where it frees its common garbage with the world
   running (locals_ok, gc/collect.c): that set is private to it, in no
   list, and nothing a local young collection examines can refer to it.
   A local collection of generation 1 waits for the guard to be free: the
   garbage of a collection of generation 0 may refer to this thread's aged
   objects (that collection did not examine them) and its bulk free reads
   its children's gc bits, which this collection would be writing. Not on
   the thread holding the guard. Read with no safepoint between this check
   and the end of the examination: a collection that has claimed the guard
   but not yet stopped the world cannot stop it before the examination
   ends; one that has stopped it since made this thread park, after which
   this read sees its state. */
static bool local_guard_ok(int gen)
{
    _tg_gcstate *s = &_tg_gcs;
    if (!__atomic_load_n(&s->collecting, __ATOMIC_ACQUIRE)) return true;
    return gen == 0 && __atomic_load_n(&s->locals_ok, __ATOMIC_ACQUIRE)
           && atomic_load_explicit(&collector_ts, memory_order_relaxed) != _tg_tls_ts;
}

/* Add one local collection to count[gen + 1] as a 1/N share (atomically:
   other threads flush and collect meanwhile), N = threads with a young
   list: a local collection of generation gen collects one thread's part
   of generations 0..gen — about 1/N of them (count[0] is summed over every
   thread's allocations, so each list holds ~1/N of it) —, so N of them
   count as one collection of generation gen. With one thread that is the
   GIL-mode rule; with N, generation gen + 1 is still collected as often as
   in GIL mode, not N times as often. */
static void local_share_add(long *share, long *count)
{
    long nthreads = __atomic_load_n(&young_owners, __ATOMIC_RELAXED);   /* threads with a young list */
    if (nthreads < 1) nthreads = 1;
    if (++*share < nthreads) return;          /* the owner's own share: no shared write */
    *share = 0;
    __atomic_add_fetch(count, 1, __ATOMIC_RELAXED);
}

/* A local collection's statistics, in its thread's slot (the owner writes,
   tg_gc_get_stats sums). */
static void slot_stats_add(young_slot *y, int gen, intptr_t collected, uint64_t pause)
{
    tg_gc_stats *st = &y->lstats[gen];
    __atomic_store_n(&st->collections, st->collections + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&st->collected, st->collected + (uint64_t)collected, __ATOMIC_RELAXED);
    __atomic_store_n(&st->pause_ns_total, st->pause_ns_total + pause, __ATOMIC_RELAXED);
    if (pause > st->pause_ns_max) __atomic_store_n(&st->pause_ns_max, pause, __ATOMIC_RELAXED);
}

static inline void slot_bump(uint64_t *c) { __atomic_store_n(c, *c + 1, __ATOMIC_RELAXED); }

void _tg_gc_local_counts(uint64_t *runs, uint64_t *runs1, uint64_t *fallbacks)
{
    uint64_t r = 0, r1 = 0, f = 0;
    for (int i = 1; i < GC_NSLOTS; i++) {
        r += __atomic_load_n(&young_slots[i].runs, __ATOMIC_RELAXED);
        r1 += __atomic_load_n(&young_slots[i].runs1, __ATOMIC_RELAXED);
        f += __atomic_load_n(&young_slots[i].fallbacks, __ATOMIC_RELAXED);
    }
    if (runs) *runs = r;
    if (runs1) *runs1 = r1;
    if (fallbacks) *fallbacks = f;
}

/* Free-threaded mode: a local collection — of the calling thread's own
   young list (gen 0), or of its young and aged lists (gen 1) — with the
   world running (gc/collect.c, _tg_gc_collect_local_main has why that is
   safe). Returns -1 when it does not apply (debug flags, no slot, a
   collection of the generations in progress, an object that is not
   eligible): the caller stops the world instead. Else the objects freed.
   Counting: the thread's part of count[0] = 0 (first; given back if not
   eligible), stats (in the slot) and callbacks for generation gen, and a
   1/N share of a collection of generation gen in count[gen + 1]
   (local_share_add); generation 1: the slot has done its part of the
   current round (aged_round_start). No safepoint between the check of the
   guard and the end of the examination, so a collection of the
   generations (which stops the world, reaching every thread at a
   safepoint) never overlaps one. */
intptr_t _tg_gc_collect_local_gen(int gen)
{
    _tg_gcstate *s = &_tg_gcs;
    _tg_tstate *ts = _tg_tls_ts;
    young_slot *y = ts ? ts->gc_state : NULL;
    /* (_tg_tls_bias: never from inside a biased section — none allocates an
       object today; the hold below would end that section's announcement) */
    if (!_tg_ft() || !y || !y->slot || y->local || s->debug || _tg_tls_bias || !local_guard_ok(gen)) return -1;
    long round = __atomic_load_n(&s->aged_round, __ATOMIC_RELAXED);
    /* queued biased decrefs merged (merged objects are not eligible, and
       a merge may free), zombies others queued freed */
    y->local = 1;
    _tg_ft_merge_own(ts);
    young_drain(y, false);
    bool cbs = s->ncbs != 0;
    if (__atomic_load_n(&y->zombies, __ATOMIC_RELAXED)
        || (cbs && !_tg_gc_local_eligible_hint(&y->head, &y->aged, y->slot, gen))) {   /* no START for a fallback */
        y->local = 0;
        slot_bump(&y->fallbacks);
        return -1;
    }
    tg_errcode saved = 0;
    char savedmsg[_TG_ERRMSG_MAX];
    if (cbs) {
        saved = tg_error();
        if (saved) snprintf(savedmsg, sizeof savedmsg, "%s", tg_error_message());
        tg_gc_info info = { .generation = gen };
        invoke_callbacks(TG_GC_START, &info);
    }
    uint64_t t0 = now_ns();
    intptr_t collected = 0;
    bool kept_tuple = false;
    /* Again, with no safepoint from here to the end of the examination
       (the callbacks above may have passed one). */
    /* The counting rules apply before the work, as in collect_with_callbacks
       (GIL mode too): the thread's part of count[0] is zeroed first —
       what the collection's finalizers allocate counts towards the next
       one — and given back if the collection turns out not eligible (the
       world is then stopped for it). */
    long c0 = __atomic_load_n(&y->count0, __ATOMIC_RELAXED);
    __atomic_store_n(&y->count0, 0, __ATOMIC_RELAXED);
    bool done = local_guard_ok(gen)
                && _tg_gc_collect_local_main(&y->head, &y->aged, y->slot, gen, &collected, &kept_tuple);
    if (!done) count_add(ts, c0);
    if (done) {
        if (kept_tuple) __atomic_store_n(&y->aged_tuples, 1, __ATOMIC_RELAXED);   /* (generation 1: its young survivors) */
        if (gen == 0) {
            local_share_add(&y->share0, &s->count[1]);
        } else {
            local_share_add(&y->share1, &s->count[2]);
            __atomic_store_n(&y->aged_round, round, __ATOMIC_RELAXED);
            slot_bump(&y->runs1);
        }
        uint64_t pause = now_ns() - t0;       /* this thread's, not the world's */
        slot_stats_add(y, gen, collected, pause);
        if (cbs) {
            tg_gc_info info = { .generation = gen, .collected = collected, .pause_ns = pause };
            invoke_callbacks(TG_GC_STOP, &info);
        }
    } else if (cbs) {                          /* raced with a revocation: nothing collected */
        tg_gc_info info = { .generation = gen };
        invoke_callbacks(TG_GC_STOP, &info);
    }
    if (cbs) { if (saved) _tg_err_set(saved, "%s", savedmsg); else tg_error_clear(); }
    y->local = 0;
    slot_bump(done ? &y->runs : &y->fallbacks);
    return done ? collected : -1;
}

intptr_t _tg_gc_collect_local(void) { return _tg_gc_collect_local_gen(0); }

/* Is the calling thread inside a local collection (its callbacks, its frees)? */
static bool in_local_collection(void)
{
    _tg_tstate *ts = _tg_tls_ts;
    young_slot *y = ts ? ts->gc_state : NULL;
    return y && y->local;
}

/* Free-threaded mode: generation 1 is due (count[1] over its threshold).
   Generation 1 is the global list (survivors of collections that stopped
   the world, lists of exited threads) plus every thread's aged list. When
   the global list is empty, the collection of generation 1 is done as a
   round of local collections instead: count[1] is zeroed and the round
   number advanced, and each thread with a slot collects its own young and
   aged lists at its next automatic collection (_tg_gc_collect_local_gen(1);
   one whose lists are not eligible stops the world for generation 1 —
   which collects every aged list, so the round is then over for all).
   True: a round was started (by this thread or, racing, another). False:
   the global list holds objects, the world must be stopped. */
static bool aged_round_start(void)
{
    _tg_gcstate *s = &_tg_gcs;
    _tg_spin_lock(&track_lock);
    bool empty = gc_list_empty(&s->gen_head[1]);
    _tg_spin_unlock(&track_lock);
    if (!empty) return false;
    long c = __atomic_load_n(&s->count[1], __ATOMIC_RELAXED);
    while (c > s->threshold[1]) {
        if (__atomic_compare_exchange_n(&s->count[1], &c, 0, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            __atomic_add_fetch(&s->aged_round, 1, __ATOMIC_RELAXED);
            return true;
        }
    }
    return true;                             /* another thread started it */
}

/* Free-threaded mode: a full collection is due as in GIL mode (count[2]
   over its threshold, the long-lived rule), and only if something was
   promoted since the last one. Nothing promoted means generation 2 holds
   just what the last full collection left (long_lived_total); GIL mode's
   rule already skips a full collection then, except when that was nothing
   (0 >= 0 / 4). Then it would stop the world to examine the young and aged
   lists, which their owners collect themselves. */
static bool gen2_due(void)
{
    _tg_gcstate *s = &_tg_gcs;
    long pending = __atomic_load_n(&s->long_lived_pending, __ATOMIC_RELAXED);
    return __atomic_load_n(&s->count[2], __ATOMIC_RELAXED) > s->threshold[2] && pending > 0
           && pending >= __atomic_load_n(&s->long_lived_total, __ATOMIC_RELAXED) / GC_LONG_LIVED_DIVISOR;
}

static TG_NOINLINE void collect_automatic(void)
{
    _tg_gcstate *s = &_tg_gcs;
    if (_tg_ft()) {
        if (in_local_collection()) return;
        /* This thread's lists first, alone, with the world running: its
           young list, or — in a round of generation 1 it has not done yet
           — its young and aged lists. If nothing older is due, that is the
           collection (unless the lists are not eligible); if generation 2
           is due (or generation 1 with objects on the global list), that
           pause then has one young list less to examine — and the objects
           of this thread's garbage are freed by this thread, not by the
           collector (cross-thread frees) — scale_cycles at 2 threads:
           19.5M -> 22.2M ops/s (docs/PERFORMANCE.md). */
        bool old2 = gen2_due();
        bool old1 = __atomic_load_n(&s->count[1], __ATOMIC_RELAXED) > s->threshold[1];
        if (old1 && !old2 && aged_round_start()) old1 = false;
        young_slot *y = _tg_tls_ts ? _tg_tls_ts->gc_state : NULL;
        bool owed = !old2 && y && y->slot
                    && __atomic_load_n(&y->aged_round, __ATOMIC_RELAXED) != __atomic_load_n(&s->aged_round, __ATOMIC_RELAXED)
                    && !__atomic_load_n(&s->collecting, __ATOMIC_RELAXED);
        /* A tuple kept on the aged list makes the local collection of
           generation 1 not eligible: not tried (its failed count walk
           and undo would cost a walk of both lists — binary-trees keeps
           tuples); the young list alone first, then generation 1 with
           the world stopped. */
        bool tuples = owed && __atomic_load_n(&y->aged_tuples, __ATOMIC_RELAXED);
        int lgen = owed && !tuples;
        intptr_t r = _tg_gc_collect_local_gen(lgen);
        if (r >= 0 && !old1 && !old2 && !tuples) return;
        if (!collector_claim(false)) return;
        int gen = -1;
        for (int i = GC_NGENS - 1; i >= 0; i--) {
            /* count[0] is added to atomically by every thread (ft_count_flush) */
            if (__atomic_load_n(&s->count[i], __ATOMIC_RELAXED) <= s->threshold[i]) continue;
            if (i == GC_NGENS - 1 && !gen2_due()) continue;
            gen = i;
            break;
        }
        /* this thread's part of a round of generation 1 was not eligible:
           generation 1 with the world stopped (every aged list) */
        if (((r < 0 && lgen == 1) || tuples) && gen < 1) gen = 1;
        /* its young list was due (its own part of count[0], which the
           shared count[0] tested above does not hold) but not eligible:
           generation 0 with the world stopped, or the next flush would try
           again at once */
        if (r < 0 && gen < 0) gen = 0;
        if (gen >= 0) collect_with_callbacks(gen, true);
        collector_release();
        return;
    }
    s->collecting = 1;
    for (int i = GC_NGENS - 1; i >= 0; i--) {
        if (s->count[i] <= s->threshold[i]) continue;
        if (i == GC_NGENS - 1 && s->long_lived_pending < s->long_lived_total / GC_LONG_LIVED_DIVISOR)
            continue;
        collect_with_callbacks(i, false);
        break;
    }
    s->collecting = 0;
}

/* Tests (tests/test_gc_ft.c): a collection of generation gen as
   collect_automatic runs one that stops the world, leaving out the young
   lists their owners collect (young_gather_lazy). -1 when it cannot claim
   the collector (another collection runs, or this thread is inside one). */
intptr_t _tg_gc_collect_as_automatic(int gen)
{
    if (!_tg_ft() || gen < 0 || gen >= GC_NGENS || in_local_collection() || !collector_claim(false)) return -1;
    intptr_t n = collect_with_callbacks(gen, true);
    collector_release();
    return n;
}

TG_API intptr_t tg_gc_collect(int generation)
{
    if (generation < -1 || generation > 2) {
        _tg_err_set(TG_ERR_VALUE, "tg_gc_collect: generation must be 0, 1, 2 or -1 (got %d)", generation);
        return -1;
    }
    _tg_gcstate *s = &_tg_gcs;
    if (_tg_ft()) {
        if (in_local_collection()) return 0;    /* from a gc callback or a deallocation */
        if (!collector_claim(true)) return 0;   /* from a finalizer or callback */
        intptr_t n = collect_with_callbacks(generation < 0 ? 2 : generation, false);
        collector_release();
        return n;
    }
    if (s->collecting) return 0;      /* requested from a finalizer or callback */
    s->collecting = 1;
    intptr_t n = collect_with_callbacks(generation < 0 ? 2 : generation, false);
    s->collecting = 0;
    return n;
}

/* ---------------------------------------------------------------- settings */

TG_API void tg_gc_enable(void) { _tg_gcs.enabled = 1; }
TG_API void tg_gc_disable(void) { _tg_gcs.enabled = 0; }
TG_API int  tg_gc_isenabled(void) { return _tg_gcs.enabled; }

TG_API void tg_gc_set_threshold(long t0, long t1, long t2)
{
    _tg_gcs.threshold[0] = t0 < 0 ? 0 : t0;
    _tg_gcs.threshold[1] = t1 < 0 ? 0 : t1;
    _tg_gcs.threshold[2] = t2 < 0 ? 0 : t2;
}
TG_API void tg_gc_get_threshold(long out[3]) { for (int i = 0; i < 3; i++) out[i] = _tg_gcs.threshold[i]; }
TG_API void tg_gc_get_count(long out[3])
{
    for (int i = 0; i < 3; i++) out[i] = __atomic_load_n(&_tg_gcs.count[i], __ATOMIC_RELAXED);
    if (_tg_ft())                       /* every thread's part of count[0] */
        for (int i = 1; i < GC_NSLOTS; i++) out[0] += __atomic_load_n(&young_slots[i].count0, __ATOMIC_RELAXED);
}
TG_API int  tg_gc_is_tracked(tg_obj *o) { return o && _tg_is_gc(o) && _tg_gc_is_tracked(o); }
TG_API int  tg_gc_is_finalized(tg_obj *o) { return o && (o->ob_flags & _TG_OBF_FINALIZED) != 0; }
TG_API void tg_gc_set_debug(unsigned flags) { _tg_gcs.debug = flags; }
TG_API unsigned tg_gc_get_debug(void) { return _tg_gcs.debug; }
TG_API void tg_gc_get_stats(tg_gc_stats out[3])
{
    for (int i = 0; i < 3; i++) {
        const tg_gc_stats *st = &_tg_gcs.stats[i];
        out[i].collections = __atomic_load_n(&st->collections, __ATOMIC_RELAXED);
        out[i].collected = __atomic_load_n(&st->collected, __ATOMIC_RELAXED);
        out[i].uncollectable = __atomic_load_n(&st->uncollectable, __ATOMIC_RELAXED);
        out[i].pause_ns_total = __atomic_load_n(&st->pause_ns_total, __ATOMIC_RELAXED);
        out[i].pause_ns_max = __atomic_load_n(&st->pause_ns_max, __ATOMIC_RELAXED);
        /* free-threaded mode: local collections count in their slots */
        for (int k = 1; i < 2 && k < GC_NSLOTS; k++) {
            const tg_gc_stats *ls = &young_slots[k].lstats[i];
            out[i].collections += __atomic_load_n(&ls->collections, __ATOMIC_RELAXED);
            out[i].collected += __atomic_load_n(&ls->collected, __ATOMIC_RELAXED);
            out[i].pause_ns_total += __atomic_load_n(&ls->pause_ns_total, __ATOMIC_RELAXED);
            uint64_t m = __atomic_load_n(&ls->pause_ns_max, __ATOMIC_RELAXED);
            if (m > out[i].pause_ns_max) out[i].pause_ns_max = m;
        }
    }
}

TG_API tg_obj *tg_gc_garbage(void)
{
    _tg_gcstate *s = &_tg_gcs;
    if (!s->garbage && !(s->garbage = tg_list_new(0))) return NULL;
    return _tg_newref(s->garbage);
}

/* ------------------------------------------------------------------ freeze */

/* Move every object of list from into generation gen, rewriting its bits. */
/* Returns the number moved. */
static size_t move_all(_tg_gchead *from, int gen)
{
    uint8_t bits = gc_bits_at_rest(gen);
    size_t n = 0;
    for (_tg_gchead *g = (_tg_gchead *)from->gc_next; g != from; g = (_tg_gchead *)g->gc_next, n++)
        _tg_from_gc(g)->ob_gc_bits = bits;
    gc_list_merge(from, &_tg_gcs.gen_head[gen]);
    return n;
}

TG_API void tg_gc_freeze(void)
{
    if (_tg_gcs.collecting) return;
    bool stopped = gc_world_stop();
    young_gather();
    for (int i = 0; i < GC_NGENS; i++) move_all(&_tg_gcs.gen_head[i], GC_PERMANENT);
    counts_zero_stopped(0);
    if (stopped) _tg_stw_start();
}

TG_API void tg_gc_unfreeze(void)
{
    if (_tg_gcs.collecting) return;
    bool stopped = gc_world_stop();
    size_t n = move_all(&_tg_gcs.gen_head[GC_PERMANENT], GC_NGENS - 1);
    /* free-threaded mode: thawed objects count as promoted (gen2_due) */
    if (_tg_ft()) __atomic_add_fetch(&_tg_gcs.long_lived_pending, (long)n, __ATOMIC_RELAXED);
    if (stopped) _tg_stw_start();
}

TG_API size_t tg_gc_get_freeze_count(void) { return _tg_gc_list_size(&_tg_gcs.gen_head[GC_PERMANENT]); }

/* --------------------------------------------------------------- callbacks */

TG_API int tg_gc_add_callback(tg_gc_callback cb, void *arg)
{
    _tg_gcstate *s = &_tg_gcs;
    if (!cb) { _tg_err_set(TG_ERR_VALUE, "tg_gc_add_callback: NULL callback"); return -1; }
    if (s->ncbs == s->capcbs) {
        size_t cap = s->capcbs ? 2 * s->capcbs : 4;
        gc_cb *n = realloc(s->cbs, cap * sizeof *n);
        if (!n) { _tg_err_nomem(); return -1; }
        s->cbs = n;
        s->capcbs = cap;
    }
    s->cbs[s->ncbs++] = (gc_cb){ cb, arg };
    return 0;
}

TG_API int tg_gc_remove_callback(tg_gc_callback cb, void *arg)
{
    _tg_gcstate *s = &_tg_gcs;
    for (size_t i = 0; i < s->ncbs; i++) {
        if (s->cbs[i].fn == cb && s->cbs[i].arg == arg) {
            memmove(&s->cbs[i], &s->cbs[i + 1], (s->ncbs - i - 1) * sizeof *s->cbs);
            s->ncbs--;
            return 0;
        }
    }
    _tg_err_set(TG_ERR_NOT_FOUND, "tg_gc_remove_callback: callback not registered");
    return -1;
}

/* ----------------------------------------------------------- introspection */

/* Append every tracked object of the generations [lo, hi] to result (skipping
   result itself). Appending never tracks a new object, so the walk is safe. */
static int append_objects(tg_obj *result, int lo, int hi)
{
    for (int i = lo; i <= hi; i++) {
        _tg_gchead *h = &_tg_gcs.gen_head[i];
        for (_tg_gchead *g = (_tg_gchead *)h->gc_next; g != h; g = (_tg_gchead *)g->gc_next) {
            tg_obj *o = _tg_from_gc(g);
            if (o != result && tg_list_append(result, o) < 0) return -1;
        }
    }
    return 0;
}

TG_API tg_obj *tg_gc_get_objects(int generation)
{
    if (generation < -1 || generation > 2) {
        _tg_err_set(TG_ERR_VALUE, "tg_gc_get_objects: generation must be 0, 1, 2 or -1 (got %d)", generation);
        return NULL;
    }
    tg_obj *r = tg_list_new(0);
    if (!r) return NULL;
    int lo = generation < 0 ? 0 : generation, hi = generation < 0 ? GC_PERMANENT : generation;
    bool stopped = gc_world_stop();
    young_gather();
    int rc = append_objects(r, lo, hi);
    if (stopped) _tg_stw_start();
    if (rc < 0) { tg_decref(r); return NULL; }
    return r;
}

typedef struct { tg_obj *target; bool found; } referrer_probe;

static int visit_probe(tg_obj *child, void *arg)
{
    referrer_probe *p = arg;
    if (child == p->target) { p->found = true; return 1; }
    return 0;
}

TG_API tg_obj *tg_gc_get_referrers(tg_obj *o)
{
    if (!o) { _tg_err_set(TG_ERR_VALUE, "tg_gc_get_referrers: NULL object"); return NULL; }
    tg_obj *r = tg_list_new(0);
    if (!r) return NULL;
    bool stopped = gc_world_stop();
    young_gather();
    for (int i = 0; i <= GC_PERMANENT; i++) {
        _tg_gchead *h = &_tg_gcs.gen_head[i];
        for (_tg_gchead *g = (_tg_gchead *)h->gc_next; g != h; g = (_tg_gchead *)g->gc_next) {
            tg_obj *x = _tg_from_gc(g);
            if (x == r) continue;
            referrer_probe p = { o, false };
            _tg_gc_traverse(x, visit_probe, &p);
            if (p.found && tg_list_append(r, x) < 0) {
                if (stopped) _tg_stw_start();
                tg_decref(r);
                return NULL;
            }
        }
    }
    if (stopped) _tg_stw_start();
    return r;
}

static int visit_append(tg_obj *child, void *arg) { return tg_list_append((tg_obj *)arg, child) < 0 ? -1 : 0; }

TG_API tg_obj *tg_gc_get_referents(tg_obj *o)
{
    if (!o) { _tg_err_set(TG_ERR_VALUE, "tg_gc_get_referents: NULL object"); return NULL; }
    tg_obj *r = tg_list_new(0);
    if (!r) return NULL;
    if (_tg_is_gc(o) && o->ob_type->traverse) {
        /* free-threaded mode: under o's own lock, which its mutators take
           (and which revokes its owner's bias, sync/bias.c) */
        tg_critical_section cs;
        _tg_cs_begin(&cs, o, NULL);
        int rc = _tg_gc_traverse(o, visit_append, r);
        _tg_cs_end(&cs);
        if (rc < 0) { tg_decref(r); return NULL; }
    }
    return r;
}
