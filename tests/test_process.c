/*
 * tests/test_process.c — processes (exit codes, signals, kill, timeouts) and
 * queues between processes (nested objects both ways, timeouts, dead peers,
 * a writer killed in the middle of a message).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "tangle.h"

static void start(void) { cr_assert_eq(tg_init(NULL), 0, "%s", tg_error_message()); }
static void finish(void) { cr_assert_eq(tg_fini(), 0); }

static int join(tg_process *p)
{
    int code = 12345;
    cr_assert_eq(tg_process_join(p, &code), 0, "%s", tg_error_message());
    return code;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- processes */

static int ret_arg(void *arg) { return (int)(intptr_t)arg; }
static int self_kill(void *arg) { raise((int)(intptr_t)arg); return 0; }
static int sleeper(void *arg) { (void)arg; for (;;) pause(); return 0; }

Test(process, exit_codes_and_signals)
{
    start();
    cr_assert_eq(join(tg_process_start(ret_arg, (void *)(intptr_t)0)), 0);
    cr_assert_eq(join(tg_process_start(ret_arg, (void *)(intptr_t)42)), 42);
    cr_assert_eq(join(tg_process_start(ret_arg, (void *)(intptr_t)300)), 300 & 0xff);
    cr_assert_eq(join(tg_process_start(self_kill, (void *)(intptr_t)SIGKILL)), -SIGKILL);
    /* SIGTERM rather than SIGSEGV: sanitizers intercept SIGSEGV and turn the
       death into an exit with their own status. */
    cr_assert_eq(join(tg_process_start(self_kill, (void *)(intptr_t)SIGTERM)), -SIGTERM);
    cr_assert_null(tg_process_start(NULL, NULL));
    cr_assert_eq(tg_error(), TG_ERR_VALUE);
    finish();
}

Test(process, kill_and_join_timeout)
{
    start();
    tg_process *p = tg_process_start(sleeper, NULL);
    cr_assert_not_null(p);
    cr_assert_eq(tg_process_is_alive(p), 1);
    int code = 0;
    double t0 = now();
    cr_assert_eq(tg_process_join_timeout(p, 0.1, &code), 1);   /* still running */
    cr_assert_geq(now() - t0, 0.09);
    cr_assert_eq(tg_process_kill(p, SIGTERM), 0);
    cr_assert_eq(tg_process_join_timeout(p, 10, &code), 0);
    cr_assert_eq(code, -SIGTERM);

    p = tg_process_start(ret_arg, (void *)(intptr_t)3);
    while (tg_process_is_alive(p) == 1) usleep(1000);
    cr_assert_eq(tg_process_kill(p, SIGKILL), -1);              /* already exited */
    cr_assert_eq(tg_error(), TG_ERR_STATE);
    cr_assert_eq(join(p), 3);
    finish();
}

static int uses_runtime(void *arg)
{
    (void)arg;
    tg_obj *l = tg_list_new(0);
    for (int i = 0; i < 1000; i++) {
        tg_obj *x = tg_int(i);
        tg_list_append(l, x);
        tg_decref(x);
    }
    tg_obj *b = tg_marshal_dumps(l);
    tg_obj *back = b ? tg_marshal_loads(b) : NULL;
    int ok = back && tg_eq(l, back) == 1;
    tg_xdecref(back); tg_xdecref(b); tg_decref(l);
    return ok ? 7 : 1;
}

Test(process, child_has_a_working_runtime)
{
    start();
    cr_assert_eq(join(tg_process_start(uses_runtime, NULL)), 7);
    finish();
}

/* ------------------------------------------------------------------- queues */

/* {"name": "tangle", "nums": [1, -2, 3.5, big], "raw": b"\0\1", "t": (None, True, False),
    "shared": s, "again": s, "self": <the dict>} with s = ["x"] */
static tg_obj *make_nested(void)
{
    tg_obj *d = tg_dict_new();
    tg_obj *s = tg_list_new(0), *x = tg_str("x");
    tg_list_append(s, x);
    tg_decref(x);
    tg_obj *nums = tg_list_new(0);
    tg_obj *vals[] = { tg_int(1), tg_int(-2), tg_float(3.5), tg_int(INT64_MIN) };
    for (int i = 0; i < 4; i++) { tg_list_append(nums, vals[i]); tg_decref(vals[i]); }
    tg_obj *t = tg_tuple(3, tg_none(), tg_true(), tg_false());
    tg_obj *raw = tg_bytes("\0\1", 2), *name = tg_str("tangle");
    struct { const char *k; tg_obj *v; } items[] = {
        { "name", name }, { "nums", nums }, { "raw", raw }, { "t", t }, { "shared", s }, { "again", s }, { "self", d },
    };
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        tg_obj *k = tg_str(items[i].k);
        tg_dict_set(d, k, items[i].v);
        tg_decref(k);
    }
    tg_decref(s); tg_decref(nums); tg_decref(t); tg_decref(raw); tg_decref(name);
    return d;
}

static tg_obj *get_item(tg_obj *d, const char *key)
{
    tg_obj *k = tg_str(key), *v = tg_dict_get(d, k);
    tg_decref(k);
    return v;
}

/* 0 if o looks like make_nested()'s result, shares and cycle included. */
static int check_nested(tg_obj *o)
{
    if (!o || tg_typeof(o) != tg_type_dict() || tg_dict_len(o) != 7) return 1;
    tg_obj *s = get_item(o, "shared"), *again = get_item(o, "again"), *self = get_item(o, "self");
    int bad = s != again || self != o;
    tg_obj *nums = get_item(o, "nums"), *n3 = tg_list_get(nums, 3), *n2 = tg_list_get(nums, 2);
    bad |= tg_int_value(n3) != INT64_MIN || tg_float_value(n2) != 3.5;
    tg_obj *raw = get_item(o, "raw");
    size_t len;
    const char *rb = tg_bytes_data(raw, &len);
    bad |= len != 2 || rb[0] != 0 || rb[1] != 1;
    tg_obj *t = get_item(o, "t"), *t1 = tg_tuple_get(t, 1);
    bad |= t1 != tg_true();
    tg_decref(s); tg_decref(again); tg_decref(self); tg_decref(nums); tg_decref(n3); tg_decref(n2);
    tg_decref(raw); tg_decref(t); tg_decref(t1);
    return bad;
}

static void break_cycle(tg_obj *d)
{
    tg_obj *k = tg_str("self");
    tg_dict_del(d, k);
    tg_decref(k);
}

static int child_puts_nested(void *arg)
{
    tg_queue *q = arg;
    tg_queue_close_reader(q);
    tg_obj *d = make_nested();
    int r = 0;
    for (int i = 0; i < 3 && r == 0; i++) r = tg_queue_put(q, d, 5);
    break_cycle(d);
    tg_decref(d);
    return r == 0 ? 0 : 1;
}

Test(queue, nested_objects_from_child_then_dead_writer_is_an_error)
{
    start();
    tg_queue *q = tg_queue_new();
    cr_assert_not_null(q);
    tg_process *p = tg_process_start(child_puts_nested, q);
    tg_queue_close_writer(q);
    for (int i = 0; i < 3; i++) {
        tg_obj *o = tg_queue_get(q, 10);
        cr_assert_not_null(o, "%s: %s", tg_errcode_name(tg_error()), tg_error_message());
        cr_assert_eq(check_nested(o), 0);
        break_cycle(o);
        tg_decref(o);
    }
    cr_assert_eq(join(p), 0);
    double t0 = now();
    cr_assert_null(tg_queue_get(q, -1));               /* no timeout: must not hang */
    cr_assert_eq(tg_error(), TG_ERR_STATE, "%s", tg_error_message());
    cr_assert_lt(now() - t0, 1.0);
    tg_queue_free(q);
    finish();
}

static int child_echoes(void *arg)
{
    tg_queue **qs = arg;             /* qs[0]: parent -> child, qs[1]: child -> parent */
    tg_queue_close_writer(qs[0]);
    tg_queue_close_reader(qs[1]);
    for (;;) {
        tg_obj *o = tg_queue_get(qs[0], 10);
        if (!o) return tg_error() == TG_ERR_STATE ? 0 : 1;   /* parent closed: done */
        int r = tg_queue_put(qs[1], o, 10);
        tg_decref(o);
        if (r < 0) return 2;
    }
}

Test(queue, round_trip_through_an_echoing_child)
{
    start();
    tg_queue *qs[2] = { tg_queue_new(), tg_queue_new() };
    tg_process *p = tg_process_start(child_echoes, qs);
    tg_queue_close_reader(qs[0]);
    tg_queue_close_writer(qs[1]);
    tg_obj *d = make_nested();
    for (int i = 0; i < 50; i++) {
        cr_assert_eq(tg_queue_put(qs[0], d, 5), 0, "%s", tg_error_message());
        tg_obj *o = tg_queue_get(qs[1], 5);
        cr_assert_not_null(o, "%s", tg_error_message());
        cr_assert_eq(check_nested(o), 0);
        break_cycle(o);
        tg_decref(o);
    }
    tg_queue_close_writer(qs[0]);                       /* the child sees the end */
    cr_assert_eq(join(p), 0);
    break_cycle(d);
    tg_decref(d);
    tg_queue_free(qs[0]);
    tg_queue_free(qs[1]);
    finish();
}

Test(queue, timeouts_and_closed_ends)
{
    start();
    tg_queue *q = tg_queue_new();
    double t0 = now();
    cr_assert_null(tg_queue_get(q, 0.2));
    cr_assert_eq(tg_error(), TG_ERR_NOT_FOUND);
    double dt = now() - t0;
    cr_assert(dt >= 0.19 && dt < 2.0, "waited %f s", dt);
    cr_assert_null(tg_queue_get(q, 0));
    cr_assert_eq(tg_error(), TG_ERR_NOT_FOUND);

    tg_obj *x = tg_int(12345);
    cr_assert_eq(tg_queue_put(q, x, 0), 0);             /* same process, both ends */
    tg_obj *y = tg_queue_get(q, 0);
    cr_assert_not_null(y);
    cr_assert_eq(tg_int_value(y), 12345);
    tg_decref(y);

    tg_obj *cap = tg_capsule((void *)1, NULL);
    cr_assert_eq(tg_queue_put(q, cap, 0), -1);
    cr_assert_eq(tg_error(), TG_ERR_TYPE);
    tg_decref(cap);

    tg_queue_close_reader(q);
    cr_assert_eq(tg_queue_put(q, x, 0), -1);            /* nobody can read it */
    cr_assert_eq(tg_error(), TG_ERR_STATE);
    cr_assert_null(tg_queue_get(q, 0));
    cr_assert_eq(tg_error(), TG_ERR_STATE);
    tg_decref(x);
    tg_queue_free(q);
    finish();
}

/* The writer killed mid-message: the child announces, in a page shared
   with the parent, that its message is built and the put is starting; the
   parent waits for that before it gives the put time to block. (A fixed
   wait from the start was not enough: under ASan on a loaded machine the
   child had not written a byte 300 ms after it was started, and the reader
   saw a clean close instead of a torn message.) */
typedef struct { tg_queue *q; volatile int *putting; } huge_arg;

static int child_sends_huge(void *arg)
{
    huge_arg *a = arg;
    tg_queue_close_reader(a->q);
    size_t n = 8u << 20;                  /* far more than a socket buffer (~200 KiB) */
    char *buf = calloc(1, n);
    tg_obj *b = tg_bytes(buf, n);
    free(buf);
    __atomic_store_n(a->putting, 1, __ATOMIC_RELEASE);
    tg_queue_put(a->q, b, -1);            /* blocks mid-message: killed there */
    return 0;
}

Test(queue, writer_killed_mid_message_breaks_the_queue)
{
    start();
    volatile int *putting = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq((void *)putting, MAP_FAILED);
    *putting = 0;
    tg_queue *q = tg_queue_new();
    huge_arg a = { q, putting };
    tg_process *p = tg_process_start(child_sends_huge, &a);
    cr_assert_not_null(p, "%s", tg_error_message());
    tg_queue_close_writer(q);
    double deadline = now() + 60;
    while (!__atomic_load_n(putting, __ATOMIC_ACQUIRE) && now() < deadline) usleep(1000);
    cr_assert(__atomic_load_n(putting, __ATOMIC_ACQUIRE), "the child never started its put");
    usleep(300 * 1000);                   /* let it fill the socket buffer */
    tg_process_kill(p, SIGKILL);
    cr_assert_eq(join(p), -SIGKILL);
    cr_assert_null(tg_queue_get(q, 5));
    cr_assert_eq(tg_error(), TG_ERR_CORRUPT, "%s: %s", tg_errcode_name(tg_error()), tg_error_message());
    cr_assert_null(tg_queue_get(q, 0));
    cr_assert_eq(tg_error(), TG_ERR_CORRUPT);
    munmap((void *)putting, sizeof(int));
    tg_queue_free(q);
    finish();
}
