/*
 * tests/test_tuple.c — tuples: construction, indexing, the empty singleton,
 * free-list reuse, error paths and allocation failures.
 */
#include "tg_test.h"

Test(tuple, construct_len_get)
{
    TG_START();
    tg_obj *a = OK(tg_int(1000)), *b = OK(tg_str("bee")), *c = OK(tg_list_new(0));
    tg_obj *t = OK(tg_tuple(3, a, b, c));
    cr_assert_eq(tg_typeof(t), tg_type_tuple());
    cr_assert_eq(tg_tuple_len(t), 3);
    cr_assert_eq(tg_refcount(a), 2, "arguments are not stolen");
    cr_assert_eq(tg_refcount(c), 2);
    tg_obj *g = OK(tg_tuple_get(t, 0));
    cr_assert_eq(g, a);
    cr_assert_eq(tg_refcount(a), 3, "get returns a new reference");
    tg_decref(g);
    g = OK(tg_tuple_get(t, -1));
    cr_assert_eq(g, c);
    tg_decref(g);
    g = OK(tg_tuple_get(t, -3));
    cr_assert_eq(g, a);
    tg_decref(g);
    g = OK(tg_tuple_get(t, 1));
    cr_assert_eq(g, b);
    tg_decref(g);
    cr_assert_null(tg_tuple_get(t, 3));
    ASSERT_ERR(TG_ERR_INDEX);
    tg_error_clear();
    cr_assert_null(tg_tuple_get(t, -4));
    ASSERT_ERR(TG_ERR_INDEX);
    tg_error_clear();
    cr_assert_null(tg_tuple_get(t, PTRDIFF_MIN));
    ASSERT_ERR(TG_ERR_INDEX);
    tg_error_clear();
    cr_assert_null(tg_tuple_get(t, PTRDIFF_MAX));
    ASSERT_ERR(TG_ERR_INDEX);
    tg_error_clear();
    tg_decref(t);
    cr_assert_eq(tg_refcount(a), 1, "the tuple released its items");
    cr_assert_eq(tg_refcount(c), 1);
    tg_decref(a); tg_decref(b); tg_decref(c);
    TG_END();
}

Test(tuple, empty_is_a_singleton)
{
    TG_START();
    tg_obj *e1 = OK(tg_tuple(0)), *e2 = OK(tg_tuple_from_array(0, NULL));
    cr_assert_eq(e1, e2);
    cr_assert_eq(tg_is_immortal(e1), 1);
    cr_assert_eq(tg_tuple_len(e1), 0);
    cr_assert_null(tg_tuple_get(e1, 0));
    ASSERT_ERR(TG_ERR_INDEX);
    cr_assert_null(tg_tuple_get(e1, -1));
    ASSERT_ERR(TG_ERR_INDEX);
    tg_error_clear();
    cr_assert_eq(tg_live_objects(), 0);
    TG_END();
}

Test(tuple, from_array_and_large)
{
    TG_START();
    enum { N = 1000 };
    tg_obj *items[N];
    for (int i = 0; i < N; i++) items[i] = OK(tg_int(100000 + i));
    tg_obj *t = OK(tg_tuple_from_array(N, items));
    cr_assert_eq(tg_tuple_len(t), N);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(tg_refcount(items[i]), 2);
        tg_obj *g = OK(tg_tuple_get(t, i));
        cr_assert_eq(g, items[i]);
        tg_decref(g);
    }
    tg_decref(t);
    /* the variadic form with more than 16 arguments */
    tg_obj *v = OK(tg_tuple(20, items[0], items[1], items[2], items[3], items[4], items[5], items[6],
        items[7], items[8], items[9], items[10], items[11], items[12], items[13], items[14],
        items[15], items[16], items[17], items[18], items[19]));
    cr_assert_eq(tg_tuple_len(v), 20);
    for (int i = 0; i < 20; i++) {
        tg_obj *g = OK(tg_tuple_get(v, i));
        cr_assert_eq(g, items[i]);
        tg_decref(g);
    }
    tg_decref(v);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(tg_refcount(items[i]), 1);
        tg_decref(items[i]);
    }
    TG_END();
}

Test(tuple, null_items_are_refused_without_side_effects)
{
    TG_START();
    tg_obj *a = OK(tg_int(5555)), *b = OK(tg_int(6666));
    cr_assert_null(tg_tuple(3, a, NULL, b));
    ASSERT_ERR(TG_ERR_VALUE);
    tg_obj *arr[] = { a, b, NULL };
    tg_error_clear();
    cr_assert_null(tg_tuple_from_array(3, arr));
    ASSERT_ERR(TG_ERR_VALUE);
    tg_error_clear();
    cr_assert_eq(tg_refcount(a), 1);
    cr_assert_eq(tg_refcount(b), 1);
    cr_assert_eq(tg_live_objects(), 2);
    tg_decref(a); tg_decref(b);
    TG_END();
}

Test(tuple, wrong_type)
{
    TG_START();
    tg_obj *l = OK(tg_list_new(0));
    cr_assert_eq(tg_list_append(l, tg_none()), 0);
    cr_assert_eq(tg_tuple_len(l), 0);
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    cr_assert_null(tg_tuple_get(l, 0));
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    cr_assert_eq(tg_tuple_len(NULL), 0);
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    cr_assert_null(tg_tuple_get(NULL, 0));
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    tg_decref(l);
    TG_END();
}

Test(tuple, free_list_reuse_gives_clean_tuples)
{
    TG_START();
    tg_obj *x = OK(tg_int(99999));
    for (int round = 0; round < 3000; round++) {
        size_t n = (size_t)(round % 21) + 1;     /* 1..21: sizes with and without a free list */
        tg_obj *arr[21];
        for (size_t i = 0; i < n; i++) arr[i] = i % 2 ? x : tg_int((int64_t)i);
        tg_obj *t = OK(tg_tuple_from_array(n, arr));
        cr_assert_eq(tg_tuple_len(t), n);
        for (size_t i = 0; i < n; i++) {
            tg_obj *g = OK(tg_tuple_get(t, (ptrdiff_t)i));
            cr_assert_eq(g, arr[i]);
            tg_decref(g);
        }
        tg_decref(t);
    }
    cr_assert_eq(tg_refcount(x), 1);
    tg_decref(x);
    TG_END();
}

Test(tuple, nested_and_shared)
{
    TG_START();
    tg_obj *inner = OK(tg_tuple(2, tg_int(1), tg_int(2)));
    tg_obj *outer = OK(tg_tuple(3, inner, inner, tg_none()));
    cr_assert_eq(tg_refcount(inner), 3);
    tg_obj *g0 = OK(tg_tuple_get(outer, 0)), *g1 = OK(tg_tuple_get(outer, 1));
    cr_assert_eq(g0, g1);
    tg_decref(g0); tg_decref(g1);
    tg_obj *same = OK(tg_tuple(3, inner, inner, tg_none()));
    cr_assert_eq(tg_eq(outer, same), 1);
    cr_assert_eq(tg_hash(outer), tg_hash(same));
    tg_decref(inner);
    tg_decref(outer);
    tg_decref(same);
    cr_assert_eq(tg_live_objects(), 0);
    TG_END();
}

Test(nomem, tuple_creation)
{
    TG_START();
    tg_obj *a = OK(tg_int(1111)), *b = OK(tg_int(2222)), *c = OK(tg_str("c c c"));
    size_t sizes[] = { 3, 25 };                 /* with and without a free list */
    for (size_t k = 0; k < 2; k++) {
        tg_obj *arr[25];
        for (size_t i = 0; i < sizes[k]; i++) arr[i] = i % 3 == 0 ? a : i % 3 == 1 ? b : c;
        size_t live = tg_live_objects();
        tg_error_clear();
        tg_mem_fail_after(0);
        tg_obj *t = k == 0 ? tg_tuple(3, a, b, c) : tg_tuple_from_array(sizes[k], arr);
        tg_mem_fail_after(-1);
        cr_assert_null(t, "size %zu", sizes[k]);
        ASSERT_ERR(TG_ERR_NOMEM);
        cr_assert_eq(tg_refcount(a), 1);
        cr_assert_eq(tg_refcount(b), 1);
        cr_assert_eq(tg_refcount(c), 1);
        cr_assert_eq(tg_live_objects(), live);
        tg_error_clear();
        t = OK(tg_tuple_from_array(sizes[k], arr));
        tg_decref(t);
    }
    tg_decref(a); tg_decref(b); tg_decref(c);
    TG_END();
}
