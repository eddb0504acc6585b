/*
 * gc/gc_internal.h — the cycle collector's internal interface and state.
 *
 * The algorithm, its phases and the reasons for their order are written down
 * once, in docs/gc.md; gc/collect.c repeats the numbered steps at each phase.
 *
 * Glossary
 *   gc head     the 16 bytes (_tg_gchead) in front of every container
 *   generation  a circular doubly linked list of gc heads: 0, 1, 2 (old) and
 *               3 (permanent, tg_gc_freeze); gen_head[i] is its list head
 *   the set     the objects one collection examines: generations 0..g merged
 *               into one work list
 *   gc_refs     an object's count minus the references to it from the set
 *
 * ob_gc_bits (one byte in the object header)
 *   bit 0       GC_TRACKED   in a generation list
 *   bits 1-2    the generation (0..3); cheap to read, no list walk
 *   bit 3       GC_PARITY    gen-2 objects only: equal to gcs.parity outside a
 *                            collection. A full collection writes !parity into
 *                            the objects it keeps and flips gcs.parity when the
 *                            set has been classified, so that a kept object
 *                            leaves the set (its bits stop matching the set's
 *                            membership table) without a second walk to clear
 *                            marks. Objects of generations 0, 1, 3 have 0.
 *   bit 4       GC_REFS      gc_refs is valid in gc_prev (set lazily, phase 1)
 *   bit 5       GC_REACH     proven reachable (phase 2)
 *   bit 6       GC_UNREACH   in the unreachable set (phases 3-8)
 *   bit 7       GC_TENT      in the tentative list (phase 2)
 *   Bits 4-7 are zero outside a collection.
 *
 *   Free-threaded mode, generation 0 only (docs/free-threading.md):
 *   bit 3       GC_LOCAL     on a thread's own young list, not a global one
 *   bits 4-7    the slot (1..GC_NSLOTS-1) of that young list
 *   A young object is GC_TRACKED | GC_LOCAL | slot << 4 at rest (generation
 *   bits 0). "gen 0 and GC_LOCAL" identifies it: generation 2 uses bit 3 as
 *   its parity, and every collection state of a generation-0 object has
 *   bit 3 clear (the collector rewrites young bits to plain GC_TRACKED when it
 *   gathers the young lists, before phase 1).
 *   An aged object — a survivor of its owner's local young collection, on
 *   the owner's aged list (its private part of generation 1) — is
 *   GC_TRACKED | 1 << GC_GEN_SHIFT | GC_LOCAL | slot << 4 at rest: "gen 1
 *   and GC_LOCAL", which no collection state has either (bit 3 is only
 *   ever set in a state of generation 2, as its parity). So a collection
 *   of generation 0 alone does not see aged objects as members, and the
 *   untrack path still finds their slot (gc_bits_local below).
 *
 * INVARIANT — per-thread young lists (free-threaded mode)
 *   Young slot s (gc.c: young_slots[s]) has one owner thread at a time, and
 *   two lists: young (generation 0) and aged (generation 1); what follows
 *   holds for both ("its list" = either). Only
 *   the owner links or unlinks objects of its list, with plain stores (no
 *   lock, no atomic); any other thread touches the list only with the world
 *   stopped (the collector, freeze, introspection), or after the owner gave
 *   the slot back (under slot_lock).
 *   A thread that untracks an object of another thread's young list (it
 *   dropped the last reference to it) must not touch the links: it rewrites
 *   the bits to GC_LOCAL | slot << 4 without GC_TRACKED (a "zombie": linked,
 *   no longer tracked, relaxed atomic store), destroys the object, and then,
 *   instead of freeing it, queues it on young_slots[s].remote (a spinlock
 *   and a vector; _tg_gc_free_deferred). The memory stays allocated while
 *   the object is linked. Whoever unlinks a zombie — the owner draining its
 *   queue (every GC_COUNT_QUANTUM allocations, at exit), the collector or an
 *   owner giving its slot back (both walk the list and meet it there) —
 *   sets its gc_next to 0; whoever pops it from the queue unlinks it if
 *   gc_next is not 0 and frees it. Only the slot's owner or a thread with the
 *   world stopped pops the queue, so a linked zombie popped is always on the
 *   popper's list (or the world is stopped).
 *   A thread that makes a zombie sets young_slots[s].zombies right after
 *   (before any safepoint). The collector, world stopped, splices a list
 *   whose flag is clear in O(1) without rewriting its objects' bits —
 *   generation 0 then holds GC_LOCAL objects until the collection's count
 *   walk, which meets every one, rewrites them (gc/collect.c, the fresh
 *   table); nothing else reads those bits before, and the world does not
 *   run before. A flagged list is walked: zombies unlinked, bits rewritten.
 *   Aged lists join generation 1 the same way, but only for a collection of
 *   generation 1 or 2 (the count walk meets them too); a collection of
 *   generation 0 leaves them where they are, after unlinking their zombies
 *   if the slot is flagged (then the flag is cleared for both lists).
 *   Objects of generations 1, 2, 3 and of the global generation 0 (threads
 *   without a slot, lists of exited threads) are under track_lock.
 *   Threads beyond GC_NSLOTS - 1 use the global generation 0 (locked).
 *   GIL mode never sets GC_LOCAL: its lists are the single global ones.
 *
 * IMPORTANT — how the gc head is reused during a collection
 *   Outside a collection gc_next/gc_prev are plain list links.
 *   Phase 1 (count):    an object of the set whose GC_REFS bit is set keeps
 *                       gc_refs (intptr_t) in gc_prev; its gc_next is still
 *                       the list link. Only the count walk itself unlinks
 *                       (a tuple it untracks), from the forward chain and
 *                       the list head's tail link alone.
 *   Phase 2 (classify): objects found reachable get gc_prev rewritten to the
 *                       previous kept object as the walk passes them (the
 *                       survivors' list is rebuilt in place, no moves);
 *                       objects not yet proven reachable are moved, with
 *                       proper links, to the tentative list.
 *   From phase 3 on every list is a proper doubly linked list again, so user
 *   code (finalizers, callbacks, deallocation untracking objects) may run.
 *   Weakref objects are not containers; a candidate weakref whose callback
 *   may be queued carries GC_WRCAND in its ob_gc_bits and counts the
 *   references to it from the unreachable set in its (then unused) prev link.
 *
 * Contracts
 *   - GIL mode: the caller holds the GIL. Free-threaded mode: the world is
 *     stopped for phases 1-4 (no other thread touches a count or a link) and
 *     again for the resurrection recount; between and after those pauses the
 *     collector's private lists (unreachable, final) are touched by the
 *     collector alone: every object on them carries one extra reference
 *     taken by the collector, so no thread can free (and so untrack) one.
 *     Those objects join a shared generation list under track_lock before
 *     that reference is dropped (gc/collect.c, release_extra_refs).
 *   - traverse functions run during phases 1-2 must not allocate, decref, or
 *     call back into the runtime: they only report their children.
 */
#ifndef TG_GC_INTERNAL_H
#define TG_GC_INTERNAL_H

#if !defined(TG_BUILDING_LIBRARY) && !defined(TG_INTERNAL_CLIENT)
#error "gc/gc_internal.h is internal to libtangle; include <tangle.h>"
#endif

#include "runtime/internal.h"

enum {
    GC_TRACKED  = 1u << 0,
    GC_GEN_SHIFT = 1,
    GC_GEN_MASK = 3u << 1,
    GC_PARITY   = 1u << 3,
    GC_REFS     = 1u << 4,
    GC_REACH    = 1u << 5,
    GC_UNREACH  = 1u << 6,
    GC_TENT     = 1u << 7,
    GC_WRCAND   = 1u << 4,       /* on weakref objects (never tracked) */
    GC_LOCAL    = 1u << 3,       /* FT, generations 0-1: on a thread's young or aged list */
    GC_SLOT_SHIFT = 4,
    GC_SLOT_MASK = 0xf0u,
};
enum { GC_NSLOTS = 16 };         /* slot 0: no per-thread list */

enum { GC_NGENS = 3, GC_PERMANENT = 3 };

typedef struct gc_cb { tg_gc_callback fn; void *arg; } gc_cb;

/* The collector's state: one per runtime. GIL mode counts here directly;
   in free-threaded mode each thread with a young list keeps its own part
   of count[0] in its slot (gc/gc.c, count_add) and tg_gc_get_count sums
   them with count[0] here (the part of threads without a slot). */
typedef struct _tg_gcstate {
    /* Read on every count flush and automatic collection, written rarely
       (settings; the guard, at a collection of the generations): a line of
       their own, so that the counters' writes below, made by every thread's
       local collections, do not take it away from the readers. */
    _Alignas(64) long threshold[GC_NGENS];
    int        enabled;
    int        collecting;              /* re-entrancy guard */
    int        locals_ok;               /* FT: the guard's holder is freeing its common
                                           garbage with the world running; local young
                                           collections may run (gc/gc.c, local_guard_ok) */
    unsigned   debug;
    size_t     ncbs;
    /* Written by collections (FT: local ones too, from any thread). */
    _Alignas(64) long count[GC_NGENS];  /* count[0]: tracked allocs - deallocs; count[i>0]: collections of i-1 */
    long       long_lived_total;        /* gen-2 size after the last full collection */
    long       long_lived_pending;      /* objects promoted into gen 2 since */
    long       aged_round;              /* FT: rounds of local generation-1 collections
                                           started (gc/gc.c, aged_round_start) */
    _Alignas(64) _tg_gchead gen_head[GC_NGENS + 1];  /* 0, 1, 2, permanent */
    uint8_t    parity;                  /* 0 or GC_PARITY: the clean parity of gen 2 */
    tg_obj    *garbage;                 /* tg_gc_garbage's list, created on first use */
    gc_cb     *cbs;
    size_t     capcbs;
    tg_gc_stats stats[GC_NGENS];
} _tg_gcstate;

extern TG_INTERNAL _tg_gcstate _tg_gcs;

static inline int gc_gen_of(uint8_t bits) { return (bits & GC_GEN_MASK) >> GC_GEN_SHIFT; }
/* Free-threaded mode: on a thread's young or aged list (generation 0 or 1
   with GC_LOCAL; in generation 2 bit 3 is the parity). Whether or not
   still GC_TRACKED (a zombie is not). */
static inline bool gc_bits_local(uint8_t bits) { return (bits & (GC_LOCAL | (2u << GC_GEN_SHIFT))) == GC_LOCAL; }
/* The bits at rest of slot's young (gen 0) and aged (gen 1) objects. */
static inline uint8_t gc_bits_young(unsigned slot) { return (uint8_t)(GC_TRACKED | GC_LOCAL | (slot << GC_SLOT_SHIFT)); }
static inline uint8_t gc_bits_aged(unsigned slot)
{
    return (uint8_t)(GC_TRACKED | (1u << GC_GEN_SHIFT) | GC_LOCAL | (slot << GC_SLOT_SHIFT));
}
/* The bits of a tracked object at rest in generation gen. */
static inline uint8_t gc_bits_at_rest(int gen)
{
    return (uint8_t)(GC_TRACKED | (gen << GC_GEN_SHIFT) | (gen == 2 ? _tg_gcs.parity : 0));
}

static inline void gc_list_init(_tg_gchead *h) { h->gc_next = h->gc_prev = (uintptr_t)h; }
static inline bool gc_list_empty(const _tg_gchead *h) { return h->gc_next == (uintptr_t)h; }
static inline void gc_list_append(_tg_gchead *g, _tg_gchead *h)
{
    _tg_gchead *last = (_tg_gchead *)h->gc_prev;
    g->gc_prev = (uintptr_t)last;
    g->gc_next = (uintptr_t)h;
    last->gc_next = (uintptr_t)g;
    h->gc_prev = (uintptr_t)g;
}
static inline void gc_list_remove(_tg_gchead *g)
{
    ((_tg_gchead *)g->gc_prev)->gc_next = g->gc_next;
    ((_tg_gchead *)g->gc_next)->gc_prev = g->gc_prev;
}
static inline void gc_list_move(_tg_gchead *g, _tg_gchead *to) { gc_list_remove(g); gc_list_append(g, to); }
/* Move first and every object after it in list (first != list) to the end
   of to. O(1). */
static inline void gc_list_move_from(_tg_gchead *list, _tg_gchead *first, _tg_gchead *to)
{
    _tg_gchead *before = (_tg_gchead *)first->gc_prev, *last = (_tg_gchead *)list->gc_prev;
    _tg_gchead *tail = (_tg_gchead *)to->gc_prev;
    before->gc_next = (uintptr_t)list;
    list->gc_prev = (uintptr_t)before;
    tail->gc_next = (uintptr_t)first;
    first->gc_prev = (uintptr_t)tail;
    last->gc_next = (uintptr_t)to;
    to->gc_prev = (uintptr_t)last;
}
/* Append every element of from to to; from becomes empty. O(1). */
static inline void gc_list_merge(_tg_gchead *from, _tg_gchead *to)
{
    if (gc_list_empty(from)) return;
    _tg_gchead *tail = (_tg_gchead *)to->gc_prev;
    _tg_gchead *first = (_tg_gchead *)from->gc_next, *last = (_tg_gchead *)from->gc_prev;
    tail->gc_next = (uintptr_t)first;
    first->gc_prev = (uintptr_t)tail;
    last->gc_next = (uintptr_t)to;
    to->gc_prev = (uintptr_t)last;
    gc_list_init(from);
}
TG_INTERNAL size_t _tg_gc_list_size(const _tg_gchead *h);

/* gc/collect.c: one collection of generations 0..gen; fills collected and
   uncollectable. The caller holds the re-entrancy guard. split (free-threaded
   mode, the world stopped by the caller for this collection): the world is
   stopped on entry and running on return; finalizers, clearing and weakref
   callbacks run with it running (gc/collect.c's header). */
TG_INTERNAL intptr_t _tg_gc_collect_as_automatic(int gen);   /* tests (gc.c) */
/* skipped: the slots whose young lists the collection leaves out (bit s:
   slot s; free-threaded mode's automatic collections, gc/gc.c
   young_gather_lazy): their young objects are outside the set. */
TG_INTERNAL void _tg_gc_collect_main(int gen, intptr_t *collected, intptr_t *uncollectable, bool split,
                                     uint16_t skipped);
/* gc/collect.c: a local collection (free-threaded mode, world running) of
   the calling thread's own young list young (slot) — gen 0 — or of its
   young and aged lists — gen 1 —, if eligible (gc/collect.c explains);
   false: not eligible, nothing changed. Survivors join the aged list (gen
   0) or generation 2 (gen 1); *collected: the objects freed; *kept_tuple:
   a survivor is a tuple (which makes the aged list not eligible for a
   local collection of generation 1). */
TG_INTERNAL bool _tg_gc_collect_local_main(_tg_gchead *young, _tg_gchead *aged, uint8_t slot, int gen,
                                           intptr_t *collected, bool *kept_tuple);
/* gc/collect.c: the tables of local collections, built once (_tg_gc_init). */
TG_INTERNAL void _tg_gc_local_tables_init(void);
/* gc/collect.c: would the lists be eligible now (a hint, without holding)? */
TG_INTERNAL bool _tg_gc_local_eligible_hint(_tg_gchead *young, _tg_gchead *aged, uint8_t slot, int gen);
/* gc/gc.c: a local collection of generation gen (0 or 1) of the calling
   thread's lists, with counts, stats and callbacks; -1 when it does not
   apply (the caller collects with the world stopped instead), else the
   objects freed. _tg_gc_collect_local() is gen 0. */
TG_INTERNAL intptr_t _tg_gc_collect_local_gen(int gen);
TG_INTERNAL intptr_t _tg_gc_collect_local(void);
/* Local collections done (of generation 1: runs1, also in runs), and tried
   but not eligible (statistics, tests, stress). */
TG_INTERNAL void _tg_gc_local_counts(uint64_t *runs, uint64_t *runs1, uint64_t *fallbacks);
/* gc/collect.c: the calling thread will free n objects whose deallocations
   count its count down; credit them first (gc/gc.c, count_add). */
TG_INTERNAL void _tg_gc_count_credit(long n);
/* Test hook: called inside a local collection, after the count walk (which
   tests every object's eligibility) and before the classify walk, while the
   thread holds its biases. */
extern TG_INTERNAL void (*_tg_gc_local_hook)(void);
/* gc/gc.c, for split collections: restart the world stopped for the
   collection (then drop what the biased-count merge kept), and stop it
   again (then merge the queued biased counts, fold hot counts). Both
   account the pause. */
TG_INTERNAL void _tg_gc_world_restart(void);
TG_INTERNAL void _tg_gc_world_stop_again(void);
/* gc/gc.c: the lock of generations 1, 2, permanent and the global
   generation 0 (free-threaded mode; no-ops in GIL mode). */
TG_INTERNAL void _tg_gc_track_lock(void);
TG_INTERNAL void _tg_gc_track_unlock(void);
/* gc/collect.c: the traverse dispatch shared with get_referrers/referents. */
TG_INTERNAL int _tg_gc_traverse(tg_obj *o, tg_visitproc visit, void *arg);
/* gc/collect.c: whole-list consistency checks (TG_DEBUG >= 2). */
TG_INTERNAL void _tg_gc_validate_all(const char *when);

#endif
