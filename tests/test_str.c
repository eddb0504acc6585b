/*
 * tests/test_str.c — str (UTF-8 validation, length, singletons, interning,
 * cached hash), bytes, int (small-int cache) and float.
 */
#include <math.h>
#include "tg_test.h"
#include "runtime/internal.h"     /* only to see the cached hash of a str */

/* ============================================================ str */

Test(str, valid_utf8_and_lengths)
{
    TG_START();
    struct { const char *s; size_t nbytes, nchars; } cases[] = {
        { "hello", 5, 5 },
        { "h\xc3\xa9llo", 6, 5 },                     /* é */
        { "\xe2\x82\xac", 3, 1 },                     /* € */
        { "\xf0\x9f\x98\x80!", 5, 2 },                /* 😀! */
        { "\xf4\x8f\xbf\xbf", 4, 1 },                 /* U+10FFFF, the last code point */
        { "\xed\x9f\xbf", 3, 1 },                     /* U+D7FF, just below the surrogates */
        { "\xee\x80\x80", 3, 1 },                     /* U+E000, just above */
        { "\xc2\x80", 2, 1 },                         /* U+0080, the smallest 2-byte form */
        { "\xe0\xa0\x80", 3, 1 },                     /* U+0800 */
        { "\xf0\x90\x80\x80", 4, 1 },                 /* U+10000 */
        { "\xe4\xb8\xad\xe6\x96\x87", 6, 2 },         /* 中文 */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tg_obj *s = OK(tg_str(cases[k].s));
        size_t nb = 0;
        const char *u = tg_str_utf8(s, &nb);
        cr_assert_eq(nb, cases[k].nbytes, "case %zu", k);
        cr_assert_eq(memcmp(u, cases[k].s, nb), 0);
        cr_assert_eq(u[nb], '\0', "NUL-terminated");
        cr_assert_eq(tg_str_len(s), cases[k].nchars, "case %zu: %zu code points", k, tg_str_len(s));
        cr_assert_not_null(tg_str_utf8(s, NULL));
        tg_decref(s);
        s = OK(tg_str_n(cases[k].s, cases[k].nbytes));
        cr_assert_eq(tg_str_len(s), cases[k].nchars);
        tg_decref(s);
    }
    ASSERT_NO_ERR();
    TG_END();
}

Test(str, invalid_utf8_is_a_value_error)
{
    TG_START();
    struct { const char *s; size_t n; const char *why; } bad[] = {
        { "\xc0\x80", 2, "overlong NUL" },
        { "\xc1\xbf", 2, "overlong 2-byte" },
        { "\xe0\x80\x80", 3, "overlong 3-byte" },
        { "\xe0\x9f\xbf", 3, "overlong U+07FF" },
        { "\xf0\x80\x80\x80", 4, "overlong 4-byte" },
        { "\xf0\x8f\xbf\xbf", 4, "overlong U+FFFF" },
        { "\xed\xa0\x80", 3, "surrogate U+D800" },
        { "\xed\xbf\xbf", 3, "surrogate U+DFFF" },
        { "\xed\xa0\xbd\xed\xb8\x80", 6, "surrogate pair (CESU-8)" },
        { "\xc3", 1, "truncated 2-byte" },
        { "\xe2\x82", 2, "truncated 3-byte" },
        { "\xf0\x9f\x98", 3, "truncated 4-byte" },
        { "ab\xc3", 3, "truncated at the end" },
        { "\x80", 1, "lone continuation byte" },
        { "a\xbf" "b", 3, "continuation byte in ASCII" },
        { "\xc3(", 2, "bad continuation" },
        { "\xf4\x90\x80\x80", 4, "U+110000" },
        { "\xf5\x80\x80\x80", 4, "lead byte F5" },
        { "\xf7\xbf\xbf\xbf", 4, "U+1FFFFF" },
        { "\xf8\x88\x80\x80\x80", 5, "5-byte form" },
        { "\xfc\x84\x80\x80\x80\x80", 6, "6-byte form" },
        { "\xfe", 1, "FE" },
        { "\xff", 1, "FF" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tg_error_clear();
        cr_assert_null(tg_str_n(bad[k].s, bad[k].n), "%s accepted", bad[k].why);
        ASSERT_ERR(TG_ERR_VALUE);
        char z[16] = {0};
        memcpy(z, bad[k].s, bad[k].n);
        tg_error_clear();
        cr_assert_null(tg_str(z), "%s accepted by tg_str", bad[k].why);
        ASSERT_ERR(TG_ERR_VALUE);
        tg_error_clear();
        cr_assert_null(tg_str_intern(z), "%s accepted by tg_str_intern", bad[k].why);
        ASSERT_ERR(TG_ERR_VALUE);
        tg_error_clear();
        cr_assert_null(tg_str_const(z), "%s accepted by tg_str_const", bad[k].why);
        ASSERT_ERR(TG_ERR_VALUE);
    }
    tg_error_clear();
    cr_assert_eq(tg_live_objects(), 0);
    TG_END();
}

Test(str, null_and_embedded_nul)
{
    TG_START();
    cr_assert_null(tg_str(NULL));
    ASSERT_ERR(TG_ERR_VALUE);
    cr_assert_null(tg_str_n(NULL, 3));
    ASSERT_ERR(TG_ERR_VALUE);
    cr_assert_null(tg_str_const(NULL));
    ASSERT_ERR(TG_ERR_VALUE);
    cr_assert_null(tg_str_intern(NULL));
    ASSERT_ERR(TG_ERR_VALUE);
    tg_error_clear();
    tg_obj *e = OK(tg_str_n(NULL, 0));       /* no bytes: no pointer needed */
    cr_assert_eq(tg_str_len(e), 0);
    tg_decref(e);

    tg_obj *s = OK(tg_str_n("a\0b\0", 4));
    cr_assert_eq(tg_str_len(s), 4);
    size_t nb;
    const char *u = tg_str_utf8(s, &nb);
    cr_assert_eq(nb, 4);
    cr_assert_eq(memcmp(u, "a\0b\0", 5), 0);
    tg_obj *t = OK(tg_str("a"));
    cr_assert_eq(tg_eq(s, t), 0);            /* not cut at the NUL */
    tg_decref(s);
    tg_obj *nul = OK(tg_str_n("\0", 1));
    cr_assert_eq(tg_str_len(nul), 1);
    cr_assert_eq(nul, tg_str_n("", 1) /* U+0000 is a one-char string below U+0100 */);
    ASSERT_NO_ERR();
    TG_END();
}

Test(str, accessors_on_other_types)
{
    TG_START();
    tg_obj *b = OK(tg_bytes("abc", 3)), *l = OK(tg_list_new(0));
    cr_assert_null(tg_str_utf8(b, NULL));
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    cr_assert_eq(tg_str_len(l), 0);
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    cr_assert_eq(tg_str_is_interned(b), -1);
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    cr_assert_null(tg_str_utf8(NULL, NULL));
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    cr_assert_eq(tg_str_is_interned(NULL), -1);
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    tg_decref(b); tg_decref(l);
    TG_END();
}

Test(str, empty_and_latin1_singletons)
{
    TG_START();
    tg_obj *e1 = OK(tg_str("")), *e2 = OK(tg_str_n("xyz", 0)), *e3 = OK(tg_str_const("")), *e4 = OK(tg_str_intern(""));
    cr_assert_eq(e1, e2);
    cr_assert_eq(e1, e3);
    cr_assert_eq(e1, e4);
    cr_assert_eq(tg_is_immortal(e1), 1);
    for (int c = 0; c < 256; c++) {
        char buf[3];
        size_t n;
        if (c < 0x80) { buf[0] = (char)c; n = 1; }
        else { buf[0] = (char)(0xc0 | (c >> 6)); buf[1] = (char)(0x80 | (c & 0x3f)); n = 2; }
        tg_obj *a = OK(tg_str_n(buf, n)), *b = OK(tg_str_n(buf, n));
        cr_assert_eq(a, b, "U+%04X: two objects", c);
        cr_assert_eq(tg_is_immortal(a), 1, "U+%04X", c);
        cr_assert_eq(tg_str_len(a), 1);
        cr_assert_eq(tg_str_is_interned(a), 1);
        buf[n] = '\0';
        if (c != 0) {
            cr_assert_eq(tg_str(buf), a);
            cr_assert_eq(tg_str_intern(buf), a);
            cr_assert_eq(tg_str_const(buf), a);
        }
    }
    /* U+0100 is the first character that is not cached */
    tg_obj *x = OK(tg_str("\xc4\x80")), *y = OK(tg_str("\xc4\x80"));
    cr_assert_neq(x, y);
    cr_assert_eq(tg_eq(x, y), 1);
    cr_assert_eq(tg_is_immortal(x), 0);
    cr_assert_eq(tg_refcount(x), 1);
    tg_obj *eu1 = OK(tg_str("\xe2\x82\xac")), *eu2 = OK(tg_str("\xe2\x82\xac"));
    cr_assert_neq(eu1, eu2);
    /* and two characters are not cached */
    tg_obj *ab1 = OK(tg_str("ab")), *ab2 = OK(tg_str("ab"));
    cr_assert_neq(ab1, ab2);
    cr_assert_eq(tg_live_objects(), 6);
    tg_decref(x); tg_decref(y); tg_decref(eu1); tg_decref(eu2); tg_decref(ab1); tg_decref(ab2);
    TG_END();
}

/* The seeds: a = 'abc'; b = 'abc'; a is b -> True; a = 'abcd%'; b = 'abcd%'; a is b -> False. */
Test(str, const_interns_identifier_like_text_only)
{
    TG_START();
    tg_obj *a = OK(tg_str_const("abc")), *b = OK(tg_str_const("abc"));
    cr_assert_eq(a, b, "'abc' is interned: one object");
    cr_assert_eq(tg_str_is_interned(a), 1);
    cr_assert_eq(tg_is_immortal(a), 1);
    cr_assert_eq(tg_str_intern("abc"), a);

    tg_obj *c = OK(tg_str_const("abcd%")), *d = OK(tg_str_const("abcd%"));
    cr_assert_neq(c, d, "'abcd%%' is not interned: two objects");
    cr_assert_eq(tg_eq(c, d), 1);
    cr_assert_eq(tg_str_is_interned(c), 0);
    cr_assert_eq(tg_is_immortal(c), 0);
    cr_assert_eq(tg_refcount(c), 1);

    const char *ident[] = { "hello_world", "_", "__init__", "A1b2C3", "0123", "x" };
    for (size_t k = 0; k < sizeof ident / sizeof ident[0]; k++) {
        tg_obj *p = OK(tg_str_const(ident[k])), *q = OK(tg_str_const(ident[k]));
        cr_assert_eq(p, q, "'%s'", ident[k]);
        cr_assert_eq(tg_str_is_interned(p), 1);
    }
    const char *other[] = { "a b", "hello world", "a-b", "caf\xc3\xa9", "x.y", "tab\t" };
    for (size_t k = 0; k < sizeof other / sizeof other[0]; k++) {
        tg_obj *p = OK(tg_str_const(other[k])), *q = OK(tg_str_const(other[k]));
        cr_assert_neq(p, q, "'%s' must not be interned", other[k]);
        cr_assert_eq(tg_str_is_interned(p), 0);
        cr_assert_eq(tg_eq(p, q), 1);
        tg_decref(p); tg_decref(q);
    }
    tg_decref(c); tg_decref(d);
    TG_END();
}

Test(str, intern_any_text)
{
    TG_START();
    tg_obj *a = OK(tg_str_intern("abcd%")), *b = OK(tg_str_intern("abcd%"));
    cr_assert_eq(a, b);
    cr_assert_eq(tg_str_is_interned(a), 1);
    cr_assert_eq(tg_is_immortal(a), 1);
    tg_obj *plain = OK(tg_str("abcd%"));
    cr_assert_neq(plain, a);
    cr_assert_eq(tg_eq(plain, a), 1);
    cr_assert_eq(tg_str_is_interned(plain), 0);
    tg_obj *lit = OK(tg_str_const("abcd%"));       /* a literal with '%' stays a new object */
    cr_assert_neq(lit, a);
    tg_decref(lit);
    tg_decref(plain);
    /* many interned strings: the table grows and keeps every identity */
    enum { N = 20000 };
    static tg_obj *seen[N];
    char buf[32];
    for (int k = 0; k < N; k++) {
        snprintf(buf, sizeof buf, "interned #%d", k);
        seen[k] = OK(tg_str_intern(buf));
    }
    for (int k = 0; k < N; k++) {
        snprintf(buf, sizeof buf, "interned #%d", k);
        cr_assert_eq(tg_str_intern(buf), seen[k]);
        size_t nb;
        cr_assert_str_eq(tg_str_utf8(seen[k], &nb), buf);
    }
    cr_assert_eq(tg_live_objects(), 0, "interned strings are immortal, not live");
    TG_END();
}

Test(str, interned_across_sessions)
{
    TG_START();
    tg_obj *a = OK(tg_str_intern("session text"));
    cr_assert_eq(tg_str_is_interned(a), 1);
    TG_END();
    TG_START();
    tg_obj *b = OK(tg_str_intern("session text"));
    cr_assert_eq(tg_str_is_interned(b), 1);
    cr_assert_str_eq(tg_str_utf8(b, NULL), "session text");
    tg_obj *c = OK(tg_str_intern("session text"));
    cr_assert_eq(b, c);
    TG_END();
}

Test(str, hash_is_cached)
{
    TG_START();
    tg_obj *s = OK(tg_str("a string whose hash is computed once"));
    cr_assert_eq(((_tg_str *)s)->hash, -1, "not computed before it is needed");
    int64_t h = tg_hash(s);
    cr_assert_neq(h, -1);
    cr_assert_eq(((_tg_str *)s)->hash, h, "cached after the first tg_hash");
    cr_assert_eq(tg_hash(s), h);
    /* a dict lookup computes and caches it too */
    tg_obj *t = OK(tg_str("another string")), *d = OK(tg_dict_new());
    cr_assert_eq(tg_dict_set(d, t, tg_none()), 0);
    cr_assert_neq(((_tg_str *)t)->hash, -1);
    tg_decref(s); tg_decref(t); tg_decref(d);
    TG_END();
}

/* ============================================================ bytes */

Test(bytes, data_and_embedded_nuls)
{
    TG_START();
    const char raw[] = { 'a', 0, (char)0xff, 0, 'z' };
    tg_obj *b = OK(tg_bytes(raw, sizeof raw));
    size_t n = 0;
    const unsigned char *d = tg_bytes_data(b, &n);
    cr_assert_eq(n, 5);
    cr_assert_neq((const void *)d, (const void *)raw, "bytes copies its data");
    cr_assert_eq(memcmp(d, raw, 5), 0);
    cr_assert_eq(d[5], 0, "a NUL after the data");
    cr_assert_not_null(tg_bytes_data(b, NULL));
    tg_obj *e = OK(tg_bytes(NULL, 0));
    cr_assert_not_null(tg_bytes_data(e, &n));
    cr_assert_eq(n, 0);
    tg_obj *b2 = OK(tg_bytes(raw, sizeof raw));
    cr_assert_eq(tg_eq(b, b2), 1);
    cr_assert_eq(tg_hash(b), tg_hash(b2));
    cr_assert_eq(tg_typeof(b), tg_type_bytes());
    cr_assert_eq(tg_is_immortal(b), 0);
    /* errors */
    cr_assert_null(tg_bytes(NULL, 4));
    ASSERT_ERR(TG_ERR_VALUE);
    tg_obj *s = OK(tg_str("abc"));
    cr_assert_null(tg_bytes_data(s, &n));
    ASSERT_ERR(TG_ERR_TYPE);
    cr_assert_null(tg_bytes_data(NULL, &n));
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    tg_decref(b); tg_decref(b2); tg_decref(e); tg_decref(s);
    TG_END();
}

/* ============================================================ int and float */

/* The seeds: a = 257; b = 257; a is b -> False; small ints -5..256 are cached. */
Test(int_, small_int_cache_and_257)
{
    TG_START();
    tg_obj *a = OK(tg_int(257)), *b = OK(tg_int(257));
    cr_assert_neq(a, b, "257 twice gives two objects");
    cr_assert_eq(tg_eq(a, b), 1);
    cr_assert_eq(tg_refcount(a), 1);
    cr_assert_eq(tg_refcount(b), 1);
    cr_assert_eq(tg_live_objects(), 2);
    tg_obj *c = tg_int(256), *d = tg_int(256);
    cr_assert_eq(c, d, "256 is cached");
    cr_assert_eq(tg_int(-5), tg_int(-5));
    tg_obj *m6a = OK(tg_int(-6)), *m6b = OK(tg_int(-6));
    cr_assert_neq(m6a, m6b, "-6 is not cached");
    for (int64_t v = -5; v <= 256; v++) {
        cr_assert_eq(tg_int(v), tg_int(v));
        cr_assert_eq(tg_int_value(tg_int(v)), v);
    }
    cr_assert_eq(tg_live_objects(), 4);
    tg_decref(a); tg_decref(b); tg_decref(m6a); tg_decref(m6b);
    TG_END();
}

Test(int_, values_and_errors)
{
    TG_START();
    int64_t vals[] = { INT64_MIN, INT64_MIN + 1, -1000000, -6, -1, 0, 257, 1 << 30, INT64_MAX };
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        tg_obj *i = OK(tg_int(vals[k]));
        tg_error_clear();
        cr_assert_eq(tg_int_value(i), vals[k]);
        ASSERT_NO_ERR();                     /* -1 is a value, not an error */
        cr_assert_float_eq(tg_float_value(i), (double)vals[k], 1e-6 * fabs((double)vals[k]) + 1e-9);
        tg_decref(i);
    }
    cr_assert_eq(tg_int_value(tg_true()), 1, "bool is an int");
    cr_assert_eq(tg_int_value(tg_false()), 0);
    tg_obj *f = OK(tg_float(3.0)), *s = OK(tg_str("3"));
    tg_error_clear();
    cr_assert_eq(tg_int_value(f), -1);
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    cr_assert_eq(tg_int_value(s), -1);
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    cr_assert_eq(tg_int_value(NULL), -1);
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    cr_assert_eq(tg_int_value(tg_none()), -1);
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    tg_decref(f); tg_decref(s);
    TG_END();
}

Test(float_, values_and_errors)
{
    TG_START();
    double vals[] = { 0.0, -0.0, 1.5, -2.25, 1e300, -1e-300, INFINITY, -INFINITY };
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        tg_obj *f = OK(tg_float(vals[k]));
        cr_assert_eq(tg_float_value(f), vals[k]);
        cr_assert_eq(signbit(tg_float_value(f)), signbit(vals[k]));
        cr_assert_eq(tg_typeof(f), tg_type_float());
        tg_decref(f);
    }
    tg_obj *n = OK(tg_float(NAN));
    cr_assert(isnan(tg_float_value(n)));
    tg_obj *a = OK(tg_float(1.0)), *b = OK(tg_float(1.0));
    cr_assert_neq(a, b, "floats are not cached");
    cr_assert_float_eq(tg_float_value(tg_true()), 1.0, 0);
    tg_obj *s = OK(tg_str("1.0"));
    tg_error_clear();
    cr_assert_float_eq(tg_float_value(s), -1.0, 0);
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    cr_assert_float_eq(tg_float_value(NULL), -1.0, 0);
    ASSERT_ERR(TG_ERR_TYPE);
    tg_error_clear();
    tg_obj *m1 = OK(tg_float(-1.0));
    cr_assert_float_eq(tg_float_value(m1), -1.0, 0);
    ASSERT_NO_ERR();
    tg_decref(n); tg_decref(a); tg_decref(b); tg_decref(s); tg_decref(m1);
    TG_END();
}

/* ============================================================ allocation failures */

Test(nomem, str_bytes_int_float_creation)
{
    TG_START();
    size_t live = tg_live_objects();
    struct { const char *what; } ops[] = { {"str"}, {"str_n"}, {"intern"}, {"const"}, {"bytes"}, {"int"}, {"float"} };
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        tg_error_clear();
        tg_mem_fail_after(0);
        tg_obj *r = NULL;
        switch (k) {
        case 0: r = tg_str("a string that is not cached"); break;
        case 1: r = tg_str_n("\xc4\x80\xc4\x80", 4); break;
        case 2: r = tg_str_intern("fresh interned text"); break;
        case 3: r = tg_str_const("fresh_identifier"); break;
        case 4: r = tg_bytes("bytes", 5); break;
        case 5: r = tg_int(100000); break;
        case 6: r = tg_float(2.5); break;
        }
        tg_mem_fail_after(-1);
        cr_assert_null(r, "%s did not fail", ops[k].what);
        ASSERT_ERR(TG_ERR_NOMEM);
        cr_assert_eq(tg_live_objects(), live, "%s", ops[k].what);
    }
    tg_error_clear();
    /* after the failure the same calls work, and interning was not half-done */
    tg_obj *i = OK(tg_str_intern("fresh interned text"));
    cr_assert_eq(tg_str_is_interned(i), 1);
    cr_assert_eq(tg_str_intern("fresh interned text"), i);
    cr_assert_str_eq(tg_str_utf8(i, NULL), "fresh interned text");
    tg_obj *c = OK(tg_str_const("fresh_identifier"));
    cr_assert_eq(c, tg_str_const("fresh_identifier"));
    /* cached objects need no memory */
    tg_mem_fail_after(0);
    tg_obj *cached[] = { tg_str(""), tg_str("a"), tg_int(42), tg_str_intern("fresh interned text"), tg_tuple(0) };
    tg_mem_fail_after(-1);
    for (size_t k = 0; k < sizeof cached / sizeof cached[0]; k++) cr_assert_not_null(cached[k], "cached %zu", k);
    TG_END();
}
