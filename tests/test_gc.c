/*
 * tests/test_gc.c — the cycle collector (gc/), after CPython's test_gc.py and
 * the collection parts of test_copy.py: cycles of every container, reachable
 * versus unreachable, counts and generations, legacy finalizers and garbage,
 * thresholds and automatic collection, freeze, callbacks, stats,
 * introspection, DEBUG_SAVEALL, re-entrancy, and the "refcount too small"
 * check. Each test runs tg_init/tg_fini itself; TG_END checks for leaks.
 */
#include "tg_test.h"
#include "gc_common.h"

/* ------------------------------------------------------------- helpers */

static tg_obj *self_list(void)
{
    tg_obj *l = OK(tg_list_new(0));
    cr_assert_eq(tg_list_append(l, l), 0);
    return l;
}

/* A ring of n one-element lists, each holding the next. Returns node 0. */
static tg_obj *ring(size_t n)
{
    tg_obj *first = OK(tg_list_new(1)), *prev = first;
    for (size_t i = 1; i < n; i++) {
        tg_obj *l = OK(tg_list_new(1));
        cr_assert_eq(tg_list_append(prev, l), 0);
        if (prev != first) tg_decref(prev);
        prev = l;
    }
    cr_assert_eq(tg_list_append(prev, first), 0);
    if (prev != first) tg_decref(prev);
    return first;
}

static int list_contains(tg_obj *list, tg_obj *o)
{
    size_t n = tg_list_len(list);
    for (size_t i = 0; i < n; i++) {
        tg_obj *x = tg_list_get(list, (ptrdiff_t)i);
        tg_decref(x);
        if (x == o) return 1;
    }
    return 0;
}

static int in_generation(tg_obj *o, int gen)
{
    tg_obj *l = OK(tg_gc_get_objects(gen));
    int r = list_contains(l, o);
    tg_decref(l);
    return r;
}

/* An embedder container: one slot, traversed and cleared. */
typedef struct { tg_obj *slot; } box;
static int box_traverse(tg_obj *self, tg_visitproc visit, void *arg)
{
    box *b = tg_payload(self);
    return b->slot ? visit(b->slot, arg) : 0;
}
static void box_clear(tg_obj *self)
{
    box *b = tg_payload(self);
    tg_obj *o = b->slot;
    b->slot = NULL;
    tg_xdecref(o);
}
static tg_type *box_type(void)
{
    tg_type_spec s = { .name = "box", .payload_size = sizeof(box), .flags = TG_TYPE_GC,
                       .traverse = box_traverse, .clear = box_clear };
    tg_type *t = tg_type_new(&s);
    cr_assert_not_null(t);
    return t;
}
static void box_set(tg_obj *b, tg_obj *v) { tg_incref(v); ((box *)tg_payload(b))->slot = v; }

/* A type with a legacy finalizer (CPython's __del__ before 3.4, tp_del). */
static int legacy_calls;
static void legacy_del(tg_obj *self) { (void)self; legacy_calls++; }
static tg_type *legacy_type(void)
{
    tg_type_spec s = { .name = "Legacy", .flags = TG_TYPE_GC | TG_TYPE_LEGACY_DEL, .finalize = legacy_del };
    tg_type *t = tg_type_new(&s);
    cr_assert_not_null(t);
    return t;
}

/* --------------------------------------------------- cycles of each kind */

Test(gc, list_self_cycle)
{
    TG_START();
    tg_gc_collect(-1);
    size_t base = tg_live_objects();
    tg_decref(self_list());
    cr_assert_eq(tg_live_objects(), base + 1, "refcounting alone cannot free a cycle");
    cr_assert_eq(tg_gc_collect(-1), 1);
    cr_assert_eq(tg_live_objects(), base);
    TG_END();
}

Test(gc, dict_self_cycle)
{
    TG_START();
    tg_gc_collect(-1);
    tg_obj *d = OK(tg_dict_new()), *k = OK(tg_int(1));
    cr_assert_eq(tg_dict_set(d, k, d), 0);
    tg_decref(k);
    tg_decref(d);
    cr_assert_eq(tg_gc_collect(-1), 1);
    TG_END();
}

Test(gc, tuple_cycle_through_list)
{
    TG_START();
    tg_gc_collect(-1);
    tg_obj *l = OK(tg_list_new(0)), *t = OK(tg_tuple(1, l));
    cr_assert_eq(tg_list_append(l, t), 0);
    tg_decref(t);
    tg_decref(l);
    cr_assert_eq(tg_gc_collect(-1), 2);
    TG_END();
}

Test(gc, tuples_of_atoms_are_untracked_by_a_collection)
{
    TG_START();
    /* (1, 'a') is tracked at birth and untracked by the next collection;
       ((1, 'a'), (2.0, None)) goes in the same walk (children come first);
       a tuple holding a list stays tracked, and so does its cycle. */
    tg_obj *one = OK(tg_int(1)), *a = OK(tg_str("a")), *f = OK(tg_float(2.0));
    tg_obj *t1 = OK(tg_tuple(2, one, a)), *t2 = OK(tg_tuple(2, f, tg_none()));
    tg_obj *outer = OK(tg_tuple(2, t1, t2));
    tg_obj *l = OK(tg_list_new(0)), *tl = OK(tg_tuple(1, l));
    cr_assert(tg_gc_is_tracked(t1) && tg_gc_is_tracked(outer) && tg_gc_is_tracked(tl));
    tg_gc_collect(0);
    cr_assert_not(tg_gc_is_tracked(t1));
    cr_assert_not(tg_gc_is_tracked(t2));
    cr_assert_not(tg_gc_is_tracked(outer), "a tuple of untracked tuples is untracked in the same walk");
    cr_assert(tg_gc_is_tracked(tl), "a tuple holding a list may join a cycle later");
    cr_assert_eq(tg_list_append(l, tl), 0);               /* l -> tl -> l */
    tg_decref(tl);
    tg_decref(l);
    cr_assert_eq(tg_gc_collect(-1), 2);
    tg_decref(outer); tg_decref(t1); tg_decref(t2);
    tg_decref(one); tg_decref(a); tg_decref(f);
    TG_END();
}

Test(gc, tuples_of_atoms_are_untracked_before_classification)
{
    TG_START();
    tg_gc_collect(-1);
    /* The count walk untracks a tuple of atoms when it meets it, before
       anything is classified: held by garbage, it is freed with its cycle
       but not counted (CPython 3.11 counts it: it untracks the survivors
       only, after classification). */
    tg_obj *l = OK(tg_list_new(0)), *one = OK(tg_int(1)), *a = OK(tg_str("a"));
    tg_obj *t = OK(tg_tuple(2, one, a));
    tg_obj *outer = OK(tg_tuple(1, t));
    cr_assert_eq(tg_list_append(l, l), 0);
    cr_assert_eq(tg_list_append(l, outer), 0);
    tg_decref(outer); tg_decref(t); tg_decref(l);
    cr_assert_eq(tg_gc_collect(-1), 1, "the list; both tuples were untracked first");
    /* A tuple of atoms whose only referrer comes later in the list, and
       one that is last in the list (the list's tail moves). */
    tg_obj *t2 = OK(tg_tuple(2, one, a));
    tg_obj *holder = OK(tg_list_new(0));
    cr_assert_eq(tg_list_append(holder, t2), 0);
    tg_decref(t2);
    tg_obj *last = OK(tg_tuple(1, one));
    cr_assert_eq(tg_gc_collect(0), 0);
    cr_assert_not(tg_gc_is_tracked(t2));
    cr_assert_not(tg_gc_is_tracked(last));
    cr_assert(tg_gc_is_tracked(holder));
    tg_obj *l2 = OK(tg_list_new(0));                 /* generation 0 still works */
    cr_assert_eq(tg_list_append(l2, l2), 0);
    tg_decref(l2);
    cr_assert_eq(tg_gc_collect(0), 1);
    cr_assert_eq(tg_gc_collect(-1), 0);
    tg_decref(last);
    tg_decref(holder);
    tg_decref(one); tg_decref(a);
    TG_END();
}

Test(gc, generic_object_self_cycle)
{
    TG_START();
    tg_gc_collect(-1);
    tg_obj *o = OK(tg_object_new(NULL));
    cr_assert_eq(tg_setattr(o, "a", o), 0);
    tg_decref(o);
    cr_assert_eq(tg_gc_collect(-1), 1, "an object and its attributes are one object");
    TG_END();
}

Test(gc, embedder_type_cycle)
{
    TG_START();
    tg_type *bt = box_type();
    tg_gc_collect(-1);
    tg_obj *a = OK(tg_new(bt)), *b = OK(tg_new(bt));
    box_set(a, b);
    box_set(b, a);
    tg_decref(a);
    tg_decref(b);
    cr_assert_eq(tg_gc_collect(-1), 2);
    TG_END();
}

Test(gc, mixed_cycle_all_kinds)
{
    TG_START();
    tg_type *bt = box_type();
    tg_gc_collect(-1);
    tg_obj *l = OK(tg_list_new(0)), *d = OK(tg_dict_new()), *o = OK(tg_object_new(NULL));
    tg_obj *b = OK(tg_new(bt)), *k = OK(tg_str("k"));
    tg_obj *t = OK(tg_tuple(2, d, k));
    cr_assert_eq(tg_list_append(l, t), 0);
    cr_assert_eq(tg_dict_set(d, k, o), 0);
    cr_assert_eq(tg_setattr(o, "next", b), 0);
    box_set(b, l);
    tg_decref(l); tg_decref(d); tg_decref(o); tg_decref(b); tg_decref(k); tg_decref(t);
    cr_assert_eq(tg_gc_collect(-1), 5);
    TG_END();
}

/* test_copy: deepcopy of a reflexive structure is a new reflexive structure,
   and both are garbage once dropped. */
Test(gc, deepcopy_of_reflexive_list_is_collected)
{
    TG_START();
    tg_gc_collect(-1);
    size_t base = tg_live_objects();
    tg_obj *x = self_list();
    tg_obj *y = OK(tg_deepcopy(x));
    cr_assert_neq(x, y);
    tg_obj *y0 = OK(tg_list_get(y, 0));
    cr_assert_eq(y0, y, "the copy refers to itself, not to the original");
    tg_decref(y0);
    tg_obj *d = OK(tg_dict_new()), *k = OK(tg_str("self"));
    cr_assert_eq(tg_dict_set(d, k, d), 0);
    tg_obj *dc = OK(tg_deepcopy(d));
    tg_decref(x); tg_decref(y); tg_decref(d); tg_decref(dc); tg_decref(k);
    cr_assert_eq(tg_gc_collect(-1), 4);
    cr_assert_eq(tg_live_objects(), base);
    TG_END();
}

/* ------------------------------------------------ reachable vs unreachable */

Test(gc, reachable_ring_survives_unreachable_loop_beside_it)
{
    TG_START();
    tg_gc_collect(-1);
    size_t base = tg_live_objects();
    tg_obj *root = OK(tg_list_new(0));
    tg_obj *r = ring(10);
    cr_assert_eq(tg_list_append(root, r), 0);
    tg_decref(r);
    tg_decref(self_list());
    cr_assert_eq(tg_gc_collect(-1), 1, "only the self-loop is garbage");
    cr_assert_eq(tg_live_objects(), base + 11);
    /* the ring is intact: walk it */
    tg_obj *n = OK(tg_list_get(root, 0));
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(tg_list_len(n), 1);
        tg_obj *next = OK(tg_list_get(n, 0));
        tg_decref(n);
        n = next;
    }
    cr_assert_eq(n, r, "ten steps around the ring lead back to its first node");
    tg_decref(n);
    cr_assert_eq(tg_gc_collect(-1), 0);
    tg_decref(root);
    cr_assert_eq(tg_gc_collect(-1), 10);
    cr_assert_eq(tg_live_objects(), base);
    TG_END();
}

/* A root far down the young list reaches objects the walk has passed: they
   must be recovered from the tentative list. */
Test(gc, late_root_recovers_earlier_objects)
{
    TG_START();
    tg_gc_collect(-1);
    tg_obj *nodes[50];
    for (int i = 0; i < 50; i++) nodes[i] = OK(tg_list_new(0));
    for (int i = 0; i < 49; i++) cr_assert_eq(tg_list_append(nodes[i + 1], nodes[i]), 0);
    cr_assert_eq(tg_list_append(nodes[0], nodes[49]), 0);
    for (int i = 0; i < 49; i++) tg_decref(nodes[i]);
    /* only nodes[49] (the last allocated) is held */
    cr_assert_eq(tg_gc_collect(0), 0);
    cr_assert_eq(tg_list_len(nodes[49]), 1);
    tg_obj *n = OK(tg_list_get(nodes[49], 0));
    cr_assert_eq(tg_list_len(n), 1);
    tg_decref(n);
    tg_decref(nodes[49]);
    cr_assert_eq(tg_gc_collect(-1), 50);
    TG_END();
}

Test(gc, collect_returns_unreachable_count_of_young_only)
{
    TG_START();
    tg_gc_collect(-1);
    tg_obj *old = self_list();
    tg_gc_collect(0);            /* old now in generation 1 */
    tg_decref(old);
    tg_decref(self_list());
    cr_assert_eq(tg_gc_collect(0), 1, "the older cycle is not examined by collect(0)");
    cr_assert_eq(tg_gc_collect(1), 1);
    TG_END();
}

Test(gc, deep_cycle_does_not_overflow_the_stack)
{
    TG_START();
    tg_gc_collect(-1);
    size_t base = tg_live_objects();
    tg_obj *first = OK(tg_list_new(0)), *cur = first;
    tg_incref(cur);
    for (int i = 0; i < 200000; i++) {
        tg_obj *l = OK(tg_list_new(0));
        cr_assert_eq(tg_list_append(cur, l), 0);
        tg_decref(cur);
        cur = l;
    }
    cr_assert_eq(tg_list_append(cur, first), 0);
    tg_decref(cur);
    cr_assert_eq(tg_gc_collect(-1), 0, "held by first: reachable");
    tg_decref(first);
    cr_assert_eq(tg_gc_collect(-1), 200001);
    cr_assert_eq(tg_live_objects(), base);
    TG_END();
}

/* ------------------------------------------------ counts and generations */

Test(gc, tracking)
{
    TG_START();
    tg_obj *i = OK(tg_int(1000)), *s = OK(tg_str("text")), *f = OK(tg_float(1.5));
    cr_assert_eq(tg_gc_is_tracked(i), 0);
    cr_assert_eq(tg_gc_is_tracked(s), 0);
    cr_assert_eq(tg_gc_is_tracked(f), 0);
    cr_assert_eq(tg_gc_is_tracked(tg_none()), 0);
    tg_obj *l = OK(tg_list_new(0)), *d = OK(tg_dict_new()), *o = OK(tg_object_new(NULL));
    tg_obj *t = OK(tg_tuple(1, i));
    cr_assert(tg_gc_is_tracked(l) && tg_gc_is_tracked(d) && tg_gc_is_tracked(o) && tg_gc_is_tracked(t));
    tg_decref(i); tg_decref(s); tg_decref(f); tg_decref(l); tg_decref(d); tg_decref(o); tg_decref(t);
    TG_END();
}

Test(gc, get_count)
{
    TG_START();
    tg_gc_collect(-1);
    long a[3], b[3];
    tg_gc_get_count(a);
    tg_obj *x = OK(tg_list_new(0));
    tg_gc_get_count(b);
    cr_assert_eq(a[1], 0); cr_assert_eq(a[2], 0);
    cr_assert_eq(b[1], 0); cr_assert_eq(b[2], 0);
    cr_assert_lt(a[0], 5);
    cr_assert_gt(b[0], a[0], "a tracked allocation counts");
    tg_decref(x);
    long c[3];
    tg_gc_get_count(c);
    cr_assert_eq(c[0], a[0], "a deallocation uncounts");
    TG_END();
}

/* test_gc.test_collect_generations: x trickles up one generation per collect */
Test(gc, collect_generations)
{
    TG_START();
    tg_gc_collect(-1);
    tg_obj *x = OK(tg_list_new(0));
    cr_assert(in_generation(x, 0));
    long c[3];
    tg_gc_collect(0);
    tg_gc_get_count(c);
    cr_assert_eq(c[1], 1); cr_assert_eq(c[2], 0);
    cr_assert(in_generation(x, 1) && !in_generation(x, 0));
    tg_gc_collect(1);
    tg_gc_get_count(c);
    cr_assert_eq(c[1], 0); cr_assert_eq(c[2], 1);
    cr_assert(in_generation(x, 2) && !in_generation(x, 1));
    tg_gc_collect(2);
    tg_gc_get_count(c);
    cr_assert_eq(c[1], 0); cr_assert_eq(c[2], 0);
    cr_assert(in_generation(x, 2), "the oldest generation keeps its survivors");
    cr_assert(in_generation(x, -1));
    tg_decref(x);
    TG_END();
}

Test(gc, full_collections_keep_generation_two_consistent)
{
    /* Survivors of a full collection must leave the set (parity bit) and be
       examined again by the next one. */
    TG_START();
    tg_obj *a = self_list();
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(tg_gc_collect(2), 0);
        cr_assert(in_generation(a, 2));
        tg_obj *b = self_list();
        tg_gc_collect(1);
        tg_decref(b);
        cr_assert_eq(tg_gc_collect(2), 1, "round %d", i);
    }
    tg_decref(a);
    cr_assert_eq(tg_gc_collect(2), 1);
    TG_END();
}

Test(gc, bad_generation_is_an_error)
{
    TG_START();
    cr_assert_eq(tg_gc_collect(3), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    tg_error_clear();
    cr_assert_eq(tg_gc_collect(-2), -1);
    cr_assert_null(tg_gc_get_objects(5));
    ASSERT_ERR(TG_ERR_VALUE);
    tg_error_clear();
    TG_END();
}

/* --------------------------------------------- thresholds and automatic */

Test(gc, automatic_collection_from_allocations_alone)
{
    tg_config c;
    tg_config_default(&c);
    c.gc_threshold[0] = 100;
    cr_assert_eq(tg_init(&c), 0);
    size_t base = tg_live_objects();
    for (int i = 0; i < 10000; i++) tg_decref(self_list());
    tg_gc_stats st[3];
    tg_gc_get_stats(st);
    cr_assert_gt(st[0].collections, 50, "collections ran: %llu", (unsigned long long)st[0].collections);
    cr_assert_gt(st[0].collected, 9000);
    cr_assert_lt(tg_live_objects(), base + 200, "garbage stays bounded");
    cr_assert_gt(st[1].collections, 0, "every 10th young collection is a gen-1 one");
    TG_END();
}

Test(gc, disabled_or_zero_threshold_means_no_automatic_collection)
{
    TG_START();
    tg_gc_disable();
    cr_assert_eq(tg_gc_isenabled(), 0);
    for (int i = 0; i < 3000; i++) tg_decref(self_list());
    tg_gc_stats st[3];
    tg_gc_get_stats(st);
    cr_assert_eq(st[0].collections, 0);
    tg_gc_enable();
    cr_assert_eq(tg_gc_isenabled(), 1);
    tg_gc_set_threshold(0, 10, 10);
    for (int i = 0; i < 3000; i++) tg_decref(self_list());
    tg_gc_get_stats(st);
    cr_assert_eq(st[0].collections, 0, "threshold0 == 0 disables automatic collection");
    long t[3];
    tg_gc_get_threshold(t);
    cr_assert_eq(t[0], 0); cr_assert_eq(t[1], 10); cr_assert_eq(t[2], 10);
    cr_assert_eq(tg_gc_collect(-1), 6000, "explicit collection still works");
    tg_gc_set_threshold(700, 10, 10);
    TG_END();
}

Test(gc, thresholds_pick_the_oldest_generation_over_threshold)
{
    tg_config c;
    tg_config_default(&c);
    c.gc_threshold[0] = 10; c.gc_threshold[1] = 2; c.gc_threshold[2] = 1;
    cr_assert_eq(tg_init(&c), 0);
    tg_obj *keep = OK(tg_list_new(0));
    for (int i = 0; i < 400; i++) {
        tg_obj *l = OK(tg_list_new(0));
        cr_assert_eq(tg_list_append(keep, l), 0);   /* long-lived objects pile up */
        tg_decref(l);
    }
    tg_gc_stats st[3];
    tg_gc_get_stats(st);
    cr_assert_gt(st[0].collections, 0);
    cr_assert_gt(st[1].collections, 0);
    cr_assert_gt(st[2].collections, 0, "gen 2 over threshold with >25%% pending runs a full collection");
    cr_assert_lt(st[2].collections, st[1].collections);
    tg_decref(keep);
    TG_END();
}

/* ------------------------------------------------------------ freeze */

Test(gc, freeze_and_unfreeze)
{
    TG_START();
    tg_obj *a = OK(tg_list_new(0));
    tg_gc_freeze();
    cr_assert_gt(tg_gc_get_freeze_count(), 0);
    cr_assert(!in_generation(a, 0) && !in_generation(a, 2));
    long c[3];
    tg_gc_get_count(c);
    cr_assert_eq(c[0], 0);
    tg_gc_unfreeze();
    cr_assert_eq(tg_gc_get_freeze_count(), 0);
    cr_assert(in_generation(a, 2));
    tg_decref(a);
    TG_END();
}

Test(gc, young_cycle_pointing_into_frozen_objects)
{
    TG_START();
    tg_gc_collect(-1);
    tg_obj *frozen = OK(tg_list_new(0));
    tg_obj *frozen_cycle = self_list();
    tg_gc_freeze();
    size_t nfrozen = tg_gc_get_freeze_count();
    tg_decref(frozen_cycle);           /* frozen garbage is not examined */
    /* young cycle a <-> b, both pointing at the frozen list */
    tg_obj *a = OK(tg_list_new(0)), *b = OK(tg_list_new(0));
    tg_list_append(a, b); tg_list_append(b, a);
    tg_list_append(a, frozen); tg_list_append(b, frozen);
    cr_assert_eq(tg_refcount(frozen), 3);
    tg_decref(a); tg_decref(b);
    cr_assert_eq(tg_gc_collect(-1), 2);
    cr_assert_eq(tg_refcount(frozen), 1, "the frozen list lost the young cycle's references");
    cr_assert_eq(tg_gc_get_freeze_count(), nfrozen);
    tg_gc_unfreeze();
    cr_assert_eq(tg_gc_collect(-1), 1, "unfrozen, the old cycle is found");
    tg_decref(frozen);
    TG_END();
}

/* ------------------------------------------- legacy finalizers, garbage */

Test(gc, legacy_finalizer_cycle_goes_to_garbage_plain_cycle_freed)
{
    TG_START();
    tg_type *lt = legacy_type();
    tg_gc_collect(-1);
    size_t base = tg_live_objects();
    tg_obj *a = OK(tg_new(lt));
    cr_assert_eq(tg_setattr(a, "a", a), 0);
    tg_obj *inner = OK(tg_list_new(0));       /* reachable from a: kept alive */
    cr_assert_eq(tg_setattr(a, "inner", inner), 0);
    tg_obj *winner = OK(tg_weakref(a, NULL, NULL));
    tg_decref(inner);
    tg_decref(a);
    tg_decref(self_list());                   /* a plain cycle beside it */
    intptr_t n = tg_gc_collect(-1);
    cr_assert_eq(n, 3, "one collected + two uncollectable, got %zd", (ssize_t)n);
    cr_assert_eq(legacy_calls, 0, "the collector never calls legacy finalizers");
    tg_gc_stats st[3];
    tg_gc_get_stats(st);
    cr_assert_eq(st[2].collected, 1);
    cr_assert_eq(st[2].uncollectable, 2);
    tg_obj *g = OK(tg_gc_garbage());
    cr_assert_eq(tg_list_len(g), 1, "only the legacy object is listed");
    tg_obj *x = OK(tg_list_get(g, 0));
    cr_assert_eq(x, a);
    tg_obj *still = OK(tg_weakref_get(winner));
    cr_assert_eq(still, a, "an object in garbage keeps its weakrefs");
    tg_decref(still);
    cr_assert_eq(tg_live_objects(), base + 2 /* a, inner */ + 1 /* garbage list */ + 1 /* weakref */);
    /* the embedder breaks the cycle */
    cr_assert_eq(tg_delattr(x, "a"), 0);
    tg_list_clear(g);
    tg_decref(g);
    tg_decref(x);                             /* last reference: dies, legacy finalizer runs */
    cr_assert_eq(legacy_calls, 1);
    tg_decref(winner);
    cr_assert_eq(tg_gc_collect(-1), 0);
    TG_END();
}

Test(gc, debug_saveall_keeps_everything)
{
    TG_START();
    tg_gc_collect(-1);
    tg_gc_set_debug(TG_GC_DEBUG_SAVEALL);
    cr_assert_eq(tg_gc_get_debug(), TG_GC_DEBUG_SAVEALL);
    tg_obj *l = self_list();
    tg_decref(l);
    cr_assert_eq(tg_gc_collect(-1), 1);
    tg_obj *g = OK(tg_gc_garbage());
    cr_assert_eq(tg_list_len(g), 1);
    tg_obj *x = OK(tg_list_get(g, 0));
    cr_assert_eq(x, l);
    cr_assert_eq(tg_list_len(x), 1, "saved, not cleared");
    tg_decref(x);
    tg_gc_set_debug(0);
    tg_list_clear(g);
    tg_decref(g);
    cr_assert_eq(tg_gc_collect(-1), 1);
    TG_END();
}

static void stats_child(void *arg)
{
    (void)arg;
    tg_init(NULL);
    tg_gc_set_debug(TG_GC_DEBUG_STATS);
    tg_decref(self_list());
    tg_gc_collect(1);
    tg_gc_set_debug(0);
    tg_fini();
}

Test(gc, debug_stats_prints_a_line_per_collection)
{
    char msg[4096];
    int st = tgt_run_in_child(stats_child, NULL, msg, sizeof msg);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_not_null(strstr(msg, "gc: collecting generation 1"), "%s", msg);
    cr_assert_not_null(strstr(msg, "gc: done, 1 unreachable, 0 uncollectable"), "%s", msg);
}

/* ------------------------------------------------- callbacks and stats */

typedef struct { int starts, stops; tg_gc_info last_start, last_stop; intptr_t nested; } cb_log;
static void log_cb(int phase, const tg_gc_info *info, void *arg)
{
    cb_log *log = arg;
    if (phase == TG_GC_START) { log->starts++; log->last_start = *info; }
    else { log->stops++; log->last_stop = *info; }
    /* re-entrancy: allocate and ask for a collection */
    tg_obj *l = tg_list_new(0);
    tg_decref(l);
    log->nested += tg_gc_collect(-1);
}

Test(gc, callbacks_get_start_and_stop_with_info)
{
    TG_START();
    cb_log log = {0};
    cr_assert_eq(tg_gc_add_callback(log_cb, &log), 0);
    tg_decref(self_list());
    tg_decref(self_list());
    cr_assert_eq(tg_gc_collect(1), 2);
    cr_assert_eq(log.starts, 1);
    cr_assert_eq(log.stops, 1);
    cr_assert_eq(log.last_start.generation, 1);
    cr_assert_eq(log.last_stop.generation, 1);
    cr_assert_eq(log.last_stop.collected, 2);
    cr_assert_eq(log.last_stop.uncollectable, 0);
    cr_assert_gt(log.last_stop.pause_ns, 0);
    cr_assert_eq(log.nested, 0, "a collection requested during a collection returns 0");
    cr_assert_eq(tg_gc_remove_callback(log_cb, &log), 0);
    cr_assert_eq(tg_gc_remove_callback(log_cb, &log), -1);
    tg_error_clear();
    tg_gc_collect(0);
    cr_assert_eq(log.starts, 1, "removed callbacks are not called");
    TG_END();
}

Test(gc, stats_per_generation)
{
    TG_START();
    tg_gc_stats before[3], after[3];
    tg_gc_get_stats(before);
    tg_decref(self_list());
    tg_gc_collect(0);
    tg_gc_collect(0);
    tg_gc_collect(2);
    tg_gc_get_stats(after);
    cr_assert_eq(after[0].collections - before[0].collections, 2);
    cr_assert_eq(after[0].collected - before[0].collected, 1);
    cr_assert_eq(after[1].collections - before[1].collections, 0);
    cr_assert_eq(after[2].collections - before[2].collections, 1);
    cr_assert_geq(after[0].pause_ns_total, after[0].pause_ns_max);
    cr_assert_gt(after[0].pause_ns_max, 0);
    TG_END();
}

/* ------------------------------------------------------- introspection */

Test(gc, referrers_and_referents)
{
    TG_START();
    tg_obj *x = OK(tg_list_new(0));
    tg_obj *a = OK(tg_list_new(0)), *d = OK(tg_dict_new()), *k = OK(tg_str("k"));
    tg_list_append(a, x);
    tg_dict_set(d, k, x);
    tg_obj *r = OK(tg_gc_get_referrers(x));
    cr_assert_eq(tg_list_len(r), 2);
    cr_assert(list_contains(r, a) && list_contains(r, d));
    tg_decref(r);
    tg_obj *e = OK(tg_gc_get_referents(d));
    cr_assert_eq(tg_list_len(e), 2);
    cr_assert(list_contains(e, k) && list_contains(e, x));
    tg_decref(e);
    tg_obj *i = OK(tg_int(5000));
    e = OK(tg_gc_get_referents(i));
    cr_assert_eq(tg_list_len(e), 0);
    tg_decref(e); tg_decref(i);
    tg_decref(x); tg_decref(a); tg_decref(d); tg_decref(k);
    TG_END();
}

Test(gc, get_objects_by_generation)
{
    TG_START();
    tg_gc_collect(-1);
    tg_obj *a = OK(tg_list_new(0));
    tg_obj *all = OK(tg_gc_get_objects(-1));
    cr_assert(list_contains(all, a));
    cr_assert(!list_contains(all, all), "the result list does not list itself");
    tg_decref(all);
    cr_assert(in_generation(a, 0) && !in_generation(a, 1) && !in_generation(a, 2));
    tg_decref(a);
    TG_END();
}

/* ---------------------------------------------------- refcount too small */

static int liar_traverse(tg_obj *self, tg_visitproc visit, void *arg)
{
    box *b = tg_payload(self);
    if (!b->slot) return 0;
    visit(b->slot, arg);             /* reports its one reference twice */
    return visit(b->slot, arg);
}

static void liar_child(void *arg)
{
    (void)arg;
    tg_init(NULL);
    tg_type_spec s = { .name = "Liar", .payload_size = sizeof(box), .flags = TG_TYPE_GC,
                       .traverse = liar_traverse, .clear = box_clear };
    tg_type *t = tg_type_new(&s);
    tg_obj *o = tg_new(t), *victim = tg_list_new(0);
    box_set(o, victim);
    tg_decref(victim);
    tg_gc_collect(-1);
    _exit(0);
}

Test(gc, refcount_too_small_aborts_naming_the_object)
{
    char msg[2048];
    int st = tgt_run_in_child(liar_child, NULL, msg, sizeof msg);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "expected an abort; stderr: %s", msg);
    cr_assert_not_null(strstr(msg, "refcount too small"), "%s", msg);
    cr_assert_not_null(strstr(msg, "list object at 0x"), "%s", msg);
}

/* tests/gc_common.h: the common garbage drops exactly its outside references */
Test(gc, common_garbage_drops_exactly_its_outside_references)
{
    TG_START();
    common_garbage_scenario();
    TG_END();
}
