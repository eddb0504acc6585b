/*
 * sync/bench/sync_bench.c — micro-benchmarks of the threading substrate.
 * Correctness lives in tests/test_threads.c and stress/threads_stress.c.
 *
 *   sync_bench [mutex|stw|gil|bias|turns|hammer|all] [--threads T] [--seconds S]
 *
 *   mutex  uncontended tg_mutex lock+unlock pairs (ns/pair) against
 *          pthread_mutex; T threads hammering one tg_mutex (ops/s).
 *   stw    stw_latency of BENCH.md: T busy threads calling tg_safepoint, the
 *          main thread stops and restarts the world every ~1 ms; request ->
 *          all stopped, p50/p99/max. Free-threaded status paths (through the
 *          test hook: tg_init refuses free-threaded mode for now) and GIL mode.
 *   gil    gil_handoff of BENCH.md: 2 CPU-bound threads for S seconds; time
 *          share of each, hand-offs, waits.
 *   bias   owner-biased locks (sync/bias.c), free-threaded mode: the main
 *          thread makes 20,000 lists; a second thread appends one item to
 *          each (the first touch: a revocation), then a second item (the
 *          lock, no revocation). ns per append, and the revocation count.
 *   turns  reserved list locks (sync/bias.c), free-threaded mode: a producer
 *          appends one item and waits until a consumer has popped it,
 *          100,000 times: ns per round trip and take-overs.
 *   hammer  T threads (default 2) append 2M items each to one list made by
 *          the main thread: ops/s and take-overs (the reserved locks' time
 *          slices; compare GIL mode with `tangle bench`).
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tangle.h"
#include "runtime/internal.h"
#include "sync/sync.h"

static int T = 2;
static double S = 2.0;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------------ mutex */

static tg_mutex hot;
static long hot_count;
static atomic_int go, stop;
static void *hammer(void *arg)
{
    long *ops = arg;
    while (!atomic_load(&go)) {}
    long n = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        tg_mutex_lock(&hot);
        hot_count++;
        tg_mutex_unlock(&hot);
        n++;
    }
    *ops = n;
    return NULL;
}

static void bench_mutex(void)
{
    enum { N = 50000000 };
    tg_mutex m = {0};
    uint64_t t0 = now_ns();
    for (int i = 0; i < N; i++) { tg_mutex_lock(&m); __asm__ volatile("" ::: "memory"); tg_mutex_unlock(&m); }
    double tg = (double)(now_ns() - t0) / N;
    pthread_mutex_t pm = PTHREAD_MUTEX_INITIALIZER;
    t0 = now_ns();
    for (int i = 0; i < N; i++) { pthread_mutex_lock(&pm); __asm__ volatile("" ::: "memory"); pthread_mutex_unlock(&pm); }
    double pt = (double)(now_ns() - t0) / N;
    printf("mutex uncontended: tg_mutex %.2f ns/pair, pthread_mutex %.2f ns/pair (%d pairs)\n", tg, pt, N);

    pthread_t th[64];
    long ops[64];
    int n = T > 64 ? 64 : T;
    atomic_store(&go, 0); atomic_store(&stop, 0);
    for (int i = 0; i < n; i++) pthread_create(&th[i], NULL, hammer, &ops[i]);
    t0 = now_ns();
    atomic_store(&go, 1);
    struct timespec d = { 1, 0 };
    nanosleep(&d, NULL);
    atomic_store(&stop, 1);
    long total = 0, mn = -1, mx = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        total += ops[i];
        if (mn < 0 || ops[i] < mn) mn = ops[i];
        if (ops[i] > mx) mx = ops[i];
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    printf("mutex contended: %d threads, %.1f M lock/unlock per s in all, per thread min %ld max %ld, count ok: %s\n",
           n, total / secs / 1e6, mn, mx, hot_count == total ? "yes" : "NO");
}

/* -------------------------------------------------------------------- stw */

static atomic_int ready;
static void *busy(void *arg)
{
    (void)arg;
    tg_thread_attach();
    atomic_fetch_add(&ready, 1);
    volatile long x = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        x++;
        tg_safepoint();
    }
    tg_thread_detach();
    return NULL;
}

static void bench_stw(tg_mode mode)
{
    tg_init(NULL);
    _tg_sync_test_set_mode(mode);
    atomic_store(&stop, 0); atomic_store(&ready, 0);
    pthread_t th[64];
    int n = T > 64 ? 64 : T;
    for (int i = 0; i < n; i++) pthread_create(&th[i], NULL, busy, NULL);
    while (atomic_load(&ready) != n) { TG_BEGIN_ALLOW_THREADS usleep(1000); TG_END_ALLOW_THREADS }
    enum { R = 2000 };
    static uint64_t lat[R];
    for (int r = 0; r < R; r++) {
        TG_BEGIN_ALLOW_THREADS
        usleep(1000);
        TG_END_ALLOW_THREADS
        uint64_t t0 = now_ns();
        tg_stop_the_world();
        lat[r] = now_ns() - t0;
        tg_start_the_world();
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < n; i++) { TG_BEGIN_ALLOW_THREADS pthread_join(th[i], NULL); TG_END_ALLOW_THREADS }
    qsort(lat, R, sizeof lat[0], cmp_u64);
    printf("stw_latency %s: T=%d busy threads, %d stops: p50 %.1f us, p99 %.1f us, max %.1f us%s\n",
           mode == TG_MODE_GIL ? "gil" : "ft (status paths via test hook)", n, R,
           lat[R / 2] / 1e3, lat[R * 99 / 100] / 1e3, lat[R - 1] / 1e3,
           mode == TG_MODE_GIL ? " (requester already holds the GIL; excludes taking it)" : "");
    _tg_sync_test_set_mode(TG_MODE_GIL);
    tg_fini();
}

/* -------------------------------------------------------------------- gil */

typedef struct { uint64_t held, nwaits, wait_total, wait_max; } share_t;
static atomic_ullong start_at;
static void *cpu(void *arg)
{
    share_t *me = arg;
    tg_thread_attach();
    atomic_fetch_add(&ready, 1);
    while (!atomic_load(&start_at)) tg_safepoint();
    uint64_t end = atomic_load(&start_at) + (uint64_t)(S * 1e9), last = now_ns();
    volatile double x = 1;
    for (;;) {
        for (int k = 0; k < 200; k++) x = x * 1.0000001 + 1e-9;
        uint64_t t0 = now_ns();
        if (t0 >= end) { me->held += t0 - last; break; }
        tg_safepoint();
        uint64_t t1 = now_ns();
        if (t1 - t0 > 200000) {
            me->held += t0 - last;
            me->nwaits++;
            me->wait_total += t1 - t0;
            if (t1 - t0 > me->wait_max) me->wait_max = t1 - t0;
            last = t1;
        }
    }
    tg_thread_detach();
    return NULL;
}

static void bench_gil(void)
{
    tg_init(NULL);
    atomic_store(&ready, 0); atomic_store(&start_at, 0);
    share_t sh[2] = {{0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, cpu, &sh[i]);
    while (atomic_load(&ready) != 2) { TG_BEGIN_ALLOW_THREADS usleep(1000); TG_END_ALLOW_THREADS }
    tg_gil_reset_stats();
    atomic_store(&start_at, now_ns());
    for (int i = 0; i < 2; i++) { TG_BEGIN_ALLOW_THREADS pthread_join(th[i], NULL); TG_END_ALLOW_THREADS }
    tg_gil_stats st;
    tg_gil_get_stats(&st);
    double tot = (double)(sh[0].held + sh[1].held);
    printf("gil_handoff: %.1f s, switch interval %.1f ms: shares %.1f%% / %.1f%%; waits %llu + %llu, "
           "mean %.2f ms, max %.2f ms; hand-offs %llu, drop requests %llu, forced switches %llu; "
           "drop request -> new holder mean %.1f us, max %.1f us\n",
           S, _tg_rt.config.switch_interval_s * 1e3, 100 * sh[0].held / tot, 100 * sh[1].held / tot,
           (unsigned long long)sh[0].nwaits, (unsigned long long)sh[1].nwaits,
           (sh[0].wait_total + sh[1].wait_total) / 1e6 / (double)(sh[0].nwaits + sh[1].nwaits ? sh[0].nwaits + sh[1].nwaits : 1),
           (sh[0].wait_max > sh[1].wait_max ? sh[0].wait_max : sh[1].wait_max) / 1e6,
           (unsigned long long)st.handoffs, (unsigned long long)st.drop_requests,
           (unsigned long long)st.forced_switches,
           st.drop_requests ? st.handoff_ns_total / 1e3 / (double)st.drop_requests : 0.0,
           st.handoff_ns_max / 1e3);
    tg_fini();
}

#define BIAS_N 20000
static tg_obj *bias_lists[BIAS_N];
static double bias_first_ns, bias_second_ns;
static void *bias_toucher(void *arg)
{
    (void)arg;
    if (tg_thread_attach() != 0) return NULL;
    tg_obj *v = tg_int(1);
    uint64_t t0 = now_ns();
    for (int i = 0; i < BIAS_N; i++) tg_list_append(bias_lists[i], v);
    uint64_t t1 = now_ns();
    for (int i = 0; i < BIAS_N; i++) tg_list_append(bias_lists[i], v);
    uint64_t t2 = now_ns();
    bias_first_ns = (double)(t1 - t0) / BIAS_N;
    bias_second_ns = (double)(t2 - t1) / BIAS_N;
    tg_decref(v);
    tg_thread_detach();
    return NULL;
}

/* A free-threaded runtime for one benchmark (tg_fini after it). */
static bool init_ft(void)
{
    tg_config c;
    tg_config_default(&c);
    c.mode = TG_MODE_FREE_THREADED;
    if (tg_init(&c) == 0) return true;
    fprintf(stderr, "tg_init: %s\n", tg_error_message());
    return false;
}

static void bench_bias(void)
{
    if (!init_ft()) return;
    for (int i = 0; i < BIAS_N; i++) bias_lists[i] = tg_list_new(0);
    uint64_t before = _tg_bias_revocations();
    pthread_t t;
    TG_BEGIN_ALLOW_THREADS
    pthread_create(&t, NULL, bias_toucher, NULL);
    pthread_join(t, NULL);
    TG_END_ALLOW_THREADS
    printf("bias: %s; another thread's first append to %d lists (revokes): %.0f ns each, "
           "second append: %.1f ns; revocations %llu\n",
           _tg_rt.obj_lock_birth ? "membarrier unavailable, objects born unbiased" : "membarrier available",
           BIAS_N, bias_first_ns, bias_second_ns, (unsigned long long)(_tg_bias_revocations() - before));
    for (int i = 0; i < BIAS_N; i++) tg_decref(bias_lists[i]);
    tg_fini();
}

static tg_obj *turns_list;
#define TURNS_N 100000
static void *turns_producer(void *arg)
{
    (void)arg;
    if (tg_thread_attach() != 0) return NULL;
    tg_obj *v = tg_int(1);
    for (int i = 0; i < TURNS_N; i++) {
        tg_list_append(turns_list, v);
        while (tg_list_len(turns_list) != 0) tg_safepoint();
    }
    tg_decref(v);
    tg_thread_detach();
    return NULL;
}
static void *turns_consumer(void *arg)
{
    (void)arg;
    if (tg_thread_attach() != 0) return NULL;
    for (int i = 0; i < TURNS_N; i++) {
        while (tg_list_len(turns_list) == 0) tg_safepoint();
        tg_obj *x = tg_list_pop(turns_list, -1);
        tg_xdecref(x);
    }
    tg_thread_detach();
    return NULL;
}

static void bench_turns(void)
{
    if (!init_ft()) return;
    turns_list = tg_list_new(0);
    uint64_t before = _tg_sticky_takeovers();
    pthread_t a, b;
    uint64_t t0 = now_ns();
    TG_BEGIN_ALLOW_THREADS
    pthread_create(&a, NULL, turns_producer, NULL);
    pthread_create(&b, NULL, turns_consumer, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    TG_END_ALLOW_THREADS
    uint64_t t1 = now_ns();
    printf("turns: producer/consumer one item at a time: %.0f ns per round trip; take-overs %llu\n",
           (double)(t1 - t0) / TURNS_N, (unsigned long long)(_tg_sticky_takeovers() - before));
    tg_decref(turns_list);
    tg_fini();
}

#define HAMMER_N 2000000
static void *hammer_thread(void *arg)
{
    (void)arg;
    if (tg_thread_attach() != 0) return NULL;
    tg_obj *v = tg_int(1);
    for (int i = 0; i < HAMMER_N; i++) tg_list_append(turns_list, v);
    tg_decref(v);
    tg_thread_detach();
    return NULL;
}

static void bench_hammer(int threads)
{
    if (!init_ft()) return;
    turns_list = tg_list_new(0);
    uint64_t before = _tg_sticky_takeovers();
    pthread_t th[64];
    if (threads > 64) threads = 64;
    uint64_t t0 = now_ns();
    TG_BEGIN_ALLOW_THREADS
    for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, hammer_thread, NULL);
    for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
    TG_END_ALLOW_THREADS
    uint64_t t1 = now_ns();
    printf("hammer: %d threads x %d appends to one list: %.1fM appends/s; take-overs %llu; length %zu\n",
           threads, HAMMER_N, (double)threads * HAMMER_N / ((double)(t1 - t0) / 1e9) / 1e6,
           (unsigned long long)(_tg_sticky_takeovers() - before), tg_list_len(turns_list));
    tg_decref(turns_list);
    tg_fini();
}

int main(int argc, char **argv)
{
    const char *what = "all";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) T = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) S = atof(argv[++i]);
        else what = argv[i];
    }
    int all = !strcmp(what, "all");
    if (all || !strcmp(what, "mutex")) bench_mutex();
    if (all || !strcmp(what, "stw")) { bench_stw(TG_MODE_FREE_THREADED); bench_stw(TG_MODE_GIL); }
    if (all || !strcmp(what, "gil")) bench_gil();
    if (all || !strcmp(what, "bias")) bench_bias();
    if (all || !strcmp(what, "turns")) bench_turns();
    if (all || !strcmp(what, "hammer")) bench_hammer(T > 1 ? T : 2);
    return 0;
}
