/*
 * tests/gc_common.h — collector scenarios run in both modes: tests/test_gc.c
 * calls them after tg_init (GIL mode), tests/test_gc_ft.c after init_ft.
 */
#ifndef TG_TESTS_GC_COMMON_H
#define TG_TESTS_GC_COMMON_H
#include "tg_test.h"

/* The common garbage (lists and tuples, no finalizer, no weakref in it) is
   freed whole, without counting references inside it down (gc/collect.c,
   bulk_delete): what it refers to outside must still lose exactly the
   references the garbage held — an object in an older generation held
   twice by a list and once by a tuple, an int, None — and code run by an
   outside object's death (a weakref callback) must find everything
   consistent. */
static void note_death(tg_obj *wr, void *arg)
{
    (void)wr;
    (*(int *)arg)++;
    tg_obj *l = tg_list_new(0);                      /* allocates mid-collection */
    if (l) tg_decref(l);
    tg_gc_collect(0);                                /* re-entrant: returns 0 */
}

static void common_garbage_scenario(void)
{
    tg_gc_collect(-1);
    size_t live0 = tg_live_objects();
    tg_obj *x = OK(tg_object_new(NULL));
    tg_gc_collect(0);                                /* x: generation 1, outside a young collection */
    int deaths = 0;
    tg_obj *wx = OK(tg_weakref(x, note_death, &deaths));
    tg_obj *big = OK(tg_int(1234567));
    tg_obj *l = OK(tg_list_new(0));
    tg_obj *t = OK(tg_tuple(4, l, big, x, tg_none()));
    cr_assert_eq(tg_list_append(l, l), 0);
    cr_assert_eq(tg_list_append(l, t), 0);
    cr_assert_eq(tg_list_append(l, x), 0);
    cr_assert_eq(tg_list_append(l, x), 0);
    tg_decref(t); tg_decref(big); tg_decref(l);
    cr_assert_eq(tg_refcount(x), 4);
    tg_decref(x);
    cr_assert_eq(tg_gc_collect(0), 2, "the list and the tuple");
    cr_assert_eq(deaths, 1, "x died once, with the garbage");
    tg_obj *dead = OK(tg_weakref_get(wx));
    cr_assert_eq(dead, tg_none());
    tg_decref(dead);
    tg_decref(wx);
    cr_assert_eq(tg_live_objects(), live0);
    /* many rings at once, some holding a shared outside object */
    tg_obj *shared = OK(tg_list_new(0));
    for (int r = 0; r < 200; r++) {
        tg_obj *a = OK(tg_list_new(0)), *b = OK(tg_list_new(0));
        cr_assert_eq(tg_list_append(a, b), 0);
        cr_assert_eq(tg_list_append(b, a), 0);
        if (r % 3 == 0) cr_assert_eq(tg_list_append(b, shared), 0);
        tg_decref(a); tg_decref(b);
    }
    cr_assert_eq(tg_gc_collect(-1), 400);
    cr_assert_eq(tg_refcount(shared), 1);
    tg_decref(shared);
    cr_assert_eq(tg_live_objects(), live0);
}

#endif
