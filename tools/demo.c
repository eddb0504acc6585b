/*
 * tools/demo.c — `tangle demo`: the examples of the seed articles on Python
 * memory management, run for real on the runtime and explained line by line.
 */
#include <stdio.h>
#include <string.h>
#include "tools/commands.h"

static int failures;

static void say(const char *fmt, const char *detail)
{
    printf("  %-58s %s\n", fmt, detail);
}

static void check(int ok, const char *what)
{
    if (!ok) {
        failures++;
        printf("  !! unexpected: %s\n", what);
    }
}

static void section(const char *title) { printf("\n== %s\n", title); }

static void demo_small_ints(void)
{
    section("small integers are cached (seed: a = 1; b = 1; a is b)");
    tg_obj *a = tg_int(100), *b = tg_int(100);
    char buf[128];
    snprintf(buf, sizeof buf, "-> %s (id %#lx == %#lx)", a == b ? "same object" : "two objects",
             (unsigned long)tg_id(a), (unsigned long)tg_id(b));
    say("a = 100; b = 100; a is b", buf);
    check(a == b && tg_is_immortal(a), "100 should be a cached immortal int");
    tg_decref(a); tg_decref(b);

    a = tg_int(257); b = tg_int(257);
    snprintf(buf, sizeof buf, "-> %s", a == b ? "same object" : "two objects (outside -5..256)");
    say("a = 257; b = 257; a is b", buf);
    check(a != b && tg_eq(a, b) == 1, "257 created twice should be two equal objects");
    tg_decref(a); tg_decref(b);
    say("", "ints -5..256 are created once, are immortal, and never freed");
}

static void demo_interning(void)
{
    section("string interning (seed: 'abc' is 'abc', 'abcd%' is not)");
    tg_obj *a = tg_str_const("abc"), *b = tg_str_const("abc");
    say("a = 'abc'; b = 'abc'; a is b", a == b ? "-> same object: identifier-like text is interned" : "-> two objects");
    check(a == b && tg_str_is_interned(a) == 1, "'abc' should be interned");
    tg_decref(a); tg_decref(b);
    a = tg_str_const("abcd%"); b = tg_str_const("abcd%");
    say("a = 'abcd%'; b = 'abcd%'; a is b", a != b ? "-> two objects: '%' is not an identifier character" : "-> same object");
    check(a != b && tg_eq(a, b) == 1, "'abcd%' should give two equal objects");
    tg_decref(a); tg_decref(b);
    a = tg_str_intern("abcd%"); b = tg_str_intern("abcd%");
    say("sys.intern('abcd%') twice", a == b ? "-> same object: explicit interning always works" : "-> two objects");
    check(a == b, "tg_str_intern should return one object");
}

static void demo_refcounts(void)
{
    section("reference counts (seed: sys.getrefcount after b = a, del b)");
    char buf[128];
    tg_obj *a = tg_list_new(0);
    snprintf(buf, sizeof buf, "-> refcount %ld", (long)tg_refcount(a));
    say("a = []", buf);
    tg_obj *b = a; tg_incref(b);
    snprintf(buf, sizeof buf, "-> refcount %ld (tangle counts exactly: no +1 for the call)", (long)tg_refcount(a));
    say("b = a", buf);
    check(tg_refcount(a) == 2, "refcount after b = a should be 2");
    tg_obj *c = tg_list_new(0);
    tg_list_append(c, a);
    snprintf(buf, sizeof buf, "-> refcount %ld", (long)tg_refcount(a));
    say("c = [a]", buf);
    tg_decref(c);
    tg_decref(b);
    snprintf(buf, sizeof buf, "-> refcount %ld", (long)tg_refcount(a));
    say("del c; del b", buf);
    check(tg_refcount(a) == 1, "refcount after the drops should be 1");
    size_t live = tg_live_objects();
    tg_decref(a);
    snprintf(buf, sizeof buf, "-> freed at once: live objects %zu -> %zu", live, tg_live_objects());
    say("del a", buf);
    check(tg_live_objects() == live - 1, "the list should be freed when its count reaches zero");
}

static void print_list(tg_obj *l, char *buf, size_t n)
{
    size_t off = (size_t)snprintf(buf, n, "[");
    for (size_t i = 0; i < tg_list_len(l) && off < n; i++) {
        tg_obj *x = tg_list_get(l, (ptrdiff_t)i);
        const char *sep = i ? ", " : "";
        if (tg_typeof(x) == tg_type_int())
            off += (size_t)snprintf(buf + off, n - off, "%s%ld", sep, (long)tg_int_value(x));
        else if (tg_typeof(x) == tg_type_str())
            off += (size_t)snprintf(buf + off, n - off, "%s'%s'", sep, tg_str_utf8(x, NULL));
        else if (tg_typeof(x) == tg_type_list()) {
            char inner[128];
            print_list(x, inner, sizeof inner);
            off += (size_t)snprintf(buf + off, n - off, "%s%s", sep, inner);
        }
        tg_decref(x);
    }
    if (off < n) snprintf(buf + off, n - off, "]");
}

static void demo_copy(void)
{
    section("shallow and deep copies (seed: copy.copy / copy.deepcopy of [1, 1000, ['a', 'b']])");
    tg_obj *one = tg_int(1), *k = tg_int(1000), *sa = tg_str_const("a"), *sb = tg_str_const("b");
    tg_obj *inner = tg_list_new(0);
    tg_list_append(inner, sa); tg_list_append(inner, sb);
    tg_obj *a = tg_list_new(0);
    tg_list_append(a, one); tg_list_append(a, k); tg_list_append(a, inner);
    tg_obj *shallow = tg_copy(a), *deep = tg_deepcopy(a);
    tg_obj *c = tg_str_const("c");
    tg_list_append(inner, c);                       /* a[2].append('c') */
    char buf[160], line[200];
    print_list(a, buf, sizeof buf);
    snprintf(line, sizeof line, "a       = %s", buf); say(line, "");
    print_list(shallow, buf, sizeof buf);
    snprintf(line, sizeof line, "copy    = %s", buf); say(line, "<- shares the inner list");
    print_list(deep, buf, sizeof buf);
    snprintf(line, sizeof line, "deepcopy= %s", buf); say(line, "<- has its own inner list");
    tg_obj *s2 = tg_list_get(shallow, 2), *d2 = tg_list_get(deep, 2), *s1 = tg_list_get(shallow, 1), *d1 = tg_list_get(deep, 1);
    say("copy[2] is a[2]; deepcopy[2] is a[2]",
        s2 == inner && d2 != inner ? "-> True; False" : "-> unexpected");
    say("deepcopy[1] is a[1]  (1000: immutable)", d1 == k ? "-> True: immutables are returned as themselves" : "-> False");
    check(s2 == inner && d2 != inner && s1 == k && d1 == k, "copy semantics");
    tg_decref(s2); tg_decref(d2); tg_decref(s1); tg_decref(d1);
    tg_decref(shallow); tg_decref(deep); tg_decref(a); tg_decref(inner);
    tg_decref(one); tg_decref(k); tg_decref(sa); tg_decref(sb); tg_decref(c);
}

static void demo_gc(void)
{
    section("garbage collection (seed: gc.get_threshold(), reference cycles)");
    long t[3], c[3];
    char buf[128];
    tg_gc_get_threshold(t);
    snprintf(buf, sizeof buf, "-> (%ld, %ld, %ld)", t[0], t[1], t[2]);
    say("gc.get_threshold()", buf);
    check(t[0] == 700 && t[1] == 10 && t[2] == 10, "default thresholds are (700, 10, 10)");
    tg_gc_get_count(c);
    snprintf(buf, sizeof buf, "-> (%ld, %ld, %ld): tracked allocations minus deallocations", c[0], c[1], c[2]);
    say("gc.get_count()", buf);

    size_t before = tg_live_objects();
    tg_obj *a = tg_list_new(0), *b = tg_list_new(0);
    tg_list_append(a, b); tg_list_append(b, a);     /* a -> b -> a */
    tg_decref(a); tg_decref(b);
    snprintf(buf, sizeof buf, "-> %zu objects still alive: counting cannot free a cycle",
             tg_live_objects() - before);
    say("a = []; b = []; a.append(b); b.append(a); del a, b", buf);
    intptr_t n = tg_gc_collect(-1);
    if (n < 0) {
        snprintf(buf, sizeof buf, "-> %s", tg_error_message());
        say("gc.collect()", buf);
        tg_error_clear();
        return;
    }
    snprintf(buf, sizeof buf, "-> %ld unreachable found; live objects back to %zu", (long)n, tg_live_objects());
    say("gc.collect()", buf);
    check(n == 2 && tg_live_objects() == before, "the collector should free the 2-list cycle");
}

static const char usage[] =
    "usage: tangle demo [--mode gil|ft]\n"
    "\n"
    "Runs the examples of the seed articles on Python memory management on the\n"
    "tangle runtime and explains each in a line: small-int caching, string\n"
    "interning, reference counts, shallow and deep copies, the collector's\n"
    "thresholds and reference cycles. Exits non-zero if any result differs\n"
    "from what the articles describe.\n";

int cmd_demo(int argc, char **argv)
{
    tg_config cfg;
    tg_config_default(&cfg);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { fputs(usage, stdout); return 0; }
        if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
            const char *m = argv[++i];
            if (!strcmp(m, "gil")) cfg.mode = TG_MODE_GIL;
            else if (!strcmp(m, "ft")) cfg.mode = TG_MODE_FREE_THREADED;
            else { fprintf(stderr, "tangle demo: unknown mode '%s'\n%s", m, usage); return 2; }
            continue;
        }
        fprintf(stderr, "tangle demo: unknown option '%s'\n%s", argv[i], usage);
        return 2;
    }
    if (tg_init(&cfg) < 0) {
        fprintf(stderr, "tangle demo: tg_init: %s\n", tg_error_message());
        return 1;
    }
    printf("tangle %s demo, %s mode\n", tg_version(), tg_current_mode() == TG_MODE_GIL ? "GIL" : "free-threaded");
    demo_small_ints();
    demo_interning();
    demo_refcounts();
    demo_copy();
    demo_gc();
    tg_fini();
    printf("\nleaked objects at tg_fini: %zu\n", tg_live_objects());
    if (tg_live_objects()) failures++;
    if (failures) printf("%d result(s) differ from the seeds\n", failures);
    return failures ? 1 : 0;
}
