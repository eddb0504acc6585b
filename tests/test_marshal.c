/*
 * tests/test_marshal.c — tg_marshal_dumps/loads: round trips of every
 * supported type, shared references, cycles, and malformed input (every
 * truncation, bad tags, absurd lengths, depth, bad references, random
 * corruption) — never a crash, always TG_ERR_VALUE.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "tangle.h"

static void start(void) { cr_assert_eq(tg_init(NULL), 0, "%s", tg_error_message()); }
static void finish(void)
{
    cr_assert_eq(tg_fini(), 0);
    cr_assert_eq(tg_live_objects(), 0, "%zu objects leaked", tg_live_objects());
}

static tg_obj *round_trip(tg_obj *o)
{
    tg_obj *b = tg_marshal_dumps(o);
    cr_assert_not_null(b, "dumps: %s", tg_error_message());
    tg_obj *r = tg_marshal_loads(b);
    cr_assert_not_null(r, "loads: %s", tg_error_message());
    tg_decref(b);
    return r;
}

static void assert_round_trips(tg_obj *o)
{
    tg_obj *r = round_trip(o);
    cr_assert_eq(tg_typeof(r), tg_typeof(o));
    cr_assert_eq(tg_eq(o, r), 1);
    tg_decref(r);
    tg_decref(o);
}

static tg_obj *loads_raw(const void *p, size_t n)
{
    tg_obj *b = tg_bytes(p, n);
    tg_obj *r = tg_marshal_loads(b);
    tg_decref(b);
    return r;
}

static void expect_bad(const void *p, size_t n, const char *needle)
{
    tg_error_clear();
    tg_obj *r = loads_raw(p, n);
    cr_assert_null(r, "malformed input (%zu bytes) was accepted", n);
    cr_assert_eq(tg_error(), TG_ERR_VALUE, "%s: %s", tg_errcode_name(tg_error()), tg_error_message());
    if (needle) cr_assert(strstr(tg_error_message(), needle), "'%s' lacks '%s'", tg_error_message(), needle);
}

Test(marshal, scalars_round_trip)
{
    start();
    tg_obj *r = round_trip(tg_none()); cr_assert_eq(r, tg_none());
    r = round_trip(tg_true()); cr_assert_eq(r, tg_true());
    r = round_trip(tg_false()); cr_assert_eq(r, tg_false());
    const int64_t ints[] = { 0, 1, -1, 256, 257, -5, -6, 1000000, INT64_MAX, INT64_MIN, INT64_MIN + 1 };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        tg_obj *o = tg_int(ints[i]);
        r = round_trip(o);
        cr_assert_eq(tg_int_value(r), ints[i]);
        tg_decref(r); tg_decref(o);
    }
    const double fl[] = { 0.0, -0.0, 1.5, -1e300, 5e-324, INFINITY, -INFINITY };
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) {
        tg_obj *o = tg_float(fl[i]);
        r = round_trip(o);
        double v = tg_float_value(r);
        cr_assert_eq(memcmp(&v, &fl[i], 8), 0, "float %g", fl[i]);
        tg_decref(r); tg_decref(o);
    }
    tg_obj *nan = tg_float(NAN);
    r = round_trip(nan);
    cr_assert(isnan(tg_float_value(r)));
    tg_decref(r); tg_decref(nan);
    assert_round_trips(tg_str(""));
    assert_round_trips(tg_str("h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac"));
    char big[5000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_round_trips(tg_str(big));
    assert_round_trips(tg_bytes("", 0));
    assert_round_trips(tg_bytes("\0\xff\0", 3));
    finish();
}

Test(marshal, containers_round_trip)
{
    start();
    tg_obj *l = tg_list_new(0), *d = tg_dict_new();
    for (int i = 0; i < 100; i++) {
        tg_obj *k = tg_int(i), *v = tg_tuple(2, k, tg_none());
        tg_list_append(l, v);
        tg_dict_set(d, v, k);                            /* tuple keys */
        tg_decref(k); tg_decref(v);
    }
    tg_obj *empty_t = tg_tuple(0), *empty_l = tg_list_new(0), *empty_d = tg_dict_new();
    tg_obj *top = tg_tuple(5, l, d, empty_t, empty_l, empty_d);
    tg_decref(l); tg_decref(d); tg_decref(empty_t); tg_decref(empty_l); tg_decref(empty_d);
    assert_round_trips(top);
    finish();
}

Test(marshal, shared_references_stay_shared)
{
    start();
    tg_obj *x = tg_list_new(0), *s = tg_str("shared string");
    tg_list_append(x, s);
    tg_obj *top = tg_list_new(0);
    tg_list_append(top, x); tg_list_append(top, x); tg_list_append(top, s); tg_list_append(top, s);
    tg_obj *r = round_trip(top);
    tg_obj *a = tg_list_get(r, 0), *b = tg_list_get(r, 1), *c = tg_list_get(r, 2), *e = tg_list_get(r, 3);
    cr_assert_eq(a, b, "the shared list was copied twice");
    cr_assert_eq(c, e, "the shared string was copied twice");
    cr_assert_neq(a, x);
    tg_decref(a); tg_decref(b); tg_decref(c); tg_decref(e); tg_decref(r);
    tg_decref(top); tg_decref(x); tg_decref(s);
    finish();
}

Test(marshal, cycles_are_reproduced)
{
    start();
    /* l = [l]; d = {"d": d}; t = ([t],) */
    tg_obj *l = tg_list_new(0);
    tg_list_append(l, l);
    tg_obj *d = tg_dict_new(), *k = tg_str("d");
    tg_dict_set(d, k, d);
    tg_obj *inner = tg_list_new(0), *t = tg_tuple(1, inner);
    tg_list_append(inner, t);
    tg_obj *top = tg_tuple(3, l, d, t);

    tg_obj *r = round_trip(top);
    tg_obj *rl = tg_tuple_get(r, 0), *rd = tg_tuple_get(r, 1), *rt = tg_tuple_get(r, 2);
    tg_obj *rl0 = tg_list_get(rl, 0), *rdd = tg_dict_get(rd, k);
    cr_assert_eq(rl0, rl);
    cr_assert_eq(rdd, rd);
    tg_obj *rinner = tg_tuple_get(rt, 0), *rt2 = tg_list_get(rinner, 0);
    cr_assert_eq(rt2, rt, "the tuple cycle through a list");
    cr_assert_eq(tg_gc_is_tracked(rt), 1);
    tg_decref(rl0); tg_decref(rdd); tg_decref(rinner); tg_decref(rt2);
    tg_decref(rl); tg_decref(rd); tg_decref(rt); tg_decref(r);
    tg_decref(top); tg_decref(l); tg_decref(d); tg_decref(k); tg_decref(inner); tg_decref(t);
    tg_gc_collect(-1);
    finish();
}

Test(marshal, unsupported_and_too_deep)
{
    start();
    tg_obj *cap = tg_capsule((void *)1, NULL), *l = tg_list_new(0);
    tg_list_append(l, cap);
    cr_assert_null(tg_marshal_dumps(l));
    cr_assert_eq(tg_error(), TG_ERR_TYPE);
    tg_decref(l); tg_decref(cap);
    tg_obj *deep = tg_list_new(0);
    for (int i = 0; i < 5000; i++) {
        tg_obj *n = tg_list_new(0);
        tg_list_append(n, deep);
        tg_decref(deep);
        deep = n;
    }
    cr_assert_null(tg_marshal_dumps(deep));
    cr_assert_eq(tg_error(), TG_ERR_VALUE);
    tg_decref(deep);
    cr_assert_null(tg_marshal_dumps(NULL));
    cr_assert_eq(tg_error(), TG_ERR_VALUE);
    tg_obj *notbytes = tg_str("TGM\x01N");
    cr_assert_null(tg_marshal_loads(notbytes));
    cr_assert_eq(tg_error(), TG_ERR_TYPE);
    tg_decref(notbytes);
    finish();
}

#define B(s) s, sizeof(s) - 1

Test(marshal, malformed_input_is_a_value_error)
{
    start();
    expect_bad(B(""), "magic");
    expect_bad(B("TGM"), "magic");
    expect_bad(B("XYZ\x01N"), "magic");
    expect_bad(B("TGM\x02N"), "version");
    expect_bad(B("TGM\x01"), "truncated");
    expect_bad(B("TGM\x01NN"), "trailing");
    expect_bad(B("TGM\x01?"), "unknown tag");
    expect_bad(B("TGM\x01i"), "truncated");
    expect_bad(B("TGM\x01i\x80\x80"), "truncated");
    expect_bad(B("TGM\x01i\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"), "64 bits");
    expect_bad(B("TGM\x01i\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"), NULL);
    expect_bad(B("TGM\x01g\0\0\0"), "truncated float");
    expect_bad(B("TGM\x01s\x05" "abc"), "exceeds");
    expect_bad(B("TGM\x01s\x02\xc3\x28"), "UTF-8");
    expect_bad(B("TGM\x01[\xff\xff\xff\xff\xff\xff\xff\xff\x0f"), "exceeds");   /* 2^63-ish items */
    expect_bad(B("TGM\x01(\xff\xff\xff\xff\x0f"), "exceeds");
    expect_bad(B("TGM\x01{\x02NN"), "exceeds");          /* 2 entries need >= 4 bytes */
    expect_bad(B("TGM\x01[\x01r\x01"), "reference");     /* only object 0 exists */
    expect_bad(B("TGM\x01r\x00"), "reference");
    expect_bad(B("TGM\x01{\x01[\x00N"), "unhashable");
    expect_bad(B("TGM\x01(\x01{\x01r\x00N"), "cycle");   /* t = ({t: None},) */
    expect_bad(B("TGM\x01(\x01[\x01{\x01(\x01r\x00NN"), NULL);  /* key (t,) while t incomplete */
    expect_bad(B("TGM\x01(\x01r\x00"), "tuples only");         /* t = (t,) */
    expect_bad(B("TGM\x01(\x01(\x01r\x00"), "tuples only");    /* t = ((t,),) */
    /* but t = ([(t,)],) is fine: a list lies between */
    tg_obj *ok = loads_raw(B("TGM\x01(\x01[\x01(\x01r\x00"));
    cr_assert_not_null(ok, "%s", tg_error_message());
    tg_obj *lst = tg_tuple_get(ok, 0), *inner = tg_list_get(lst, 0), *back = tg_tuple_get(inner, 0);
    cr_assert_eq(back, ok);
    tg_list_clear(lst);
    tg_decref(back); tg_decref(inner); tg_decref(lst); tg_decref(ok);
    /* nesting far past the limit */
    static unsigned char deep[4 + 2 * 3000 + 1];
    memcpy(deep, "TGM\x01", 4);
    for (int i = 0; i < 3000; i++) { deep[4 + 2 * i] = '['; deep[5 + 2 * i] = 1; }
    deep[sizeof deep - 1] = 'N';
    expect_bad(deep, sizeof deep, "levels deep");
    finish();
}

Test(marshal, every_truncation_and_random_corruption_fails_cleanly)
{
    start();
    tg_obj *l = tg_list_new(0), *d = tg_dict_new(), *k = tg_str("key"), *f = tg_float(2.5), *i = tg_int(1 << 20);
    tg_obj *t = tg_tuple(3, k, f, i);
    tg_dict_set(d, k, l); tg_dict_set(d, t, t);
    tg_list_append(l, d); tg_list_append(l, t); tg_list_append(l, l);
    tg_obj *by = tg_bytes("bytes!", 6);
    tg_list_append(l, by);
    tg_obj *dump = tg_marshal_dumps(l);
    cr_assert_not_null(dump);
    size_t n;
    const unsigned char *p = tg_bytes_data(dump, &n);
    for (size_t cut = 0; cut < n; cut++) expect_bad(p, cut, NULL);

    unsigned char buf[512];
    cr_assert_lt(n, sizeof buf);
    unsigned seed = 12345;
    int accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(buf, p, n);
        int flips = 1 + (int)((seed = seed * 1103515245 + 12345) >> 16) % 4;
        for (int j = 0; j < flips; j++) {
            seed = seed * 1103515245 + 12345;
            size_t at = 4 + (seed >> 8) % (n - 4);
            buf[at] = (unsigned char)(seed >> 20);
        }
        tg_error_clear();
        tg_obj *r = loads_raw(buf, n);
        if (r) { accepted++; tg_decref(r); }
        else cr_assert(tg_error() == TG_ERR_VALUE, "%s: %s", tg_errcode_name(tg_error()), tg_error_message());
    }
    cr_log_info("random corruption: %d of 20000 still parsed", accepted);
    tg_list_clear(l);
    tg_decref(dump); tg_decref(l); tg_decref(d); tg_decref(k); tg_decref(f); tg_decref(i);
    tg_decref(t); tg_decref(by);
    tg_gc_collect(-1);
    finish();
}
