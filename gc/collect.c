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
 *                with "refcount too small", naming the object.
 *   2. classify  One walk. An object with gc_refs > 0 is a root: it and all
 *                it reaches are marked (explicit stack, no recursion). Marked
 *                objects stay where they are — the walk relinks them in place
 *                and rewrites their bits to the generation they are promoted
 *                to, which also takes them out of the set; unmarked objects go
 *                to a tentative list. Tentative objects marked later (a root
 *                further down the list reaches them) rejoin the survivors;
 *                the rest is the unreachable set. Survivors move up one
 *                generation in O(1) (a list splice).
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
 *                list instead.
 *   8. callbacks The queued weakref callbacks run: everything in the garbage
 *                is gone, every weakref to it reads None.
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
#include <stdio.h>
#include "gc/gc_internal.h"

/* Initial mark stack: 8192 entries (64 KiB), doubled as needed; kept between
   collections. */
#define GC_STACK_INITIAL 8192

typedef struct ctx {
    uint8_t  member[256];      /* bits -> in the set */
    uint8_t  markable[256];    /* bits -> in the set and not yet marked */
    uint8_t  keep_bits;        /* bits of a survivor */
    tg_obj **stack;
    size_t   sp, cap;
    bool     overflow;         /* a mark could not be pushed (GC_PENDING) */
} ctx;

/* --------------------------------------------------------------- helpers */

/* The count an object starts with in phase 1. The one place that reads
   counts: free-threaded mode adapts it (merged biased counts). */
static inline intptr_t gc_count_copy(const tg_obj *o)
{
    uint32_t local = __atomic_load_n(&o->ob_ref_local, __ATOMIC_RELAXED);
    if (TG_UNLIKELY(local == _TG_IMMORTAL_LOCAL)) return INTPTR_MAX / 2;
    return (intptr_t)local + (__atomic_load_n(&o->ob_ref_shared, __ATOMIC_RELAXED) >> 2);
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

static inline __attribute__((always_inline)) void refs_dec(tg_obj *c, ctx *x)
{
    uint8_t b = c->ob_gc_bits;
    if (!x->member[b]) return;
    _tg_gchead *g = _tg_as_gc(c);
    intptr_t r;
    if (b & GC_REFS) {
        r = (intptr_t)g->gc_prev;
    } else {
        r = gc_count_copy(c);
        c->ob_gc_bits = (uint8_t)(b | GC_REFS);
    }
    if (TG_UNLIKELY(--r < 0)) refcount_too_small(c);
    g->gc_prev = (uintptr_t)r;
}
static int visit_refs_dec(tg_obj *c, void *x) { refs_dec(c, x); return 0; }

/* gc_refs of every member of list = count - references from the set. */
static void count_refs(_tg_gchead *list, ctx *x)
{
    for (_tg_gchead *g = (_tg_gchead *)list->gc_next; g != list; g = (_tg_gchead *)g->gc_next) {
        tg_obj *o = _tg_from_gc(g);
        __builtin_prefetch((const void *)g->gc_next);
        if (!(o->ob_gc_bits & GC_REFS)) {
            g->gc_prev = (uintptr_t)gc_count_copy(o);
            o->ob_gc_bits |= GC_REFS;
        }
        for_each_child(o, x, refs_dec, visit_refs_dec);
    }
}

/* ----------------------------------------------------- phase 2: classify */

static TG_NOINLINE bool stack_grow(ctx *x)
{
    size_t cap = x->cap ? 2 * x->cap : GC_STACK_INITIAL;
    tg_obj **s = realloc(x->stack, cap * sizeof *s);
    if (!s) return false;
    x->stack = s;
    x->cap = cap;
    _tg_gcs.stack = s;
    _tg_gcs.stack_cap = cap;
    return true;
}

static inline __attribute__((always_inline)) void mark_child(tg_obj *c, ctx *x)
{
    uint8_t b = c->ob_gc_bits;
    if (!x->markable[b]) return;
    if (TG_UNLIKELY(x->sp == x->cap) && !stack_grow(x)) {
        /* No memory for the stack: remember the object, scan it later. */
        c->ob_gc_bits = (uint8_t)(b | GC_REACH | GC_PENDING);
        x->overflow = true;
        return;
    }
    c->ob_gc_bits = (uint8_t)(b | GC_REACH);
    x->stack[x->sp++] = c;
}
static int visit_mark(tg_obj *c, void *x) { mark_child(c, x); return 0; }

/* Scan o (already marked) and everything it reaches that is unmarked. */
static void mark_from(tg_obj *o, ctx *x)
{
    for_each_child(o, x, mark_child, visit_mark);
    while (x->sp) {
        tg_obj *p = x->stack[--x->sp];
        if (x->sp) __builtin_prefetch(x->stack[x->sp - 1]);
        for_each_child(p, x, mark_child, visit_mark);
    }
}

/* Split list into survivors (left in list, relinked, bits = keep_bits) and
   the unreachable (moved to unreach, bits = TRACKED | UNREACH). Returns the
   number of survivors. */
static size_t classify(_tg_gchead *list, _tg_gchead *unreach, ctx *x)
{
    _tg_gchead tent;
    gc_list_init(&tent);
    size_t kept = 0;
    _tg_gchead *last = list;
    _tg_gchead *g = (_tg_gchead *)list->gc_next;
    while (g != list) {
        _tg_gchead *next = (_tg_gchead *)g->gc_next;
        tg_obj *o = _tg_from_gc(g);
        __builtin_prefetch(next);
        uint8_t b = o->ob_gc_bits;
        if (!(b & GC_REACH)) {
            if ((intptr_t)g->gc_prev <= 0) {
                gc_list_append(g, &tent);       /* tentatively unreachable */
                g = next;
                continue;
            }
            o->ob_gc_bits = (uint8_t)(b | GC_REACH);
            mark_from(o, x);
        } else if (TG_UNLIKELY(b & GC_PENDING)) {
            o->ob_gc_bits = (uint8_t)(b & ~GC_PENDING);
            mark_from(o, x);
        }
        /* A survivor: relink in place; the new bits take it out of the set. */
        o->ob_gc_bits = x->keep_bits;
        g->gc_prev = (uintptr_t)last;
        last->gc_next = (uintptr_t)g;
        last = g;
        kept++;
        g = next;
    }
    last->gc_next = (uintptr_t)list;
    list->gc_prev = (uintptr_t)last;

    /* Marks that could not be pushed: only tentative objects can carry them
       now (survivors are out of the set). */
    while (TG_UNLIKELY(x->overflow)) {
        x->overflow = false;
        for (g = (_tg_gchead *)tent.gc_next; g != &tent; g = (_tg_gchead *)g->gc_next) {
            tg_obj *o = _tg_from_gc(g);
            if (o->ob_gc_bits & GC_PENDING) {
                o->ob_gc_bits = (uint8_t)(o->ob_gc_bits & ~GC_PENDING);
                mark_from(o, x);
            }
        }
    }

    /* Tentative objects marked after the walk passed them rejoin the
       survivors; the rest is unreachable. */
    g = (_tg_gchead *)tent.gc_next;
    while (g != &tent) {
        _tg_gchead *next = (_tg_gchead *)g->gc_next;
        tg_obj *o = _tg_from_gc(g);
        if (o->ob_gc_bits & GC_REACH) {
            o->ob_gc_bits = x->keep_bits;
            gc_list_move(g, list);
            kept++;
        } else {
            o->ob_gc_bits = GC_TRACKED | GC_UNREACH;
        }
        g = next;
    }
    gc_list_merge(&tent, unreach);
    return kept;
}

/* Membership of the set for a collection of generations 0..gen: tracked, of
   such a generation, and (generation 2) of the clean parity — survivors of
   this collection carry the other parity, which takes them out. */
static void tables_for_generation(ctx *x, int gen)
{
    for (int b = 0; b < 256; b++) {
        int g = gc_gen_of((uint8_t)b);
        bool m = (b & GC_TRACKED) && g <= gen && (g < 2 || (b & GC_PARITY) == _tg_gcs.parity);
        x->member[b] = m;
        x->markable[b] = m && !(b & GC_REACH);
    }
}

/* Membership of the unreachable set (phase 6). */
static void tables_for_unreachable(ctx *x)
{
    for (int b = 0; b < 256; b++) {
        bool m = (b & GC_UNREACH) != 0;
        x->member[b] = m;
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
    if (c->ob_gc_bits & GC_UNREACH) {
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

/* ---------------------------------------------------------- validation */

static void validate_list(const _tg_gchead *h, int gen, const char *when)
{
    const _tg_gchead *prev = h;
    for (const _tg_gchead *g = (const _tg_gchead *)h->gc_next; g != h; g = (const _tg_gchead *)g->gc_next) {
        const tg_obj *o = _tg_from_gc((_tg_gchead *)g);
        uint8_t b = o->ob_gc_bits;
        if ((const _tg_gchead *)g->gc_prev != prev)
            _tg_fatal("gc: %s: generation %d list broken at %s object %p (prev link)", when, gen, o->ob_type->name, (const void *)o);
        if (b != gc_bits_at_rest(gen))
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
    for (int i = 0; i <= GC_PERMANENT; i++) validate_list(&_tg_gcs.gen_head[i], i, when);
}

/* ---------------------------------------------------------------- main */

void _tg_gc_collect_main(int gen, intptr_t *collected, intptr_t *uncollectable)
{
    _tg_gcstate *s = &_tg_gcs;
    int old = gen < GC_NGENS - 1 ? gen + 1 : gen;
#if TG_DEBUG >= 3
    _tg_gc_validate_all("before collection");
#elif TG_DEBUG >= 2
    for (int i = 0; i <= gen; i++) validate_list(&s->gen_head[i], i, "before collection");
#endif
    _tg_gchead *work = &s->gen_head[gen];
    for (int i = 0; i < gen; i++) gc_list_merge(&s->gen_head[i], work);
    *collected = *uncollectable = 0;
    if (gc_list_empty(work)) return;

    ctx x;
    x.stack = s->stack;
    x.cap = s->stack_cap;
    x.sp = 0;
    x.overflow = false;

    /* 1-2. count, classify */
    tables_for_generation(&x, gen);
    x.keep_bits = gen == GC_NGENS - 1
        ? (uint8_t)(GC_TRACKED | (2 << GC_GEN_SHIFT) | (s->parity ^ GC_PARITY))
        : gc_bits_at_rest(old);
    _tg_gchead unreach;
    gc_list_init(&unreach);
    count_refs(work, &x);
    size_t kept = classify(work, &unreach, &x);
    if (gen == GC_NGENS - 1) s->parity ^= GC_PARITY;   /* survivors now carry the clean parity */
    if (old != gen) gc_list_merge(work, &s->gen_head[old]);
    if (gen == GC_NGENS - 2) s->long_lived_pending += (long)kept;
    if (gen == GC_NGENS - 1) { s->long_lived_pending = 0; s->long_lived_total = (long)kept; }
    if (gc_list_empty(&unreach)) goto done;

    /* 3. legacy finalizers and what they reach survive; legacy ones are garbage */
    _tg_gchead fin;
    gc_list_init(&fin);
    move_legacy(&unreach, &fin);
    if (!gc_list_empty(&fin)) {
        bool saveall = (s->debug & TG_GC_DEBUG_SAVEALL) != 0;
        for (_tg_gchead *g = (_tg_gchead *)fin.gc_next; g != &fin; g = (_tg_gchead *)g->gc_next) {
            tg_obj *o = _tg_from_gc(g);
            (*uncollectable)++;
            if (saveall || has_legacy_finalizer(o)) garbage_append(o);
        }
        list_to_generation(&fin, old);
    }

    /* 4. weakrefs: cleared now, callbacks queued until the end */
    wr_queue q = { NULL, NULL };
    handle_weakrefs(&unreach, &q);

    /* 5. PEP 442 finalizers; 6. resurrection */
    if (finalize_garbage(&unreach)) {
        tables_for_unreachable(&x);
        x.keep_bits = gc_bits_at_rest(old);
        _tg_gchead final;
        gc_list_init(&final);
        count_refs(&unreach, &x);
        classify(&unreach, &final, &x);
        gc_list_merge(&unreach, &s->gen_head[old]);   /* the resurrected */
        gc_list_merge(&final, &unreach);
        handle_weakrefs(&unreach, &q);                 /* weakrefs the finalizers made */
    }

    /* 7. clear */
    *collected = (intptr_t)_tg_gc_list_size(&unreach);
    delete_garbage(&unreach, old);

    /* 8. weakref callbacks */
    run_weakref_callbacks(&q);
done:
#if TG_DEBUG >= 3
    _tg_gc_validate_all("after collection");
#endif
    return;
}
