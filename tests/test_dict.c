/*
 * tests/test_dict.c — dicts: set/get/del/contains/next, insertion order
 * across deletes and resizes, keys equal across types, large dicts,
 * colliding keys, error paths and allocation failures.
 */
#include "tg_test.h"

static tg_obj *I(int64_t v) { return OK(tg_int(v)); }

static void set_ii(tg_obj *d, int64_t k, int64_t v)
{
    tg_obj *ko = I(k), *vo = I(v);
    cr_assert_eq(tg_dict_set(d, ko, vo), 0, "%s", tg_error_message());
    tg_decref(ko); tg_decref(vo);
}

/* d[k] as an int, or -999999 when absent (TG_ERR_KEY) */
static int64_t get_ii(tg_obj *d, int64_t k)
{
    tg_obj *ko = I(k);
    tg_obj *v = tg_dict_get(d, ko);
    tg_decref(ko);
    if (!v) { cr_assert_eq(tg_error(), TG_ERR_KEY); tg_error_clear(); return -999999; }
    int64_t r = tg_int_value(v);
    tg_decref(v);
    return r;
}

static void del_i(tg_obj *d, int64_t k)
{
    tg_obj *ko = I(k);
    cr_assert_eq(tg_dict_del(d, ko), 0, "del %ld: %s", (long)k, tg_error_message());
    tg_decref(ko);
}

/* The keys, in iteration order, must be exactly `want`. */
static void assert_keys(tg_obj *d, const int64_t *want, size_t n)
{
    cr_assert_eq(tg_dict_len(d), n, "len %zu, want %zu", tg_dict_len(d), n);
    size_t pos = 0, i = 0;
    tg_obj *k, *v;
    while (tg_dict_next(d, &pos, &k, &v) == 1) {
        cr_assert_lt(i, n);
        cr_assert_eq(tg_int_value(k), want[i], "key #%zu is %ld, want %ld", i, (long)tg_int_value(k), (long)want[i]);
        tg_decref(k); tg_decref(v);
        i++;
    }
    cr_assert_eq(i, n);
}

Test(dict, set_get_overwrite_del)
{
    TG_START();
    tg_obj *d = OK(tg_dict_new());
    cr_assert_eq(tg_typeof(d), tg_type_dict());
    cr_assert_eq(tg_dict_len(d), 0);
    tg_obj *k = OK(tg_str("key")), *v1 = I(100001), *v2 = I(100002);
    cr_assert_eq(tg_dict_set(d, k, v1), 0);
    cr_assert_eq(tg_dict_len(d), 1);
    cr_assert_eq(tg_refcount(k), 2);
    cr_assert_eq(tg_refcount(v1), 2);
    tg_obj *g = OK(tg_dict_get(d, k));
    cr_assert_eq(g, v1);
    cr_assert_eq(tg_refcount(v1), 3, "get returns a new reference");
    tg_decref(g);
    /* an equal key that is another object finds it */
    tg_obj *k2 = OK(tg_str("key"));
    g = OK(tg_dict_get(d, k2));
    cr_assert_eq(g, v1);
    tg_decref(g);
    /* overwrite: one entry, the first key kept, the old value released */
    cr_assert_eq(tg_dict_set(d, k2, v2), 0);
    cr_assert_eq(tg_dict_len(d), 1);
    cr_assert_eq(tg_refcount(v1), 1);
    cr_assert_eq(tg_refcount(v2), 2);
    cr_assert_eq(tg_refcount(k2), 1, "the stored key stays the first one");
    cr_assert_eq(tg_refcount(k), 2);
    cr_assert_eq(tg_dict_contains(d, k2), 1);
    tg_obj *other = OK(tg_str("other"));
    cr_assert_eq(tg_dict_contains(d, other), 0);
    ASSERT_NO_ERR();
    /* missing */
    cr_assert_null(tg_dict_get(d, other));
    ASSERT_ERR(TG_ERR_KEY);
    tg_error_clear();
    cr_assert_eq(tg_dict_del(d, other), -1);
    ASSERT_ERR(TG_ERR_KEY);
    tg_error_clear();
    cr_assert_eq(tg_dict_len(d), 1);
    /* del */
    cr_assert_eq(tg_dict_del(d, k2), 0);
    cr_assert_eq(tg_dict_len(d), 0);
    cr_assert_eq(tg_refcount(k), 1);
    cr_assert_eq(tg_refcount(v2), 1);
    cr_assert_null(tg_dict_get(d, k));
    ASSERT_ERR(TG_ERR_KEY);
    cr_assert_eq(tg_dict_del(d, k), -1);
    ASSERT_ERR(TG_ERR_KEY);
    tg_error_clear();
    cr_assert_eq(tg_dict_contains(d, k), 0);
    /* an empty, never-used dict */
    tg_obj *e = OK(tg_dict_new());
    cr_assert_null(tg_dict_get(e, k));
    ASSERT_ERR(TG_ERR_KEY);
    cr_assert_eq(tg_dict_del(e, k), -1);
    ASSERT_ERR(TG_ERR_KEY);
    tg_error_clear();
    cr_assert_eq(tg_dict_contains(e, k), 0);
    tg_obj *all[] = { d, k, k2, v1, v2, other, e };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tg_decref(all[i]);
    TG_END();
}

Test(dict, values_released_on_death)
{
    TG_START();
    tg_obj *d = OK(tg_dict_new()), *v = I(777777), *k = OK(tg_str("k k"));
    for (int i = 0; i < 50; i++) {
        tg_obj *ki = I(1000 + i);
        cr_assert_eq(tg_dict_set(d, ki, v), 0);
        tg_decref(ki);
    }
    cr_assert_eq(tg_dict_set(d, k, v), 0);
    cr_assert_eq(tg_refcount(v), 52);
    tg_decref(d);
    cr_assert_eq(tg_refcount(v), 1);
    cr_assert_eq(tg_refcount(k), 1);
    tg_decref(v); tg_decref(k);
    TG_END();
}

Test(dict, unhashable_keys)
{
    TG_START();
    tg_obj *d = OK(tg_dict_new()), *v = I(31337);
    set_ii(d, 1, 2);
    tg_obj *l = OK(tg_list_new(0)), *dd = OK(tg_dict_new()), *t = OK(tg_tuple(2, tg_int(1), l));
    tg_obj *bad[] = { l, dd, t };
    for (size_t i = 0; i < 3; i++) {
        tg_error_clear();
        cr_assert_eq(tg_dict_set(d, bad[i], v), -1);
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_null(tg_dict_get(d, bad[i]));
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_eq(tg_dict_contains(d, bad[i]), -1);
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_eq(tg_dict_del(d, bad[i]), -1);
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
    }
    cr_assert_eq(tg_refcount(v), 1);
    cr_assert_eq(tg_refcount(l), 2);          /* the tuple's */
    assert_keys(d, (int64_t[]){1}, 1);
    tg_decref(d); tg_decref(v); tg_decref(l); tg_decref(dd); tg_decref(t);
    TG_END();
}

Test(dict, null_arguments_and_wrong_types)
{
    TG_START();
    tg_obj *d = OK(tg_dict_new()), *k = I(5000);
    cr_assert_eq(tg_dict_set(d, NULL, k), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    cr_assert_eq(tg_dict_set(d, k, NULL), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    cr_assert_null(tg_dict_get(d, NULL));
    ASSERT_ERR(TG_ERR_VALUE);
    cr_assert_eq(tg_dict_del(d, NULL), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    cr_assert_eq(tg_dict_contains(d, NULL), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    cr_assert_eq(tg_dict_next(d, NULL, NULL, NULL), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    tg_error_clear();
    cr_assert_eq(tg_dict_len(d), 0);
    tg_obj *l = OK(tg_list_new(0));
    tg_obj *notdicts[] = { l, k, NULL };
    size_t pos = 0;
    for (size_t i = 0; i < 3; i++) {
        tg_obj *o = notdicts[i];
        tg_error_clear();
        cr_assert_eq(tg_dict_len(o), 0);
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_eq(tg_dict_set(o, k, k), -1);
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_null(tg_dict_get(o, k));
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_eq(tg_dict_del(o, k), -1);
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_eq(tg_dict_contains(o, k), -1);
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_eq(tg_dict_next(o, &pos, NULL, NULL), -1);
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
    }
    cr_assert_eq(tg_refcount(k), 1);
    tg_decref(d); tg_decref(k); tg_decref(l);
    TG_END();
}

Test(dict, next_iterates_in_insertion_order_with_new_refs)
{
    TG_START();
    tg_obj *d = OK(tg_dict_new());
    size_t pos = 0;
    tg_obj *k = NULL, *v = NULL;
    cr_assert_eq(tg_dict_next(d, &pos, &k, &v), 0);           /* empty */
    cr_assert_null(k);
    int64_t order[] = { 5, 3, 9, 1, 7, 1000, -4 };
    for (size_t i = 0; i < 7; i++) set_ii(d, order[i], order[i] * 10);
    assert_keys(d, order, 7);
    pos = 0;
    size_t n = 0;
    while (tg_dict_next(d, &pos, &k, &v) == 1) {
        cr_assert_eq(tg_int_value(v), order[n] * 10);
        if (tg_is_immortal(k) == 0) cr_assert_eq(tg_refcount(k), 2, "a new reference to the key");
        if (tg_is_immortal(v) == 0) cr_assert_eq(tg_refcount(v), 2, "a new reference to the value");
        tg_decref(k); tg_decref(v);
        n++;
    }
    cr_assert_eq(n, 7);
    cr_assert_eq(tg_dict_next(d, &pos, &k, &v), 0, "stays finished");
    /* keys only, values only, neither */
    pos = 0; n = 0;
    while (tg_dict_next(d, &pos, &k, NULL) == 1) { cr_assert_eq(tg_int_value(k), order[n++]); tg_decref(k); }
    cr_assert_eq(n, 7);
    pos = 0; n = 0;
    while (tg_dict_next(d, &pos, NULL, &v) == 1) { cr_assert_eq(tg_int_value(v), order[n++] * 10); tg_decref(v); }
    cr_assert_eq(n, 7);
    pos = 0; n = 0;
    while (tg_dict_next(d, &pos, NULL, NULL) == 1) n++;
    cr_assert_eq(n, 7);
    ASSERT_NO_ERR();
    tg_decref(d);
    TG_END();
}

Test(dict, order_across_deletes_and_resizes)
{
    TG_START();
    tg_obj *d = OK(tg_dict_new());
    enum { N = 3000 };
    static int64_t want[N + N];
    size_t n = 0;
    for (int i = 0; i < N; i++) set_ii(d, i * 7 % N, i);     /* a scrambled order */
    for (int i = 0; i < N; i++) want[n++] = i * 7 % N;
    assert_keys(d, want, n);
    /* delete every third; the rest keep their order */
    for (int i = 0; i < N; i += 3) del_i(d, i * 7 % N);
    n = 0;
    for (int i = 0; i < N; i++) if (i % 3) want[n++] = i * 7 % N;
    assert_keys(d, want, n);
    /* overwriting keeps the position */
    set_ii(d, 1 * 7 % N, -1);
    assert_keys(d, want, n);
    cr_assert_eq(get_ii(d, 1 * 7 % N), -1);
    /* re-inserting a deleted key puts it at the end; new keys force resizes */
    set_ii(d, 0, 0);
    want[n++] = 0;
    for (int i = N; i < N + 2000; i++) { set_ii(d, i, i); want[n++] = i; }
    assert_keys(d, want, n);
    for (size_t i = 0; i < n; i += 37) cr_assert_neq(get_ii(d, want[i]), -999999);
    tg_decref(d);
    TG_END();
}

Test(dict, churn_does_not_grow_without_bound)
{
    TG_START();
    tg_obj *d = OK(tg_dict_new());
    for (int i = 0; i < 4; i++) set_ii(d, i, i);
    size_t peak = 0;
    for (int round = 0; round < 100000; round++) {
        set_ii(d, 1000 + round, round);
        del_i(d, 1000 + round);
        size_t s = tg_sizeof(d);
        if (s > peak) peak = s;
    }
    assert_keys(d, (int64_t[]){0, 1, 2, 3}, 4);
    cr_assert_lt(peak, 4096, "a dict of 5 keys reached %zu bytes under insert/delete churn", peak);
    tg_decref(d);
    TG_END();
}

Test(dict, equal_keys_across_types)
{
    TG_START();
    tg_obj *d = OK(tg_dict_new());
    tg_obj *one = tg_int(1), *onef = OK(tg_float(1.0)), *t = tg_true();
    tg_obj *a = OK(tg_str("a a")), *b = OK(tg_str("b b")), *c = OK(tg_str("c c"));
    cr_assert_eq(tg_dict_set(d, one, a), 0);
    cr_assert_eq(tg_dict_set(d, onef, b), 0);
    cr_assert_eq(tg_dict_set(d, t, c), 0);
    cr_assert_eq(tg_dict_len(d), 1, "1, 1.0 and True are one key");
    tg_obj *probes[] = { one, onef, t };
    for (size_t i = 0; i < 3; i++) {
        tg_obj *g = OK(tg_dict_get(d, probes[i]));
        cr_assert_eq(g, c);
        tg_decref(g);
    }
    size_t pos = 0;
    tg_obj *k, *v;
    cr_assert_eq(tg_dict_next(d, &pos, &k, &v), 1);
    cr_assert_eq(k, one, "the first key is kept, as in Python ({1: 'a', 1.0: 'b'} == {1: 'b'})");
    tg_decref(k); tg_decref(v);
    cr_assert_eq(tg_refcount(a), 1);
    cr_assert_eq(tg_refcount(b), 1);
    cr_assert_eq(tg_dict_del(d, t), 0);
    cr_assert_eq(tg_dict_len(d), 0);
    /* 0, 0.0, -0.0, False */
    tg_obj *zf = OK(tg_float(0.0)), *mzf = OK(tg_float(-0.0));
    cr_assert_eq(tg_dict_set(d, zf, a), 0);
    cr_assert_eq(tg_dict_contains(d, tg_int(0)), 1);
    cr_assert_eq(tg_dict_contains(d, mzf), 1);
    cr_assert_eq(tg_dict_contains(d, tg_false()), 1);
    cr_assert_eq(tg_dict_contains(d, tg_int(1)), 0);
    /* -1 and -1.0 (hash -1 is reserved for errors) */
    tg_obj *m1f = OK(tg_float(-1.0));
    cr_assert_eq(tg_dict_set(d, tg_int(-1), b), 0);
    tg_obj *g = OK(tg_dict_get(d, m1f));
    cr_assert_eq(g, b);
    tg_decref(g);
    /* 2**60 as int and float */
    tg_obj *big = I(INT64_C(1) << 60), *bigf = OK(tg_float(1152921504606846976.0));
    cr_assert_eq(tg_dict_set(d, big, c), 0);
    cr_assert_eq(tg_dict_contains(d, bigf), 1);
    /* tuples of equal items */
    tg_obj *t1 = OK(tg_tuple(2, one, a)), *t2 = OK(tg_tuple(2, onef, a));
    cr_assert_eq(tg_dict_set(d, t1, a), 0);
    cr_assert_eq(tg_dict_contains(d, t2), 1);
    /* but "1" and b"1" are different keys from 1 */
    tg_obj *s1 = OK(tg_str("1")), *b1 = OK(tg_bytes("1", 1));
    cr_assert_eq(tg_dict_contains(d, s1), 0);
    cr_assert_eq(tg_dict_contains(d, b1), 0);
    ASSERT_NO_ERR();
    tg_obj *all[] = { d, onef, a, b, c, zf, mzf, m1f, big, bigf, t1, t2, s1, b1 };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tg_decref(all[i]);
    TG_END();
}

Test(dict, large_int_and_str_keys)
{
    TG_START();
    enum { N = 100000 };
    tg_obj *d = OK(tg_dict_new());
    for (int i = 0; i < N; i++) set_ii(d, (int64_t)i * 1000003, i);
    cr_assert_eq(tg_dict_len(d), N);
    for (int i = 0; i < N; i++) cr_assert_eq(get_ii(d, (int64_t)i * 1000003), i);
    cr_assert_eq(get_ii(d, 1), -999999);
    for (int i = 0; i < N; i += 2) del_i(d, (int64_t)i * 1000003);
    cr_assert_eq(tg_dict_len(d), N / 2);
    for (int i = 0; i < N; i++) cr_assert_eq(get_ii(d, (int64_t)i * 1000003), i % 2 ? i : -999999);
    for (int i = 1; i < N; i += 2) del_i(d, (int64_t)i * 1000003);
    cr_assert_eq(tg_dict_len(d), 0);
    set_ii(d, 5, 5);
    assert_keys(d, (int64_t[]){5}, 1);
    tg_decref(d);

    tg_obj *s = OK(tg_dict_new());
    char buf[32];
    for (int i = 0; i < N; i++) {
        snprintf(buf, sizeof buf, "key-%d", i);
        tg_obj *k = OK(tg_str(buf)), *v = I(i);
        cr_assert_eq(tg_dict_set(s, k, v), 0);
        tg_decref(k); tg_decref(v);
    }
    for (int i = N - 1; i >= 0; i -= 3) {
        snprintf(buf, sizeof buf, "key-%d", i);
        tg_obj *k = OK(tg_str(buf));
        tg_obj *v = OK(tg_dict_get(s, k));
        cr_assert_eq(tg_int_value(v), i);
        tg_decref(k); tg_decref(v);
    }
    cr_assert_eq(tg_live_objects(), 1 + (size_t)N + ((size_t)N - 257));   /* the dict, the keys, the values but the cached 0..256 */
    tg_decref(s);
    TG_END();
}

/* Embedder keys whose hash collides on purpose. */
static tg_type *coll_type;
static int64_t coll_hash(tg_obj *self) { (void)self; return 12345; }
static int coll_eq(tg_obj *self, tg_obj *other)
{
    if (tg_typeof(other) != (const tg_type *)coll_type) return 0;
    return *(int64_t *)tg_payload(self) == *(int64_t *)tg_payload(other);
}
static tg_obj *coll(int64_t v)
{
    if (!coll_type) {
        tg_type_spec s = { .name = "Colliding", .payload_size = 8, .hash = coll_hash, .eq = coll_eq };
        coll_type = tg_type_new(&s);
    }
    tg_obj *o = OK(tg_new(coll_type));
    *(int64_t *)tg_payload(o) = v;
    return o;
}

Test(dict, colliding_embedder_keys)
{
    TG_START();
    tg_obj *d = OK(tg_dict_new());
    enum { N = 200 };
    for (int i = 0; i < N; i++) {
        tg_obj *k = coll(i), *v = I(i);
        cr_assert_eq(tg_dict_set(d, k, v), 0);
        tg_decref(k); tg_decref(v);
    }
    cr_assert_eq(tg_dict_len(d), N);
    for (int i = 0; i < N; i += 2) {
        tg_obj *k = coll(i);
        cr_assert_eq(tg_dict_del(d, k), 0);
        tg_decref(k);
    }
    for (int i = 0; i < N; i++) {
        tg_obj *k = coll(i);
        tg_obj *v = tg_dict_get(d, k);
        if (i % 2) { cr_assert_not_null(v); cr_assert_eq(tg_int_value(v), i); tg_decref(v); }
        else { cr_assert_null(v); ASSERT_ERR(TG_ERR_KEY); tg_error_clear(); }
        tg_decref(k);
    }
    /* an int key with the same hash is not equal to any of them */
    tg_obj *same_hash = I(12345);
    cr_assert_eq(tg_dict_contains(d, same_hash), 0);
    tg_decref(same_hash);
    tg_decref(d);
    TG_END();
}

/* A key whose eq fails: the error comes out of get/set/del/contains. */
static tg_type *failing_type;
static int64_t failing_hash(tg_obj *self) { (void)self; return 99; }
static int failing_eq(tg_obj *self, tg_obj *other)
{
    (void)self; (void)other;
    tg_error_set(TG_ERR_VALUE, "eq failed");
    return -1;
}

Test(dict, a_failing_key_comparison_is_an_error)
{
    TG_START();
    tg_type_spec s = { .name = "FailingKey", .hash = failing_hash, .eq = failing_eq };
    if (!failing_type) failing_type = tg_type_new(&s);
    tg_obj *d = OK(tg_dict_new()), *a = OK(tg_new(failing_type)), *b = OK(tg_new(failing_type));
    cr_assert_eq(tg_dict_set(d, a, tg_none()), 0);   /* an empty slot: no comparison */
    cr_assert_eq(tg_dict_set(d, a, tg_true()), 0);   /* the same object: identity, no comparison */
    tg_error_clear();
    cr_assert_null(tg_dict_get(d, b));
    ASSERT_ERR(TG_ERR_VALUE);
    tg_error_clear();
    cr_assert_eq(tg_dict_set(d, b, tg_none()), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    tg_error_clear();
    cr_assert_eq(tg_dict_contains(d, b), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    tg_error_clear();
    cr_assert_eq(tg_dict_del(d, b), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    tg_error_clear();
    cr_assert_eq(tg_dict_len(d), 1);
    cr_assert_eq(tg_refcount(b), 1);
    tg_decref(d); tg_decref(a); tg_decref(b);
    TG_END();
}

Test(dict, free_list_reuse_gives_empty_dicts)
{
    TG_START();
    for (int round = 0; round < 300; round++) {
        tg_obj *d = OK(tg_dict_new());
        cr_assert_eq(tg_dict_len(d), 0);
        size_t pos = 0;
        cr_assert_eq(tg_dict_next(d, &pos, NULL, NULL), 0);
        for (int i = 0; i < round % 13; i++) set_ii(d, i, i);
        cr_assert_eq(tg_dict_len(d), (size_t)(round % 13));
        tg_decref(d);
    }
    TG_END();
}

/* ============================================================ allocation failures */

Test(nomem, dict_set_leaves_everything_as_it_was)
{
    TG_START();
    tg_obj *d = OK(tg_dict_new());
    /* fill the first table exactly: the next new key needs a bigger one */
    int filled = 0;
    size_t s0 = 0;
    for (;;) {
        set_ii(d, 1000 + filled, filled);
        filled++;
        if (!s0) s0 = tg_sizeof(d);
        tg_obj *k = I(5000), *v = I(5001);
        size_t before = tg_sizeof(d);
        tg_mem_fail_after(0);
        int r = tg_dict_set(d, k, v);
        tg_mem_fail_after(-1);
        if (r == 0) { cr_assert_eq(tg_sizeof(d), before); del_i(d, 5000); }
        tg_decref(k); tg_decref(v);
        tg_error_clear();
        if (r < 0) break;
        cr_assert_lt(filled, 100, "a dict of %d keys never needed memory for a new key", filled);
    }
    tg_obj *k = I(777777), *v = I(888888);
    size_t live = tg_live_objects();
    size_t size = tg_sizeof(d);
    int failures = 0;
    for (long n = 0;; n++) {
        tg_error_clear();
        tg_mem_fail_after(n);
        int r = tg_dict_set(d, k, v);
        tg_mem_fail_after(-1);
        if (r == 0) break;
        failures++;
        ASSERT_ERR(TG_ERR_NOMEM);
        cr_assert_eq(tg_dict_len(d), (size_t)filled);
        cr_assert_eq(tg_sizeof(d), size);
        cr_assert_eq(tg_refcount(k), 1);
        cr_assert_eq(tg_refcount(v), 1);
        cr_assert_eq(tg_live_objects(), live);
        cr_assert_eq(tg_dict_contains(d, k), 0);
        for (int i = 0; i < filled; i++) cr_assert_eq(get_ii(d, 1000 + i), i);
    }
    cr_assert_geq(failures, 1);
    cr_assert_eq(tg_dict_len(d), (size_t)filled + 1);
    cr_assert_eq(tg_refcount(k), 2);
    /* overwriting an existing key needs no memory */
    tg_mem_fail_after(0);
    int r = tg_dict_set(d, k, tg_none());
    tg_mem_fail_after(-1);
    cr_assert_eq(r, 0);
    cr_assert_eq(tg_refcount(v), 1);
    tg_decref(k); tg_decref(v); tg_decref(d);
    TG_END();
}

Test(nomem, dict_new_and_setattr)
{
    TG_START();
    tg_mem_fail_after(0);
    tg_obj *d = tg_dict_new();
    tg_mem_fail_after(-1);
    cr_assert_null(d);
    ASSERT_ERR(TG_ERR_NOMEM);
    cr_assert_eq(tg_live_objects(), 0);
    tg_obj *o = OK(tg_object_new(NULL)), *v = I(424242);
    int failures = 0;
    for (long n = 0;; n++) {
        tg_error_clear();
        tg_mem_fail_after(n);
        int r = tg_setattr(o, "attribute_name", v);
        tg_mem_fail_after(-1);
        if (r == 0) break;
        failures++;
        ASSERT_ERR(TG_ERR_NOMEM);
        cr_assert_eq(tg_refcount(v), 1);
        cr_assert_null(tg_getattr(o, "attribute_name"));
        ASSERT_ERR(TG_ERR_KEY);
    }
    cr_assert_geq(failures, 1);
    cr_assert_eq(tg_refcount(v), 2);
    tg_decref(o); tg_decref(v);
    TG_END();
}

/* A key whose eq mutates the dict being searched (CPython restarts such a
   lookup; it must not read a freed table). */
static tg_type *mutating_type;
static tg_obj *mutated_dict;
static int mutations;
static int64_t mutating_hash(tg_obj *self) { (void)self; return 4242; }
static int mutating_eq(tg_obj *self, tg_obj *other)
{
    (void)self; (void)other;
    if (mutated_dict && mutations++ == 0) {
        for (int i = 0; i < 200; i++) set_ii(mutated_dict, 50000 + i, i);   /* forces resizes */
    }
    return 0;
}

Test(dict, a_key_comparison_that_resizes_the_dict)
{
    TG_START();
    tg_type_spec s = { .name = "Mutating", .hash = mutating_hash, .eq = mutating_eq };
    if (!mutating_type) mutating_type = tg_type_new(&s);
    for (int op = 0; op < 4; op++) {
        tg_obj *d = OK(tg_dict_new()), *a = OK(tg_new(mutating_type)), *b = OK(tg_new(mutating_type));
        cr_assert_eq(tg_dict_set(d, a, tg_none()), 0);
        mutated_dict = d;
        mutations = 0;
        int r;
        switch (op) {
        case 0: { tg_obj *v = tg_dict_get(d, b); r = v ? 1 : 0; tg_xdecref(v); cr_assert_eq(tg_error(), TG_ERR_KEY); break; }
        case 1: r = tg_dict_contains(d, b); break;
        case 2: r = tg_dict_set(d, b, tg_true()); break;
        default: r = tg_dict_del(d, b); cr_assert_eq(tg_error(), TG_ERR_KEY); break;
        }
        tg_error_clear();
        mutated_dict = NULL;
        cr_assert_geq(mutations, 1);
        cr_assert_eq(r, op == 2 ? 0 : op == 3 ? -1 : 0, "op %d: %d", op, r);
        cr_assert_eq(tg_dict_len(d), op == 2 ? 202u : 201u);
        cr_assert_eq(tg_dict_contains(d, a), 1);
        tg_decref(d); tg_decref(a); tg_decref(b);
    }
    TG_END();
}
