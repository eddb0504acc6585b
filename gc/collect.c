/*
 * gc/collect.c — one collection: CPython's gc_refs algorithm, rearranged to
 * touch each object fewer times (docs/gc.md has the full story).
 *
 * The set is generations 0..g merged into one work list. Then:
 *
 *   1. count     One walk. Each object's gc_refs (in gc_prev) starts as its
 *                count, lazily, the first time the walk or a parent reaches
 *                it; every reference from a member of the set subtracts one.
 *                Afterwards gc_refs > 0 means "referenced from outside".
 *                A gc_refs below zero is an embedder's missing incref: abort
 *                with "refcount too small", naming the object. The walk
 *                also untracks tuples of atoms as it meets them, and gives
 *                young objects spliced in by the free-threaded collector
 *                their plain bits (the fresh table).
 *   2. classify  One walk, in list order. An object with gc_refs > 0, or
 *                marked, is reachable: its children in the set are marked
 *                (those the walk already passed go back to the list's tail),
 *                and it stays where it is — the walk relinks it in place and
 *                rewrites its bits to the generation it is promoted to, which
 *                also takes it out of the set. Anything else moves to a
 *                tentative list; what is still there at the end is the
 *                unreachable set. Survivors move up one generation in O(1).
 *                It notes what the tentative objects hold (finalizers,
 *                weakrefs, types other than list and tuple), so that 3-6
 *                are skipped without a scan and 7 may free the set whole.
 *   3. legacy    Objects with a legacy finalizer (TG_TYPE_LEGACY_DEL), and
 *                everything they reach, leave the unreachable set: the legacy
 *                ones go to tg_gc_garbage(); all of them survive.
 *   4. weakrefs  Every weakref to the unreachable set is cleared; the
 *                callbacks of weakrefs that are not themselves garbage are
 *                queued (a weakref is garbage when every reference to it
 *                comes from the unreachable set).
 *   5. finalize  Each PEP 442 finalizer runs once, its object marked.
 *   6. resurrect If a finalizer ran: steps 1-2 again inside the unreachable
 *                set; whatever is now referenced from outside (resurrected,
 *                with everything it reaches) survives. Weakrefs created by
 *                finalizers to what stays unreachable are cleared (step 4).
 *   7. clear     Each remaining object's clear drops its references;
 *                refcounting frees the set. An object that outlives its clear
 *                survives. With TG_GC_DEBUG_SAVEALL they go to the garbage
 *                list instead. The common garbage (lists and tuples only,
 *                no finalizer, no weakref, no hot count, no SAVEALL) is
 *                freed whole instead, without counting down (bulk_delete).
 *   8. callbacks The queued weakref callbacks run: everything in the garbage
 *                is gone, every weakref to it reads None.
 *
 * Free-threaded mode (split: the collector stopped the world itself). Only
 * what needs exact counts and frozen links runs stopped:
 *
 *   stop      merge queued biased counts, fold hot counts, gather young lists
 *             (gc/gc.c), then steps 1-4 as above;
 *   extra     one reference taken by the collector on every unreachable
 *             object; restart the world (then drop what the merge kept);
 *   5.        PEP 442 finalizers, world running;
 *   6.        only if a finalizer ran: stop again, merge counts again, steps
 *             1-2 inside the unreachable set with every count less the extra
 *             reference (bias 1): an object referenced from outside —
 *             resurrected — and all it reaches survive; weakrefs made by the
 *             finalizers to what stays unreachable are cleared; restart; the
 *             resurrected join the older generation and lose the extra
 *             reference;
 *   7.        clear, world running, each object under its own lock where its
 *             type has one (list, dict, instance); then every object joins
 *             the older generation under track_lock and loses the extra
 *             reference — those that die are untracked from there by
 *             whichever thread frees them, the rest survive;
 *   8.        weakref callbacks, world running.
 *
 * The common garbage (bulk_ok) takes neither the extra references nor a
 * second pause: after step 4 the world restarts and bulk_delete frees the
 * set. It stays private without the extra reference: nothing outside can
 * reach a member and no member is ever counted down, so no thread can be
 * handed one to free or untrack.
 *
 * Invariants of the split: (a) between the pauses the unreachable and final
 * lists are private to the collector, and no object on them can be freed or
 * untracked by anyone, because each holds the collector's extra reference
 * and nothing else outside the set can reach it (weakrefs to it were
 * cleared with the world stopped; it is in no generation list, so
 * tg_gc_get_objects and get_referrers do not see it); (b) an object leaves
 * those lists for a shared one (under track_lock) before that reference is
 * dropped; (c) resurrection is decided with the world stopped and counts
 * exact, so a reference a finalizer handed to another thread, or that
 * thread's own references, are seen; (d) the guard stays held throughout:
 * no other collection starts (automatic ones are skipped, tg_gc_collect
 * from other threads waits at safepoints). A world the caller had stopped
 * (tg_stop_the_world) is not restarted: the collection runs in one piece.
 *
 * Contracts: the caller holds the collector's guard (gcs.collecting), so no
 * collection nests. Until the end of step 2 no user code runs except
 * traverse functions (which must not mutate anything). From step 3 on every
 * list is a proper doubly linked list, so finalizers, callbacks and the
 * deallocations they cause may untrack objects at will.
 *
 * IMPORTANT: the gc head's fields change meaning during steps 1-2; see
 * gc/gc_internal.h before touching gc_prev anywhere in this file.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "gc/gc_internal.h"
#include "sync/chaos.h"
#include "sync/sync.h"

typedef struct ctx {
    uint8_t  member[256];      /* bits -> in the set */
    uint8_t  fresh[256];       /* bits of a member -> 0 if its gc_refs is set, else
                                  its bits once it is (phase 1) */
    uint8_t  markable[256];    /* bits -> in the set and not yet marked */
    uint8_t  keep_bits;        /* bits of a survivor */
    intptr_t bias;             /* references to subtract from every count:
                                  the collector's own (split recount) */
    uintptr_t tid;             /* local collection: the collecting thread; a
                                  child with another ob_tid is outside the set,
                                  and its gc bits are never read */
    bool     foreign;          /* local collection of generation 1: a member
                                  refers to another thread's container */
    bool     kept_tuple;       /* local collection: a survivor is a tuple */
    _tg_gchead *work;          /* the list being classified */
    size_t   ntent;            /* objects in the tentative list */
    /* phase 2: what the tentative objects hold (a superset of the
       unreachable set's), so that phases 3-6 are skipped without a scan */
    uint16_t tent_flags;       /* ob_flags or-ed (weakrefs) */
    bool     tent_finalize;    /* a type with a finalizer */
    bool     tent_nobulk;      /* not a list or tuple, or a hot count (bulk_delete) */
} ctx;

/* --------------------------------------------------------------- helpers */

/* The count an object starts with in phase 1. The one place that reads
   counts: free-threaded mode adapts it (merged biased counts). */
static inline intptr_t gc_count_copy(const tg_obj *o)
{
    /* Biased counts (runtime/brc.c): local + shared; a hot object's shared
       count lives in the hot table (exact: the world is stopped and the
       per-thread counts were folded before the collection). */
    uint32_t local = __atomic_load_n(&o->ob_ref_local, __ATOMIC_RELAXED);
    if (TG_UNLIKELY(local == _TG_IMMORTAL_LOCAL)) return INTPTR_MAX / 2;
    intptr_t s = __atomic_load_n(&o->ob_ref_shared, __ATOMIC_RELAXED);
    if (TG_UNLIKELY((s & 3) == _TG_REF_HOT)) return _tg_ft_count(o);
    return (intptr_t)local + (s >> 2);
}

static TG_COLD _Noreturn void refcount_too_small(const tg_obj *o)
{
    _tg_fatal("gc: refcount too small: %s object at %p is referenced by more tracked "
              "containers than its count %ld says (a missing tg_incref, or a traverse "
              "that visits a child it does not own)",
              o->ob_type->name, (const void *)o, (long)tg_refcount(o));
}

static inline _tg_dentry *dk_entries(_tg_dkeys *k)
{
    return (_tg_dentry *)(k->indices + ((size_t)k->ixbytes << k->log2_size));
}

typedef void (*child_fn)(tg_obj *child, ctx *x);

/* Visit o's children with fn. The built-in containers are walked inline
   (no function pointer per child); other types go through their traverse
   slot with visit. Always inlined, so fn is a direct call. */
static inline __attribute__((always_inline))
void for_each_child(tg_obj *o, ctx *x, child_fn fn, tg_visitproc visit)
{
    const tg_type *t = o->ob_type;
    _tg_dkeys *k;
    switch (t->kind) {
    case _TG_K_LIST: {
        _tg_list *l = (_tg_list *)o;
        size_t n = l->len;
        if (n) {
            tg_obj **it = l->items->item;
            for (size_t i = 0; i < n; i++) fn(it[i], x);
        }
        return;
    }
    case _TG_K_TUPLE: {
        _tg_tuple *tu = (_tg_tuple *)o;
        for (size_t i = 0, n = tu->n; i < n; i++)
            if (tu->items[i]) fn(tu->items[i], x);
        return;
    }
    case _TG_K_DICT: k = ((_tg_dict *)o)->keys; goto dict;
    case _TG_K_OBJECT: k = ((_tg_inst *)o)->attrs; goto dict;
    default:
        if (t->traverse) t->traverse(o, visit, x);
        return;
    }
dict:
    if (k) {
        _tg_dentry *e = dk_entries(k);
        for (size_t i = 0, n = k->nentries; i < n; i++) {
            if (!e[i].key) continue;
            fn(e[i].key, x);
            fn(e[i].value, x);
        }
    }
}

int _tg_gc_traverse(tg_obj *o, tg_visitproc visit, void *arg)
{
    const tg_type *t = o->ob_type;
    return t->traverse ? t->traverse(o, visit, arg) : 0;
}

/* -------------------------------------------------------- phase 1: count */

/* Local collection (free-threaded mode, the world running): the set is the
   collecting thread's own young list. A child owned by another thread is
   outside it; its bits may be written by its owner's own local collection
   at this moment, so they are not read (ob_tid is read first). A member's
   count is read with local_count_copy. `local` is a constant at every call:
   the two walks get their own specialised copies. */
static inline intptr_t local_count_copy(const tg_obj *o);
static inline __attribute__((always_inline)) void refs_dec_any(tg_obj *c, ctx *x, bool local, bool strict)
{
    if (local && __atomic_load_n(&c->ob_tid, __ATOMIC_RELAXED) != x->tid) {
        /* strict (a local collection of generation 1): another thread's
           container may close a cycle across threads, which a collection
           of generation 1 finds in GIL mode: noted, and the collection is
           not eligible (gc/collect.c, count_refs_local_checked). Its type
           and count are read, never its gc bits. */
        if (strict && _tg_is_gc(c) && !_tg_is_immortal(c)) x->foreign = true;
        return;
    }
    uint8_t b = c->ob_gc_bits;
    if (!x->member[b]) return;
    _tg_gchead *g = _tg_as_gc(c);
    intptr_t r;
    uint8_t nb = x->fresh[b];
    if (!nb) {
        r = (intptr_t)g->gc_prev;
    } else {
        r = local ? local_count_copy(c) : gc_count_copy(c) - x->bias;
        c->ob_gc_bits = nb;
    }
    if (TG_UNLIKELY(--r < 0)) refcount_too_small(c);
    g->gc_prev = (uintptr_t)r;
}
static inline __attribute__((always_inline)) void refs_dec(tg_obj *c, ctx *x) { refs_dec_any(c, x, false, false); }
static inline __attribute__((always_inline)) void refs_dec_local(tg_obj *c, ctx *x) { refs_dec_any(c, x, true, false); }
static inline __attribute__((always_inline)) void refs_dec_local1(tg_obj *c, ctx *x) { refs_dec_any(c, x, true, true); }
static int visit_refs_dec(tg_obj *c, void *x) { refs_dec(c, x); return 0; }
static int visit_refs_dec_local(tg_obj *c, void *x) { refs_dec_local(c, x); return 0; }
static int visit_refs_dec_local1(tg_obj *c, void *x) { refs_dec_local1(c, x); return 0; }

/* Untracking tuples that can never be part of a cycle (CPython does the
   same): every item is an atom or an untracked tuple. Done inside the count
   walk — a walk of its own cost a pass over memory per collection — as the
   walk meets each tuple, before anything is classified (as the separate
   walk did): such a tuple is not counted as garbage. Tuples are built
   children first, so the list's order untracks a whole tree of tuples in
   one walk. Without this, tuple trees (binary-trees) stay in the old
   generation and every full collection walks them again. */
static inline bool may_be_tracked(const tg_obj *c)
{
    if (!_tg_is_gc(c)) return false;
    if (_tg_kind_of(c) == _TG_K_TUPLE) return (c->ob_gc_bits & GC_TRACKED) != 0;
    return (c->ob_type->flags & TG_TYPE_GC) || (c->ob_gc_bits & GC_TRACKED);
}

/* Untrack g, met by a count walk of list after prev: out of the forward
   chain (the only links the walk uses) and no longer a member. Returns
   prev, for the walk to go on from. */
static inline _tg_gchead *untrack_in_walk(_tg_gchead *list, _tg_gchead *prev, _tg_gchead *g)
{
    _tg_gchead *next = (_tg_gchead *)g->gc_next;
    prev->gc_next = (uintptr_t)next;
    if (next == list) list->gc_prev = (uintptr_t)prev;
    g->gc_next = g->gc_prev = 0;
    _tg_from_gc(g)->ob_gc_bits = 0;
    return prev;
}

/* gc_refs of every member of list = count - references from the set.
   tuples: the first count of a collection, which untracks tuples of atoms.
   Unlinking during phase 1 only needs the forward links: no gc_prev is a
   link during phases 1-2 except the list head's (its tail), which classify
   uses; classify rebuilds every other one. */
static inline __attribute__((always_inline)) void count_refs_impl(_tg_gchead *list, ctx *x, bool tuples)
{
    _tg_gchead *prev = list, *g;
    for (g = (_tg_gchead *)list->gc_next; g != list; prev = g, g = (_tg_gchead *)g->gc_next) {
        tg_obj *o = _tg_from_gc(g);
        __builtin_prefetch((const void *)g->gc_next);
        uint8_t nb = x->fresh[o->ob_gc_bits];
        if (nb) {
            g->gc_prev = (uintptr_t)(gc_count_copy(o) - x->bias);
            o->ob_gc_bits = nb;
        }
        if (tuples && o->ob_type->kind == _TG_K_TUPLE) {
            _tg_tuple *tu = (_tg_tuple *)o;
            size_t i = 0, n = tu->n;
            /* (a NULL item: being filled; CPython keeps such a tuple) */
            while (i < n && tu->items[i] && !may_be_tracked(tu->items[i])) i++;
            if (i == n) {
                /* Untracked: out of the forward chain, and no longer a
                   member for parents met later. Its children are atoms or
                   untracked tuples: nothing of the set to count down. */
                g = untrack_in_walk(list, prev, g);
                continue;
            }
        }
        for_each_child(o, x, refs_dec, visit_refs_dec);
    }
}
static void count_refs(_tg_gchead *list, ctx *x) { count_refs_impl(list, x, false); }
static void count_refs_first(_tg_gchead *list, ctx *x) { count_refs_impl(list, x, true); }

/* ----------------------------------------------------- phase 2: classify */

/* A child of a reachable object. Ahead of the walk: marking it is enough, the
   walk scans it when it gets there (in list order, which is mostly memory
   order — no pointer-chasing DFS). Already passed over (tentative): back to
   the tail of the work list, where the walk will meet it again. */
static inline __attribute__((always_inline)) void mark_child(tg_obj *c, ctx *x)
{
    uint8_t b = c->ob_gc_bits;
    if (!x->markable[b]) return;
    if (TG_UNLIKELY(b & GC_TENT)) {
        _tg_gchead *g = _tg_as_gc(c), *list = x->work;
        gc_list_remove(g);
        /* The work list's tail link is valid during the walk (the head's
           gc_prev and the last element's gc_next); c's own gc_prev held its
           gc_refs, no longer needed once it is marked. */
        _tg_gchead *tail = (_tg_gchead *)list->gc_prev;
        tail->gc_next = (uintptr_t)g;
        g->gc_next = (uintptr_t)list;
        list->gc_prev = (uintptr_t)g;
        b = (uint8_t)(b & ~(GC_TENT | GC_UNREACH));
        x->ntent--;
    }
    c->ob_gc_bits = (uint8_t)(b | GC_REACH);
}
static int visit_mark(tg_obj *c, void *x) { mark_child(c, x); return 0; }
/* Local collection: as refs_dec_local, another thread's object is outside. */
static inline __attribute__((always_inline)) void mark_child_local(tg_obj *c, ctx *x)
{
    if (__atomic_load_n(&c->ob_tid, __ATOMIC_RELAXED) == x->tid) mark_child(c, x);
}
static int visit_mark_local(tg_obj *c, void *x) { mark_child_local(c, x); return 0; }

/* Split list into survivors (left in list, relinked, bits = keep_bits) and
   the unreachable (moved to unreach, bits = TRACKED | UNREACH | TENT; their
   number left in x->ntent). Returns the number of survivors.

   One walk, CPython's move_unreachable with three differences: reachability
   is a bit, not a tagged gc_refs; survivors are relinked in place instead of
   being moved; and a survivor's new bits take it out of the set, so that no
   second walk clears marks. */
static inline __attribute__((always_inline))
size_t classify_impl(_tg_gchead *list, _tg_gchead *unreach, ctx *x, bool local)
{
    _tg_gchead tent;
    gc_list_init(&tent);
    x->work = list;
    x->ntent = 0;
    size_t kept = 0;
    uint16_t tflags = 0;                        /* (in registers: x is written by mark_child) */
    bool tfin = false, tnobulk = false, ft = _tg_ft(), ktuple = false;
    _tg_gchead *last = list;
    _tg_gchead *g = (_tg_gchead *)list->gc_next;
    while (g != list) {
        tg_obj *o = _tg_from_gc(g);
        uint8_t b = o->ob_gc_bits;
        _tg_gchead *next;
        if (!(b & GC_REACH) && (intptr_t)g->gc_prev <= 0) {
            next = (_tg_gchead *)g->gc_next;
            gc_list_append(g, &tent);           /* tentatively unreachable */
            /* gen 0, no GC_REFS: still a member of either set's table */
            o->ob_gc_bits = GC_TRACKED | GC_UNREACH | GC_TENT;
            x->ntent++;
            /* What phases 3-7 need to know, read from the line just
               loaded: the set's garbage is a subset of what passes here. */
            const tg_type *t = o->ob_type;
            tflags |= o->ob_flags;
            tfin |= t->finalize != NULL;
            tnobulk |= t != &_tg_list_type && t != &_tg_tuple_type;
            if (ft) tnobulk |= (__atomic_load_n(&o->ob_ref_shared, __ATOMIC_RELAXED) & 3) == _TG_REF_HOT;
            g = next;
            continue;
        }
        /* Reachable: mark what it reaches, then keep it. The bits are
           rewritten first, so that a self-reference does not move it. */
        o->ob_gc_bits = x->keep_bits;
        if (local) ktuple |= o->ob_type == &_tg_tuple_type;
        if (local) for_each_child(o, x, mark_child_local, visit_mark_local);
        else for_each_child(o, x, mark_child, visit_mark);
        g->gc_prev = (uintptr_t)last;
        last->gc_next = (uintptr_t)g;
        last = g;
        kept++;
        g = (_tg_gchead *)g->gc_next;         /* after the scan: it may have appended */
    }
    last->gc_next = (uintptr_t)list;
    list->gc_prev = (uintptr_t)last;
    x->tent_flags |= tflags;
    x->tent_finalize |= tfin;
    x->tent_nobulk |= tnobulk;
    x->kept_tuple = ktuple;

    /* What is left in tent carries TRACKED | UNREACH | TENT; TENT is
       harmless from here on (no later phase reads it). */
    gc_list_merge(&tent, unreach);
    return kept;
}
static size_t classify(_tg_gchead *list, _tg_gchead *unreach, ctx *x) { return classify_impl(list, unreach, x, false); }
static size_t classify_local(_tg_gchead *list, _tg_gchead *unreach, ctx *x) { return classify_impl(list, unreach, x, true); }

/* Membership of the set for a collection of generations 0..gen: tracked, of
   such a generation, and (generation 2) of the clean parity — survivors of
   this collection carry the other parity, which takes them out.
   Free-threaded mode: the collector splices the young lists into generation
   0 without rewriting their objects' bits (gc/gc.c, young_gather_lazy), so
   a member of generation 0 may still carry GC_LOCAL | slot << 4 — whose
   slot bits overlap REFS, REACH, UNREACH and TENT. Phase 1 meets every
   member (the walk goes through the whole set) and gives it plain bits; the
   fresh table is what tells such bits from a set gc_refs. The same for the
   aged lists spliced into generation 1 (a collection of generation 1 or 2:
   gen 1 | GC_LOCAL | slot << 4); a collection of generation 0 does not
   gather them, and gen 1 > 0 keeps them out of its set. The young objects
   of the slots in skipped (bit s: slot s) were not gathered: their bits at
   rest (gen 0 | GC_LOCAL | s << 4) are not members either. */
static void tables_for_generation(ctx *x, int gen, uint16_t skipped)
{
    for (int b = 0; b < 256; b++) {
        int g = gc_gen_of((uint8_t)b);
        bool young = gc_bits_local((uint8_t)b);         /* young or aged, spliced in */
        bool m = (b & GC_TRACKED) && g <= gen && (g < 2 || (b & GC_PARITY) == _tg_gcs.parity)
                 && !(young && g == 0 && (skipped >> (b >> GC_SLOT_SHIFT) & 1));
        x->member[b] = m;
        x->fresh[b] = !m ? 0
            : young ? (uint8_t)(GC_TRACKED | GC_REFS)
            : (b & GC_REFS) ? 0
            : (uint8_t)((b | GC_REFS) & ~GC_TENT);
        x->markable[b] = m && !(b & GC_REACH);
    }
}

/* A member of the unreachable set: GC_UNREACH, and not a young or aged
   object outside the set at rest, whose slot bits may include GC_UNREACH
   (bit 3 is never set in an unreachable object's bits; tables_for_unreachable). */
static inline bool unreach_bits(uint8_t b) { return (b & GC_UNREACH) && !(b & GC_LOCAL); }

/* Membership of the unreachable set (phase 6). Bit 3 is never set in an
   unreachable object's bits; it is in a thread's young object (GC_LOCAL),
   whose slot bits may include GC_UNREACH: a finalizer may have stored a new
   object into the set while the world ran. */
static void tables_for_unreachable(ctx *x)
{
    for (int b = 0; b < 256; b++) {
        bool m = unreach_bits((uint8_t)b);
        x->member[b] = m;
        x->fresh[b] = m && !(b & GC_REFS) ? (uint8_t)((b | GC_REFS) & ~GC_TENT) : 0;   /* TENT: left by classify */
        x->markable[b] = m && !(b & GC_REACH);
    }
}

/* ------------------------------------------------------ phase 3: legacy */

static inline bool has_legacy_finalizer(const tg_obj *o)
{
    const tg_type *t = o->ob_type;
    return (t->flags & TG_TYPE_LEGACY_DEL) && t->finalize;
}

static int visit_move_to(tg_obj *c, void *list)
{
    if (unreach_bits(c->ob_gc_bits)) {
        c->ob_gc_bits = GC_TRACKED;
        gc_list_move(_tg_as_gc(c), list);
    }
    return 0;
}

/* Move the objects with legacy finalizers, and all they reach, from unreach
   to fin (bits: TRACKED only). */
static void move_legacy(_tg_gchead *unreach, _tg_gchead *fin)
{
    for (_tg_gchead *g = (_tg_gchead *)unreach->gc_next, *next; g != unreach; g = next) {
        next = (_tg_gchead *)g->gc_next;
        tg_obj *o = _tg_from_gc(g);
        if (has_legacy_finalizer(o)) {
            o->ob_gc_bits = GC_TRACKED;
            gc_list_move(g, fin);
        }
    }
    /* fin grows at its tail while this walks it. */
    for (_tg_gchead *g = (_tg_gchead *)fin->gc_next; g != fin; g = (_tg_gchead *)g->gc_next)
        _tg_gc_traverse(_tg_from_gc(g), visit_move_to, fin);
}

static void garbage_append(tg_obj *o)
{
    _tg_gcstate *s = &_tg_gcs;
    if (!s->garbage && !(s->garbage = tg_list_new(0))) { tg_error_clear(); return; }
    if (tg_list_append(s->garbage, o) < 0) tg_error_clear();
}

/* Move every object of list to generation gen, rewriting its bits. */
static void list_to_generation(_tg_gchead *list, int gen)
{
    uint8_t bits = gc_bits_at_rest(gen);
    for (_tg_gchead *g = (_tg_gchead *)list->gc_next; g != list; g = (_tg_gchead *)g->gc_next)
        _tg_from_gc(g)->ob_gc_bits = bits;
    gc_list_merge(list, &_tg_gcs.gen_head[gen]);
}

/* ---------------------------------------------------- phase 4: weakrefs */

typedef struct wr_queue { tg_obj *head, *tail; } wr_queue;
static inline _tg_weakref *WR(tg_obj *o) { return (_tg_weakref *)o; }

static int visit_count_wr(tg_obj *c, void *unused)
{
    (void)unused;
    if ((c->ob_gc_bits & GC_WRCAND) && c->ob_type == &_tg_weakref_type)
        WR(c)->prev = (tg_obj *)((intptr_t)WR(c)->prev + 1);
    return 0;
}

/* Clear every weakref to the objects of unreach; queue the callbacks of those
   weakrefs that are not garbage themselves. A weakref is garbage when all
   references to it come from unreach (weakrefs are not tracked, so this is
   counted: phase 1's idea applied to the candidates only). */
static void handle_weakrefs(_tg_gchead *unreach, wr_queue *q)
{
    tg_obj *cand = NULL;
    for (_tg_gchead *g = (_tg_gchead *)unreach->gc_next; g != unreach; g = (_tg_gchead *)g->gc_next) {
        tg_obj *o = _tg_from_gc(g);
        if (TG_UNLIKELY(o->ob_flags & _TG_OBF_WEAKLIST)) _tg_weakrefs_detach(o, &cand);
    }
    if (!cand) return;
    for (tg_obj *w = cand; w; w = WR(w)->next) {
        w->ob_gc_bits |= GC_WRCAND;
        WR(w)->prev = NULL;                  /* counter: references from unreach */
    }
    for (_tg_gchead *g = (_tg_gchead *)unreach->gc_next; g != unreach; g = (_tg_gchead *)g->gc_next)
        _tg_gc_traverse(_tg_from_gc(g), visit_count_wr, NULL);
    tg_obj *w = cand;
    while (w) {
        tg_obj *next = WR(w)->next;
        intptr_t from_trash = (intptr_t)WR(w)->prev;
        w->ob_gc_bits &= (uint8_t)~GC_WRCAND;
        WR(w)->prev = WR(w)->next = NULL;
        if (tg_refcount(w) - 1 == from_trash) {
            tg_decref(w);                    /* garbage itself: no callback */
        } else {
            if (q->tail) WR(q->tail)->next = w; else q->head = w;
            q->tail = w;
        }
        w = next;
    }
}

static void run_weakref_callbacks(wr_queue *q)
{
    if (q->head) TG_CHAOS_POINT(TG_CHAOS_SITE_GC);
    tg_obj *w = q->head;
    q->head = q->tail = NULL;
    while (w) {
        tg_obj *next = WR(w)->next;
        WR(w)->next = NULL;
        WR(w)->callback(w, WR(w)->arg);
        tg_error_clear();
        tg_decref(w);
        w = next;
    }
}

/* ---------------------------------------------------- phase 5: finalize */

static inline bool needs_finalizer(const tg_obj *o)
{
    const tg_type *t = o->ob_type;
    return t->finalize && !(t->flags & TG_TYPE_LEGACY_DEL) && !(o->ob_flags & _TG_OBF_FINALIZED);
}

/* Run each PEP 442 finalizer once. Objects move one at a time to a second
   list first, so that a finalizer freeing others (they untrack themselves)
   never disturbs the walk. Returns whether any finalizer ran. */
static bool finalize_garbage(_tg_gchead *unreach)
{
    TG_CHAOS_POINT(TG_CHAOS_SITE_GC);
    _tg_gchead seen;
    gc_list_init(&seen);
    bool ran = false;
    while (!gc_list_empty(unreach)) {
        _tg_gchead *g = (_tg_gchead *)unreach->gc_next;
        tg_obj *o = _tg_from_gc(g);
        gc_list_move(g, &seen);
        if (needs_finalizer(o)) {
            o->ob_flags |= _TG_OBF_FINALIZED;
            tg_incref(o);
            o->ob_type->finalize(o);
            tg_error_clear();
            tg_decref(o);
            ran = true;
        }
    }
    gc_list_merge(&seen, unreach);
    return ran;
}

/* ------------------------------------------------------- phase 7: clear */

static void delete_garbage(_tg_gchead *final, int old)
{
    bool saveall = (_tg_gcs.debug & TG_GC_DEBUG_SAVEALL) != 0;
    while (!gc_list_empty(final)) {
        _tg_gchead *g = (_tg_gchead *)final->gc_next;
        tg_obj *o = _tg_from_gc(g);
        if (saveall) {
            garbage_append(o);
        } else if (o->ob_type->clear) {
            tg_incref(o);
            o->ob_type->clear(o);
            tg_error_clear();
            tg_decref(o);
        }
        if ((_tg_gchead *)final->gc_next == g) {
            /* Still alive: it survives (it may die later). */
            o->ob_gc_bits = gc_bits_at_rest(old);
            gc_list_move(g, &_tg_gcs.gen_head[old]);
        }
    }
}

/* Phase 7 without reference counting, for the common garbage: lists and
   tuples only, no finalizer, no weakref, no hot count, not SAVEALL (the
   caller checks; bulk_ok). Every reference to a member of the set comes from
   the set (gc_refs were 0) and nothing can add one (no finalizer runs, no
   weakref reaches the set, the set is in no generation list), so the set
   can be freed as a whole: references from the set to the set are simply
   forgotten, only references to other objects are dropped — no count to
   zero, no cascade of deallocations, no unlinking one by one. Two walks:
   the first drops the outside references and detaches the item arrays
   (it reads the children's bits, so no member may be freed yet), the
   second frees. Code run by an outside object's deallocation cannot reach
   the set.

   Free-threaded mode: runs with the world running, after the pause. No
   other thread can reach a member, so none can free one; what the set
   refers to outside is dropped through the ordinary biased counts. The
   deallocations are not counted against count[0] (in GIL mode they happen
   with count[0] just reset and clamped at 0; with the world running they
   would cancel other threads' allocations — see release_extra_refs). */
static bool bulk_ok(const ctx *x, bool any_fin, bool any_weak)
{
    return !x->tent_nobulk && !any_fin && !any_weak && !(_tg_gcs.debug & TG_GC_DEBUG_SAVEALL);
}

/* tid: 0 for a collection of the generations (every object the set refers
   to has settled bits); a local collection's thread id, whose garbage is
   its own objects only — another thread's object may be in its owner's
   local collection, with GC_UNREACH set, right now. */
static inline bool in_garbage(const tg_obj *c, uintptr_t tid)
{
    if (tid && __atomic_load_n(&c->ob_tid, __ATOMIC_RELAXED) != tid) return false;
    return unreach_bits(c->ob_gc_bits);
}

static void bulk_delete(_tg_gchead *unreach, uintptr_t tid)
{
    for (_tg_gchead *g = (_tg_gchead *)unreach->gc_next; g != unreach; g = (_tg_gchead *)g->gc_next) {
        tg_obj *o = _tg_from_gc(g);
        __builtin_prefetch((const void *)g->gc_next);
        if (o->ob_type == &_tg_list_type) {
            _tg_list *l = (_tg_list *)o;
            _tg_items *it = l->items;
            size_t n = l->len;
            l->items = NULL;
            l->len = 0;
            if (!it) continue;
            for (size_t i = 0; i < n; i++) {
                tg_obj *c = it->item[i];
                if (!in_garbage(c, tid)) tg_decref(c);
            }
            tg_mem_free(it);
        } else {                                    /* a tuple */
            _tg_tuple *tu = (_tg_tuple *)o;
            for (size_t i = 0, n = tu->n; i < n; i++) {
                tg_obj *c = tu->items[i];
                tu->items[i] = NULL;
                if (c && !in_garbage(c, tid)) tg_decref(c);
            }
        }
    }
    long n = 0;
    _tg_gchead *next;
    for (_tg_gchead *g = (_tg_gchead *)unreach->gc_next; g != unreach; g = next) {
        next = (_tg_gchead *)g->gc_next;
        __builtin_prefetch((const void *)next);
        tg_obj *o = _tg_from_gc(g);
        const tg_type *t = o->ob_type;
        g->gc_next = g->gc_prev = 0;
        o->ob_gc_bits = 0;
        t->destroy(o);                              /* nothing left to drop */
        t->release(o);
        n++;
    }
    gc_list_init(unreach);
    /* GIL mode: what n deallocations of containers do to count[0] (runtime/
       object.c, destroy: one clamped decrement each; nothing allocated
       in between). */
    if (!_tg_ft()) _tg_gcs.count[0] = _tg_gcs.count[0] > n ? _tg_gcs.count[0] - n : 0;
}

/* ------------------------------------ free-threaded mode: split phases */

/* World stopped: the collector's extra reference on every object of list.
   With it no thread can free one while the world runs, so the private lists
   stay the collector's alone. */
static void take_extra_refs(_tg_gchead *list)
{
    for (_tg_gchead *g = (_tg_gchead *)list->gc_next; g != list; g = (_tg_gchead *)g->gc_next)
        tg_incref(_tg_from_gc(g));
}

/* Does o's deallocation count down count[0]? (runtime/object.c, destroy:
   what constructors counted.) */
static inline bool counts_dealloc(const tg_obj *o)
{
    return (o->ob_type->flags & TG_TYPE_GC) || (o->ob_flags & _TG_OBF_ATTRS_OK);
}

/* World running: every object of list joins generation gen, then the
   collector drops its extra reference. The objects move under track_lock
   first: once that reference is gone any thread may free one (its owner
   merging a queued biased count, say), and that thread's untrack must find
   it on a shared list, under the same lock. Those still referenced stay
   there — survivors, as in GIL mode.

   garbage: list is the garbage just cleared. Its deallocations will count
   down count[0] (runtime/object.c, destroy) in whichever threads free it,
   now that the world runs and other threads allocate: in GIL mode they
   happen inside the collection, with count[0] just reset and clamped at 0.
   Without a credit, the frees of one collection's garbage cancel as many
   new allocations, each collection waits for threshold more objects than
   the one before, and sustained cyclic garbage grows without bound (seen:
   11 automatic collections where ~200 were due, tests/test_gc_ft.c). So
   the calling thread's part of count[0] (gc/gc.c, count_add), which its
   own frees of the garbage count down, is credited with the objects whose
   deallocation counts, before any can be freed (a thread that frees one
   instead counts its own part down, clamped at 0). */
static void release_extra_refs(_tg_gchead *list, int gen, bool garbage)
{
    size_t n = _tg_gc_list_size(list), i = 0;
    if (n == 0) return;
    tg_obj **v = malloc(n * sizeof *v);
    if (!v) {                                 /* one at a time */
        while (!gc_list_empty(list)) {
            _tg_gchead *g = (_tg_gchead *)list->gc_next;
            tg_obj *o = _tg_from_gc(g);
            if (garbage && counts_dealloc(o)) _tg_gc_count_credit(1);
            _tg_gc_track_lock();
            o->ob_gc_bits = gc_bits_at_rest(gen);
            gc_list_move(g, &_tg_gcs.gen_head[gen]);
            _tg_gc_track_unlock();
            tg_decref(o);
        }
        return;
    }
    uint8_t bits = gc_bits_at_rest(gen);
    long credit = 0;
    _tg_gc_track_lock();
    for (_tg_gchead *g = (_tg_gchead *)list->gc_next; g != list; g = (_tg_gchead *)g->gc_next) {
        tg_obj *o = _tg_from_gc(g);
        o->ob_gc_bits = bits;
        v[i++] = o;
        credit += garbage && counts_dealloc(o);
    }
    gc_list_merge(list, &_tg_gcs.gen_head[gen]);
    _tg_gc_track_unlock();
    _tg_gc_count_credit(credit);
    for (i = 0; i < n; i++) tg_decref(v[i]);
    free(v);
}

/* World running: each object's clear, under its own lock where the type has
   one (lists, dicts, instances — what their mutators lock). Nothing leaves
   final here: the extra references keep every object alive until
   release_extra_refs. TG_GC_DEBUG_SAVEALL: to the garbage list instead. */
static void clear_garbage_split(_tg_gchead *final)
{
    bool saveall = (_tg_gcs.debug & TG_GC_DEBUG_SAVEALL) != 0;
    for (_tg_gchead *g = (_tg_gchead *)final->gc_next; g != final; g = (_tg_gchead *)g->gc_next) {
        tg_obj *o = _tg_from_gc(g);
        const tg_type *t = o->ob_type;
        if (saveall) {
            garbage_append(o);
        } else if (t->clear) {
            bool lock = t->kind == _TG_K_LIST || t->kind == _TG_K_DICT || (t->flags & _TG_TPF_INSTANCE);
            /* Unreachable: nobody else can hold the lock, so a trylock
               (two atomics) is the common case; a critical section (which
               may block detached) only if it fails. */
            tg_critical_section cs;
            int how = !lock ? 0 : tg_mutex_trylock(&o->ob_mutex) ? 1 : (_tg_cs_begin(&cs, o, NULL), 2);
            t->clear(o);
            tg_error_clear();
            if (how == 1) tg_mutex_unlock(&o->ob_mutex);
            else if (how == 2) _tg_cs_end(&cs);
        }
    }
}

/* ---------------------------------------------------------- validation */

/* young: generations 0 and 1 may hold objects of the young and aged lists
   the collector spliced in, bits not rewritten yet (before a collection). */
static void validate_list(const _tg_gchead *h, int gen, const char *when, bool young)
{
    const _tg_gchead *prev = h;
    for (const _tg_gchead *g = (const _tg_gchead *)h->gc_next; g != h; g = (const _tg_gchead *)g->gc_next) {
        const tg_obj *o = _tg_from_gc((_tg_gchead *)g);
        uint8_t b = o->ob_gc_bits;
        if ((const _tg_gchead *)g->gc_prev != prev)
            _tg_fatal("gc: %s: generation %d list broken at %s object %p (prev link)", when, gen, o->ob_type->name, (const void *)o);
        bool spliced = young && gen <= 1 && (b & GC_TRACKED) && gc_bits_local(b) && gc_gen_of(b) == gen
                       && (b >> GC_SLOT_SHIFT);
        if (b != gc_bits_at_rest(gen) && !spliced)
            _tg_fatal("gc: %s: %s object %p in generation %d list has gc bits 0x%02x (expected 0x%02x)",
                      when, o->ob_type->name, (const void *)o, gen, b, gc_bits_at_rest(gen));
        if (o->ob_flags & _TG_OBF_DEAD)
            _tg_fatal("gc: %s: freed object %p still in generation %d", when, (const void *)o, gen);
        prev = g;
    }
    if ((const _tg_gchead *)h->gc_prev != prev)
        _tg_fatal("gc: %s: generation %d list broken at its tail", when, gen);
}

void _tg_gc_validate_all(const char *when)
{
    for (int i = 0; i <= GC_PERMANENT; i++) validate_list(&_tg_gcs.gen_head[i], i, when, false);
}

/* ---------------------------------------------------------------- main */

void _tg_gc_collect_main(int gen, intptr_t *collected, intptr_t *uncollectable, bool split, uint16_t skipped)
{
    TG_CHAOS_POINT(TG_CHAOS_SITE_GC);
    _tg_gcstate *s = &_tg_gcs;
    int old = gen < GC_NGENS - 1 ? gen + 1 : gen;
#if TG_DEBUG >= 3
    for (int i = 0; i <= GC_PERMANENT; i++) validate_list(&s->gen_head[i], i, "before collection", true);
#elif TG_DEBUG >= 2
    for (int i = 0; i <= gen; i++) validate_list(&s->gen_head[i], i, "before collection", true);
#endif
    _tg_gchead *work = &s->gen_head[gen];
    for (int i = 0; i < gen; i++) gc_list_merge(&s->gen_head[i], work);
    *collected = *uncollectable = 0;
    if (gc_list_empty(work)) goto done;

    ctx x;
    x.bias = 0;
    x.tent_flags = 0;
    x.tent_finalize = x.tent_nobulk = false;

    /* 1-2. count, classify */
    tables_for_generation(&x, gen, skipped);
    x.keep_bits = gen == GC_NGENS - 1
        ? (uint8_t)(GC_TRACKED | (2 << GC_GEN_SHIFT) | (s->parity ^ GC_PARITY))
        : gc_bits_at_rest(old);
    _tg_gchead unreach;
    gc_list_init(&unreach);
    count_refs_first(work, &x);
    size_t kept = classify(work, &unreach, &x);
    if (gen == GC_NGENS - 1) s->parity ^= GC_PARITY;   /* survivors now carry the clean parity */
    if (old != gen) gc_list_merge(work, &s->gen_head[old]);
    /* (atomic: local collections of generation 1 add to it, never during
       this pause, gc/gc.c) */
    if (gen == GC_NGENS - 2) __atomic_add_fetch(&s->long_lived_pending, (long)kept, __ATOMIC_RELAXED);
    if (gen == GC_NGENS - 1) {
        __atomic_store_n(&s->long_lived_pending, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s->long_lived_total, (long)kept, __ATOMIC_RELAXED);
    }
    if (gc_list_empty(&unreach)) goto done;

    /* Which of phases 3-6 have anything to do: for the common garbage (no
       finalizers, no weakrefs) they cost nothing. Classify noted what the
       tentative objects hold; only if that says "maybe" does a scan of the
       unreachable set say exactly. */
    size_t nunreach = x.ntent;
    bool any_legacy = false, any_weak = false, any_fin = false;
    if (x.tent_finalize || (x.tent_flags & _TG_OBF_WEAKLIST))
    for (_tg_gchead *g = (_tg_gchead *)unreach.gc_next; g != &unreach; g = (_tg_gchead *)g->gc_next) {
        tg_obj *o = _tg_from_gc(g);
        if (TG_UNLIKELY(o->ob_type->finalize)) {
            if (has_legacy_finalizer(o)) any_legacy = true;
            else any_fin = true;
        }
        if (TG_UNLIKELY(o->ob_flags & _TG_OBF_WEAKLIST)) any_weak = true;
    }

    /* 3. legacy finalizers and what they reach survive; legacy ones are garbage */
    if (any_legacy) {
        _tg_gchead fin;
        gc_list_init(&fin);
        move_legacy(&unreach, &fin);
        bool saveall = (s->debug & TG_GC_DEBUG_SAVEALL) != 0;
        for (_tg_gchead *g = (_tg_gchead *)fin.gc_next; g != &fin; g = (_tg_gchead *)g->gc_next) {
            tg_obj *o = _tg_from_gc(g);
            (*uncollectable)++;
            if (saveall || has_legacy_finalizer(o)) garbage_append(o);
        }
        nunreach -= (size_t)*uncollectable;
        list_to_generation(&fin, old);
    }

    /* 4. weakrefs: cleared now, callbacks queued until the end */
    wr_queue q = { NULL, NULL };
    if (any_weak) handle_weakrefs(&unreach, &q);

    if (split && bulk_ok(&x, any_fin, any_weak)) {
        /* Free-threaded mode, common garbage: no extra references, no
           second pause; the set is freed whole once the world runs. */
        *collected = (intptr_t)nunreach;
        _tg_gc_world_restart();
        /* The set is private now (see bulk_ok): local young collections of
           other threads may run beside the rest (gc/gc.c, local_guard_ok)
           — unless their young lists were left out of the set: its garbage
           may then refer to objects that such a collection would be
           marking, whose bits bulk_delete reads (in_garbage). */
        if (!skipped) __atomic_store_n(&_tg_gcs.locals_ok, 1, __ATOMIC_RELEASE);
        bulk_delete(&unreach, 0);
        return;
    }
    if (split) {
        /* Free-threaded mode: the rest runs with the world running (the
           order and its invariants: this file's header). */
        take_extra_refs(&unreach);
        _tg_gc_world_restart();
        _tg_gchead final;
        gc_list_init(&final);
        if (any_fin && finalize_garbage(&unreach)) {
            /* 6. the resurrection recount, with the world stopped again */
            _tg_gc_world_stop_again();
            tables_for_unreachable(&x);
            x.keep_bits = gc_bits_at_rest(old);
            x.bias = 1;                                /* the collector's reference */
            count_refs(&unreach, &x);
            classify(&unreach, &final, &x);
            nunreach = x.ntent;
            handle_weakrefs(&final, &q);               /* weakrefs the finalizers made */
            _tg_gc_world_restart();
            release_extra_refs(&unreach, old, false);  /* the resurrected */
        } else {
            gc_list_merge(&unreach, &final);
        }
        /* 7. clear; 8. callbacks */
        *collected = (intptr_t)nunreach;
#if TG_DEBUG >= 2
        if (_tg_gc_list_size(&final) != nunreach)
            _tg_fatal("gc: unreachable set has %zu objects, counted %zu", _tg_gc_list_size(&final), nunreach);
#endif
        clear_garbage_split(&final);
        release_extra_refs(&final, old, true);
        run_weakref_callbacks(&q);
        return;
    }

    /* 5. PEP 442 finalizers; 6. resurrection */
    if (any_fin && finalize_garbage(&unreach)) {
        tables_for_unreachable(&x);
        x.keep_bits = gc_bits_at_rest(old);
        _tg_gchead final;
        gc_list_init(&final);
        count_refs(&unreach, &x);
        classify(&unreach, &final, &x);
        gc_list_merge(&unreach, &s->gen_head[old]);   /* the resurrected */
        gc_list_merge(&final, &unreach);
        nunreach = x.ntent;
        handle_weakrefs(&unreach, &q);                 /* weakrefs the finalizers made */
    }

    /* 7. clear */
    *collected = (intptr_t)nunreach;
#if TG_DEBUG >= 2
    if (_tg_gc_list_size(&unreach) != nunreach)
        _tg_fatal("gc: unreachable set has %zu objects, counted %zu", _tg_gc_list_size(&unreach), nunreach);
#endif
    if (bulk_ok(&x, any_fin, any_weak)) bulk_delete(&unreach, 0);
    else delete_garbage(&unreach, old);

    /* 8. weakref callbacks */
    run_weakref_callbacks(&q);
done:
#if TG_DEBUG >= 3
    _tg_gc_validate_all("after collection");
#endif
    if (split) _tg_gc_world_restart();
}

/* ------------------------------------ free-threaded mode: local collections

   One thread collects its own young list — or, for generation 1, its young
   and aged lists — while the other threads run: no stop-the-world
   (docs/gc.md, "Local collections"; gc/gc.c decides when, and does the
   counts, stats and callbacks). Why the set cannot change under the
   collecting thread T:

   - T holds every object biased to it (_tg_bias_hold_all) for the whole
     examination. Every member must be T's own (ob_tid), in biased-count
     state BIASED, and — for a list, dict or plain object — keep its lock
     bias: another thread can then change or read its contents only after
     revoking that bias, and a revoker waits while T holds. Dekker order:
     the hold is published first, the walk reads each lock byte after it;
     a revoker sets REVOKING, runs membarrier() and then reads T's slot —
     either the walk sees REVOKING (not eligible), or the revoker sees the
     hold and waits until T releases it.
   - Counts may still change: other threads' increfs and decrefs of objects
     they hold references to. A member's gc_refs is read once, atomically
     (local + shared; any state but BIASED counts as referenced from
     outside). What the members refer to cannot change, so gc_refs = the
     references from outside the set at the moment of that read. A new
     outside reference to a member can only be copied from another outside
     reference to it, or read out of a container that holds it: a member
     list, dict or object cannot be read (bias), so only a member tuple —
     whose items any thread may read without a lock at any time. Tuples
     are therefore treated as referenced from outside (local_count_copy):
     they and all they reach survive (young: into the aged list), and a
     collection of generation 1 whose set holds a tuple is not local at
     all: it stops the world, so tuple cycles are found by generation-1
     collections as in GIL mode. So a member found with no outside
     reference never gets one, and a set with none from outside (the
     garbage) is private to T from then on.
   - Only T writes the gc heads and bits of T's young and aged objects; a
     child owned by another thread is outside the set and its bits are not
     read (refs_dec_local, mark_child_local, in_garbage).
   - Embedder GC types (mutable without a runtime call), finalizers,
     weakrefs, hot or merged counts, immortal objects: not eligible, the
     caller falls back to collecting with the world stopped.
   - Generation 1 only: a member that refers to another thread's container
     makes the collection not eligible (a cycle through two threads' objects
     is found by the collection of generation 1 that stops the world, as in
     GIL mode, not left to the next full collection).

   The hold is released before anything is freed: freeing drops references
   to outside objects, whose deallocation may run any code, which must not
   run while revokers wait on T. Returns false (nothing changed: both lists
   as they were) when not eligible; else the survivors are on the aged list
   (gen 0) or in generation 2 (gen 1) and *collected says how many objects
   were freed. */

TG_INTERNAL void (*_tg_gc_local_hook)(void);

static inline intptr_t local_count_copy(const tg_obj *o)
{
    if (o->ob_type == &_tg_tuple_type) return INTPTR_MAX / 2;     /* readable by anyone: see above */
    uint32_t local = __atomic_load_n(&o->ob_ref_local, __ATOMIC_RELAXED);
    intptr_t s = __atomic_load_n(&o->ob_ref_shared, __ATOMIC_RELAXED);
    if (TG_UNLIKELY(local == _TG_IMMORTAL_LOCAL || (s & 3) != _TG_REF_BIASED)) return INTPTR_MAX / 2;
    return (intptr_t)local + (s >> 2);
}

/* Each member: T's own, at rest on T's list (young: rest; aged: arest, 0
   for a young collection), of a type whose contents only T can reach while
   T holds its biases; no tuple in a collection of generation 1 (see
   above). Called after _tg_bias_hold_all. */
/* The part of a local collection's eligibility that depends on the object
   alone (local_member_ok, local_eligible): a type a local collection
   handles (no tuple in a generation-1 set), no finalizer or weakref, not
   immortal, counts still biased, and — for types with a lock — the bias
   standing. */
static inline bool local_kind_ok(const tg_obj *o, bool no_tuples)
{
    const tg_type *t = o->ob_type;
    bool lock;
    if (t == &_tg_tuple_type) {
        if (no_tuples) return false;
        lock = false;
    }
    else if (t == &_tg_list_type || t == &_tg_dict_type || t == &_tg_object_type) lock = true;
    else return false;
    if (t->finalize || (o->ob_flags & _TG_OBF_WEAKLIST)) return false;
    if (__atomic_load_n(&o->ob_ref_local, __ATOMIC_RELAXED) == _TG_IMMORTAL_LOCAL) return false;
    if ((__atomic_load_n(&o->ob_ref_shared, __ATOMIC_RELAXED) & 3) != _TG_REF_BIASED) return false;
    /* after the hold: pairs with the revoker's REVOKING and membarrier() */
    return !lock || !(__atomic_load_n(&o->ob_mutex.v, _TG_BIAS_ORDER) & _TG_BIAS_OFF);
}

/* A local collection of generation 0 untracks tuples of atoms too, as
   count_refs_first does: every item an atom, or a tuple of the calling
   thread's that is untracked (by this walk, for a tree built children
   first). Another thread's tuple counts as tracked: its owner's local
   collection may be writing its bits. (Without this, binary-trees in
   free-threaded mode kept every tuple tracked through the young and aged
   lists, and each aged tuple sent generation 1 to a stop-the-world
   collection: 2.4x the collector's time of GIL mode; docs/PERFORMANCE.md.)
   The tuple itself is T's, at rest on T's list (local_member_ok): only T
   writes its bits and links while T runs. */
static inline bool local_tuple_of_atoms(const tg_obj *o, uintptr_t me)
{
    const _tg_tuple *tu = (const _tg_tuple *)o;
    for (size_t i = 0, n = tu->n; i < n; i++) {
        const tg_obj *c = tu->items[i];
        if (!c) return false;                   /* being filled: kept, as CPython keeps it */
        if (!_tg_is_gc(c)) continue;
        if (_tg_kind_of(c) != _TG_K_TUPLE || __atomic_load_n(&c->ob_tid, __ATOMIC_RELAXED) != me
            || (c->ob_gc_bits & GC_TRACKED))
            return false;
    }
    return true;
}

static inline bool local_member_ok(const tg_obj *o, uintptr_t me, uint8_t rest, uint8_t arest)
{
    if (__atomic_load_n(&o->ob_tid, __ATOMIC_RELAXED) != me) return false;
    /* at rest, or given its gc_refs already by a parent in this walk */
    uint8_t b = o->ob_gc_bits;
    if (b != rest && (!arest || b != arest) && b != (GC_TRACKED | GC_REFS)) return false;   /* (a zombie: not tracked) */
    return local_kind_ok(o, arest != 0);
}

/* Phase 1 of a local collection, with the eligibility test folded in: each
   member is tested when the walk reaches it, before its contents are read
   (a parent may already have read its count and set its bits). False: one
   is not eligible; local_undo puts the lists back as they were. strict:
   generation 1 (arest != 0), where a reference to another thread's
   container is not eligible either. */
static inline __attribute__((always_inline))
bool count_refs_local_impl(_tg_gchead *list, ctx *x, uint8_t rest, uint8_t arest, bool strict)
{
    _tg_gchead *prev = list, *g;
    for (g = (_tg_gchead *)list->gc_next; g != list; prev = g, g = (_tg_gchead *)g->gc_next) {
        tg_obj *o = _tg_from_gc(g);
        __builtin_prefetch((const void *)g->gc_next);
        if (TG_UNLIKELY(!local_member_ok(o, x->tid, rest, arest))) return false;
        if (!strict && o->ob_type == &_tg_tuple_type && local_tuple_of_atoms(o, x->tid)) {
            /* untracked, as count_refs_first does (a failed collection
               leaves it so: local_undo walks the forward chain) */
            g = untrack_in_walk(list, prev, g);
            continue;
        }
        uint8_t b = o->ob_gc_bits;
        if (b == rest || (strict && b == arest)) {
            g->gc_prev = (uintptr_t)local_count_copy(o);
            o->ob_gc_bits = (uint8_t)(GC_TRACKED | GC_REFS);
        }
        if (strict) for_each_child(o, x, refs_dec_local1, visit_refs_dec_local1);
        else for_each_child(o, x, refs_dec_local, visit_refs_dec_local);
    }
    return !(strict && x->foreign);
}
static bool count_refs_local_checked(_tg_gchead *list, ctx *x, uint8_t rest, uint8_t arest)
{
    return arest ? count_refs_local_impl(list, x, rest, arest, true)
                 : count_refs_local_impl(list, x, rest, 0, false);
}

/* After a failed count_refs_local_checked: the bits it (or a parent's
   visit) set go back to rest — arest from first_aged on, where the aged
   list was appended to the young one —, the prev links are rebuilt (phase
   1 only wrote gc_prev and bits; the forward chain is intact), and the
   aged part goes back to its own list. Only the thread's own objects'
   bits are read. */
static void local_undo(_tg_gchead *list, uintptr_t me, uint8_t rest, _tg_gchead *first_aged, uint8_t arest,
                       _tg_gchead *aged)
{
    _tg_gchead *prev = list;
    uint8_t r = rest;
    for (_tg_gchead *g = (_tg_gchead *)list->gc_next; g != list; prev = g, g = (_tg_gchead *)g->gc_next) {
        tg_obj *o = _tg_from_gc(g);
        if (g == first_aged) r = arest;
        if (__atomic_load_n(&o->ob_tid, __ATOMIC_RELAXED) == me && o->ob_gc_bits == (GC_TRACKED | GC_REFS))
            o->ob_gc_bits = r;
        g->gc_prev = (uintptr_t)prev;
    }
    list->gc_prev = (uintptr_t)prev;
    if (first_aged) gc_list_move_from(list, first_aged, aged);   /* split: [first_aged, tail] back to aged */
}

static bool local_eligible(_tg_gchead *list, uintptr_t me, uint8_t rest, bool gen1)
{
    for (_tg_gchead *g = (_tg_gchead *)list->gc_next; g != list; g = (_tg_gchead *)g->gc_next) {
        tg_obj *o = _tg_from_gc(g);
        if (__atomic_load_n(&o->ob_tid, __ATOMIC_RELAXED) != me) return false;
        if (o->ob_gc_bits != rest) return false;             /* (a zombie: not tracked) */
        if (!local_kind_ok(o, gen1)) return false;
    }
    return true;
}

bool _tg_gc_local_eligible_hint(_tg_gchead *young, _tg_gchead *aged, uint8_t slot, int gen)
{
    uintptr_t me = _tg_tls_tid;
    return local_eligible(young, me, gc_bits_young(slot), gen > 0)
           && (gen == 0 || local_eligible(aged, me, gc_bits_aged(slot), true));
}

/* Membership of a local collection of slot's young list (arest 0) or of
   its young and aged lists: at rest on them, or in one of the collection's
   states (gen 0 bits without GC_LOCAL, which no other object of T carries
   meanwhile: T's other young and aged objects are all in the set — or,
   aged ones in a young collection, have gen 1 | GC_LOCAL bits —, its old
   ones have their generation's bits). */
typedef struct local_tables { uint8_t member[256], fresh[256], markable[256]; } local_tables;
_Static_assert(offsetof(ctx, fresh) == offsetof(ctx, member) + 256
               && offsetof(ctx, markable) == offsetof(ctx, fresh) + 256, "ctx: the three tables in a row");

static void tables_for_local(local_tables *x, uint8_t rest, uint8_t arest)
{
    for (int b = 0; b < 256; b++) {
        bool state = (b & GC_TRACKED) && gc_gen_of((uint8_t)b) == 0 && !(b & GC_LOCAL)
                     && (b & (GC_REFS | GC_REACH | GC_UNREACH | GC_TENT));
        bool at_rest = b == rest || (arest && b == arest);
        bool m = at_rest || state;
        x->member[b] = m;
        x->fresh[b] = at_rest ? (uint8_t)(GC_TRACKED | GC_REFS) : 0;
        x->markable[b] = m && !(b & GC_REACH);
    }
}

/* The tables of every slot's local collections of generations 0 and 1,
   built once: they depend on the slot alone, and building them (768
   bytes, 256 steps) was a fixed cost of every local collection —
   several per cent of scale_cycles, whose collections are small. A local
   collection copies its pair into its ctx. */
static local_tables local_tabs[GC_NSLOTS][2];

void _tg_gc_local_tables_init(void)
{
    for (unsigned slot = 1; slot < GC_NSLOTS; slot++) {
        tables_for_local(&local_tabs[slot][0], gc_bits_young(slot), 0);
        tables_for_local(&local_tabs[slot][1], gc_bits_young(slot), gc_bits_aged(slot));
    }
}

/* A local collection of generation 1: a mark between the young and the
   aged part of the work list — an empty list of no thread, reachable
   (GC_REACH), which classify keeps like any survivor and relinks in walk
   order. Survivors are relinked in the order walked and the walk takes the
   list in order (only objects already walked go to tent, and those it
   takes back go to the end), so the survivors before the mark are the
   young ones; classify itself is left as it was. Inserted after the count
   walk: gc_prev then holds the members' counts, and only gc_next links. */
typedef struct local_mark { _tg_gchead gc; _tg_list l; } local_mark;
_Static_assert(offsetof(local_mark, l) == sizeof(_tg_gchead), "the mark's header precedes it");

static void local_mark_insert(local_mark *m, _tg_gchead *first_aged)
{
    _tg_gchead *young_tail = (_tg_gchead *)m->gc.gc_prev;   /* noted before the merge */
    memset(m, 0, sizeof *m);
    m->l.base.ob_type = &_tg_list_type;
    m->l.base.ob_gc_bits = GC_TRACKED | GC_REACH;
    m->gc.gc_prev = 1;
    m->gc.gc_next = (uintptr_t)first_aged;
    young_tail->gc_next = (uintptr_t)&m->gc;
}

/* After classify (generation 1): the young survivors — those before the
   mark, or all of them if there was no aged part — get the aged list's
   bits (they were given generation 2's, outside the set, by the walk);
   the mark is unlinked and not counted. Returns their number; *ylast is
   the last of them (young itself: none), *tuple whether one is a tuple.
   Out of line: the walk inlined into the caller keeps its registers. */
static TG_NOINLINE size_t local_young_back(_tg_gchead *young, local_mark *m, uint8_t slot, _tg_gchead **ylast,
                                           size_t *kept, bool *tuple)
{
    uint8_t ab = gc_bits_aged(slot);
    bool yt = false;
    size_t n = 0;
    _tg_gchead *last = young, *g = (_tg_gchead *)young->gc_next;
    for (; g != young && g != &m->gc; g = (_tg_gchead *)g->gc_next) {
        tg_obj *o = _tg_from_gc(g);
        o->ob_gc_bits = ab;
        yt |= o->ob_type == &_tg_tuple_type;
        last = g;
        n++;
    }
    if (g == &m->gc) {                  /* unlinked: the rest go to generation 2 */
        _tg_gchead *next = (_tg_gchead *)m->gc.gc_next;
        last->gc_next = (uintptr_t)next;
        next->gc_prev = (uintptr_t)last;
        (*kept)--;
    }
    *ylast = last;
    *tuple = yt;                        /* what the aged list now holds */
    return n;
}

bool _tg_gc_collect_local_main(_tg_gchead *young, _tg_gchead *aged, uint8_t slot, int gen, intptr_t *collected,
                               bool *kept_tuple)
{
    uintptr_t me = _tg_tls_tid;
    uint8_t rest = gc_bits_young(slot), arest = gen ? gc_bits_aged(slot) : 0;
    *collected = 0;
    /* generation 1: one work list, the aged part at its tail (split again
       if not eligible). Both lists are T's own: no other thread links. */
    _tg_gchead *first_aged = NULL;
    local_mark mark;
    if (gen && !gc_list_empty(aged)) {
        first_aged = (_tg_gchead *)aged->gc_next;
        mark.gc.gc_prev = young->gc_prev;    /* the young part's last (or young itself) */
        gc_list_merge(aged, young);
    }
    _tg_bias_hold_all();
    /* ---- held: no safepoint, no blocking, no allocation until the release */
    ctx x;
    x.bias = 0;
    x.tid = me;
    x.foreign = false;
    x.tent_flags = 0;
    x.tent_finalize = x.tent_nobulk = false;
    /* survivors: young -> T's aged list; aged -> generation 2 (its parity
       cannot change: a full collection stops the world, which waits for the
       end of this examination). A young survivor of generation 1 goes back
       to the aged list too: it was in flight when the round came (the
       operation that made it was still running) more often than
       long-lived, and if it dies in a cycle the next round frees it here,
       where in generation 2 it would wait for a full collection, which
       stops the world. An object is promoted after two rounds, not one.
       The walk gives every survivor bits outside the set — generation 2's;
       the young ones get aged bits afterwards (aged bits are members of a
       collection of generation 1). */
    x.keep_bits = gen ? gc_bits_at_rest(2) : gc_bits_aged(slot);
    memcpy(x.member, &local_tabs[slot][gen ? 1 : 0], sizeof(local_tables));
    if (!count_refs_local_checked(young, &x, rest, arest)) {
        local_undo(young, me, rest, first_aged, arest, aged);
        _tg_bias_release_all();
        return false;
    }
    TG_CHAOS_POINT(TG_CHAOS_SITE_GC);
    if (_tg_gc_local_hook) _tg_gc_local_hook();
    _tg_gchead unreach;
    gc_list_init(&unreach);
    if (first_aged) local_mark_insert(&mark, first_aged);
    size_t kept = classify_local(young, &unreach, &x);
    _tg_gchead *ylast = young;          /* generation 1: the last young survivor */
    size_t ykept = 0;
    if (gen) ykept = local_young_back(young, &mark, slot, &ylast, &kept, &x.kept_tuple);
    *kept_tuple = x.kept_tuple;
    /* lists and tuples only: freed whole; else (dicts, objects) cleared one
       by one, which may free members early: the extra reference keeps each
       alive until it is in an older generation (release_extra_refs) */
    bool bulk = !x.tent_nobulk;
    if (!bulk) take_extra_refs(&unreach);
    TG_CHAOS_POINT(TG_CHAOS_SITE_GC);
    _tg_bias_release_all();
    /* ---- released */
    if (gen == 0) {
        gc_list_merge(young, aged);                          /* survivors: T's own aged list */
    } else {
        /* still no safepoint: a collection of the generations cannot start
           before the survivors are in generation 2 and counted. The old
           ones (after ylast) to generation 2, the young ones to T's aged
           list. */
        _tg_gc_track_lock();
        _tg_gchead *t0 = (_tg_gchead *)ylast->gc_next;
        if (t0 != young) {
            gc_list_move_from(young, t0, &_tg_gcs.gen_head[2]);
            __atomic_add_fetch(&_tg_gcs.long_lived_pending, (long)(kept - ykept), __ATOMIC_RELAXED);
        }
        gc_list_merge(young, aged);
        _tg_gc_track_unlock();
    }
    *collected = (intptr_t)x.ntent;
    if (gc_list_empty(&unreach)) return true;
    if (bulk) {
        bulk_delete(&unreach, me);
    } else {
        clear_garbage_split(&unreach);
        release_extra_refs(&unreach, gen + 1, true);
    }
    return true;
}
