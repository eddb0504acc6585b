/*
 * tests/test_copy.c — tg_copy (copy.copy) and tg_deepcopy (copy.deepcopy):
 * the seeds' [1, 1000, ['a', 'b']], immutables, shared references, cycles,
 * tuples, dicts, generic objects, refused types, failures.
 */
#include "tg_test.h"

static tg_obj *item(tg_obj *seq, ptrdiff_t i)
{
    tg_obj *r = tg_typeof(seq) == tg_type_tuple() ? tg_tuple_get(seq, i) : tg_list_get(seq, i);
    cr_assert_not_null(r, "[%td]: %s", i, tg_error_message());
    tg_decref(r);                  /* borrowed for the test: the container keeps it alive */
    return r;
}

/* a = [1, 1000, ['a', 'b']] */
static tg_obj *seeds_list(void)
{
    tg_obj *inner = OK(tg_list_new(0));
    tg_obj *sa = OK(tg_str_const("a")), *sb = OK(tg_str_const("b"));
    cr_assert_eq(tg_list_append(inner, sa), 0);
    cr_assert_eq(tg_list_append(inner, sb), 0);
    tg_obj *a = OK(tg_list_new(0)), *thousand = OK(tg_int(1000));
    cr_assert_eq(tg_list_append(a, tg_int(1)), 0);
    cr_assert_eq(tg_list_append(a, thousand), 0);
    cr_assert_eq(tg_list_append(a, inner), 0);
    tg_decref(inner); tg_decref(thousand); tg_decref(sa); tg_decref(sb);
    return a;
}

Test(copy, seeds_shallow_versus_deep)
{
    TG_START();
    tg_obj *a = seeds_list();
    tg_obj *b = OK(tg_copy(a));                        /* b = copy.copy(a) */
    tg_obj *c = OK(tg_deepcopy(a));                    /* c = copy.deepcopy(a) */
    cr_assert_neq(b, a);
    cr_assert_neq(c, a);
    cr_assert_eq(tg_eq(a, b), 1);
    cr_assert_eq(tg_eq(a, c), 1);
    cr_assert_eq(tg_refcount(b), 1);
    cr_assert_eq(tg_refcount(c), 1);
    /* shallow: the very same items, the inner list included */
    for (int i = 0; i < 3; i++) cr_assert_eq(item(b, i), item(a, i), "b[%d] is a[%d]", i, i);
    /* deep: immutables are the same objects, the inner list is a new one */
    cr_assert_eq(item(c, 0), item(a, 0));
    cr_assert_eq(item(c, 1), item(a, 1), "1000 is immutable: returned as itself");
    cr_assert_neq(item(c, 2), item(a, 2), "the inner list is copied");
    cr_assert_eq(item(item(c, 2), 0), item(item(a, 2), 0));   /* 'a' itself */
    tg_obj *inner = item(a, 2);
    cr_assert_eq(tg_refcount(inner), 2, "a and b hold it, c does not");
    /* a[2].append('c'): b sees it, c does not */
    tg_obj *sc = OK(tg_str_const("c"));
    cr_assert_eq(tg_list_append(inner, sc), 0);
    cr_assert_eq(tg_list_len(item(b, 2)), 3);
    cr_assert_eq(tg_list_len(item(c, 2)), 2);
    cr_assert_eq(tg_eq(a, b), 1);
    cr_assert_eq(tg_eq(a, c), 0);
    /* a.append(5): neither copy sees it */
    cr_assert_eq(tg_list_append(a, tg_int(5)), 0);
    cr_assert_eq(tg_list_len(b), 3);
    tg_decref(a);
    cr_assert_eq(tg_refcount(inner), 1, "b keeps the shared inner list alive");
    tg_decref(b); tg_decref(c);
    TG_END();
}

Test(copy, immutables_are_returned_as_themselves)
{
    TG_START();
    tg_obj *inner = OK(tg_tuple(2, tg_int(1), tg_none()));
    tg_obj *objs[] = { tg_int(3), OK(tg_int(1000)), OK(tg_float(2.5)), OK(tg_str("abcd%")),
        OK(tg_str_const("abc")), OK(tg_bytes("x\0y", 3)), tg_none(), tg_true(), tg_tuple(0),
        inner, OK(tg_tuple(2, inner, OK(tg_str("text")))) };
    for (size_t k = 0; k < sizeof objs / sizeof objs[0]; k++) {
        tg_obj *o = objs[k];
        intptr_t rc = tg_refcount(o);
        tg_obj *c = OK(tg_copy(o)), *d = OK(tg_deepcopy(o));
        cr_assert_eq(c, o, "copy of a %s", tg_type_name(tg_typeof(o)));
        cr_assert_eq(d, o, "deepcopy of a %s", tg_type_name(tg_typeof(o)));
        if (!tg_is_immortal(o)) cr_assert_eq(tg_refcount(o), rc + 2, "new references");
        tg_decref(c); tg_decref(d);
    }
    /* the nested tuple's inner str was leaked into the tuple by OK(): release it */
    tg_obj *text = item(objs[10], 1);
    tg_decref(text);
    for (size_t k = 0; k < sizeof objs / sizeof objs[0]; k++) tg_decref(objs[k]);
    TG_END();
}

Test(copy, tuples_holding_mutables)
{
    TG_START();
    tg_obj *l = OK(tg_list_new(0));
    cr_assert_eq(tg_list_append(l, tg_int(1)), 0);
    tg_obj *t = OK(tg_tuple(2, tg_int(0), l));
    tg_obj *c = OK(tg_copy(t));
    cr_assert_eq(c, t, "a shallow copy of a tuple is the tuple");
    tg_decref(c);
    tg_obj *d = OK(tg_deepcopy(t));
    cr_assert_neq(d, t, "something inside changed: a new tuple");
    cr_assert_eq(tg_typeof(d), tg_type_tuple());
    cr_assert_eq(item(d, 0), item(t, 0));
    cr_assert_neq(item(d, 1), l);
    cr_assert_eq(tg_eq(d, t), 1);
    /* a tuple of tuples of immutables stays itself, however deep */
    tg_obj *deep = OK(tg_tuple(1, tg_int(1)));
    for (int i = 0; i < 50; i++) { tg_obj *n = OK(tg_tuple(2, deep, tg_none())); tg_decref(deep); deep = n; }
    tg_obj *dd = OK(tg_deepcopy(deep));
    cr_assert_eq(dd, deep);
    tg_decref(dd); tg_decref(deep);
    tg_decref(d); tg_decref(t); tg_decref(l);
    TG_END();
}

Test(copy, shared_references_stay_shared)
{
    TG_START();
    tg_obj *x = OK(tg_list_new(0));
    cr_assert_eq(tg_list_append(x, tg_int(1)), 0);
    tg_obj *y = OK(tg_list_new(0));              /* y = [x, x, (x,), {'k': x}] */
    tg_obj *t = OK(tg_tuple(1, x)), *d = OK(tg_dict_new()), *k = OK(tg_str_const("k"));
    cr_assert_eq(tg_dict_set(d, k, x), 0);
    cr_assert_eq(tg_list_append(y, x), 0);
    cr_assert_eq(tg_list_append(y, x), 0);
    cr_assert_eq(tg_list_append(y, t), 0);
    cr_assert_eq(tg_list_append(y, d), 0);
    tg_obj *z = OK(tg_deepcopy(y));
    tg_obj *x2 = item(z, 0);
    cr_assert_neq(x2, x);
    cr_assert_eq(item(z, 1), x2, "z[0] is z[1]");
    cr_assert_eq(item(item(z, 2), 0), x2, "z[2][0] is z[0]");
    tg_obj *zd = item(z, 3), *zx = OK(tg_dict_get(zd, k));
    cr_assert_eq(zx, x2, "z[3]['k'] is z[0]");
    tg_decref(zx);
    cr_assert_eq(tg_refcount(x2), 4);
    /* shallow copy of the dict shares its values and keeps key order */
    tg_obj *dc = OK(tg_copy(d));
    cr_assert_neq(dc, d);
    tg_obj *dv = OK(tg_dict_get(dc, k));
    cr_assert_eq(dv, x);
    tg_decref(dv);
    tg_decref(dc);
    tg_decref(z);
    tg_decref(y); tg_decref(t); tg_decref(d); tg_decref(x);
    TG_END();
}

Test(copy, cycles_are_reproduced)
{
    TG_START();
    /* l = [1]; l.append(l) */
    tg_obj *l = OK(tg_list_new(0));
    cr_assert_eq(tg_list_append(l, tg_int(1)), 0);
    cr_assert_eq(tg_list_append(l, l), 0);
    tg_obj *c = OK(tg_deepcopy(l));
    cr_assert_neq(c, l);
    cr_assert_eq(item(c, 1), c, "the copy refers to itself, not to the original");
    cr_assert_eq(tg_refcount(c), 2);
    cr_assert_eq(tg_refcount(l), 2, "the original gained no reference");
    /* d = {}; d['self'] = d */
    tg_obj *d = OK(tg_dict_new()), *key = OK(tg_str_const("self"));
    cr_assert_eq(tg_dict_set(d, key, d), 0);
    tg_obj *dc = OK(tg_deepcopy(d));
    tg_obj *v = OK(tg_dict_get(dc, key));
    cr_assert_eq(v, dc);
    tg_decref(v);
    /* a cycle through a tuple: m = []; t = (m,); m.append(t) */
    tg_obj *m = OK(tg_list_new(0)), *t = OK(tg_tuple(1, m));
    cr_assert_eq(tg_list_append(m, t), 0);
    tg_obj *mc = OK(tg_deepcopy(m));
    tg_obj *tc = item(mc, 0);
    cr_assert_neq(tc, t);
    cr_assert_eq(item(tc, 0), mc);
    tg_obj *tc2 = OK(tg_deepcopy(t));          /* starting from the tuple */
    cr_assert_neq(tc2, t);
    tg_obj *m2 = item(tc2, 0);
    cr_assert_neq(m2, m);
    cr_assert_eq(item(m2, 0), tc2, "one copy of the tuple, not two");
    /* an object whose attribute is itself */
    tg_obj *o = OK(tg_object_new(NULL));
    cr_assert_eq(tg_setattr(o, "me", o), 0);
    tg_obj *oc = OK(tg_deepcopy(o));
    tg_obj *me = OK(tg_getattr(oc, "me"));
    cr_assert_eq(me, oc);
    tg_decref(me);

    /* no collector yet: break the cycles by hand */
    cr_assert_eq(tg_list_clear(l), 0);
    cr_assert_eq(tg_list_clear(c), 0);
    cr_assert_eq(tg_dict_del(d, key), 0);
    cr_assert_eq(tg_dict_del(dc, key), 0);
    cr_assert_eq(tg_list_clear(m), 0);
    cr_assert_eq(tg_list_clear(mc), 0);
    cr_assert_eq(tg_list_clear(m2), 0);
    cr_assert_eq(tg_delattr(o, "me"), 0);
    cr_assert_eq(tg_delattr(oc, "me"), 0);
    tg_obj *all[] = { l, c, d, dc, m, t, mc, tc2, o, oc };
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) tg_decref(all[k]);
    TG_END();
}

Test(copy, dicts_and_generic_objects)
{
    TG_START();
    tg_obj *d = OK(tg_dict_new());
    for (int i = 0; i < 20; i++) {
        tg_obj *k = OK(tg_int(1000 - i)), *v = OK(tg_list_new(0));
        cr_assert_eq(tg_list_append(v, k), 0);
        cr_assert_eq(tg_dict_set(d, k, v), 0);
        tg_decref(k); tg_decref(v);
    }
    tg_obj *c = OK(tg_copy(d)), *dc = OK(tg_deepcopy(d));
    cr_assert_eq(tg_dict_len(c), 20);
    cr_assert_eq(tg_eq(c, d), 1);
    cr_assert_eq(tg_eq(dc, d), 1);
    size_t p1 = 0, p2 = 0, p3 = 0;
    tg_obj *k1, *v1, *k2, *v2, *k3, *v3;
    while (tg_dict_next(d, &p1, &k1, &v1) == 1) {
        cr_assert_eq(tg_dict_next(c, &p2, &k2, &v2), 1);
        cr_assert_eq(tg_dict_next(dc, &p3, &k3, &v3), 1);
        cr_assert_eq(k1, k2, "same keys, same order");
        cr_assert_eq(k1, k3, "int keys are immutable: shared by the deep copy");
        cr_assert_eq(v1, v2, "shallow: the same values");
        cr_assert_neq(v1, v3, "deep: copied values");
        tg_decref(k1); tg_decref(v1); tg_decref(k2); tg_decref(v2); tg_decref(k3); tg_decref(v3);
    }
    tg_decref(c); tg_decref(dc); tg_decref(d);

    tg_obj *o = OK(tg_object_new(NULL)), *l = OK(tg_list_new(0));
    cr_assert_eq(tg_setattr(o, "items", l), 0);
    cr_assert_eq(tg_setattr(o, "n", tg_int(3)), 0);
    tg_obj *oc = OK(tg_copy(o)), *od = OK(tg_deepcopy(o));
    cr_assert_eq(tg_typeof(oc), tg_type_object());
    cr_assert_neq(oc, o);
    tg_obj *a = OK(tg_getattr(oc, "items")), *b = OK(tg_getattr(od, "items")), *n = OK(tg_getattr(od, "n"));
    cr_assert_eq(a, l);
    cr_assert_neq(b, l);
    cr_assert_eq(tg_typeof(b), tg_type_list());
    cr_assert_eq(n, tg_int(3));
    tg_decref(a); tg_decref(b); tg_decref(n);
    tg_decref(oc); tg_decref(od); tg_decref(o); tg_decref(l);
    /* empty containers */
    tg_obj *el = OK(tg_list_new(0)), *ed = OK(tg_dict_new());
    tg_obj *elc = OK(tg_copy(el)), *edc = OK(tg_deepcopy(ed));
    cr_assert_neq(elc, el);
    cr_assert_eq(tg_list_len(elc), 0);
    cr_assert_eq(tg_dict_len(edc), 0);
    tg_decref(el); tg_decref(ed); tg_decref(elc); tg_decref(edc);
    TG_END();
}

static int cap_destroyed;
static void cap_destructor(void *p) { (void)p; cap_destroyed++; }

Test(copy, payload_types_and_capsules_are_refused)
{
    TG_START();
    static tg_type *pt, *gcpt, *bare;
    tg_type_spec s = { .name = "WithPayload", .payload_size = 16 };
    if (!pt) pt = tg_type_new(&s);
    tg_type_spec s2 = { .name = "GCWithPayload", .payload_size = 8, .flags = TG_TYPE_GC };
    if (!gcpt) gcpt = tg_type_new(&s2);
    tg_type_spec s3 = { .name = "NoPayloadNoGC" };
    if (!bare) bare = tg_type_new(&s3);
    cap_destroyed = 0;
    tg_obj *refused[] = { OK(tg_new(pt)), OK(tg_new(gcpt)), OK(tg_object_new(pt)),
        OK(tg_capsule(&cap_destroyed, cap_destructor)) };
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
        tg_error_clear();
        cr_assert_null(tg_copy(refused[k]), "copy of %s", tg_type_name(tg_typeof(refused[k])));
        ASSERT_ERR(TG_ERR_TYPE);
        tg_error_clear();
        cr_assert_null(tg_deepcopy(refused[k]), "deepcopy of %s", tg_type_name(tg_typeof(refused[k])));
        ASSERT_ERR(TG_ERR_TYPE);
        cr_assert_eq(tg_refcount(refused[k]), 1);
    }
    /* deep inside a container: the whole copy fails, nothing leaks, the original is intact */
    tg_obj *l = OK(tg_list_new(0)), *inner = OK(tg_list_new(0)), *big = OK(tg_int(99999));
    cr_assert_eq(tg_list_append(l, big), 0);
    cr_assert_eq(tg_list_append(l, inner), 0);
    cr_assert_eq(tg_list_append(inner, refused[0]), 0);
    size_t live = tg_live_objects();
    tg_error_clear();
    cr_assert_null(tg_deepcopy(l));
    ASSERT_ERR(TG_ERR_TYPE);
    cr_assert_eq(tg_live_objects(), live);
    cr_assert_eq(tg_refcount(big), 2);
    cr_assert_eq(tg_refcount(inner), 2);
    cr_assert_eq(tg_refcount(refused[0]), 2);
    cr_assert_eq(tg_list_len(l), 2);
    /* a shallow copy of the list only copies references: fine */
    tg_obj *sc = OK(tg_copy(inner));
    cr_assert_eq(item(sc, 0), refused[0]);
    tg_decref(sc);
    tg_error_clear();
    /* an embedder type without payload or attributes is opaque too */
    tg_obj *nb = OK(tg_new(bare));
    cr_assert_null(tg_deepcopy(nb));
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    tg_decref(nb);
    /* NULL */
    cr_assert_null(tg_copy(NULL));
    ASSERT_ERR(TG_ERR_VALUE);
    cr_assert_null(tg_deepcopy(NULL));
    ASSERT_ERR(TG_ERR_VALUE);
    tg_error_clear();
    tg_decref(l); tg_decref(inner); tg_decref(big);
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) tg_decref(refused[k]);
    cr_assert_eq(cap_destroyed, 1);
    TG_END();
}

Test(copy, weakrefs_are_shared)
{
    TG_START();
    tg_obj *o = OK(tg_object_new(NULL)), *w = OK(tg_weakref(o, NULL, NULL));
    tg_obj *c = OK(tg_copy(w)), *d = OK(tg_deepcopy(w));
    cr_assert_eq(c, w);
    cr_assert_eq(d, w);
    tg_decref(c); tg_decref(d); tg_decref(w); tg_decref(o);
    TG_END();
}

Test(copy, too_deep_is_an_overflow_without_leaks)
{
    TG_START();
    tg_obj *l = OK(tg_list_new(0));
    for (int i = 0; i < 30000; i++) {
        tg_obj *n = OK(tg_list_new(1));
        cr_assert_eq(tg_list_append(n, l), 0);
        tg_decref(l);
        l = n;
    }
    size_t live = tg_live_objects();
    cr_assert_null(tg_deepcopy(l));
    ASSERT_ERR(TG_ERR_OVERFLOW);
    tg_error_clear();
    cr_assert_eq(tg_live_objects(), live);
    cr_assert_eq(tg_refcount(l), 1);
    tg_obj *sc = OK(tg_copy(l));                 /* shallow: one level, fine */
    cr_assert_eq(item(sc, 0), item(l, 0));
    tg_decref(sc);
    tg_decref(l);
    /* well within the limit it works */
    tg_obj *m = OK(tg_list_new(0));
    for (int i = 0; i < 1000; i++) {
        tg_obj *n = OK(tg_list_new(1));
        cr_assert_eq(tg_list_append(n, m), 0);
        tg_decref(m);
        m = n;
    }
    tg_obj *mc = OK(tg_deepcopy(m));
    cr_assert_eq(tg_eq(mc, m), 1);
    tg_decref(mc); tg_decref(m);
    TG_END();
}

/* ============================================================ allocation failures */

/* x = [1, 1000, ['a', 'b'], {'k': [2000, 'text']}, (3, [4.5]), obj(attr=[5])] */
static tg_obj *rich(void)
{
    tg_obj *x = seeds_list();
    tg_obj *d = OK(tg_dict_new()), *k = OK(tg_str("k")), *dl = OK(tg_list_new(0));
    tg_obj *v2000 = OK(tg_int(2000)), *text = OK(tg_str("some text"));
    cr_assert_eq(tg_list_append(dl, v2000), 0);
    cr_assert_eq(tg_list_append(dl, text), 0);
    cr_assert_eq(tg_dict_set(d, k, dl), 0);
    tg_obj *tl = OK(tg_list_new(0)), *f = OK(tg_float(4.5));
    cr_assert_eq(tg_list_append(tl, f), 0);
    tg_obj *t = OK(tg_tuple(2, tg_int(3), tl));
    tg_obj *o = OK(tg_object_new(NULL)), *ol = OK(tg_list_new(0));
    cr_assert_eq(tg_list_append(ol, tg_int(5)), 0);
    cr_assert_eq(tg_setattr(o, "attr", ol), 0);
    cr_assert_eq(tg_list_append(x, d), 0);
    cr_assert_eq(tg_list_append(x, t), 0);
    cr_assert_eq(tg_list_append(x, o), 0);
    tg_obj *all[] = { d, k, dl, v2000, text, tl, f, t, o, ol };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tg_decref(all[i]);
    return x;
}

/* Every object reachable from x, with its count (x is a tree here). */
typedef struct { tg_obj *o; intptr_t rc; } snap;
static size_t collect(tg_obj *o, snap *out, size_t n)
{
    out[n].o = o; out[n].rc = tg_refcount(o); n++;
    const tg_type *t = tg_typeof(o);
    if (t == tg_type_list() || t == tg_type_tuple()) {
        size_t len = t == tg_type_list() ? tg_list_len(o) : tg_tuple_len(o);
        for (size_t i = 0; i < len; i++) n = collect(item(o, (ptrdiff_t)i), out, n);
    } else if (t == tg_type_dict()) {
        size_t pos = 0;
        tg_obj *k, *v;
        while (tg_dict_next(o, &pos, &k, &v) == 1) {
            tg_decref(k); tg_decref(v);
            n = collect(k, out, n);
            n = collect(v, out, n);
        }
    } else if (t == tg_type_object()) {
        tg_obj *a = OK(tg_getattr(o, "attr"));
        tg_decref(a);
        n = collect(a, out, n);
    }
    return n;
}

Test(nomem, deepcopy_and_copy_fail_cleanly_at_every_allocation)
{
    TG_START();
    tg_obj *x = rich();
    static snap before[64], after[64];
    size_t nb = collect(x, before, 0);
    cr_assert_lt(nb, 64);
    size_t live = tg_live_objects();
    for (int deep = 0; deep < 2; deep++) {
        int failures = 0;
        tg_obj *c = NULL;
        for (long n = 0;; n++) {
            tg_error_clear();
            tg_mem_fail_after(n);
            c = deep ? tg_deepcopy(x) : tg_copy(x);
            tg_mem_fail_after(-1);
            if (c) break;
            failures++;
            ASSERT_ERR(TG_ERR_NOMEM);
            cr_assert_eq(tg_live_objects(), live, "%s failing at allocation %ld leaked",
                         deep ? "deepcopy" : "copy", n);
            size_t na = collect(x, after, 0);
            cr_assert_eq(na, nb);
            for (size_t i = 0; i < nb; i++) {
                cr_assert_eq(after[i].o, before[i].o);
                cr_assert_eq(after[i].rc, before[i].rc, "object #%zu (%s): count %ld, was %ld",
                             i, tg_type_name(tg_typeof(before[i].o)), (long)after[i].rc, (long)before[i].rc);
            }
        }
        cr_assert_geq(failures, deep ? 8 : 1, "%d failure points", failures);
        ASSERT_NO_ERR();
        cr_assert_eq(tg_list_len(c), tg_list_len(x));
        cr_assert_eq(tg_eq(item(c, 3), item(x, 3)), 1);   /* the generic object compares by identity */
        tg_decref(c);
        cr_assert_eq(tg_live_objects(), live);
    }
    tg_decref(x);
    TG_END();
}
