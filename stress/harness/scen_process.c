/*
 * stress/harness/scen_process.c — processes: fork while threads run (the child uses
 * the runtime and exits cleanly), and shared-memory counters incremented by
 * several processes under the array lock, one of which is killed holding it.
 *
 * The process and shared-memory functions are referenced weakly, so this file
 * links whether or not shm/ provides them yet; a missing function or one that
 * fails with TG_ERR_STATE makes the scenario "not available", never faked.
 * (The tangle command links libtangle.a whole, see stress/harness.cmake, so a
 * function that exists is always found.)
 */
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include "stress/harness/harness.h"

#pragma weak tg_process_start
#pragma weak tg_process_join
#pragma weak tg_process_kill
#pragma weak tg_shm_array_create
#pragma weak tg_shm_array_lock
#pragma weak tg_shm_array_unlock
#pragma weak tg_shm_array_get_i64
#pragma weak tg_shm_array_set_i64
#pragma weak tg_shm_array_close
#pragma weak tg_shm_array_unlink

/* ============================================================== fork_threads */

static struct {
    tg_obj *list;
    int stop;                     /* __atomic accesses only */
} ft;

static void ft_mutator(tgs_worker *w)
{
    int64_t i = 0;
    while (!__atomic_load_n(&ft.stop, __ATOMIC_ACQUIRE) && !tgs_failures(w->ctx)) {
        tg_obj *v = tg_int(1000 + i++);
        tg_list_append(ft.list, v);
        tg_decref(v);
        if (tg_list_len(ft.list) > 2000) { tg_obj *x = tg_list_pop(ft.list, 0); tg_xdecref(x); }
        tgs_op(w);
        if (tgs_below(&w->rng, 8) == 0) tgs_pause(w);
        if (tgs_now() > w->ctx->hard_deadline) break;
    }
}

/* The child: one thread, a runtime state of its own. */
static int ft_child(void *arg)
{
    (void)arg;
    size_t n = tg_list_len(ft.list);
    for (size_t i = 0; i < n; i++) {        /* the inherited list is intact */
        tg_obj *v = tg_list_get(ft.list, (ptrdiff_t)i);
        if (!v || tg_int_value(v) < 1000) return 10;
        tg_decref(v);
    }
    tg_obj *l = tg_list_new(0);
    for (int i = 0; i < 1000; i++) { tg_obj *v = tg_int(100000 + i); tg_list_append(l, v); tg_decref(v); }
    int ok = tg_list_len(l) == 1000;
    tg_decref(l);
    return ok ? 0 : 11;
}

typedef struct { tgs_ctx *ctx; } ft_forker_arg;

static void ft_forker(tgs_worker *w)
{
    tgs_ctx *ctx = w->ctx;
    if (w->index != 0) { ft_mutator(w); return; }
    for (int k = 0; k < 3 && !tgs_failures(ctx); k++) {
        for (int i = 0; i < 50; i++) tgs_pause(w);
        tg_process *p = tg_process_start(ft_child, NULL);
        if (!p) {
            if (tg_error() == TG_ERR_STATE) tgs_unavailable(ctx, "tg_process_start: %s", tg_error_message());
            else tgs_fail(ctx, "tg_process_start with threads running failed: %s", tg_error_message());
            break;
        }
        int code = -999;
        if (tg_process_join(p, &code) < 0) { tgs_fail(ctx, "tg_process_join failed: %s", tg_error_message()); break; }
        TGS_CHECK(ctx, code == 0, "forked child exited with %d (10: inherited list corrupt, 11: list ops failed, <0: signal)", code);
        tgs_op(w);
    }
    __atomic_store_n(&ft.stop, 1, __ATOMIC_RELEASE);
}

static int ft_run(tgs_ctx *ctx)
{
    if (!tg_process_start || !tg_process_join)
        return tgs_unavailable(ctx, "tg_process_start/tg_process_join are not in this build yet");
    ft.list = tg_list_new(0);
    ft.stop = 0;
    /* thread 0 forks; the others (at least one) mutate meanwhile */
    tgs_run_threads(ctx, ctx->threads < 2 ? 2 : ctx->threads, ft_forker, NULL);
    tg_decref(ft.list);
    return tgs_failures(ctx) ? TGS_FAILED : TGS_OK;
}

const tgs_scenario tgs_scen_fork_threads = {
    .name = "fork_threads",
    .description = "tg_process_start (fork) while other threads mutate a shared list; the child uses the runtime",
    .invariants = "the child sees the inherited list intact, can allocate and mutate, and exits 0; the parent carries on",
    .run = ft_run,
};

/* ============================================================= shm_counters */

#define SHM_INCREMENTS 2000

static tg_shm_array *shm_arr;

/* Array layout (q, 4 elements): [0] counter, [1] "holder has the lock", [2] recoveries seen. */
static int shm_counter_child(void *arg)
{
    (void)arg;
    for (int i = 0; i < SHM_INCREMENTS; i++) {
        int r = tg_shm_array_lock(shm_arr);
        if (r < 0) return 20;
        int64_t v;
        if (r == 1) { tg_shm_array_get_i64(shm_arr, 2, &v); tg_shm_array_set_i64(shm_arr, 2, v + 1); }
        tg_shm_array_get_i64(shm_arr, 0, &v);
        if (i % 64 == 0) sched_yield();       /* inside the lock: others must wait */
        tg_shm_array_set_i64(shm_arr, 0, v + 1);
        tg_shm_array_unlock(shm_arr);
    }
    return 0;
}

static int shm_holder_child(void *arg)
{
    (void)arg;
    if (tg_shm_array_lock(shm_arr) < 0) return 21;
    tg_shm_array_set_i64(shm_arr, 1, 1);
    for (;;) pause();                          /* killed while holding the lock */
}

static int shm_run(tgs_ctx *ctx)
{
    if (!tg_shm_array_create || !tg_process_start || !tg_process_kill)
        return tgs_unavailable(ctx, "tg_shm_array_*/tg_process_* are not in this build yet");
    shm_arr = tg_shm_array_create('q', 4);
    if (!shm_arr) {
        if (tg_error() == TG_ERR_STATE) return tgs_unavailable(ctx, "tg_shm_array_create: %s", tg_error_message());
        return tgs_fail(ctx, "tg_shm_array_create('q', 4) failed: %s", tg_error_message());
    }
    int nproc = ctx->threads;
    /* A holder that dies with the lock held. */
    tg_process *holder = tg_process_start(shm_holder_child, NULL);
    if (!holder) {
        int unav = tg_error() == TG_ERR_STATE;
        tg_shm_array_unlink(shm_arr); tg_shm_array_close(shm_arr);
        return unav ? tgs_unavailable(ctx, "tg_process_start: %s", tg_error_message())
                    : tgs_fail(ctx, "tg_process_start failed: %s", tg_error_message());
    }
    int64_t held = 0;
    while (held == 0) {
        tg_shm_array_get_i64(shm_arr, 1, &held);
        if (!tgs_wait_a_little(ctx)) { tgs_fail(ctx, "the lock holder never took the lock"); break; }
    }
    tg_process_kill(holder, SIGKILL);
    int code = 0;
    tg_process_join(holder, &code);
    TGS_CHECK(ctx, code == -SIGKILL, "the killed holder's exit code is %d, expected %d", code, -SIGKILL);
    tg_process *ps[64];
    if (nproc > 64) nproc = 64;
    int started = 0;
    for (int i = 0; i < nproc; i++) {
        ps[i] = tg_process_start(shm_counter_child, NULL);
        if (!ps[i]) { tgs_fail(ctx, "tg_process_start %d failed: %s", i, tg_error_message()); break; }
        started++;
    }
    for (int i = 0; i < started; i++) {
        int c = -1;
        tg_process_join(ps[i], &c);
        TGS_CHECK(ctx, c == 0, "counter process %d exited with %d", i, c);
        tgs_ops(ctx, SHM_INCREMENTS);
    }
    int64_t counter = -1, recovered = -1;
    tg_shm_array_get_i64(shm_arr, 0, &counter);
    tg_shm_array_get_i64(shm_arr, 2, &recovered);
    TGS_CHECK(ctx, counter == (int64_t)started * SHM_INCREMENTS, "shared counter == %" PRId64 " after %d processes x %d locked increments, expected %" PRId64,
              counter, started, SHM_INCREMENTS, (int64_t)started * SHM_INCREMENTS);
    TGS_CHECK(ctx, recovered == 1, "the dead holder's lock was reported recovered %" PRId64 " times, expected exactly once (lock() == 1)", recovered);
    tg_shm_array_unlink(shm_arr);
    tg_shm_array_close(shm_arr);
    return tgs_failures(ctx) ? TGS_FAILED : TGS_OK;
}

const tgs_scenario tgs_scen_shm_counters = {
    .name = "shm_counters",
    .description = "processes increment a shared-memory counter under its robust lock after a holder was killed holding it",
    .invariants = "counter == processes x increments exactly; the dead holder's lock is recovered exactly once; "
                  "the killed process reports -SIGKILL",
    .run = shm_run,
};
