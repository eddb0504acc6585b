/*
 * stress/threads_stress.c — thread states, the GIL, release and
 * stop-the-world under load. Not a benchmark.
 *
 *   threads_stress [--seconds S] [--threads T] [--seed N] [--scenario NAME]
 *
 * Scenarios (all by default, the time split between them):
 *   churn    8 threads attach, allocate, hand objects over and detach in a
 *            loop while T others allocate and consume (GIL mode).
 *   append   the seeds' example: 5 threads x 10,000 appends to one list;
 *            GIL mode: exactly 50,000 every round.
 *   blocked  one thread sits in TG_BEGIN_ALLOW_THREADS for the whole run;
 *            T others keep running and the main thread stops the world over
 *            and over: nobody may be held up by the blocked thread (GIL
 *            mode, then the free-threaded status paths via the test hook).
 *   fork     T threads allocate while the main thread forks; every child
 *            checks it has one thread, uses the runtime (another thread
 *            too) and finalises cleanly.
 * Exits 1 naming the broken invariant and the seed that reproduces the run.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tangle.h"
#include "runtime/internal.h"
#include "sync/sync.h"

static double opt_seconds = 5;
static int opt_threads = 4;
static unsigned opt_seed = 1;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}
static void sleep_us(long us)
{
    struct timespec t = { us / 1000000, (us % 1000000) * 1000 };
    nanosleep(&t, NULL);
}
static uint64_t rng_next(uint64_t *s)     /* xorshift64* */
{
    *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

#define FAIL(...) do { \
    fprintf(stderr, "threads_stress: INVARIANT BROKEN: "); fprintf(stderr, __VA_ARGS__); \
    fprintf(stderr, "\n  reproduce: threads_stress --seed %u --threads %d --seconds %g\n", \
            opt_seed, opt_threads, opt_seconds); \
    exit(1); } while (0)

static void init_runtime(double interval)
{
    tg_config c;
    tg_config_default(&c);
    c.switch_interval_s = interval;
    if (tg_init(&c) != 0) FAIL("tg_init: %s", tg_error_message());
}
static size_t registered(void)
{
    pthread_mutex_lock(&_tg_rt.registry_lock);
    size_t n = _tg_rt.nthreads;
    pthread_mutex_unlock(&_tg_rt.registry_lock);
    return n;
}
static void join_released(pthread_t t)
{
    TG_BEGIN_ALLOW_THREADS
    pthread_join(t, NULL);
    TG_END_ALLOW_THREADS
}
static void sleep_released(long us)
{
    TG_BEGIN_ALLOW_THREADS
    sleep_us(us);
    TG_END_ALLOW_THREADS
}

/* ------------------------------------------------------------------ churn */

static atomic_int stop_flag;
static tg_obj *mailbox;                   /* a list; GIL mode: guarded by the GIL */
static atomic_long churn_rounds, consumed;

static void check_item(tg_obj *o, const char *who)
{
    const tg_type *t = tg_typeof(o);
    if (t != tg_type_float() && t != tg_type_list() && t != tg_type_str())
        FAIL("%s: an object handed over by an exited thread has a bad type", who);
}

static void *churner(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg * 7919u + opt_seed + 1;
    while (!atomic_load(&stop_flag)) {
        if (tg_thread_attach() != 0) FAIL("churn: tg_thread_attach: %s", tg_error_message());
        int n = 1 + (int)(rng_next(&rng) % 16);
        for (int i = 0; i < n; i++) {
            tg_obj *o;
            switch (rng_next(&rng) % 3) {
            case 0: o = tg_float((double)i); break;
            case 1: o = tg_list_new(2); break;
            default: o = tg_str("churn"); break;
            }
            if (!o) FAIL("churn: allocation failed: %s", tg_error_message());
            if (tg_list_append(mailbox, o) != 0) FAIL("churn: append failed");
            tg_decref(o);
        }
        if (rng_next(&rng) % 4 == 0) sleep_released(10);
        tg_thread_detach();
        atomic_fetch_add(&churn_rounds, 1);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg * 104729u + opt_seed;
    tg_thread_attach();
    while (!atomic_load(&stop_flag)) {
        size_t len = tg_list_len(mailbox);
        if (len) {
            tg_obj *o = tg_list_pop(mailbox, -1);
            if (!o) FAIL("churn: pop from a non-empty list failed: %s", tg_error_message());
            check_item(o, "churn");
            tg_decref(o);
            atomic_fetch_add(&consumed, 1);
        }
        tg_obj *mine = tg_dict_new();
        tg_obj *k = tg_int((int64_t)(rng_next(&rng) % 1000));
        tg_dict_set(mine, k, k);
        tg_decref(k);
        tg_decref(mine);
        tg_safepoint();
    }
    tg_thread_detach();
    return NULL;
}

/* one churner "round" per thread when it exits without detaching */
static void *churn_thread(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    if (tg_thread_attach() != 0) FAIL("churn: tg_thread_attach: %s", tg_error_message());
    int n = 1 + (int)(rng_next(&rng) % 16);
    for (int i = 0; i < n; i++) {
        tg_obj *o = rng_next(&rng) % 2 ? tg_float(i) : tg_str("exit");
        tg_list_append(mailbox, o);
        tg_decref(o);
    }
    if (rng_next(&rng) % 2) tg_thread_detach();
    atomic_fetch_add(&churn_rounds, 1);
    return NULL;
}

static void scenario_churn(double seconds)
{
    init_runtime(0.001);
    size_t live0 = tg_live_objects();
    mailbox = tg_list_new(0);
    atomic_store(&stop_flag, 0);
    int nc = opt_threads < 1 ? 1 : opt_threads;
    pthread_t churn[8], cons[64];
    if (nc > 64) nc = 64;
    for (int i = 0; i < 8; i++) pthread_create(&churn[i], NULL, churner, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < nc; i++) pthread_create(&cons[i], NULL, consumer, (void *)(uintptr_t)(i + 1));
    uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
    uint64_t rng = opt_seed * 31u + 7;
    while (now_ns() < end) {
        /* short-lived threads that exit attached (thread-exit destructor) */
        pthread_t t;
        pthread_create(&t, NULL, churn_thread, (void *)(uintptr_t)(rng_next(&rng) | 1));
        join_released(t);
        sleep_released(2000);
    }
    atomic_store(&stop_flag, 1);
    for (int i = 0; i < 8; i++) join_released(churn[i]);
    for (int i = 0; i < nc; i++) join_released(cons[i]);
    if (registered() != 1) FAIL("churn: %zu threads still registered after all exited", registered());
    size_t left = tg_list_len(mailbox);
    for (size_t i = 0; i < left; i++) {
        tg_obj *o = tg_list_get(mailbox, (ptrdiff_t)i);
        check_item(o, "churn (end)");
        tg_decref(o);
    }
    tg_decref(mailbox);
    if (tg_live_objects() != live0)
        FAIL("churn: %zu objects alive after everything was dropped (expected %zu)", tg_live_objects(), live0);
    printf("  churn: %ld attach/detach rounds, %ld objects handed over and consumed\n",
           atomic_load(&churn_rounds), atomic_load(&consumed));
    if (tg_fini() != 0) FAIL("churn: tg_fini: %s", tg_error_message());
}

/* ----------------------------------------------------------------- append */

static tg_obj *shared_list;
static void *appender(void *arg)
{
    (void)arg;
    tg_thread_attach();
    for (int i = 0; i < 10000; i++) {
        tg_obj *v = tg_int(i);
        if (tg_list_append(shared_list, v) != 0) FAIL("append: tg_list_append failed");
        tg_decref(v);
    }
    tg_thread_detach();
    return NULL;
}

static void scenario_append(double seconds)
{
    init_runtime(0.0001);                 /* many hand-offs per round */
    uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
    int rounds = 0;
    tg_gil_reset_stats();
    do {
        shared_list = tg_list_new(0);
        pthread_t t[5];
        for (int i = 0; i < 5; i++) pthread_create(&t[i], NULL, appender, NULL);
        for (int i = 0; i < 5; i++) join_released(t[i]);
        size_t n = tg_list_len(shared_list);
        if (n != 50000) FAIL("append: 5 threads x 10,000 appends left %zu items, not 50,000", n);
        int64_t sum = 0;
        for (size_t i = 0; i < n; i++) {
            tg_obj *v = tg_list_get(shared_list, (ptrdiff_t)i);
            sum += tg_int_value(v);
            tg_decref(v);
        }
        if (sum != 5 * (int64_t)(9999 * 10000 / 2)) FAIL("append: items lost or duplicated (sum %lld)", (long long)sum);
        tg_decref(shared_list);
        rounds++;
    } while (now_ns() < end);
    tg_gil_stats st;
    tg_gil_get_stats(&st);
    printf("  append: %d rounds of 50,000, %llu GIL hand-offs\n", rounds, (unsigned long long)st.handoffs);
    if (tg_fini() != 0) FAIL("append: tg_fini: %s", tg_error_message());
}

/* ---------------------------------------------------------------- blocked */

static atomic_long progress[64];
static atomic_int blocked_in;
static void *blocked_thread(void *arg)
{
    (void)arg;
    tg_thread_attach();
    TG_BEGIN_ALLOW_THREADS
    atomic_store(&blocked_in, 1);
    while (!atomic_load(&stop_flag)) sleep_us(1000);     /* "a blocking call" */
    TG_END_ALLOW_THREADS
    tg_thread_detach();
    return NULL;
}

static void *worker(void *arg)
{
    int id = (int)(uintptr_t)arg;
    uint64_t rng = (uint64_t)id * 6700417u + opt_seed;
    bool ft = _tg_rt.mode != TG_MODE_GIL;
    tg_thread_attach();
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        if (!ft) { tg_obj *f = tg_float(1.0); tg_decref(f); }   /* GIL mode: allocation safepoints */
        atomic_fetch_add_explicit(&progress[id], 1, memory_order_relaxed);
        if (rng_next(&rng) % 1024 == 0) sleep_released(50);
        tg_safepoint();
    }
    tg_thread_detach();
    return NULL;
}

static void scenario_blocked(double seconds, tg_mode mode)
{
    init_runtime(0.002);
    if (_tg_sync_test_set_mode(mode) != 0) FAIL("blocked: mode switch: %s", tg_error_message());
    const char *name = mode == TG_MODE_GIL ? "gil" : "ft";
    atomic_store(&stop_flag, 0);
    atomic_store(&blocked_in, 0);
    int nw = opt_threads < 1 ? 1 : opt_threads > 64 ? 64 : opt_threads;
    for (int i = 0; i < nw; i++) atomic_store(&progress[i], 0);
    pthread_t b, w[64];
    pthread_create(&b, NULL, blocked_thread, NULL);
    while (!atomic_load(&blocked_in)) sleep_released(100);
    for (int i = 0; i < nw; i++) pthread_create(&w[i], NULL, worker, (void *)(uintptr_t)i);
    uint64_t end = now_ns() + (uint64_t)(seconds * 1e9), worst = 0;
    long stops = 0;
    long last[64] = {0};
    uint64_t window = now_ns();
    while (now_ns() < end) {
        uint64_t t0 = now_ns();
        tg_stop_the_world();
        uint64_t dt = now_ns() - t0;
        if (dt > worst) worst = dt;
        long snap[64];
        for (int i = 0; i < nw; i++) snap[i] = atomic_load(&progress[i]);
        for (volatile int k = 0; k < 1000; k++) {}
        for (int i = 0; i < nw; i++)
            if (atomic_load(&progress[i]) != snap[i])
                FAIL("blocked/%s: worker %d ran while the world was stopped", name, i);
        tg_start_the_world();
        stops++;
        sleep_released(500);
        if (now_ns() - window > 500000000u) {       /* every 0.5 s everyone moved */
            for (int i = 0; i < nw; i++) {
                long p = atomic_load(&progress[i]);
                if (p == last[i]) FAIL("blocked/%s: worker %d made no progress for 0.5 s", name, i);
                last[i] = p;
            }
            window = now_ns();
        }
    }
    /* a stop must never wait for the blocked thread: bounded by the GIL's
       switch interval (GIL mode) plus scheduling noise */
    if (worst > 200000000u) FAIL("blocked/%s: a stop-the-world took %.1f ms", name, worst / 1e6);
    atomic_store(&stop_flag, 1);
    join_released(b);
    for (int i = 0; i < nw; i++) join_released(w[i]);
    printf("  blocked/%s: %ld stops with a thread blocked in ALLOW_THREADS, worst %.1f us\n",
           name, stops, worst / 1e3);
    if (_tg_sync_test_set_mode(TG_MODE_GIL) != 0) FAIL("blocked: mode switch back");
    if (tg_fini() != 0) FAIL("blocked: tg_fini: %s", tg_error_message());
}

/* ------------------------------------------------------------------- fork */

static void *fork_worker(void *arg)
{
    int id = (int)(uintptr_t)arg;
    tg_thread_attach();
    tg_obj *mine = tg_list_new(0);
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        tg_obj *f = tg_float(id);
        tg_list_append(mine, f);
        tg_decref(f);
        if (tg_list_len(mine) > 512) tg_list_clear(mine);
        if (tg_list_len(mailbox) < 100) tg_list_append(mailbox, mine);
        tg_safepoint();
    }
    tg_decref(mine);
    tg_thread_detach();
    return NULL;
}

static void *fork_child_thread(void *arg)
{
    int *ok = arg;
    *ok = tg_thread_attach() == 0;
    tg_obj *d = tg_dict_new();
    tg_obj *k = tg_str("k");
    *ok &= tg_dict_set(d, k, k) == 0;
    tg_decref(k);
    tg_decref(d);
    tg_thread_detach();
    return NULL;
}

static int fork_child(void)
{
    if (registered() != 1) return 10;
    size_t n = tg_list_len(mailbox);       /* objects of vanished threads are valid */
    for (size_t i = 0; i < n; i++) {
        tg_obj *o = tg_list_get(mailbox, (ptrdiff_t)i);
        if (tg_typeof(o) != tg_type_list()) return 11;
        tg_decref(o);
    }
    tg_list_clear(mailbox);
    int ok = 1;
#if !defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer cannot start threads in the child of a multithreaded
       fork ("starting new threads after multi-threaded fork is not
       supported"; with die_after_fork=0 it then trips over its own thread
       table: "dup thread with used id"). Under TSan the child checks
       everything else; the child thread is covered by the plain builds. */
    pthread_t t;
    pthread_create(&t, NULL, fork_child_thread, &ok);
    join_released(t);
#else
    (void)fork_child_thread;
#endif
    if (!ok) return 12;
    tg_decref(mailbox);
    if (tg_fini() != 0) return 13;
    return 0;
}

static void scenario_fork(double seconds)
{
    init_runtime(0.001);
    mailbox = tg_list_new(0);
    atomic_store(&stop_flag, 0);
    int nw = opt_threads < 1 ? 1 : opt_threads > 64 ? 64 : opt_threads;
    pthread_t w[64];
    for (int i = 0; i < nw; i++) pthread_create(&w[i], NULL, fork_worker, (void *)(uintptr_t)i);
    uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
    int forks = 0;
    while (now_ns() < end) {
        sleep_released(5000);
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) FAIL("fork: fork() failed");
        if (pid == 0) _exit(fork_child());
        int st = 0;
        TG_BEGIN_ALLOW_THREADS
        waitpid(pid, &st, 0);
        TG_END_ALLOW_THREADS
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            FAIL("fork: the child of a multithreaded process failed (status %d: 10 threads left, "
                 "11 bad object, 12 child thread, 13 tg_fini)", WIFEXITED(st) ? WEXITSTATUS(st) : -st);
        forks++;
    }
    atomic_store(&stop_flag, 1);
    for (int i = 0; i < nw; i++) join_released(w[i]);
    tg_list_clear(mailbox);
    tg_decref(mailbox);
    printf("  fork: %d children of a %d-thread process used the runtime and exited cleanly\n", forks, nw + 1);
    if (tg_fini() != 0) FAIL("fork: tg_fini: %s", tg_error_message());
}

int main(int argc, char **argv)
{
    const char *scenario = "all";
    static struct option opts[] = {
        {"seconds", required_argument, 0, 's'}, {"threads", required_argument, 0, 't'},
        {"seed", required_argument, 0, 'r'}, {"scenario", required_argument, 0, 'c'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "s:t:r:c:", opts, NULL)) != -1) {
        switch (c) {
        case 's': opt_seconds = atof(optarg); break;
        case 't': opt_threads = atoi(optarg); break;
        case 'r': opt_seed = (unsigned)strtoul(optarg, NULL, 0); break;
        case 'c': scenario = optarg; break;
        default:
            fprintf(stderr, "usage: %s [--seconds S] [--threads T] [--seed N] "
                            "[--scenario all|churn|append|blocked|fork]\n", argv[0]);
            return 2;
        }
    }
    bool all = !strcmp(scenario, "all");
    double share = all ? opt_seconds / 5 : opt_seconds;
    printf("threads_stress: seed %u, %d threads, %.1f s\n", opt_seed, opt_threads, opt_seconds);
    if (all || !strcmp(scenario, "churn")) scenario_churn(share);
    if (all || !strcmp(scenario, "append")) scenario_append(share);
    if (all || !strcmp(scenario, "blocked")) {
        scenario_blocked(share, TG_MODE_GIL);
        scenario_blocked(share, TG_MODE_FREE_THREADED);
    }
    if (all || !strcmp(scenario, "fork")) scenario_fork(share);
    printf("threads_stress: all invariants held\n");
    return 0;
}
