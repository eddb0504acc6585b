/*
 * tests/test_list.c — lists: every operation, negative indexes, every error
 * path, and failure atomicity under injected allocation failures.
 */
#include "tg_test.h"

/* [v0, v1, ...] of ints */
static tg_obj *int_list(int n, int base)
{
    tg_obj *l = OK(tg_list_new(0));
    for (int i = 0; i < n; i++) {
        tg_obj *v = OK(tg_int(base + i));
        cr_assert_eq(tg_list_append(l, v), 0);
        tg_decref(v);
    }
    return l;
}

static int64_t at(tg_obj *l, ptrdiff_t i)
{
    tg_obj *v = tg_list_get(l, i);
    cr_assert_not_null(v, "l[%td]: %s", i, tg_error_message());
    int64_t r = tg_int_value(v);
    tg_decref(v);
    return r;
}

static void assert_ints(tg_obj *l, const int64_t *want, size_t n)
{
    cr_assert_eq(tg_list_len(l), n, "len %zu, want %zu", tg_list_len(l), n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(at(l, (ptrdiff_t)i), want[i], "l[%zu] = %ld, want %ld", i, (long)at(l, (ptrdiff_t)i), (long)want[i]);
}

Test(list, new_len_append_get)
{
    TG_START();
    tg_obj *l = OK(tg_list_new(0));
    cr_assert_eq(tg_typeof(l), tg_type_list());
    cr_assert_eq(tg_list_len(l), 0);
    ASSERT_NO_ERR();
    tg_obj *h = OK(tg_list_new(1000));
    cr_assert_eq(tg_list_len(h), 0, "the hint is a capacity, not a length");
    tg_decref(h);
    for (int i = 0; i < 10; i++) {
        tg_obj *v = OK(tg_int(1000 + i));
        cr_assert_eq(tg_list_append(l, v), 0);
        cr_assert_eq(tg_refcount(v), 2);
        tg_decref(v);
    }
    cr_assert_eq(tg_list_len(l), 10);
    for (int i = 0; i < 10; i++) cr_assert_eq(at(l, i), 1000 + i);
    /* negative indexes count from the end */
    cr_assert_eq(at(l, -1), 1009);
    cr_assert_eq(at(l, -10), 1000);
    /* out of range */
    cr_assert_null(tg_list_get(l, 10));
    ASSERT_ERR(TG_ERR_INDEX);
    tg_error_clear();
    cr_assert_null(tg_list_get(l, -11));
    ASSERT_ERR(TG_ERR_INDEX);
    tg_error_clear();
    cr_assert_null(tg_list_get(l, PTRDIFF_MAX));
    ASSERT_ERR(TG_ERR_INDEX);
    tg_error_clear();
    cr_assert_null(tg_list_get(l, PTRDIFF_MIN));
    ASSERT_ERR(TG_ERR_INDEX);
    tg_error_clear();
    tg_obj *e = OK(tg_list_new(0));
    cr_assert_null(tg_list_get(e, 0));
    ASSERT_ERR(TG_ERR_INDEX);
    cr_assert_null(tg_list_get(e, -1));
    ASSERT_ERR(TG_ERR_INDEX);
    tg_error_clear();
    /* a list may hold itself */
    cr_assert_eq(tg_list_append(e, e), 0);
    cr_assert_eq(tg_refcount(e), 2);
    tg_obj *self = OK(tg_list_pop(e, 0));
    cr_assert_eq(self, e);
    tg_decref(self);
    tg_decref(e);
    tg_decref(l);
    TG_END();
}

Test(list, set)
{
    TG_START();
    tg_obj *l = int_list(5, 0);
    tg_obj *x = OK(tg_int(5000)), *y = OK(tg_int(6000));
    cr_assert_eq(tg_list_set(l, 1, x), 0);
    cr_assert_eq(tg_refcount(x), 2);
    cr_assert_eq(tg_list_set(l, -1, y), 0);
    cr_assert_eq(tg_list_set(l, -5, y), 0);
    cr_assert_eq(tg_refcount(y), 3);
    assert_ints(l, (int64_t[]){6000, 5000, 2, 3, 6000}, 5);
    cr_assert_eq(tg_list_set(l, 1, y), 0);   /* the old item is released */
    cr_assert_eq(tg_refcount(x), 1);
    cr_assert_eq(tg_list_set(l, 1, y), 0);   /* the same item again */
    cr_assert_eq(tg_refcount(y), 4);
    /* errors leave everything as it was */
    cr_assert_eq(tg_list_set(l, 5, x), -1);
    ASSERT_ERR(TG_ERR_INDEX);
    cr_assert_eq(tg_list_set(l, -6, x), -1);
    ASSERT_ERR(TG_ERR_INDEX);
    cr_assert_eq(tg_list_set(l, 0, NULL), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    tg_error_clear();
    cr_assert_eq(tg_refcount(x), 1);
    assert_ints(l, (int64_t[]){6000, 6000, 2, 3, 6000}, 5);
    tg_obj *e = OK(tg_list_new(0));
    cr_assert_eq(tg_list_set(e, 0, x), -1);
    ASSERT_ERR(TG_ERR_INDEX);
    tg_error_clear();
    tg_decref(e); tg_decref(l);
    cr_assert_eq(tg_refcount(y), 1);
    tg_decref(x); tg_decref(y);
    TG_END();
}

Test(list, insert_with_clamping)
{
    TG_START();
    tg_obj *l = OK(tg_list_new(0));
    cr_assert_eq(tg_list_insert(l, 0, tg_int(1)), 0);          /* into an empty list */
    cr_assert_eq(tg_list_insert(l, 0, tg_int(0)), 0);          /* front */
    cr_assert_eq(tg_list_insert(l, 2, tg_int(3)), 0);          /* at len: append */
    cr_assert_eq(tg_list_insert(l, 2, tg_int(2)), 0);          /* middle */
    assert_ints(l, (int64_t[]){0, 1, 2, 3}, 4);
    cr_assert_eq(tg_list_insert(l, -1, tg_int(9)), 0);         /* before the last */
    assert_ints(l, (int64_t[]){0, 1, 2, 9, 3}, 5);
    cr_assert_eq(tg_list_insert(l, 1000, tg_int(7)), 0);       /* clamped to the end */
    cr_assert_eq(tg_list_insert(l, -1000, tg_int(-1)), 0);     /* clamped to the front */
    cr_assert_eq(tg_list_insert(l, PTRDIFF_MAX, tg_int(8)), 0);
    cr_assert_eq(tg_list_insert(l, PTRDIFF_MIN, tg_int(-2)), 0);
    assert_ints(l, (int64_t[]){-2, -1, 0, 1, 2, 9, 3, 7, 8}, 9);
    cr_assert_eq(tg_list_insert(l, -9, tg_int(-3)), 0);        /* exactly -len: front */
    assert_ints(l, (int64_t[]){-3, -2, -1, 0, 1, 2, 9, 3, 7, 8}, 10);
    tg_obj *x = OK(tg_int(4242));
    cr_assert_eq(tg_list_insert(l, 3, x), 0);
    cr_assert_eq(tg_refcount(x), 2);
    cr_assert_eq(tg_list_insert(l, 0, NULL), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    tg_error_clear();
    cr_assert_eq(tg_list_len(l), 11);
    /* many inserts at the front: growth keeps order */
    tg_obj *m = OK(tg_list_new(0));
    for (int i = 0; i < 1000; i++) {
        tg_obj *v = OK(tg_int(i));
        cr_assert_eq(tg_list_insert(m, 0, v), 0);
        tg_decref(v);
    }
    for (int i = 0; i < 1000; i++) cr_assert_eq(at(m, i), 999 - i);
    tg_decref(m); tg_decref(l); tg_decref(x);
    TG_END();
}

Test(list, pop)
{
    TG_START();
    tg_obj *l = int_list(6, 1000);
    tg_obj *p = OK(tg_list_pop(l, -1));
    cr_assert_eq(tg_int_value(p), 1005);
    cr_assert_eq(tg_refcount(p), 1, "the list's reference became the caller's");
    tg_decref(p);
    p = OK(tg_list_pop(l, 0));
    cr_assert_eq(tg_int_value(p), 1000);
    tg_decref(p);
    p = OK(tg_list_pop(l, -2));
    cr_assert_eq(tg_int_value(p), 1003);
    tg_decref(p);
    assert_ints(l, (int64_t[]){1001, 1002, 1004}, 3);
    cr_assert_null(tg_list_pop(l, 3));
    ASSERT_ERR(TG_ERR_INDEX);
    cr_assert_null(tg_list_pop(l, -4));
    ASSERT_ERR(TG_ERR_INDEX);
    tg_error_clear();
    assert_ints(l, (int64_t[]){1001, 1002, 1004}, 3);
    for (int i = 0; i < 3; i++) tg_decref(OK(tg_list_pop(l, -1)));
    cr_assert_null(tg_list_pop(l, -1));
    ASSERT_ERR(TG_ERR_INDEX);
    cr_assert_not_null(strstr(tg_error_message(), "empty"), "%s", tg_error_message());
    tg_error_clear();
    cr_assert_null(tg_list_pop(l, 0));
    ASSERT_ERR(TG_ERR_INDEX);
    tg_error_clear();
    tg_obj *fresh = OK(tg_list_new(0));
    cr_assert_null(tg_list_pop(fresh, -1));
    ASSERT_ERR(TG_ERR_INDEX);
    tg_error_clear();
    /* the list is still usable */
    cr_assert_eq(tg_list_append(l, tg_int(3)), 0);
    assert_ints(l, (int64_t[]){3}, 1);
    tg_decref(fresh); tg_decref(l);
    TG_END();
}

Test(list, extend)
{
    TG_START();
    tg_obj *l = int_list(3, 1000), *m = int_list(2, 2000);
    tg_obj *m0 = OK(tg_list_get(m, 0));
    cr_assert_eq(tg_refcount(m0), 2);
    cr_assert_eq(tg_list_extend(l, m), 0);
    assert_ints(l, (int64_t[]){1000, 1001, 1002, 2000, 2001}, 5);
    assert_ints(m, (int64_t[]){2000, 2001}, 2);
    cr_assert_eq(tg_refcount(m0), 3);
    /* with a tuple */
    tg_obj *a = OK(tg_int(3000)), *b = OK(tg_int(3001));
    tg_obj *t = OK(tg_tuple(2, a, b));
    cr_assert_eq(tg_list_extend(l, t), 0);
    assert_ints(l, (int64_t[]){1000, 1001, 1002, 2000, 2001, 3000, 3001}, 7);
    cr_assert_eq(tg_refcount(a), 3);
    /* with itself: l.extend(l) doubles it */
    tg_obj *first = OK(tg_list_get(l, 0));
    intptr_t rc = tg_refcount(first);
    cr_assert_eq(tg_list_extend(l, l), 0);
    assert_ints(l, (int64_t[]){1000, 1001, 1002, 2000, 2001, 3000, 3001,
                               1000, 1001, 1002, 2000, 2001, 3000, 3001}, 14);
    cr_assert_eq(tg_refcount(first), rc + 1);
    tg_obj *tl = OK(tg_list_get(l, 7));
    cr_assert_eq(tl, first, "the same objects, not copies");
    tg_decref(tl);
    /* self-extension that must grow several times */
    tg_obj *s = int_list(1, 7);
    for (int i = 0; i < 12; i++) cr_assert_eq(tg_list_extend(s, s), 0);
    cr_assert_eq(tg_list_len(s), 4096);
    cr_assert_eq(at(s, 4095), 7);
    /* with empty sequences */
    tg_obj *e = OK(tg_list_new(0));
    cr_assert_eq(tg_list_extend(l, e), 0);
    cr_assert_eq(tg_list_extend(l, tg_tuple(0)), 0);
    cr_assert_eq(tg_list_extend(e, e), 0);
    cr_assert_eq(tg_list_len(e), 0);
    cr_assert_eq(tg_list_len(l), 14);
    /* wrong types leave the list as it was */
    tg_obj *d = OK(tg_dict_new()), *str = OK(tg_str("abc"));
    cr_assert_eq(tg_dict_set(d, a, b), 0);
    tg_obj *bad[] = { d, str, a, tg_none() };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        cr_assert_eq(tg_list_extend(l, bad[k]), -1);
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_eq(tg_list_len(l), 14);
    }
    cr_assert_eq(tg_list_extend(l, NULL), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    tg_error_clear();
    cr_assert_eq(tg_refcount(first), rc + 1);
    tg_obj *all[] = { l, m, m0, a, b, t, first, s, e, d, str };
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) tg_decref(all[k]);
    TG_END();
}

Test(list, clear)
{
    TG_START();
    tg_obj *x = OK(tg_int(77777));
    tg_obj *l = OK(tg_list_new(0));
    for (int i = 0; i < 100; i++) cr_assert_eq(tg_list_append(l, x), 0);
    cr_assert_eq(tg_refcount(x), 101);
    cr_assert_eq(tg_list_clear(l), 0);
    cr_assert_eq(tg_list_len(l), 0);
    cr_assert_eq(tg_refcount(x), 1);
    cr_assert_null(tg_list_get(l, 0));
    ASSERT_ERR(TG_ERR_INDEX);
    tg_error_clear();
    cr_assert_eq(tg_list_clear(l), 0);       /* clearing an empty list */
    cr_assert_eq(tg_list_append(l, x), 0);   /* and it is usable afterwards */
    cr_assert_eq(tg_list_insert(l, 0, tg_int(1)), 0);
    assert_ints(l, (int64_t[]){1, 77777}, 2);
    tg_decref(l);
    cr_assert_eq(tg_refcount(x), 1);
    tg_decref(x);
    TG_END();
}

Test(list, wrong_type_and_null)
{
    TG_START();
    tg_obj *d = OK(tg_dict_new()), *t = OK(tg_tuple(1, tg_none()));
    tg_obj *nonlists[] = { d, t, tg_int(3), NULL };
    for (size_t k = 0; k < sizeof nonlists / sizeof nonlists[0]; k++) {
        tg_obj *o = nonlists[k];
        tg_error_clear();
        cr_assert_eq(tg_list_len(o), 0);
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_eq(tg_list_append(o, tg_none()), -1);
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_null(tg_list_get(o, 0));
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_eq(tg_list_set(o, 0, tg_none()), -1);
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_eq(tg_list_insert(o, 0, tg_none()), -1);
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_null(tg_list_pop(o, 0));
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_eq(tg_list_extend(o, t), -1);
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_eq(tg_list_clear(o), -1);
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
    }
    cr_assert_eq(tg_tuple_len(t), 1);
    cr_assert_eq(tg_dict_len(d), 0);
    tg_obj *l = OK(tg_list_new(0));
    cr_assert_eq(tg_list_append(l, NULL), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    tg_error_clear();
    cr_assert_eq(tg_list_len(l), 0);
    tg_decref(l); tg_decref(d); tg_decref(t);
    TG_END();
}

Test(list, large_and_free_list_reuse)
{
    TG_START();
    enum { N = 100000 };
    tg_obj *l = int_list(N, -N / 2);
    cr_assert_eq(tg_list_len(l), N);
    for (int i = 0; i < N; i += 997) cr_assert_eq(at(l, i), -N / 2 + i);
    for (int i = N - 1; i >= 0; i--) {
        tg_obj *v = OK(tg_list_pop(l, -1));
        cr_assert_eq(tg_int_value(v), -N / 2 + i);
        tg_decref(v);
    }
    cr_assert_eq(tg_list_len(l), 0);
    tg_decref(l);
    /* lists recycled through the free list come back empty */
    for (int round = 0; round < 200; round++) {
        tg_obj *a = int_list(round % 7, 0);
        tg_obj *b = OK(tg_list_new(round % 3));
        cr_assert_eq(tg_list_len(b), 0);
        cr_assert_null(tg_list_get(b, 0));
        tg_error_clear();
        tg_decref(a); tg_decref(b);
    }
    TG_END();
}

/* A finalizer that looks at (and changes) the list that is dropping it. */
static tg_obj *watched_list;
static size_t seen_len;
static void look_at_list(tg_obj *self)
{
    (void)self;
    seen_len = tg_list_len(watched_list);
    cr_assert_eq(tg_list_append(watched_list, tg_int(42)), 0);
}

Test(list, finalizers_see_a_consistent_list)
{
    TG_START();
    static tg_type *t;
    tg_type_spec s = { .name = "Peeker", .finalize = look_at_list };
    if (!t) t = tg_type_new(&s);
    tg_obj *l = int_list(3, 0);
    watched_list = l;
    tg_obj *p = OK(tg_new(t));
    cr_assert_eq(tg_list_set(l, 1, p), 0);
    tg_decref(p);
    cr_assert_eq(tg_list_set(l, 1, tg_int(9)), 0);   /* the old item's finalizer runs */
    cr_assert_eq(seen_len, 3);
    assert_ints(l, (int64_t[]){0, 9, 2, 42}, 4);
    p = OK(tg_new(t));
    cr_assert_eq(tg_list_append(l, p), 0);
    tg_decref(p);
    cr_assert_eq(tg_list_clear(l), 0);               /* items are dropped after the list is empty */
    cr_assert_eq(seen_len, 0);
    assert_ints(l, (int64_t[]){42}, 1);
    p = OK(tg_new(t));
    cr_assert_eq(tg_list_append(l, p), 0);
    tg_decref(p);
    tg_obj *popped = OK(tg_list_pop(l, -1));
    tg_decref(popped);
    cr_assert_eq(seen_len, 1);
    watched_list = NULL;
    tg_decref(l);
    TG_END();
}

/* ============================================================ allocation failures */

/* Run op with the n-th allocation failing, for n = 0, 1, ... until it
   succeeds; after each failure check that nothing changed. */
Test(nomem, append_insert_extend_leave_everything_as_it_was)
{
    TG_START();
    for (int op = 0; op < 4; op++) {
        /* a full list: its next growth needs memory */
        tg_obj *l = OK(tg_list_new(4));
        tg_obj *x = OK(tg_int(12345));
        for (int i = 0; i < 4; i++) cr_assert_eq(tg_list_append(l, x), 0);
        tg_obj *y = OK(tg_int(54321));
        tg_obj *other = int_list(3, 100);
        cr_assert_eq(tg_refcount(x), 5);
        size_t live = tg_live_objects();
        size_t size = tg_sizeof(l);
        int failures = 0;
        for (long n = 0;; n++) {
            tg_error_clear();
            tg_mem_fail_after(n);
            int r;
            switch (op) {
            case 0: r = tg_list_append(l, y); break;
            case 1: r = tg_list_insert(l, 1, y); break;
            case 2: r = tg_list_extend(l, other); break;
            default: r = tg_list_extend(l, l); break;
            }
            tg_mem_fail_after(-1);
            if (r == 0) break;
            failures++;
            cr_assert_eq(r, -1);
            ASSERT_ERR(TG_ERR_NOMEM);
            cr_assert_eq(tg_list_len(l), 4, "op %d: the list changed", op);
            cr_assert_eq(tg_sizeof(l), size);
            for (int i = 0; i < 4; i++) {
                tg_obj *g = OK(tg_list_get(l, i));
                cr_assert_eq(g, x);
                tg_decref(g);
            }
            cr_assert_eq(tg_refcount(x), 5);
            cr_assert_eq(tg_refcount(y), 1);
            cr_assert_eq(tg_refcount(other), 1);
            cr_assert_eq(tg_live_objects(), live);
        }
        cr_assert_geq(failures, 1, "op %d never allocated", op);
        ASSERT_NO_ERR();
        cr_assert_eq(tg_list_len(l), op == 2 ? 7 : op == 3 ? 8 : 5);
        tg_decref(l); tg_decref(x); tg_decref(y); tg_decref(other);
    }
    TG_END();
}

Test(nomem, list_new)
{
    TG_START();
    for (size_t hint = 0; hint < 2; hint++) {
        int failures = 0;
        for (long n = 0;; n++) {
            tg_error_clear();
            tg_mem_fail_after(n);
            tg_obj *l = tg_list_new(hint * 100);
            tg_mem_fail_after(-1);
            if (l) { tg_decref(l); break; }
            failures++;
            ASSERT_ERR(TG_ERR_NOMEM);
            cr_assert_eq(tg_live_objects(), 0);
        }
        cr_assert_geq(failures, 1);
    }
    TG_END();
}
