/*
 * tests/test_oom.c — SQLite-style out-of-memory sweep: a realistic scenario
 * (nested lists, dicts, strings, tuples, attribute objects, a cycle, copy,
 * deepcopy, marshal) is run again and again with tg_mem_fail_after(n) for
 * n = 0, 1, 2, ... until it completes without hitting the injected failure.
 * At every n the scenario must either succeed or fail with TG_ERR_NOMEM,
 * never crash, and after tg_fini nothing may be left alive.
 */
#include "tg_test.h"

/* Each step either works or makes the scenario return -1 after releasing
   what it holds; the error must then be TG_ERR_NOMEM. */
#define STEP(expr) do { if (!(expr)) goto fail; } while (0)

static int scenario(void)
{
    int rc = -1;
    tg_obj *root = NULL, *cfg = NULL, *users = NULL, *copy = NULL, *deep = NULL,
           *blob = NULL, *back = NULL, *obj = NULL, *cyc = NULL, *t = NULL;

    STEP(root = tg_dict_new());
    STEP(users = tg_list_new(0));
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "user-%d-with-a-long-name", i);
        tg_obj *u = tg_dict_new(), *k = NULL, *v = NULL;
        int ok = u != NULL;
        ok = ok && (k = tg_str_const("name")) && (v = tg_str(name)) && tg_dict_set(u, k, v) == 0;
        tg_xdecref(k); tg_xdecref(v); k = v = NULL;
        ok = ok && (k = tg_str_const("id")) && (v = tg_int(100000 + i)) && tg_dict_set(u, k, v) == 0;
        tg_xdecref(k); tg_xdecref(v); k = v = NULL;
        ok = ok && (k = tg_str_const("score")) && (v = tg_float(i * 0.5)) && tg_dict_set(u, k, v) == 0;
        tg_xdecref(k); tg_xdecref(v);
        ok = ok && tg_list_append(users, u) == 0;
        tg_xdecref(u);
        STEP(ok);
    }
    {
        tg_obj *k = tg_str_const("users");
        int ok = k && tg_dict_set(root, k, users) == 0;
        tg_xdecref(k);
        STEP(ok);
    }
    STEP(cfg = tg_object_new(NULL));
    {
        tg_obj *port = tg_int(8080), *host = tg_str("example.org");
        int ok = port && host && tg_setattr(cfg, "port", port) == 0 && tg_setattr(cfg, "host", host) == 0;
        tg_xdecref(port); tg_xdecref(host);
        STEP(ok);
    }
    STEP(t = tg_tuple(3, root, cfg, tg_none()));
    STEP(tg_setattr(cfg, "self", cfg) == 0);                  /* a cycle */
    STEP(cyc = tg_list_new(0));
    STEP(tg_list_append(cyc, cyc) == 0);                      /* another */
    STEP(copy = tg_copy(users));
    STEP(deep = tg_deepcopy(root));
    STEP(tg_eq(deep, root) == 1);
    STEP(blob = tg_marshal_dumps(root));
    STEP(back = tg_marshal_loads(blob));
    STEP(tg_eq(back, root) == 1);
    STEP(obj = tg_bytes("\0\1\2", 3));
    STEP(tg_list_extend(users, copy) == 0);
    STEP(tg_list_len(users) == 80);
    rc = 0;
fail:
    if (rc < 0 && tg_error() != TG_ERR_NOMEM)
        cr_assert_fail("scenario failed with %s (%s), not TG_ERR_NOMEM",
                 tg_errcode_name(tg_error()), tg_error_message());
    tg_xdecref(root); tg_xdecref(cfg); tg_xdecref(users); tg_xdecref(copy);
    tg_xdecref(deep); tg_xdecref(blob); tg_xdecref(back); tg_xdecref(obj);
    tg_xdecref(cyc); tg_xdecref(t);
    return rc;
}

static void sweep(tg_mode mode)
{
    tg_config cfg;
    tg_config_default(&cfg);
    cfg.mode = mode;
    long n = 0;
    int failures = 0;
    for (;; n++) {
        cr_assert_eq(tg_init(&cfg), 0, "tg_init: %s", tg_error_message());
        tg_mem_fail_after(n);
        int rc = scenario();
        tg_mem_fail_after(-1);
        tg_error_clear();
        tg_gc_collect(-1);
        cr_assert_eq(tg_fini(), 0);
        cr_assert_eq(tg_live_objects(), 0, "n = %ld: %zu objects leaked", n, tg_live_objects());
        if (rc == 0) break;
        failures++;
        cr_assert_lt(n, 100000, "the scenario never completes");
    }
    /* Every allocation before the last one was a failure point that was handled. */
    cr_assert_eq(failures, n);
    cr_assert_gt(n, 100, "the sweep covered only %ld allocations", n);
}

Test(oom, sweep_gil_mode, .timeout = 240) { sweep(TG_MODE_GIL); }
Test(oom, sweep_free_threaded_mode, .timeout = 240) { sweep(TG_MODE_FREE_THREADED); }
