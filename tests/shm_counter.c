/*
 * tests/shm_counter.c — benchmark, not a test: N processes increment one
 * shared 'q' value, (a) under the segment's robust process-shared lock
 * (lock, get, set, unlock: what multiprocessing.Value's `with v.get_lock():
 * v.value += 1` does) and (b) with the lock-free tg_shm_array_add_i64.
 * Prints ops/s (total increments over all processes / wall time) and checks
 * the final count. Best of 3 runs.
 *
 *   shm_counter [iterations-per-process = 1000000] [processes = 2]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "tangle.h"

static long iters = 1000000;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int locked(void *arg)
{
    tg_shm_array *a = arg;
    for (long i = 0; i < iters; i++) {
        if (tg_shm_array_lock(a) < 0) return 1;
        int64_t v;
        tg_shm_array_get_i64(a, 0, &v);
        tg_shm_array_set_i64(a, 0, v + 1);
        tg_shm_array_unlock(a);
    }
    return 0;
}

static int atomic_add(void *arg)
{
    for (long i = 0; i < iters; i++)
        if (tg_shm_array_add_i64(arg, 0, 1, NULL) < 0) return 1;
    return 0;
}

static double run(int (*fn)(void *), int nproc)
{
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        tg_shm_array *a = tg_shm_array_create('q', 1);
        if (!a) { fprintf(stderr, "%s\n", tg_error_message()); exit(1); }
        tg_process *p[64];
        double t0 = now();
        for (int i = 0; i < nproc; i++) p[i] = tg_process_start(fn, a);
        for (int i = 0; i < nproc; i++) {
            int code;
            if (tg_process_join(p[i], &code) < 0 || code != 0) { fprintf(stderr, "child failed\n"); exit(1); }
        }
        double dt = now() - t0;
        int64_t v;
        tg_shm_array_get_i64(a, 0, &v);
        if (v != (int64_t)iters * nproc) { fprintf(stderr, "lost updates: %lld\n", (long long)v); exit(1); }
        tg_shm_array_unlink(a);
        tg_shm_array_close(a);
        double ops = (double)iters * nproc / dt;
        if (ops > best) best = ops;
    }
    return best;
}

int main(int argc, char **argv)
{
    if (argc > 1) iters = atol(argv[1]);
    int nproc = argc > 2 ? atoi(argv[2]) : 2;
    if (iters <= 0 || nproc < 1 || nproc > 64) { fprintf(stderr, "usage: shm_counter [iters] [procs<=64]\n"); return 2; }
    if (tg_init(NULL) < 0) { fprintf(stderr, "%s\n", tg_error_message()); return 1; }
    printf("processes=%d iterations/process=%ld\n", nproc, iters);
    printf("locked increments: %12.0f ops/s\n", run(locked, nproc));
    printf("atomic adds:       %12.0f ops/s\n", run(atomic_add, nproc));
    tg_fini();
    return 0;
}
