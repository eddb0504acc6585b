/*
 * tests/test_runtime.c — tg_init / tg_fini, configuration, TANGLE_MODE,
 * tg_live_objects, and the thread-local error state.
 */
#include <pthread.h>
#include "tg_test.h"

/* ------------------------------------------------------------ config */

Test(config, default_values)
{
    tg_config c;
    memset(&c, 0x5a, sizeof c);
    tg_config_default(&c);
    cr_assert_eq(c.mode, TG_MODE_GIL);
    cr_assert_eq(c.refcount, TG_RC_DEFAULT);
    cr_assert_eq(c.gc_enabled, 1);
    cr_assert_eq(c.gc_threshold[0], 700);
    cr_assert_eq(c.gc_threshold[1], 10);
    cr_assert_eq(c.gc_threshold[2], 10);
    cr_assert_float_eq(c.switch_interval_s, 0.005, 1e-12);
    cr_assert_eq(c.chaos_seed, 0u);
}

Test(config, version)
{
    cr_assert_str_eq(tg_version(), TG_VERSION);
}

/* The seeds: gc.get_threshold() is (700, 10, 10) by default. */
Test(config, default_gc_thresholds_reach_the_runtime)
{
    unsetenv("TANGLE_MODE");
    TG_START();
    long t[3];
    tg_gc_get_threshold(t);
    cr_assert_eq(t[0], 700);
    cr_assert_eq(t[1], 10);
    cr_assert_eq(t[2], 10);
    TG_END();
}

Test(config, zero_thresholds_keep_defaults_custom_ones_apply)
{
    unsetenv("TANGLE_MODE");
    tg_config c;
    tg_config_default(&c);
    c.gc_threshold[0] = 0; c.gc_threshold[1] = 0; c.gc_threshold[2] = 0;
    cr_assert_eq(tg_init(&c), 0);
    long t[3];
    tg_gc_get_threshold(t);
    cr_assert_eq(t[0], 700); cr_assert_eq(t[1], 10); cr_assert_eq(t[2], 10);
    TG_END();

    c.gc_threshold[0] = 100; c.gc_threshold[1] = 5; c.gc_threshold[2] = 3;
    cr_assert_eq(tg_init(&c), 0);
    tg_gc_get_threshold(t);
    cr_assert_eq(t[0], 100); cr_assert_eq(t[1], 5); cr_assert_eq(t[2], 3);
    TG_END();
}

Test(config, invalid_values_are_refused_cleanly)
{
    unsetenv("TANGLE_MODE");
    tg_config c;

    tg_config_default(&c);
    c.gc_threshold[1] = -1;
    cr_assert_eq(tg_init(&c), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    cr_assert_eq(tg_is_initialized(), 0);

    tg_config_default(&c);
    c.mode = (tg_mode)7;
    cr_assert_eq(tg_init(&c), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    cr_assert_eq(tg_is_initialized(), 0);

    tg_config_default(&c);
    c.refcount = (tg_rc_kind)9;
    cr_assert_eq(tg_init(&c), -1);
    ASSERT_ERR(TG_ERR_VALUE);

    tg_config_default(&c);
    c.switch_interval_s = -1.0;
    cr_assert_eq(tg_init(&c), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    cr_assert_eq(tg_is_initialized(), 0);
    cr_assert_eq(tg_thread_is_attached(), 0);

    /* still usable afterwards */
    tg_config_default(&c);
    cr_assert_eq(tg_init(&c), 0);
    ASSERT_NO_ERR();
    tg_obj *l = OK(tg_list_new(0));
    tg_decref(l);
    TG_END();
}

/* ------------------------------------------------------------ init / fini */

Test(init, init_and_fini)
{
    unsetenv("TANGLE_MODE");
    cr_assert_eq(tg_is_initialized(), 0);
    cr_assert_eq(tg_thread_is_attached(), 0);
    cr_assert_eq(tg_init(NULL), 0);
    ASSERT_NO_ERR();
    cr_assert_eq(tg_is_initialized(), 1);
    cr_assert_eq(tg_thread_is_attached(), 1);
    cr_assert_eq(tg_current_mode(), TG_MODE_GIL);
    cr_assert_eq(tg_current_refcount(), TG_RC_DEFAULT);
    cr_assert_eq(tg_fini(), 0);
    ASSERT_NO_ERR();
    cr_assert_eq(tg_is_initialized(), 0);
    cr_assert_eq(tg_thread_is_attached(), 0);
    cr_assert_eq(tg_live_objects(), 0);
}

Test(init, init_clears_a_stale_error)
{
    unsetenv("TANGLE_MODE");
    tg_error_set(TG_ERR_OS, "stale");
    TG_START();
    ASSERT_NO_ERR();
    TG_END();
}

Test(init, double_init_is_refused_and_the_runtime_stays_usable)
{
    unsetenv("TANGLE_MODE");
    TG_START();
    tg_obj *a = OK(tg_int(1000));
    cr_assert_eq(tg_init(NULL), -1);
    ASSERT_ERR(TG_ERR_STATE);
    cr_assert_neq(strlen(tg_error_message()), 0);
    cr_assert_eq(tg_is_initialized(), 1);
    cr_assert_eq(tg_int_value(a), 1000);
    cr_assert_eq(tg_refcount(a), 1);
    tg_obj *l = OK(tg_list_new(0));
    cr_assert_eq(tg_list_append(l, a), 0);
    tg_decref(a);
    tg_decref(l);
    TG_END();
}

Test(init, fini_when_not_initialised)
{
    unsetenv("TANGLE_MODE");
    cr_assert_eq(tg_fini(), -1);
    ASSERT_ERR(TG_ERR_STATE);
    TG_START();
    TG_END();
    cr_assert_eq(tg_fini(), -1);
    ASSERT_ERR(TG_ERR_STATE);
    cr_assert_eq(tg_is_initialized(), 0);
}

Test(init, reinit_many_times)
{
    unsetenv("TANGLE_MODE");
    tg_obj *small = NULL;
    for (int round = 0; round < 5; round++) {
        TG_START();
        /* static immortals are the same objects in every session */
        if (round == 0) small = tg_int(7);
        cr_assert_eq(tg_int(7), small);
        tg_obj *s = OK(tg_str_const("round"));
        cr_assert_eq(tg_str_is_interned(s), 1);
        tg_obj *d = OK(tg_dict_new());
        tg_obj *v = OK(tg_int(100000 + round));
        cr_assert_eq(tg_dict_set(d, s, v), 0);
        tg_obj *got = OK(tg_dict_get(d, s));
        cr_assert_eq(got, v);
        tg_decref(got);
        tg_decref(v);
        tg_decref(s);
        tg_decref(d);
        TG_END();
    }
}

Test(init, free_threaded_mode_starts_and_alternates_with_gil)
{
    unsetenv("TANGLE_MODE");
    tg_config c;
    tg_config_default(&c);
    c.mode = TG_MODE_FREE_THREADED;
    /* the process can switch modes across tg_fini/tg_init, repeatedly */
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(tg_init(&c), 0, "%s", tg_error_message());
        cr_assert_eq(tg_current_mode(), TG_MODE_FREE_THREADED);
        cr_assert_eq(tg_current_refcount(), TG_RC_BIASED);
        tg_obj *l = OK(tg_list_new(0));
        cr_assert_eq(tg_list_append(l, tg_none()), 0);
        tg_decref(l);
        cr_assert_eq(tg_fini(), 0);
        cr_assert_eq(tg_live_objects(), 0);
        TG_START();
        cr_assert_eq(tg_current_mode(), TG_MODE_GIL);
        TG_END();
    }
}

Test(init, other_mode_while_initialised_is_refused)
{
    unsetenv("TANGLE_MODE");
    TG_START();
    tg_config c;
    tg_config_default(&c);
    c.mode = TG_MODE_FREE_THREADED;
    cr_assert_eq(tg_init(&c), -1);
    ASSERT_ERR(TG_ERR_STATE);
    cr_assert_eq(tg_current_mode(), TG_MODE_GIL);
    tg_obj *x = OK(tg_float(2.5));
    tg_decref(x);
    TG_END();
}

/* ------------------------------------------------------------ TANGLE_MODE */

Test(env, tangle_mode_ft_overrides_the_config)
{
    setenv("TANGLE_MODE", "ft", 1);
    cr_assert_eq(tg_init(NULL), 0, "%s", tg_error_message());
    cr_assert_eq(tg_current_mode(), TG_MODE_FREE_THREADED);
    cr_assert_eq(tg_fini(), 0);
    setenv("TANGLE_MODE", "free-threaded", 1);
    cr_assert_eq(tg_init(NULL), 0, "%s", tg_error_message());
    cr_assert_eq(tg_current_mode(), TG_MODE_FREE_THREADED);
    cr_assert_eq(tg_fini(), 0);
    unsetenv("TANGLE_MODE");
    TG_START();
    TG_END();
}

Test(env, tangle_mode_gil_overrides_a_free_threaded_config)
{
    tg_config c;
    tg_config_default(&c);
    c.mode = TG_MODE_FREE_THREADED;
    setenv("TANGLE_MODE", "gil", 1);
    cr_assert_eq(tg_init(&c), 0, "%s", tg_error_message());
    cr_assert_eq(tg_current_mode(), TG_MODE_GIL);
    TG_END();
    setenv("TANGLE_MODE", "GIL", 1);         /* case-insensitive */
    cr_assert_eq(tg_init(&c), 0, "%s", tg_error_message());
    cr_assert_eq(tg_current_mode(), TG_MODE_GIL);
    TG_END();
    unsetenv("TANGLE_MODE");
}

Test(env, tangle_mode_empty_is_ignored)
{
    setenv("TANGLE_MODE", "", 1);
    TG_START();
    cr_assert_eq(tg_current_mode(), TG_MODE_GIL);
    TG_END();
}

Test(env, tangle_mode_bad_value)
{
    setenv("TANGLE_MODE", "turbo", 1);
    cr_assert_eq(tg_init(NULL), -1);
    ASSERT_ERR(TG_ERR_VALUE);
    cr_assert_not_null(strstr(tg_error_message(), "turbo"), "message: %s", tg_error_message());
    cr_assert_eq(tg_is_initialized(), 0);
    cr_assert_eq(tg_thread_is_attached(), 0);
    unsetenv("TANGLE_MODE");
    TG_START();
    TG_END();
}

/* ------------------------------------------------------------ live objects */

Test(live, zero_after_a_clean_session)
{
    unsetenv("TANGLE_MODE");
    TG_START();
    cr_assert_eq(tg_live_objects(), 0);
    tg_obj *l = OK(tg_list_new(0));
    cr_assert_eq(tg_live_objects(), 1);
    tg_obj *big = OK(tg_int(123456));
    cr_assert_eq(tg_live_objects(), 2);
    /* immortals are not counted */
    tg_obj *s = OK(tg_str_intern("not counted"));
    tg_obj *small = OK(tg_int(5));
    cr_assert_eq(tg_live_objects(), 2);
    cr_assert_eq(tg_list_append(l, big), 0);
    cr_assert_eq(tg_list_append(l, s), 0);
    cr_assert_eq(tg_list_append(l, small), 0);
    tg_decref(big);
    cr_assert_eq(tg_live_objects(), 2);      /* the list holds it */
    tg_decref(l);
    cr_assert_eq(tg_live_objects(), 0);
    TG_END();
}

Test(live, free_lists_do_not_count_as_live)
{
    unsetenv("TANGLE_MODE");
    TG_START();
    for (int i = 0; i < 10; i++) {
        tg_obj *f = OK(tg_float(i));
        tg_obj *l = OK(tg_list_new(4));
        tg_obj *d = OK(tg_dict_new());
        tg_obj *t = OK(tg_tuple(2, f, l));
        cr_assert_eq(tg_live_objects(), 4);
        tg_decref(f); tg_decref(l); tg_decref(d); tg_decref(t);
        cr_assert_eq(tg_live_objects(), 0);
    }
    TG_END();
}

Test(live, a_leaked_object_is_counted_after_fini)
{
    unsetenv("TANGLE_MODE");
    TG_START();
    tg_obj *l = OK(tg_list_new(0));
    tg_obj *x = OK(tg_int(99999));
    cr_assert_eq(tg_list_append(l, x), 0);
    tg_decref(x);
    (void)l;                                  /* leaked on purpose: the list and the int */
    cr_assert_eq(tg_fini(), 0);
    cr_assert_eq(tg_live_objects(), 2);
    cr_assert_eq(tg_live_objects(), 2);       /* stays readable */
    /* the next session starts from zero */
    TG_START();
    cr_assert_eq(tg_live_objects(), 0);
    TG_END();
}

/* ------------------------------------------------------------ errors */

Test(errors, code_and_message)
{
    unsetenv("TANGLE_MODE");
    TG_START();
    ASSERT_NO_ERR();
    cr_assert_str_eq(tg_error_message(), "");
    tg_obj *l = OK(tg_list_new(0));
    cr_assert_null(tg_list_get(l, 0));
    ASSERT_ERR(TG_ERR_INDEX);
    cr_assert_neq(strlen(tg_error_message()), 0);
    /* the error stays until cleared or replaced */
    cr_assert_eq(tg_list_append(l, tg_none()), 0);
    ASSERT_ERR(TG_ERR_INDEX);
    cr_assert_eq(tg_hash(l), -1);
    ASSERT_ERR(TG_ERR_TYPE);
    cr_assert_not_null(strstr(tg_error_message(), "list"), "%s", tg_error_message());
    tg_error_clear();
    ASSERT_NO_ERR();
    cr_assert_str_eq(tg_error_message(), "");
    tg_decref(l);
    TG_END();
}

Test(errors, success_leaves_no_error)
{
    unsetenv("TANGLE_MODE");
    TG_START();
    ASSERT_NO_ERR();
    tg_obj *l = OK(tg_list_new(2));
    tg_obj *d = OK(tg_dict_new());
    tg_obj *s = OK(tg_str("héllo"));
    tg_obj *t = OK(tg_tuple(2, l, s));
    tg_obj *o = OK(tg_object_new(NULL));
    cr_assert_eq(tg_list_append(l, s), 0);
    cr_assert_eq(tg_dict_set(d, s, l), 0);
    tg_obj *g = OK(tg_dict_get(d, s));
    tg_decref(g);
    cr_assert_eq(tg_dict_contains(d, s), 1);
    cr_assert_eq(tg_dict_contains(d, tg_none()), 0);   /* absent is not an error */
    cr_assert_eq(tg_setattr(o, "x", t), 0);
    tg_obj *c = OK(tg_deepcopy(t));
    tg_obj *c2 = OK(tg_copy(d));
    cr_assert_eq(tg_eq(c2, d), 1);
    cr_assert_neq(tg_hash(s), -1);
    cr_assert_eq(tg_int_value(tg_int(-1)), -1);
    tg_obj *p = OK(tg_list_pop(l, -1));
    ASSERT_NO_ERR();
    tg_decref(p); tg_decref(c); tg_decref(c2);
    tg_decref(o); tg_decref(t); tg_decref(s); tg_decref(d); tg_decref(l);
    ASSERT_NO_ERR();
    TG_END();
    ASSERT_NO_ERR();
}

static void *error_thread(void *arg)
{
    (void)arg;
    /* errors are thread-local: this thread starts clean... */
    int clean = tg_error() == TG_OK && strcmp(tg_error_message(), "") == 0;
    /* ...and what it sets stays here */
    tg_error_set(TG_ERR_OS, "thread %d", 2);
    int own = tg_error() == TG_ERR_OS && strcmp(tg_error_message(), "thread 2") == 0;
    return (void *)(intptr_t)(clean && own);
}

Test(errors, thread_local)
{
    unsetenv("TANGLE_MODE");
    TG_START();
    tg_error_set(TG_ERR_KEY, "main %s", "thread");
    pthread_t th;
    void *res = NULL;
    cr_assert_eq(pthread_create(&th, NULL, error_thread, NULL), 0);
    cr_assert_eq(pthread_join(th, &res), 0);
    cr_assert_eq((intptr_t)res, 1);
    ASSERT_ERR(TG_ERR_KEY);
    cr_assert_str_eq(tg_error_message(), "main thread");
    tg_error_clear();
    TG_END();
}

Test(errors, error_set_formats_and_truncates)
{
    tg_error_set(TG_ERR_CORRUPT, "%s=%d", "x", 42);
    ASSERT_ERR(TG_ERR_CORRUPT);
    cr_assert_str_eq(tg_error_message(), "x=42");
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tg_error_set(TG_ERR_VALUE, "%s", big);
    ASSERT_ERR(TG_ERR_VALUE);
    size_t n = strlen(tg_error_message());
    cr_assert(n > 0 && n < sizeof big - 1, "message length %zu", n);
    cr_assert_eq(tg_error_message()[0], 'z');
    tg_error_clear();
    ASSERT_NO_ERR();
    /* the error is readable without a runtime (before init, after fini) */
    cr_assert_eq(tg_is_initialized(), 0);
}

Test(errors, errcode_names)
{
    static const struct { tg_errcode c; const char *n; } all[] = {
        {TG_OK, "TG_OK"}, {TG_ERR_NOMEM, "TG_ERR_NOMEM"}, {TG_ERR_TYPE, "TG_ERR_TYPE"},
        {TG_ERR_VALUE, "TG_ERR_VALUE"}, {TG_ERR_INDEX, "TG_ERR_INDEX"}, {TG_ERR_KEY, "TG_ERR_KEY"},
        {TG_ERR_OVERFLOW, "TG_ERR_OVERFLOW"}, {TG_ERR_STATE, "TG_ERR_STATE"}, {TG_ERR_OS, "TG_ERR_OS"},
        {TG_ERR_NOT_FOUND, "TG_ERR_NOT_FOUND"}, {TG_ERR_PERMISSION, "TG_ERR_PERMISSION"},
        {TG_ERR_CORRUPT, "TG_ERR_CORRUPT"},
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        cr_assert_str_eq(tg_errcode_name(all[i].c), all[i].n);
    cr_assert_str_eq(tg_errcode_name((tg_errcode)12), "TG_ERR_?");
    cr_assert_str_eq(tg_errcode_name((tg_errcode)-1), "TG_ERR_?");
    cr_assert_str_eq(tg_errcode_name((tg_errcode)1000), "TG_ERR_?");
}

/* ------------------------------------------------------------ memory hooks */

Test(mem, fail_after_fails_exactly_once)
{
    unsetenv("TANGLE_MODE");
    TG_START();
    tg_mem_fail_after(2);
    void *a = tg_mem_alloc(32), *b = tg_mem_alloc(32), *c = tg_mem_alloc(32), *d = tg_mem_alloc(32);
    tg_mem_fail_after(-1);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_null(c);
    cr_assert_not_null(d);
    tg_mem_free(a); tg_mem_free(b); tg_mem_free(d);
    tg_mem_fail_after(0);
    tg_mem_fail_after(-1);                   /* off again before anything ran */
    void *e = tg_mem_alloc(16);
    cr_assert_not_null(e);
    tg_mem_free(e);
    TG_END();
}

Test(mem, init_fails_cleanly_at_every_allocation)
{
    unsetenv("TANGLE_MODE");
    int failures = 0;
    for (long n = 0; n < 5000; n++) {
        tg_error_clear();
        tg_mem_fail_after(n);
        int r = tg_init(NULL);
        tg_mem_fail_after(-1);
        if (r == 0) break;
        failures++;
        cr_assert_eq(r, -1);
        ASSERT_ERR(TG_ERR_NOMEM);
        cr_assert_eq(tg_is_initialized(), 0, "a failed tg_init left the runtime initialised");
        cr_assert_eq(tg_thread_is_attached(), 0, "a failed tg_init left the thread attached");
    }
    cr_assert_geq(failures, 1, "tg_init never allocated");
    cr_assert_eq(tg_is_initialized(), 1);
    /* the runtime that finally started is complete */
    tg_obj *a = OK(tg_str("a")), *e = OK(tg_str(""));
    cr_assert_eq(tg_is_immortal(a), 1);
    cr_assert_eq(tg_is_immortal(e), 1);
    cr_assert_eq(tg_str_const("abc"), tg_str_intern("abc"));
    TG_END();
}
