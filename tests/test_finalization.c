/*
 * tests/test_finalization.c — PEP 442 finalization in the collector, after
 * CPython's test_finalization.py: finalizers run once, resurrection is
 * detected and respected (transitively, without blocking other cycles),
 * chains mixing plain, resurrecting and suicidal nodes, and re-entrancy from
 * finalizers (allocation, weakrefs, nested tg_gc_collect).
 */
#include "tg_test.h"

enum { PLAIN, RESURRECT, SUICIDAL, REENTRANT };

typedef struct { int kind; } node_payload;

#define MAXCALLS 256
static uintptr_t del_calls[MAXCALLS];
static int ndel;
static tg_obj *survivors;        /* where resurrectors put themselves */
static intptr_t nested_collect = -99;

static void node_finalize(tg_obj *self)
{
    cr_assert_lt(ndel, MAXCALLS);
    del_calls[ndel++] = tg_id(self);
    node_payload *p = tg_payload(self);
    switch (p->kind) {
    case RESURRECT:
        cr_assert_eq(tg_list_append(survivors, self), 0);
        break;
    case SUICIDAL:
        tg_delattr(self, "left");
        tg_delattr(self, "right");
        tg_error_clear();
        break;
    case REENTRANT: {
        /* allocate, make garbage, weakref a neighbour in the same trash,
           ask for a collection */
        for (int i = 0; i < 50; i++) {
            tg_obj *l = tg_list_new(0);
            tg_list_append(l, l);
            tg_decref(l);
        }
        tg_obj *left = tg_getattr(self, "left");
        if (left) {
            tg_obj *w = tg_weakref(left, NULL, NULL);
            tg_setattr(self, "wr", w);
            tg_decref(w);
            tg_decref(left);
        }
        tg_error_clear();
        nested_collect = tg_gc_collect(-1);
        break;
    }
    }
}

static tg_type *node_type;

static void setup_types(void)
{
    tg_type_spec s = { .name = "Node", .payload_size = sizeof(node_payload), .flags = TG_TYPE_GC,
                       .finalize = node_finalize };
    node_type = tg_type_new(&s);
    cr_assert_not_null(node_type);
    survivors = tg_list_new(0);
    ndel = 0;
}

static void teardown(void)
{
    tg_decref(survivors);
    survivors = NULL;
}

static tg_obj *new_node(int kind)
{
    tg_obj *o = tg_new(node_type);
    cr_assert_not_null(o);
    ((node_payload *)tg_payload(o))->kind = kind;
    return o;
}

static int del_count(tg_obj *o_id_only, uintptr_t id)
{
    (void)o_id_only;
    int n = 0;
    for (int i = 0; i < ndel; i++) n += del_calls[i] == id;
    return n;
}

/* ------------------------------------------------------- self cycles */

Test(finalization, self_cycle_finalized_once_and_freed)
{
    TG_START();
    setup_types();
    tg_gc_collect(-1);
    size_t base = tg_live_objects();
    tg_obj *o = new_node(PLAIN);
    tg_setattr(o, "ref", o);
    uintptr_t id = tg_id(o);
    tg_obj *w = OK(tg_weakref(o, NULL, NULL));
    tg_decref(o);
    cr_assert_eq(tg_gc_collect(-1), 1);
    cr_assert_eq(del_count(NULL, id), 1);
    tg_obj *t = OK(tg_weakref_get(w));
    cr_assert_eq(t, tg_none());
    tg_decref(t);
    tg_decref(w);
    cr_assert_eq(tg_live_objects(), base);
    teardown();
    TG_END();
}

Test(finalization, resurrection_once_only)
{
    TG_START();
    setup_types();
    tg_gc_collect(-1);
    size_t base = tg_live_objects();
    tg_obj *o = new_node(RESURRECT);
    tg_setattr(o, "ref", o);
    uintptr_t id = tg_id(o);
    tg_obj *w = OK(tg_weakref(o, NULL, NULL));
    tg_decref(o);
    cr_assert_eq(tg_gc_collect(-1), 0, "resurrected: nothing collected");
    cr_assert_eq(del_count(NULL, id), 1);
    cr_assert_eq(tg_list_len(survivors), 1);
    tg_obj *s = OK(tg_list_get(survivors, 0));
    cr_assert_eq(tg_id(s), id);
    cr_assert_eq(tg_gc_is_finalized(s), 1);
    cr_assert_eq(tg_gc_is_tracked(s), 1);
    tg_obj *self = OK(tg_getattr(s, "ref"));
    cr_assert_eq(self, s, "a resurrected object is intact");
    tg_decref(self);
    /* CPython: weakrefs were cleared before the finalizer ran */
    tg_obj *t = OK(tg_weakref_get(w));
    cr_assert_eq(t, tg_none());
    tg_decref(t); tg_decref(w);
    tg_decref(s);
    tg_list_clear(survivors);
    cr_assert_eq(tg_gc_collect(-1), 1, "the second time it is collected");
    cr_assert_eq(del_count(NULL, id), 1, "and never finalized again");
    cr_assert_eq(tg_live_objects(), base);
    teardown();
    TG_END();
}

Test(finalization, resurrection_is_transitive_and_does_not_block_other_cycles)
{
    TG_START();
    setup_types();
    tg_gc_collect(-1);
    size_t base = tg_live_objects();
    tg_obj *r = new_node(RESURRECT);
    tg_obj *l = OK(tg_list_new(0)), *d = OK(tg_dict_new()), *k = OK(tg_str("x"));
    tg_list_append(l, r);
    tg_dict_set(d, k, l);
    tg_setattr(r, "d", d);                /* r -> d -> l -> r */
    tg_decref(r); tg_decref(l); tg_decref(d); tg_decref(k);
    tg_obj *p = new_node(PLAIN);          /* an independent cycle beside it */
    tg_setattr(p, "self", p);
    uintptr_t pid = tg_id(p);
    tg_decref(p);
    tg_obj *pl = OK(tg_list_new(0));
    tg_list_append(pl, pl);
    tg_decref(pl);
    cr_assert_eq(tg_gc_collect(-1), 2, "the two other cycles are collected");
    cr_assert_eq(del_count(NULL, pid), 1);
    cr_assert_eq(tg_live_objects(), base + 3, "r, its dict and its list survive");
    tg_obj *s = OK(tg_list_get(survivors, 0));
    tg_obj *dd = OK(tg_getattr(s, "d"));
    cr_assert_eq(tg_dict_len(dd), 1, "what the resurrected object reaches was not cleared");
    tg_decref(dd); tg_decref(s);
    tg_list_clear(survivors);
    cr_assert_eq(tg_gc_collect(-1), 3);
    cr_assert_eq(tg_live_objects(), base);
    teardown();
    TG_END();
}

Test(finalization, suicidal_self_cycle_breaks_itself)
{
    TG_START();
    setup_types();
    tg_gc_collect(-1);
    size_t base = tg_live_objects();
    tg_obj *o = new_node(SUICIDAL);
    tg_setattr(o, "left", o);
    uintptr_t id = tg_id(o);
    tg_decref(o);
    /* the finalizer drops the self-reference: the object dies by refcount
       inside the collection */
    tg_gc_collect(-1);
    cr_assert_eq(del_count(NULL, id), 1);
    cr_assert_eq(tg_live_objects(), base);
    teardown();
    TG_END();
}

/* ---------------------------------------------------------- chains */

static void build_chain(const int *kinds, int n, tg_obj **nodes)
{
    for (int i = 0; i < n; i++) nodes[i] = new_node(kinds[i]);
    for (int i = 0; i < n; i++) {
        tg_obj *left = nodes[(i + n - 1) % n];
        tg_setattr(nodes[i], "left", left);
        tg_setattr(left, "right", nodes[i]);
    }
}

static void check_chain(const int *kinds, int n)
{
    TG_START();
    setup_types();
    tg_gc_collect(-1);
    size_t base = tg_live_objects();
    tg_obj *nodes[16], *wrs[16];
    uintptr_t ids[16];
    int nres = 0;
    build_chain(kinds, n, nodes);
    for (int i = 0; i < n; i++) {
        ids[i] = tg_id(nodes[i]);
        wrs[i] = OK(tg_weakref(nodes[i], NULL, NULL));
        nres += kinds[i] == RESURRECT;
    }
    for (int i = 0; i < n; i++) tg_decref(nodes[i]);
    tg_gc_collect(-1);
    for (int i = 0; i < n; i++) cr_assert_eq(del_count(NULL, ids[i]), 1, "node %d finalized once", i);
    cr_assert_eq((int)tg_list_len(survivors), nres);
    for (int i = 0; i < (int)tg_list_len(survivors); i++) {
        tg_obj *s = OK(tg_list_get(survivors, i));
        cr_assert_eq(((node_payload *)tg_payload(s))->kind, RESURRECT);
        tg_decref(s);
    }
    for (int i = 0; i < n; i++) {
        tg_obj *t = OK(tg_weakref_get(wrs[i]));
        cr_assert_eq(t, tg_none(), "weakref %d cleared", i);
        tg_decref(t);
        tg_decref(wrs[i]);
    }
    tg_list_clear(survivors);
    tg_gc_collect(-1);
    for (int i = 0; i < n; i++) cr_assert_eq(del_count(NULL, ids[i]), 1, "node %d not finalized again", i);
    cr_assert_eq(tg_list_len(survivors), 0);
    cr_assert_eq(tg_live_objects(), base);
    teardown();
    TG_END();
}

Test(finalization, chain_homogenous) { int k[] = {PLAIN, PLAIN, PLAIN}; check_chain(k, 3); }
Test(finalization, chain_homogenous_resurrect) { int k[] = {RESURRECT, RESURRECT, RESURRECT}; check_chain(k, 3); }
Test(finalization, chain_homogenous_suicidal) { int k[] = {SUICIDAL, SUICIDAL, SUICIDAL}; check_chain(k, 3); }
Test(finalization, chain_heterogenous_suicidal_one)
{ int k[] = {SUICIDAL, PLAIN, SUICIDAL, PLAIN, SUICIDAL, PLAIN}; check_chain(k, 6); }
Test(finalization, chain_heterogenous_suicidal_two)
{ int k[] = {SUICIDAL, SUICIDAL, SUICIDAL, PLAIN, PLAIN, PLAIN}; check_chain(k, 6); }
Test(finalization, chain_heterogenous_resurrect_one)
{ int k[] = {RESURRECT, PLAIN, RESURRECT, PLAIN, RESURRECT, PLAIN}; check_chain(k, 6); }
Test(finalization, chain_heterogenous_resurrect_two)
{ int k[] = {RESURRECT, PLAIN, SUICIDAL, RESURRECT, PLAIN, SUICIDAL, RESURRECT, PLAIN, SUICIDAL}; check_chain(k, 9); }
Test(finalization, chain_heterogenous_resurrect_three)
{ int k[] = {RESURRECT, RESURRECT, RESURRECT, PLAIN, PLAIN, PLAIN, SUICIDAL, SUICIDAL, SUICIDAL}; check_chain(k, 9); }

/* -------------------------------------------------------- re-entrancy */

Test(finalization, finalizer_that_allocates_weakrefs_and_collects)
{
    TG_START();
    setup_types();
    tg_gc_collect(-1);
    size_t base = tg_live_objects();
    tg_obj *a = new_node(REENTRANT), *b = new_node(PLAIN);
    tg_setattr(a, "left", b);
    tg_setattr(b, "left", a);
    tg_decref(a); tg_decref(b);
    cr_assert_eq(tg_gc_collect(-1), 2);
    cr_assert_eq(nested_collect, 0, "a collection requested inside a collection returns 0");
    cr_assert_eq(ndel, 2);
    /* the 50 cycles the finalizer made are young garbage now */
    cr_assert_eq(tg_gc_collect(-1), 50);
    cr_assert_eq(tg_live_objects(), base);
    teardown();
    TG_END();
}

Test(finalization, is_finalized_only_after_the_finalizer)
{
    TG_START();
    setup_types();
    tg_obj *o = new_node(PLAIN);
    cr_assert_eq(tg_gc_is_finalized(o), 0);
    tg_obj *l = OK(tg_list_new(0));
    cr_assert_eq(tg_gc_is_finalized(l), 0);
    tg_decref(l);
    tg_decref(o);                          /* dies by refcount: finalized then freed */
    cr_assert_eq(ndel, 1);
    teardown();
    TG_END();
}
