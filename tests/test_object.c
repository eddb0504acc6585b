/*
 * tests/test_object.c — the generic object protocol: reference counts,
 * immortals, identity, types, sizes, equality and hashing; embedder types and
 * their life cycle; generic attribute objects; capsules; weak references;
 * deep structures; the debug checks.
 */
#include <math.h>
#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include "tg_test.h"

/* A type object is an (immortal) object: its header comes first. */
#define TYPE_AS_OBJ(t) ((const tg_obj *)(const void *)(t))

/* ============================================================ refcounts */

Test(refcount, exact_counts)
{
    TG_START();
    tg_obj *l = OK(tg_list_new(0));
    cr_assert_eq(tg_refcount(l), 1);
    tg_incref(l);
    cr_assert_eq(tg_refcount(l), 2);
    tg_incref(l);
    cr_assert_eq(tg_refcount(l), 3);
    tg_decref(l);
    tg_decref(l);
    cr_assert_eq(tg_refcount(l), 1);
    tg_xdecref(NULL);                        /* NULL-tolerant */
    tg_obj *x = OK(tg_int(5000));
    cr_assert_eq(tg_list_append(l, x), 0);   /* the list's reference */
    cr_assert_eq(tg_refcount(x), 2);
    tg_obj *g = OK(tg_list_get(l, 0));       /* a new reference */
    cr_assert_eq(g, x);
    cr_assert_eq(tg_refcount(x), 3);
    tg_decref(g);
    tg_decref(l);                            /* the list drops its reference */
    cr_assert_eq(tg_refcount(x), 1);
    tg_xdecref(x);
    TG_END();
}

/* The seeds: a = 1000 (well, a non-cached int); b = a; del b. */
Test(refcount, seeds_b_equals_a_and_drop)
{
    TG_START();
    tg_obj *a = OK(tg_int(1000));
    cr_assert_eq(tg_refcount(a), 1);
    tg_obj *b = a; tg_incref(b);             /* b = a */
    cr_assert_eq(tg_refcount(a), 2);
    cr_assert_eq(tg_id(a), tg_id(b));
    tg_obj *l = OK(tg_list_new(0));          /* c = [a] */
    cr_assert_eq(tg_list_append(l, a), 0);
    cr_assert_eq(tg_refcount(a), 3);
    tg_decref(b); b = NULL;                  /* del b */
    cr_assert_eq(tg_refcount(a), 2);
    tg_decref(l);                            /* del c */
    cr_assert_eq(tg_refcount(a), 1);
    cr_assert_eq(tg_live_objects(), 1);
    tg_decref(a);                            /* del a: freed now, not later */
    cr_assert_eq(tg_live_objects(), 0);
    TG_END();
}

/* ============================================================ immortals */

static void assert_immortal(tg_obj *o, const char *what)
{
    cr_assert_eq(tg_is_immortal(o), 1, "%s is not immortal", what);
    intptr_t rc = tg_refcount(o);
    for (int i = 0; i < 1000; i++) tg_incref(o);
    cr_assert_eq(tg_refcount(o), rc, "%s: incref changed the count", what);
    for (int i = 0; i < 5000; i++) tg_decref(o);   /* more decrefs than increfs: harmless */
    cr_assert_eq(tg_refcount(o), rc, "%s: decref changed the count", what);
    cr_assert_eq(tg_is_immortal(o), 1);
}

Test(immortal, singletons_types_small_ints_interned)
{
    TG_START();
    assert_immortal(tg_none(), "None");
    assert_immortal(tg_true(), "True");
    assert_immortal(tg_false(), "False");
    cr_assert_eq(tg_bool(42), tg_true());
    cr_assert_eq(tg_bool(0), tg_false());
    const tg_type *types[] = { tg_type_none(), tg_type_bool(), tg_type_int(), tg_type_float(),
        tg_type_str(), tg_type_bytes(), tg_type_tuple(), tg_type_list(), tg_type_dict(),
        tg_type_object(), tg_type_capsule(), tg_type_weakref() };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        assert_immortal((tg_obj *)TYPE_AS_OBJ(types[i]), tg_type_name(types[i]));
    for (int64_t v = -5; v <= 256; v++) {
        tg_obj *a = tg_int(v), *b = tg_int(v);
        cr_assert_eq(a, b, "tg_int(%ld) not cached", (long)v);
        cr_assert_eq(tg_int_value(a), v);
        assert_immortal(a, "small int");
    }
    tg_obj *s = OK(tg_str_intern("interned text, any text"));
    assert_immortal(s, "interned str");
    tg_obj *e = OK(tg_tuple(0));
    assert_immortal(e, "empty tuple");
    TG_END();
}

Test(immortal, ordinary_objects_are_mortal)
{
    TG_START();
    tg_obj *objs[] = { tg_int(-6), tg_int(257), tg_float(0.0), tg_str("abcd%"), tg_bytes("x", 1),
        tg_list_new(0), tg_dict_new(), tg_object_new(NULL), tg_capsule(NULL, NULL) };
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) {
        cr_assert_not_null(objs[i]);
        cr_assert_eq(tg_is_immortal(objs[i]), 0, "object %zu", i);
        cr_assert_eq(tg_refcount(objs[i]), 1, "object %zu", i);
        tg_decref(objs[i]);
    }
    TG_END();
}

/* ============================================================ identity and types */

Test(identity, id_is_stable_and_distinct)
{
    TG_START();
    tg_obj *a = OK(tg_list_new(0)), *b = OK(tg_list_new(0));
    uintptr_t ia = tg_id(a);
    cr_assert_neq(ia, tg_id(b));
    cr_assert_eq(tg_list_append(a, b), 0);
    for (int i = 0; i < 100; i++) cr_assert_eq(tg_list_append(a, tg_none()), 0);   /* grows */
    cr_assert_eq(tg_id(a), ia);
    tg_obj *g = OK(tg_list_get(a, 0));
    cr_assert_eq(tg_id(g), tg_id(b));
    tg_decref(g); tg_decref(a); tg_decref(b);
    TG_END();
}

Test(types, typeof_and_names)
{
    TG_START();
    struct { tg_obj *o; const tg_type *t; const char *name; } cases[] = {
        { tg_none(), tg_type_none(), "NoneType" },
        { tg_true(), tg_type_bool(), "bool" },
        { tg_int(1), tg_type_int(), "int" },
        { tg_int(1 << 20), tg_type_int(), "int" },
        { tg_float(1.5), tg_type_float(), "float" },
        { tg_str("s"), tg_type_str(), "str" },
        { tg_str("long string"), tg_type_str(), "str" },
        { tg_bytes("b", 1), tg_type_bytes(), "bytes" },
        { tg_tuple(0), tg_type_tuple(), "tuple" },
        { tg_list_new(0), tg_type_list(), "list" },
        { tg_dict_new(), tg_type_dict(), "dict" },
        { tg_object_new(NULL), tg_type_object(), "object" },
        { tg_capsule(NULL, NULL), tg_type_capsule(), "capsule" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_not_null(cases[i].o);
        cr_assert_eq(tg_typeof(cases[i].o), cases[i].t, "case %zu", i);
        cr_assert_str_eq(tg_type_name(tg_typeof(cases[i].o)), cases[i].name);
    }
    tg_obj *target = cases[11].o;
    tg_obj *w = OK(tg_weakref(target, NULL, NULL));
    cr_assert_eq(tg_typeof(w), tg_type_weakref());
    cr_assert_str_eq(tg_type_name(tg_typeof(w)), "weakref");
    tg_decref(w);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) tg_decref(cases[i].o);
    /* all types are distinct */
    const tg_type *all[] = { tg_type_none(), tg_type_bool(), tg_type_int(), tg_type_float(),
        tg_type_str(), tg_type_bytes(), tg_type_tuple(), tg_type_list(), tg_type_dict(),
        tg_type_object(), tg_type_capsule(), tg_type_weakref() };
    for (size_t i = 0; i < 12; i++)
        for (size_t j = i + 1; j < 12; j++) cr_assert_neq(all[i], all[j]);
    TG_END();
}

/* ============================================================ sizeof */

Test(sizeof_, plausible_sizes)
{
    TG_START();
    size_t hdr = sizeof(tg_obj);
    cr_assert_leq(hdr, 32, "object header is %zu bytes (budget 32)", hdr);
    tg_obj *i = OK(tg_int(1 << 30));
    cr_assert_geq(tg_sizeof(i), hdr + sizeof(int64_t));
    cr_assert_leq(tg_sizeof(i), 64);
    tg_obj *f = OK(tg_float(1.0));
    cr_assert_geq(tg_sizeof(f), hdr + sizeof(double));

    /* a list: header, gc head (16 bytes), its fields; the item array grows with capacity */
    tg_obj *l0 = OK(tg_list_new(0));
    size_t s0 = tg_sizeof(l0);
    cr_assert_geq(s0, hdr + 16 + sizeof(size_t), "empty list: %zu", s0);
    tg_obj *l100 = OK(tg_list_new(100));
    cr_assert_geq(tg_sizeof(l100), s0 + 100 * sizeof(void *));
    size_t prev = s0, grows = 0;
    for (int k = 0; k < 1000; k++) {
        cr_assert_eq(tg_list_append(l0, tg_none()), 0);
        size_t s = tg_sizeof(l0);
        cr_assert_geq(s, prev);
        cr_assert_geq(s, s0 + (size_t)(k + 1) * sizeof(void *));
        if (s > prev) grows++;
        prev = s;
    }
    cr_assert(grows > 5 && grows < 200, "grew %zu times for 1000 appends (amortised growth)", grows);
    cr_assert_eq(tg_list_clear(l0), 0);
    cr_assert_eq(tg_sizeof(l0), s0);

    /* tuples: one pointer per item, gc head included */
    tg_obj *t1 = OK(tg_tuple(1, tg_none())), *t3 = OK(tg_tuple(3, tg_none(), tg_none(), tg_none()));
    cr_assert_eq(tg_sizeof(t3) - tg_sizeof(t1), 2 * sizeof(void *));
    cr_assert_geq(tg_sizeof(t1), hdr + 16 + sizeof(size_t) + sizeof(void *));

    /* str and bytes: their text */
    tg_obj *s1 = OK(tg_str("abc")), *s2 = OK(tg_str_n("abcdefghijklmnopqrstuvwxyz0123456789", 36));
    cr_assert_eq(tg_sizeof(s2) - tg_sizeof(s1), 33);
    cr_assert_geq(tg_sizeof(s1), hdr + 4);
    tg_obj *b = OK(tg_bytes("\0\0\0\0\0\0\0\0\0\0", 10)), *b0 = OK(tg_bytes(NULL, 0));
    cr_assert_eq(tg_sizeof(b) - tg_sizeof(b0), 10);

    /* dicts grow with entries */
    tg_obj *d = OK(tg_dict_new());
    size_t d0 = tg_sizeof(d);
    cr_assert_geq(d0, hdr + 16);
    for (int k = 0; k < 1000; k++) {
        tg_obj *key = OK(tg_int(k));
        cr_assert_eq(tg_dict_set(d, key, tg_none()), 0);
        tg_decref(key);
    }
    cr_assert_geq(tg_sizeof(d), d0 + 1000 * 3 * sizeof(void *));

    tg_obj *objs[] = { i, f, l0, l100, t1, t3, s1, s2, b, b0, d };
    for (size_t k = 0; k < sizeof objs / sizeof objs[0]; k++) tg_decref(objs[k]);
    TG_END();
}

/* ============================================================ eq */

static tg_type *eq_type;                 /* equal when payload ints are equal; hashes them */
static int eq_calls;
static int payload_eq(tg_obj *self, tg_obj *other)
{
    eq_calls++;
    if (tg_typeof(other) != (const tg_type *)eq_type) {
        if (tg_typeof(other) == tg_type_int())
            return *(int64_t *)tg_payload(self) == tg_int_value(other);
        return 0;
    }
    return *(int64_t *)tg_payload(self) == *(int64_t *)tg_payload(other);
}
static int64_t payload_hash(tg_obj *self) { return *(int64_t *)tg_payload(self); }

static tg_type *make_eq_type(void)
{
    if (!eq_type) {
        tg_type_spec spec = { .name = "Keyish", .payload_size = sizeof(int64_t),
                              .hash = payload_hash, .eq = payload_eq };
        eq_type = tg_type_new(&spec);
        cr_assert_not_null(eq_type);
    }
    return eq_type;
}
static tg_obj *keyish(int64_t v)
{
    tg_obj *o = OK(tg_new(make_eq_type()));
    *(int64_t *)tg_payload(o) = v;
    return o;
}

Test(eq, numbers_across_int_float_bool)
{
    TG_START();
    tg_obj *i1 = tg_int(1), *f1 = OK(tg_float(1.0)), *t = tg_true(), *f0 = OK(tg_float(0.0));
    tg_obj *fm0 = OK(tg_float(-0.0)), *half = OK(tg_float(0.5)), *big = OK(tg_int(1000));
    tg_obj *bigf = OK(tg_float(1000.0));
    cr_assert_eq(tg_eq(i1, f1), 1);
    cr_assert_eq(tg_eq(f1, i1), 1);
    cr_assert_eq(tg_eq(i1, t), 1);
    cr_assert_eq(tg_eq(t, f1), 1);
    cr_assert_eq(tg_eq(tg_false(), tg_int(0)), 1);
    cr_assert_eq(tg_eq(tg_false(), fm0), 1);
    cr_assert_eq(tg_eq(f0, fm0), 1);
    cr_assert_eq(tg_eq(big, bigf), 1);
    cr_assert_eq(tg_eq(half, tg_int(0)), 0);
    cr_assert_eq(tg_eq(tg_true(), tg_false()), 0);
    cr_assert_eq(tg_eq(tg_int(2), f1), 0);
    /* exact comparison: 2**53 + 1 is not equal to the double 2**53 */
    tg_obj *p53 = OK(tg_int((INT64_C(1) << 53) + 1)), *f53 = OK(tg_float(9007199254740992.0));
    cr_assert_eq(tg_eq(p53, f53), 0);
    tg_obj *imax = OK(tg_int(INT64_MAX)), *f63 = OK(tg_float(9223372036854775808.0));
    cr_assert_eq(tg_eq(imax, f63), 0);
    tg_obj *nan1 = OK(tg_float(NAN)), *nan2 = OK(tg_float(NAN)), *inf = OK(tg_float(INFINITY));
    cr_assert_eq(tg_eq(nan1, nan2), 0);
    cr_assert_eq(tg_eq(nan1, nan1), 1);      /* identity first, as Python's containers do */
    cr_assert_eq(tg_eq(inf, imax), 0);
    /* numbers are not equal to other types */
    tg_obj *s1 = OK(tg_str("1"));
    cr_assert_eq(tg_eq(i1, s1), 0);
    cr_assert_eq(tg_eq(tg_none(), tg_false()), 0);
    ASSERT_NO_ERR();
    tg_obj *all[] = { f1, f0, fm0, half, big, bigf, p53, f53, imax, f63, nan1, nan2, inf, s1 };
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) tg_decref(all[k]);
    TG_END();
}

Test(eq, strings_bytes_containers)
{
    TG_START();
    tg_obj *a = OK(tg_str("hello, world")), *b = OK(tg_str("hello, world")), *c = OK(tg_str("hello, worle"));
    cr_assert_neq(a, b);
    cr_assert_eq(tg_eq(a, b), 1);
    cr_assert_eq(tg_eq(a, c), 0);
    (void)tg_hash(a);                           /* one side with a cached hash */
    cr_assert_eq(tg_eq(a, b), 1);
    cr_assert_eq(tg_eq(b, a), 1);
    tg_obj *ba = OK(tg_bytes("hello, world", 12)), *bb = OK(tg_bytes("hello, world", 12));
    cr_assert_eq(tg_eq(ba, bb), 1);
    cr_assert_eq(tg_eq(a, ba), 0);              /* str != bytes */
    tg_obj *n1 = OK(tg_bytes("a\0b", 3)), *n2 = OK(tg_bytes("a\0c", 3));
    cr_assert_eq(tg_eq(n1, n2), 0);
    tg_obj *sn1 = OK(tg_str_n("a\0b", 3)), *sn2 = OK(tg_str_n("a\0c", 3)), *sa = OK(tg_str("a"));
    cr_assert_eq(tg_eq(sn1, sn2), 0);
    cr_assert_eq(tg_eq(sn1, sa), 0);

    tg_obj *f1 = OK(tg_float(1.0));
    tg_obj *t1 = OK(tg_tuple(2, tg_int(1), a)), *t2 = OK(tg_tuple(2, f1, b)), *t3 = OK(tg_tuple(2, tg_int(1), c));
    cr_assert_eq(tg_eq(t1, t2), 1);
    cr_assert_eq(tg_eq(t1, t3), 0);
    tg_obj *t4 = OK(tg_tuple(1, tg_int(1)));
    cr_assert_eq(tg_eq(t1, t4), 0);             /* lengths differ */

    tg_obj *l1 = OK(tg_list_new(0)), *l2 = OK(tg_list_new(0));
    cr_assert_eq(tg_eq(l1, l2), 1);             /* [] == [] */
    cr_assert_eq(tg_list_append(l1, t1), 0);
    cr_assert_eq(tg_eq(l1, l2), 0);
    cr_assert_eq(tg_list_append(l2, t2), 0);
    cr_assert_eq(tg_eq(l1, l2), 1);
    tg_obj *lt = OK(tg_tuple(1, t1));
    cr_assert_eq(tg_eq(l1, lt), 0);             /* [x] != (x,) */

    tg_obj *d1 = OK(tg_dict_new()), *d2 = OK(tg_dict_new());
    cr_assert_eq(tg_eq(d1, d2), 1);
    cr_assert_eq(tg_dict_set(d1, a, l1), 0);
    cr_assert_eq(tg_dict_set(d1, tg_int(2), tg_none()), 0);
    cr_assert_eq(tg_dict_set(d2, f1, tg_none()), 0);     /* different key */
    cr_assert_eq(tg_dict_set(d2, b, l2), 0);
    cr_assert_eq(tg_eq(d1, d2), 0);
    cr_assert_eq(tg_dict_del(d2, f1), 0);
    tg_obj *f2 = OK(tg_float(2.0));
    cr_assert_eq(tg_dict_set(d2, f2, tg_none()), 0);     /* 2.0 == 2, other order */
    cr_assert_eq(tg_eq(d1, d2), 1);
    cr_assert_eq(tg_dict_set(d2, f2, tg_false()), 0);    /* a different value */
    cr_assert_eq(tg_eq(d1, d2), 0);
    ASSERT_NO_ERR();

    tg_obj *all[] = { a, b, c, ba, bb, n1, n2, sn1, sn2, sa, f1, f2, t1, t2, t3, t4, l1, l2, lt, d1, d2 };
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) tg_decref(all[k]);
    TG_END();
}

Test(eq, embedder_eq_and_identity)
{
    TG_START();
    tg_obj *a = keyish(7), *b = keyish(7), *c = keyish(8);
    eq_calls = 0;
    cr_assert_eq(tg_eq(a, b), 1);
    cr_assert_eq(eq_calls, 1);
    cr_assert_eq(tg_eq(a, c), 0);
    cr_assert_eq(tg_eq(a, a), 1);
    tg_obj *seven = tg_int(7);
    cr_assert_eq(tg_eq(a, seven), 1);          /* the embedder's eq decides across types */
    cr_assert_eq(tg_eq(seven, a), 1);
    /* a type without eq compares by identity */
    static tg_type *plain;
    tg_type_spec s = { .name = "Plain", .payload_size = 8 };
    if (!plain) plain = tg_type_new(&s);
    cr_assert_not_null(plain);
    tg_obj *p = OK(tg_new(plain)), *q = OK(tg_new(plain));
    cr_assert_eq(tg_eq(p, q), 0);
    cr_assert_eq(tg_eq(p, p), 1);
    tg_obj *o1 = OK(tg_object_new(NULL)), *o2 = OK(tg_object_new(NULL));
    cr_assert_eq(tg_eq(o1, o2), 0);
    /* NULL arguments */
    cr_assert_eq(tg_eq(NULL, a), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    cr_assert_eq(tg_eq(a, NULL), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    tg_error_clear();
    tg_decref(a); tg_decref(b); tg_decref(c); tg_decref(p); tg_decref(q); tg_decref(o1); tg_decref(o2);
    TG_END();
}

static tg_type *failing_eq_type;
static int failing_eq(tg_obj *self, tg_obj *other)
{
    (void)self; (void)other;
    tg_error_set(TG_ERR_VALUE, "cannot compare");
    return -1;
}

Test(eq, an_error_in_an_element_comparison_propagates)
{
    TG_START();
    if (!failing_eq_type) {
        tg_type_spec s = { .name = "Failing", .eq = failing_eq };
        failing_eq_type = tg_type_new(&s);
    }
    tg_obj *x = OK(tg_new(failing_eq_type)), *y = OK(tg_new(failing_eq_type));
    cr_assert_eq(tg_eq(x, y), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    tg_obj *l1 = OK(tg_list_new(0)), *l2 = OK(tg_list_new(0));
    tg_list_append(l1, x); tg_list_append(l2, y);
    tg_error_clear();
    cr_assert_eq(tg_eq(l1, l2), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    tg_obj *t1 = OK(tg_tuple(1, x)), *t2 = OK(tg_tuple(1, y));
    tg_error_clear();
    cr_assert_eq(tg_eq(t1, t2), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    tg_error_clear();
    tg_decref(x); tg_decref(y); tg_decref(l1); tg_decref(l2); tg_decref(t1); tg_decref(t2);
    TG_END();
}

static tg_obj *nest_lists(int depth)
{
    tg_obj *l = OK(tg_list_new(0));
    for (int i = 0; i < depth; i++) {
        tg_obj *n = OK(tg_list_new(1));
        cr_assert_eq(tg_list_append(n, l), 0);
        tg_decref(l);
        l = n;
    }
    return l;
}

Test(eq, too_deep_is_an_overflow_not_a_crash)
{
    TG_START();
    tg_obj *a = nest_lists(50000), *b = nest_lists(50000);
    cr_assert_eq(tg_eq(a, b), -1);
    ASSERT_ERR(TG_ERR_OVERFLOW);
    tg_error_clear();
    tg_obj *c = nest_lists(100), *d = nest_lists(100);
    cr_assert_eq(tg_eq(c, d), 1);
    tg_decref(a); tg_decref(b); tg_decref(c); tg_decref(d);
    TG_END();
}

/* ============================================================ hash */

Test(hash, equal_numbers_hash_equal)
{
    TG_START();
    int64_t vals[] = { 0, 1, -1, -2, 2, 255, 1000, -1000, INT64_C(1) << 40, -(INT64_C(1) << 52) };
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        tg_obj *i = OK(tg_int(vals[k])), *f = OK(tg_float((double)vals[k]));
        int64_t hi = tg_hash(i), hf = tg_hash(f);
        cr_assert_neq(hi, -1, "hash(%ld) is -1", (long)vals[k]);
        cr_assert_eq(hi, hf, "hash(%ld) != hash(%ld.0)", (long)vals[k], (long)vals[k]);
        tg_decref(i); tg_decref(f);
    }
    cr_assert_eq(tg_hash(tg_true()), tg_hash(tg_int(1)));
    cr_assert_eq(tg_hash(tg_false()), tg_hash(tg_int(0)));
    tg_obj *mz = OK(tg_float(-0.0));
    cr_assert_eq(tg_hash(mz), tg_hash(tg_int(0)));
    tg_obj *nan = OK(tg_float(NAN)), *inf = OK(tg_float(INFINITY)), *x = OK(tg_float(0.1));
    cr_assert_neq(tg_hash(nan), -1);
    cr_assert_neq(tg_hash(inf), -1);
    cr_assert_eq(tg_hash(x), tg_hash(x));
    cr_assert_neq(tg_hash(tg_none()), -1);
    ASSERT_NO_ERR();
    tg_decref(mz); tg_decref(nan); tg_decref(inf); tg_decref(x);
    TG_END();
}

Test(hash, strings_bytes_tuples)
{
    TG_START();
    tg_obj *a = OK(tg_str("some text")), *b = OK(tg_str("some text")), *c = OK(tg_str("other text"));
    int64_t ha = tg_hash(a);
    cr_assert_neq(ha, -1);
    cr_assert_eq(tg_hash(a), ha);             /* stable */
    cr_assert_eq(tg_hash(b), ha);             /* equal strings hash equally */
    cr_assert_neq(tg_hash(c), ha);
    tg_obj *i = OK(tg_str_intern("some text"));
    cr_assert_eq(tg_hash(i), ha);
    tg_obj *e = OK(tg_str("")), *ba = OK(tg_bytes("some text", 9));
    cr_assert_neq(tg_hash(e), -1);
    cr_assert_neq(tg_hash(ba), -1);
    tg_obj *f1 = OK(tg_float(1.0));
    tg_obj *t1 = OK(tg_tuple(2, tg_int(1), a)), *t2 = OK(tg_tuple(2, f1, b)), *t3 = OK(tg_tuple(2, a, tg_int(1)));
    cr_assert_eq(tg_hash(t1), tg_hash(t2));
    cr_assert_neq(tg_hash(t1), tg_hash(t3));  /* order matters */
    cr_assert_neq(tg_hash(tg_tuple(0)), -1);
    ASSERT_NO_ERR();
    tg_obj *all[] = { a, b, c, e, ba, f1, t1, t2, t3 };
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) tg_decref(all[k]);
    TG_END();
}

Test(hash, unhashable)
{
    TG_START();
    tg_obj *l = OK(tg_list_new(0)), *d = OK(tg_dict_new());
    cr_assert_eq(tg_hash(l), -1);
    ASSERT_ERR(TG_ERR_TYPE);
    cr_assert_not_null(strstr(tg_error_message(), "unhashable"), "%s", tg_error_message());
    tg_error_clear();
    cr_assert_eq(tg_hash(d), -1);
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    tg_obj *t = OK(tg_tuple(2, tg_int(1), l));
    cr_assert_eq(tg_hash(t), -1);
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    cr_assert_eq(tg_hash(NULL), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    tg_error_clear();
    tg_decref(t); tg_decref(l); tg_decref(d);
    TG_END();
}

static int64_t minus_one_hash(tg_obj *self) { (void)self; return -1; }
static int64_t error_hash(tg_obj *self) { (void)self; tg_error_set(TG_ERR_TYPE, "no hash for you"); return -1; }

Test(hash, embedder_hash_and_identity_hash)
{
    TG_START();
    tg_obj *a = keyish(123456), *b = keyish(123456);
    cr_assert_eq(tg_hash(a), 123456);
    cr_assert_eq(tg_hash(a), tg_hash(b));
    static tg_type *m1, *err;
    tg_type_spec s1 = { .name = "MinusOne", .hash = minus_one_hash };
    tg_type_spec s2 = { .name = "ErrHash", .hash = error_hash };
    if (!m1) m1 = tg_type_new(&s1);
    if (!err) err = tg_type_new(&s2);
    tg_obj *m = OK(tg_new(m1)), *e = OK(tg_new(err));
    tg_error_clear();
    int64_t hm = tg_hash(m);
    cr_assert_neq(hm, -1, "-1 without an error is a hash value, not a failure");
    ASSERT_NO_ERR();
    cr_assert_eq(tg_hash(e), -1);
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    /* identity hash: stable per object */
    tg_obj *o = OK(tg_object_new(NULL)), *p = OK(tg_object_new(NULL));
    cr_assert_eq(tg_hash(o), tg_hash(o));
    cr_assert_neq(tg_hash(o), -1);
    cr_assert_neq(tg_hash(o), tg_hash(p));
    tg_decref(a); tg_decref(b); tg_decref(m); tg_decref(e); tg_decref(o); tg_decref(p);
    TG_END();
}

/* ============================================================ embedder types */

static char order_log[64];
static size_t order_len;
static void log_ev(char c) { if (order_len + 1 < sizeof order_log) { order_log[order_len++] = c; order_log[order_len] = '\0'; } }

static tg_obj *resurrected;       /* where a finalizer puts its object back */
static int resurrect_budget;      /* how many times finalizers resurrect */
static int finalize_calls, clear_calls, dealloc_calls;
static tg_obj *watch_ref;         /* a weakref observed from clear */
static int clear_saw_dead_weakref;

static void ev_finalize(tg_obj *self)
{
    finalize_calls++;
    log_ev('F');
    cr_assert_eq(tg_refcount(self), 1, "the finalizer runs with a temporary reference");
    if (resurrect_budget > 0) {
        resurrect_budget--;
        tg_incref(self);
        resurrected = self;
    }
}
static void ev_clear(tg_obj *self)
{
    (void)self;
    clear_calls++;
    log_ev('C');
    if (watch_ref) {
        tg_obj *t = tg_weakref_get(watch_ref);
        clear_saw_dead_weakref = t == tg_none();
        tg_decref(t);
    }
}
static void ev_dealloc(tg_obj *self)
{
    dealloc_calls++;
    log_ev('D');
    int64_t *p = tg_payload(self);
    free((void *)(intptr_t)p[0]);   /* a non-object resource */
    p[0] = 0;
}
static void ev_weak_cb(tg_obj *ref, void *arg)
{
    (void)arg;
    log_ev('W');
    tg_obj *t = tg_weakref_get(ref);
    cr_assert_eq(t, tg_none(), "the callback gets the weakref already dead");
    tg_decref(t);
}

static void reset_events(void)
{
    order_len = 0; order_log[0] = '\0';
    resurrected = NULL; resurrect_budget = 0;
    finalize_calls = clear_calls = dealloc_calls = 0;
    watch_ref = NULL; clear_saw_dead_weakref = 0;
}

static tg_type *ev_type, *ev_legacy_type, *ev_gc_type;

static void make_ev_types(void)
{
    if (ev_type) return;
    tg_type_spec s = { .name = "Ev", .payload_size = 2 * sizeof(int64_t),
        .clear = ev_clear, .finalize = ev_finalize, .dealloc = ev_dealloc };
    ev_type = tg_type_new(&s);
    s.name = "EvLegacy";
    s.flags = TG_TYPE_LEGACY_DEL;
    ev_legacy_type = tg_type_new(&s);
    s.name = "EvGC";
    s.flags = TG_TYPE_GC;
    ev_gc_type = tg_type_new(&s);
    cr_assert(ev_type && ev_legacy_type && ev_gc_type);
}

Test(embedder, type_new_errors)
{
    TG_START();
    cr_assert_null(tg_type_new(NULL));
    ASSERT_ERR(TG_ERR_VALUE);
    tg_type_spec s = { .name = NULL };
    cr_assert_null(tg_type_new(&s));
    ASSERT_ERR(TG_ERR_VALUE);
    s.name = "";
    cr_assert_null(tg_type_new(&s));
    ASSERT_ERR(TG_ERR_VALUE);
    s.name = "Bad";
    s.flags = 1u << 7;
    cr_assert_null(tg_type_new(&s));
    ASSERT_ERR(TG_ERR_VALUE);
    s.flags = TG_TYPE_LEGACY_DEL;            /* a legacy finalizer without a finalizer */
    cr_assert_null(tg_type_new(&s));
    ASSERT_ERR(TG_ERR_VALUE);
    s.flags = 0;
    s.payload_size = SIZE_MAX / 2;
    cr_assert_null(tg_type_new(&s));
    ASSERT_ERR(TG_ERR_OVERFLOW);
    tg_error_clear();
    TG_END();
}

Test(embedder, type_is_immortal_and_named_by_copy)
{
    TG_START();
    static tg_type *t;
    char name[] = "MyType";
    tg_type_spec s = { .name = name, .payload_size = 24 };
    t = tg_type_new(&s);
    cr_assert_not_null(t);
    name[0] = 'X';                           /* the type keeps its own copy */
    cr_assert_str_eq(tg_type_name(t), "MyType");
    assert_immortal((tg_obj *)TYPE_AS_OBJ(t), "embedder type");
    tg_obj *o = OK(tg_new(t));
    cr_assert_eq(tg_typeof(o), t);
    cr_assert_str_eq(tg_type_name(tg_typeof(o)), "MyType");
    tg_decref(o);
    TG_END();
}

Test(embedder, new_errors_and_payload)
{
    TG_START();
    cr_assert_null(tg_new(NULL));
    ASSERT_ERR(TG_ERR_TYPE);
    cr_assert_null(tg_new((tg_type *)tg_type_list()));
    ASSERT_ERR(TG_ERR_TYPE);
    cr_assert_null(tg_new((tg_type *)tg_type_object()));
    ASSERT_ERR(TG_ERR_TYPE);
    tg_obj *l = OK(tg_list_new(0));
    cr_assert_null(tg_payload(l));
    ASSERT_ERR(TG_ERR_TYPE);
    cr_assert_null(tg_payload(NULL));
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();

    static tg_type *big;
    tg_type_spec s = { .name = "Big", .payload_size = 200 };
    if (!big) big = tg_type_new(&s);
    for (int round = 0; round < 20; round++) {
        tg_obj *o = OK(tg_new(big));
        unsigned char *p = tg_payload(o);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % alignof(max_align_t), 0, "payload %p is misaligned", (void *)p);
        for (int k = 0; k < 200; k++) cr_assert_eq(p[k], 0, "payload byte %d not zeroed", k);
        memset(p, 0xab, 200);                /* the next object likely reuses this memory */
        cr_assert_eq(tg_refcount(o), 1);
        cr_assert_eq(tg_is_immortal(o), 0);
        tg_decref(o);
    }
    tg_decref(l);
    TG_END();
}

Test(embedder, finalize_clear_dealloc_order)
{
    TG_START();
    make_ev_types();
    const tg_type *types[] = { ev_type, ev_legacy_type, ev_gc_type };
    for (int k = 0; k < 3; k++) {
        reset_events();
        tg_obj *o = OK(tg_new((tg_type *)types[k]));
        ((int64_t *)tg_payload(o))[0] = (int64_t)(intptr_t)malloc(32);
        tg_obj *w = OK(tg_weakref(o, ev_weak_cb, NULL));
        watch_ref = w;
        cr_assert_eq(tg_live_objects(), 2);
        tg_decref(o);
        cr_assert_str_eq(order_log, "FWCD", "type %s: got %s", tg_type_name(types[k]), order_log);
        cr_assert_eq(clear_saw_dead_weakref, 1, "weakrefs are cleared before clear runs");
        cr_assert_eq(finalize_calls, 1);
        cr_assert_eq(clear_calls, 1);
        cr_assert_eq(dealloc_calls, 1);
        cr_assert_eq(tg_live_objects(), 1);  /* the weakref */
        tg_decref(w);
    }
    reset_events();
    TG_END();
}

Test(embedder, finalizer_resurrects_then_runs_once)
{
    TG_START();
    make_ev_types();
    reset_events();
    tg_obj *o = OK(tg_new(ev_type));
    ((int64_t *)tg_payload(o))[1] = 4242;
    resurrect_budget = 1;
    tg_decref(o);
    cr_assert_eq(resurrected, o);
    cr_assert_str_eq(order_log, "F");
    cr_assert_eq(tg_refcount(o), 1);
    cr_assert_eq(((int64_t *)tg_payload(o))[1], 4242, "a resurrected object is intact");
    cr_assert_eq(tg_live_objects(), 1);
    /* a PEP 442 finalizer runs once per object: the second death skips it */
    resurrect_budget = 5;
    tg_decref(o);
    cr_assert_str_eq(order_log, "FCD");
    cr_assert_eq(finalize_calls, 1);
    cr_assert_eq(tg_live_objects(), 0);
    reset_events();
    TG_END();
}

Test(embedder, legacy_finalizer_runs_at_every_death)
{
    TG_START();
    make_ev_types();
    reset_events();
    tg_obj *o = OK(tg_new(ev_legacy_type));
    resurrect_budget = 2;
    tg_decref(o);
    cr_assert_eq(resurrected, o);
    cr_assert_eq(tg_refcount(o), 1);
    tg_decref(o);
    cr_assert_eq(tg_refcount(o), 1);
    cr_assert_str_eq(order_log, "FF");
    tg_decref(o);                            /* budget spent: it dies */
    cr_assert_str_eq(order_log, "FFFCD");
    cr_assert_eq(finalize_calls, 3);
    cr_assert_eq(tg_live_objects(), 0);
    reset_events();
    TG_END();
}

static void outer_error_finalize(tg_obj *self)
{
    (void)self;
    tg_error_set(TG_ERR_OS, "finalizer's own error");
}

Test(embedder, finalizer_does_not_disturb_the_callers_error)
{
    TG_START();
    static tg_type *t;
    tg_type_spec s = { .name = "Noisy", .finalize = outer_error_finalize };
    if (!t) t = tg_type_new(&s);
    tg_obj *o = OK(tg_new(t));
    tg_error_set(TG_ERR_KEY, "caller's error");
    tg_decref(o);
    ASSERT_ERR(TG_ERR_KEY);
    cr_assert_str_eq(tg_error_message(), "caller's error");
    tg_error_clear();
    o = OK(tg_new(t));
    tg_decref(o);
    ASSERT_NO_ERR();
    TG_END();
}

Test(embedder, gc_flag_allows_attributes)
{
    TG_START();
    make_ev_types();
    reset_events();
    tg_obj *g = OK(tg_new(ev_gc_type)), *n = OK(tg_new(ev_type));
    tg_obj *v = OK(tg_int(77777));
    cr_assert_eq(tg_setattr(g, "x", v), 0);
    cr_assert_eq(tg_refcount(v), 2);
    cr_assert_eq(tg_setattr(n, "x", v), -1, "a non-GC embedder type holds no attributes");
    ASSERT_ERR(TG_ERR_TYPE);
    cr_assert_eq(tg_refcount(v), 2);
    tg_error_clear();
    tg_decref(g);                            /* its attributes go with it */
    cr_assert_eq(tg_refcount(v), 1);
    tg_decref(n);
    tg_decref(v);
    reset_events();
    TG_END();
}

/* ============================================================ generic objects */

Test(object, attributes)
{
    TG_START();
    tg_obj *o = OK(tg_object_new(NULL));
    cr_assert_eq(tg_typeof(o), tg_type_object());
    tg_obj *v1 = OK(tg_int(100001)), *v2 = OK(tg_str("value two"));
    cr_assert_eq(tg_setattr(o, "name", v1), 0);
    cr_assert_eq(tg_refcount(v1), 2);
    tg_obj *g = OK(tg_getattr(o, "name"));
    cr_assert_eq(g, v1);
    tg_decref(g);
    cr_assert_eq(tg_setattr(o, "name", v2), 0);     /* replaces: the old value is released */
    cr_assert_eq(tg_refcount(v1), 1);
    cr_assert_eq(tg_refcount(v2), 2);
    g = OK(tg_getattr(o, "name"));
    cr_assert_eq(g, v2);
    tg_decref(g);
    /* the name is looked up by value, not by pointer */
    char name[] = "name";
    g = OK(tg_getattr(o, name));
    tg_decref(g);
    /* missing */
    cr_assert_null(tg_getattr(o, "nope"));
    ASSERT_ERR(TG_ERR_KEY);
    cr_assert_not_null(strstr(tg_error_message(), "nope"), "%s", tg_error_message());
    cr_assert_eq(tg_delattr(o, "nope"), -1);
    ASSERT_ERR(TG_ERR_KEY);
    cr_assert_eq(tg_delattr(o, "name"), 0);
    cr_assert_eq(tg_refcount(v2), 1);
    cr_assert_null(tg_getattr(o, "name"));
    ASSERT_ERR(TG_ERR_KEY);
    cr_assert_eq(tg_delattr(o, "name"), -1);
    ASSERT_ERR(TG_ERR_KEY);
    /* bad arguments */
    cr_assert_eq(tg_setattr(o, "", v1), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    cr_assert_eq(tg_setattr(o, NULL, v1), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    cr_assert_eq(tg_setattr(o, "x", NULL), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    cr_assert_eq(tg_setattr(o, "\xff", v1), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    cr_assert_null(tg_getattr(o, ""));
    ASSERT_ERR(TG_ERR_VALUE);
    cr_assert_eq(tg_refcount(v1), 1);
    tg_error_clear();
    tg_decref(o); tg_decref(v1); tg_decref(v2);
    TG_END();
}

Test(object, many_attributes)
{
    TG_START();
    tg_obj *o = OK(tg_object_new(NULL));
    char name[32];
    for (int k = 0; k < 500; k++) {
        snprintf(name, sizeof name, "attr_%d", k);
        tg_obj *v = OK(tg_int(100000 + k));
        cr_assert_eq(tg_setattr(o, name, v), 0);
        tg_decref(v);
    }
    for (int k = 0; k < 500; k += 2) {
        snprintf(name, sizeof name, "attr_%d", k);
        cr_assert_eq(tg_delattr(o, name), 0);
    }
    for (int k = 0; k < 500; k++) {
        snprintf(name, sizeof name, "attr_%d", k);
        tg_obj *v = tg_getattr(o, name);
        if (k % 2 == 0) { cr_assert_null(v); ASSERT_ERR(TG_ERR_KEY); continue; }
        cr_assert_not_null(v);
        cr_assert_eq(tg_int_value(v), 100000 + k);
        tg_decref(v);
    }
    tg_error_clear();
    cr_assert_eq(tg_live_objects(), 251);
    tg_decref(o);
    TG_END();
}

Test(object, not_an_instance)
{
    TG_START();
    tg_obj *l = OK(tg_list_new(0)), *big = OK(tg_int(5000)), *c = OK(tg_capsule(NULL, NULL));
    tg_obj *objs[] = { l, big, tg_int(1), tg_none(), c };
    for (size_t k = 0; k < sizeof objs / sizeof objs[0]; k++) {
        cr_assert_eq(tg_setattr(objs[k], "x", tg_none()), -1);
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_null(tg_getattr(objs[k], "x"));
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_eq(tg_delattr(objs[k], "x"), -1);
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
    }
    cr_assert_eq(tg_setattr(NULL, "x", tg_none()), -1);
    ASSERT_ERR(TG_ERR_TYPE);
    cr_assert_null(tg_getattr(NULL, "x"));
    ASSERT_ERR(TG_ERR_TYPE);
    cr_assert_null(tg_object_new((tg_type *)tg_type_dict()));
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    tg_decref(l); tg_decref(big); tg_decref(c);
    TG_END();
}

Test(object, object_new_with_an_embedder_type)
{
    TG_START();
    make_ev_types();
    reset_events();
    tg_obj *o = OK(tg_object_new(ev_type));        /* attributes and a payload */
    cr_assert_eq(tg_typeof(o), ev_type);
    cr_assert_not_null(tg_payload(o));
    cr_assert_eq(tg_setattr(o, "a", tg_true()), 0);
    tg_obj *g = OK(tg_getattr(o, "a"));
    cr_assert_eq(g, tg_true());
    tg_decref(o);
    cr_assert_str_eq(order_log, "FCD");
    reset_events();
    TG_END();
}

/* ============================================================ capsules */

static int destructor_calls;
static void *destructor_arg;
static void count_destructor(void *p) { destructor_calls++; destructor_arg = p; }

Test(capsule, destructor_runs_once)
{
    TG_START();
    int payload = 5;
    destructor_calls = 0;
    tg_obj *c = OK(tg_capsule(&payload, count_destructor));
    cr_assert_eq(tg_capsule_ptr(c), &payload);
    tg_incref(c);
    tg_decref(c);
    cr_assert_eq(destructor_calls, 0);
    tg_obj *l = OK(tg_list_new(0));
    cr_assert_eq(tg_list_append(l, c), 0);
    tg_decref(c);
    cr_assert_eq(destructor_calls, 0);
    tg_decref(l);
    cr_assert_eq(destructor_calls, 1);
    cr_assert_eq(destructor_arg, &payload);
    /* no destructor, NULL pointer: fine */
    tg_obj *n = OK(tg_capsule(NULL, NULL));
    cr_assert_null(tg_capsule_ptr(n));
    ASSERT_NO_ERR();
    tg_decref(n);
    /* a capsule owning malloc'd memory (ASan checks it is freed) */
    tg_obj *m = OK(tg_capsule(malloc(100), free));
    tg_decref(m);
    cr_assert_eq(destructor_calls, 1);
    TG_END();
}

Test(capsule, ptr_of_a_non_capsule)
{
    TG_START();
    tg_obj *l = OK(tg_list_new(0));
    cr_assert_null(tg_capsule_ptr(l));
    ASSERT_ERR(TG_ERR_TYPE);
    cr_assert_null(tg_capsule_ptr(NULL));
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    tg_decref(l);
    TG_END();
}

/* ============================================================ weakrefs */

Test(weakref, refused_on_builtin_values)
{
    TG_START();
    tg_obj *objs[] = { tg_int(1), OK(tg_int(123456)), OK(tg_float(1.5)), OK(tg_str("abcd%")),
        OK(tg_str_intern("x")), OK(tg_bytes("b", 1)), OK(tg_tuple(1, tg_none())), OK(tg_tuple(0)),
        OK(tg_list_new(0)), OK(tg_dict_new()), tg_none(), tg_true() };
    for (size_t k = 0; k < sizeof objs / sizeof objs[0]; k++) {
        intptr_t rc = tg_refcount(objs[k]);
        cr_assert_null(tg_weakref(objs[k], NULL, NULL), "%s", tg_type_name(tg_typeof(objs[k])));
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_eq(tg_refcount(objs[k]), rc);
        cr_assert_eq(tg_weakref_count(objs[k]), 0);
    }
    cr_assert_null(tg_weakref(NULL, NULL, NULL));
    ASSERT_ERR(TG_ERR_VALUE);
    tg_error_clear();
    /* a weakref to a weakref: refused, as in CPython */
    tg_obj *o = OK(tg_object_new(NULL)), *w = OK(tg_weakref(o, NULL, NULL));
    cr_assert_null(tg_weakref(w, NULL, NULL));
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    tg_decref(w); tg_decref(o);
    for (size_t k = 0; k < sizeof objs / sizeof objs[0]; k++) tg_decref(objs[k]);
    TG_END();
}

Test(weakref, get_returns_the_target_then_none)
{
    TG_START();
    tg_obj *o = OK(tg_object_new(NULL));
    tg_obj *w = OK(tg_weakref(o, NULL, NULL));
    cr_assert_eq(tg_refcount(o), 1, "a weakref holds no reference");
    cr_assert_eq(tg_refcount(w), 1);
    tg_obj *t = OK(tg_weakref_get(w));
    cr_assert_eq(t, o);
    cr_assert_eq(tg_refcount(o), 2, "get returns a new reference");
    tg_decref(t);
    tg_decref(o);
    t = OK(tg_weakref_get(w));
    cr_assert_eq(t, tg_none());
    tg_decref(t);
    t = OK(tg_weakref_get(w));
    cr_assert_eq(t, tg_none());
    tg_decref(t);
    cr_assert_eq(tg_live_objects(), 1);
    tg_decref(w);
    /* errors */
    tg_obj *l = OK(tg_list_new(0));
    cr_assert_null(tg_weakref_get(l));
    ASSERT_ERR(TG_ERR_TYPE);
    cr_assert_null(tg_weakref_get(NULL));
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    tg_decref(l);
    TG_END();
}

Test(weakref, to_capsules_and_embedder_objects)
{
    TG_START();
    make_ev_types();
    reset_events();
    destructor_calls = 0;
    tg_obj *c = OK(tg_capsule(&destructor_calls, count_destructor));
    tg_obj *e = OK(tg_new(ev_type));
    tg_obj *wc = OK(tg_weakref(c, NULL, NULL)), *we = OK(tg_weakref(e, NULL, NULL));
    cr_assert_eq(tg_weakref_count(c), 1);
    cr_assert_eq(tg_weakref_count(e), 1);
    tg_decref(c);
    tg_decref(e);
    cr_assert_eq(destructor_calls, 1);
    tg_obj *t1 = tg_weakref_get(wc), *t2 = tg_weakref_get(we);
    cr_assert_eq(t1, tg_none());
    cr_assert_eq(t2, tg_none());
    tg_decref(wc); tg_decref(we);
    reset_events();
    TG_END();
}

static int cb_calls;
static tg_obj *cb_ref_seen;
static void *cb_arg_seen;
static tg_obj *cb_other_ref;      /* another weakref to the same target */
static int cb_other_dead;

static void record_cb(tg_obj *ref, void *arg)
{
    cb_calls++;
    cb_ref_seen = ref;
    cb_arg_seen = arg;
    tg_obj *t = tg_weakref_get(ref);
    cr_assert_eq(t, tg_none());
    tg_decref(t);
    if (cb_other_ref) {
        t = tg_weakref_get(cb_other_ref);
        cb_other_dead = t == tg_none();
        tg_decref(t);
    }
}

Test(weakref, callback_receives_the_dead_weakref)
{
    TG_START();
    cb_calls = 0;
    int token;
    tg_obj *o = OK(tg_object_new(NULL));
    tg_obj *w = OK(tg_weakref(o, record_cb, &token));
    tg_obj *plain = OK(tg_weakref(o, NULL, NULL));
    cb_other_ref = plain;
    cr_assert_eq(tg_weakref_count(o), 2);
    tg_decref(o);
    cr_assert_eq(cb_calls, 1);
    cr_assert_eq(cb_ref_seen, w);
    cr_assert_eq(cb_arg_seen, &token);
    cr_assert_eq(cb_other_dead, 1, "every weakref is dead before any callback runs");
    cr_assert_eq(tg_refcount(w), 1, "the callback's reference is released");
    cb_other_ref = NULL;
    tg_decref(w);
    tg_decref(plain);
    TG_END();
}

Test(weakref, no_callback_when_the_weakref_died_first)
{
    TG_START();
    cb_calls = 0;
    tg_obj *o = OK(tg_object_new(NULL));
    tg_obj *w1 = OK(tg_weakref(o, record_cb, NULL));
    tg_obj *w2 = OK(tg_weakref(o, record_cb, NULL));
    tg_obj *w3 = OK(tg_weakref(o, record_cb, NULL));
    cr_assert_eq(tg_weakref_count(o), 3);
    tg_decref(w2);                            /* from the middle of the list */
    cr_assert_eq(tg_weakref_count(o), 2);
    tg_decref(w3);                            /* the head */
    cr_assert_eq(tg_weakref_count(o), 1);
    tg_decref(w1);
    cr_assert_eq(tg_weakref_count(o), 0);
    tg_decref(o);
    cr_assert_eq(cb_calls, 0);
    TG_END();
}

static tg_obj *self_dropping[3];
static int self_drop_calls;
static void drop_own_cb(tg_obj *ref, void *arg)
{
    int k = (int)(intptr_t)arg;
    cr_assert_eq(ref, self_dropping[k]);
    self_drop_calls++;
    tg_decref(ref);                           /* the embedder's only reference */
    self_dropping[k] = NULL;
}

Test(weakref, a_callback_may_drop_its_own_weakref)
{
    TG_START();
    self_drop_calls = 0;
    tg_obj *o = OK(tg_object_new(NULL));
    for (int k = 0; k < 3; k++) self_dropping[k] = OK(tg_weakref(o, drop_own_cb, (void *)(intptr_t)k));
    cr_assert_eq(tg_weakref_count(o), 3);
    cr_assert_eq(tg_live_objects(), 4);
    tg_decref(o);
    cr_assert_eq(self_drop_calls, 3);
    for (int k = 0; k < 3; k++) cr_assert_null(self_dropping[k]);
    cr_assert_eq(tg_live_objects(), 0);
    TG_END();
}

Test(weakref, count)
{
    TG_START();
    tg_obj *o = OK(tg_object_new(NULL));
    cr_assert_eq(tg_weakref_count(o), 0);
    tg_obj *w[10];
    for (int k = 0; k < 10; k++) {
        w[k] = OK(tg_weakref(o, NULL, NULL));
        cr_assert_eq(tg_weakref_count(o), (size_t)k + 1);
    }
    for (int k = 0; k < 10; k += 2) tg_decref(w[k]);
    cr_assert_eq(tg_weakref_count(o), 5);
    cr_assert_eq(tg_weakref_count(NULL), 0);
    tg_decref(o);
    for (int k = 1; k < 10; k += 2) {
        tg_obj *t = tg_weakref_get(w[k]);
        cr_assert_eq(t, tg_none());
        tg_decref(w[k]);
    }
    TG_END();
}

/* ============================================================ deep structures */

#define DEEP 1000000

Test(deep, a_million_nested_lists)
{
    TG_START();
    tg_obj *l = OK(tg_list_new(0));
    for (int i = 0; i < DEEP; i++) {
        tg_obj *n = OK(tg_list_new(1));
        cr_assert_eq(tg_list_append(n, l), 0);
        tg_decref(l);
        l = n;
    }
    cr_assert_eq(tg_live_objects(), DEEP + 1);
    tg_decref(l);
    cr_assert_eq(tg_live_objects(), 0);
    TG_END();
}

Test(deep, a_million_nested_dicts)
{
    TG_START();
    tg_obj *key = OK(tg_str_const("next"));
    tg_obj *d = OK(tg_dict_new());
    for (int i = 0; i < DEEP; i++) {
        tg_obj *n = OK(tg_dict_new());
        cr_assert_eq(tg_dict_set(n, key, d), 0);
        tg_decref(d);
        d = n;
    }
    cr_assert_eq(tg_live_objects(), DEEP + 1);
    tg_decref(d);
    cr_assert_eq(tg_live_objects(), 0);
    TG_END();
}

Test(deep, a_million_nested_tuples)
{
    TG_START();
    tg_obj *t = OK(tg_tuple(1, tg_none()));
    for (int i = 0; i < DEEP; i++) {
        tg_obj *n = OK(tg_tuple(2, t, tg_int(i & 0xff)));
        tg_decref(t);
        t = n;
    }
    cr_assert_eq(tg_live_objects(), DEEP + 1);
    tg_decref(t);
    cr_assert_eq(tg_live_objects(), 0);
    TG_END();
}

Test(deep, a_million_nested_objects_and_mixed_containers)
{
    TG_START();
    tg_obj *x = OK(tg_object_new(NULL));
    for (int i = 0; i < DEEP; i++) {
        tg_obj *n;
        switch (i % 4) {
        case 0: n = OK(tg_object_new(NULL)); cr_assert_eq(tg_setattr(n, "next", x), 0); break;
        case 1: n = OK(tg_list_new(0)); cr_assert_eq(tg_list_append(n, x), 0); break;
        case 2: n = OK(tg_tuple(1, x)); break;
        default: n = OK(tg_dict_new()); cr_assert_eq(tg_dict_set(n, tg_int(0), x), 0); break;
        }
        tg_decref(x);
        x = n;
    }
    cr_assert_eq(tg_live_objects(), DEEP + 1);
    tg_decref(x);
    cr_assert_eq(tg_live_objects(), 0);
    TG_END();
}

static int chain_dealloc_calls;
static void chain_clear(tg_obj *self)
{
    tg_obj **p = tg_payload(self);
    tg_obj *n = *p;
    *p = NULL;
    tg_xdecref(n);
}
static void chain_dealloc(tg_obj *self) { (void)self; chain_dealloc_calls++; }

Test(deep, a_million_embedder_objects_linked_through_payloads)
{
    TG_START();
    static tg_type *node;
    tg_type_spec s = { .name = "Node", .payload_size = sizeof(tg_obj *), .flags = TG_TYPE_GC,
                       .clear = chain_clear, .dealloc = chain_dealloc };
    if (!node) node = tg_type_new(&s);
    chain_dealloc_calls = 0;
    tg_obj *x = NULL;
    for (int i = 0; i < DEEP; i++) {
        tg_obj *n = OK(tg_new(node));
        *(tg_obj **)tg_payload(n) = x;       /* steals our reference */
        x = n;
    }
    tg_decref(x);
    cr_assert_eq(chain_dealloc_calls, DEEP);
    cr_assert_eq(tg_live_objects(), 0);
    TG_END();
}

/* ============================================================ debug checks */

static tg_type *bad_dealloc_type;
static void decref_self_in_dealloc(tg_obj *self) { tg_decref(self); }

Test(debug, decref_below_zero_aborts, DEBUG_ABORT)
{
    SKIP_UNLESS_DEBUG();
    TG_START();
    tg_type_spec s = { .name = "DoubleDrop", .dealloc = decref_self_in_dealloc };
    bad_dealloc_type = tg_type_new(&s);
    tg_obj *o = OK(tg_new(bad_dealloc_type));
    tg_decref(o);                             /* the dealloc drops one reference too many */
    cr_assert_fail("not reached");
}

Test(debug, incref_of_a_freed_list_aborts, DEBUG_ABORT)
{
    SKIP_UNLESS_DEBUG();
    TG_START();
    /* a list's memory goes to a free list on death: still mapped, still a bug to touch */
    tg_obj *l = OK(tg_list_new(0));
    tg_decref(l);
    tg_incref(l);
    cr_assert_fail("not reached");
}

Test(debug, decref_of_a_freed_list_aborts, DEBUG_ABORT)
{
    SKIP_UNLESS_DEBUG();
    TG_START();
    tg_obj *l = OK(tg_list_new(0));
    tg_decref(l);
    tg_decref(l);
    cr_assert_fail("not reached");
}

Test(debug, decref_of_a_released_object_aborts, DEBUG_ABORT_UNLESS_ASAN)
{
    SKIP_UNLESS_DEBUG();
    if (TG_TEST_ASAN)
        cr_skip_test("under ASan a use of released memory is ASan's report, not the runtime's");
    TG_START();
    static tg_type *t;
    tg_type_spec s = { .name = "Released" };
    t = tg_type_new(&s);
    tg_obj *o = OK(tg_new(t));
    tg_decref(o);
    tg_decref(o);
    cr_assert_fail("not reached");
}

static tg_obj *shared_obj;
static void *unattached_incref(void *arg) { (void)arg; tg_incref(shared_obj); return NULL; }
static void *unattached_decref(void *arg) { (void)arg; tg_decref(shared_obj); return NULL; }
static void *unattached_new_int(void *arg) { (void)arg; tg_obj *o = tg_int(1000000); return o; }
static void *unattached_list_new(void *arg) { (void)arg; return tg_list_new(0); }

static void run_thread(void *(*fn)(void *))
{
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, fn, NULL), 0);
    pthread_join(th, NULL);
}

Test(debug, incref_from_an_unattached_thread_aborts, DEBUG_ABORT)
{
    SKIP_UNLESS_DEBUG();
    TG_START();
    shared_obj = OK(tg_list_new(0));
    run_thread(unattached_incref);
    cr_assert_fail("not reached");
}

Test(debug, decref_from_an_unattached_thread_aborts, DEBUG_ABORT)
{
    SKIP_UNLESS_DEBUG();
    TG_START();
    shared_obj = OK(tg_int(123456));
    tg_incref(shared_obj);
    run_thread(unattached_decref);
    cr_assert_fail("not reached");
}

Test(debug, constructor_from_an_unattached_thread_aborts, DEBUG_ABORT)
{
    SKIP_UNLESS_DEBUG();
    TG_START();
    run_thread(unattached_new_int);
    cr_assert_fail("not reached");
}

Test(debug, list_new_from_an_unattached_thread_aborts, DEBUG_ABORT)
{
    SKIP_UNLESS_DEBUG();
    TG_START();
    run_thread(unattached_list_new);
    cr_assert_fail("not reached");
}

/* The messages name the object's type and address. */
static void child_unattached_incref(void *arg) { shared_obj = arg; run_thread(unattached_incref); }
static void child_freed_incref(void *arg) { tg_decref(arg); tg_incref(arg); }
static void child_below_zero(void *arg) { (void)arg; tg_obj *o = tg_new(bad_dealloc_type); tg_decref(o); }

Test(debug, messages_name_type_and_address)
{
    SKIP_UNLESS_DEBUG();
    TG_START();
    char msg[1024], addr[64];
    tg_obj *l = OK(tg_list_new(0));
    snprintf(addr, sizeof addr, "%p", (void *)l);
    int st = tgt_run_in_child(child_unattached_incref, l, msg, sizeof msg);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x, stderr: %s", st, msg);
    cr_assert_not_null(strstr(msg, "list"), "%s", msg);
    cr_assert_not_null(strstr(msg, addr), "%s (want %s)", msg, addr);
    cr_assert_not_null(strstr(msg, "attach"), "%s", msg);

    tg_obj *d = OK(tg_dict_new());
    snprintf(addr, sizeof addr, "%p", (void *)d);
    st = tgt_run_in_child(child_freed_incref, d, msg, sizeof msg);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x, stderr: %s", st, msg);
    cr_assert_not_null(strstr(msg, addr), "%s (want %s)", msg, addr);
    cr_assert_not_null(strstr(msg, "freed"), "%s", msg);

    tg_type_spec s = { .name = "DoubleDrop", .dealloc = decref_self_in_dealloc };
    bad_dealloc_type = tg_type_new(&s);
    st = tgt_run_in_child(child_below_zero, NULL, msg, sizeof msg);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x, stderr: %s", st, msg);
    cr_assert_not_null(strstr(msg, "DoubleDrop"), "%s", msg);
    cr_assert_not_null(strstr(msg, "below zero"), "%s", msg);

    tg_decref(l);
    tg_decref(d);
    TG_END();
}

Test(hash, too_deep_is_an_overflow_not_a_crash)
{
    TG_START();
    tg_obj *t = OK(tg_tuple(1, tg_int(1)));
    for (int i = 0; i < 50000; i++) {
        tg_obj *n = OK(tg_tuple(1, t));
        tg_decref(t);
        t = n;
    }
    cr_assert_eq(tg_hash(t), -1);
    ASSERT_ERR(TG_ERR_OVERFLOW);
    tg_error_clear();
    tg_decref(t);
    TG_END();
}
