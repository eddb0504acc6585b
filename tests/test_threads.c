/*
 * tests/test_threads.c — thread states, the GIL, safepoints, release,
 * stop-the-world, fork, tg_mutex, critical sections (sync/, runtime/tstate.c).
 *
 * Free-threaded paths are reached through _tg_sync_test_set_mode (tg_init
 * still refuses free-threaded mode); those tests share only raw pointers and
 * object locks between threads, never reference counts.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tangle.h"
#include "runtime/internal.h"
#include "sync/sync.h"

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void sleep_ms(int ms)
{
    struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000 };
    nanosleep(&t, NULL);
}

static void init_gil(double interval)
{
    tg_config c;
    tg_config_default(&c);
    c.switch_interval_s = interval;
    cr_assert_eq(tg_init(&c), 0, "tg_init: %s", tg_error_message());
}

static size_t nthreads(void)
{
    pthread_mutex_lock(&_tg_rt.registry_lock);
    size_t n = _tg_rt.nthreads;
    pthread_mutex_unlock(&_tg_rt.registry_lock);
    return n;
}

/* Join while released, so the joined thread can take the GIL. */
static void join_released(pthread_t t)
{
    TG_BEGIN_ALLOW_THREADS
    pthread_join(t, NULL);
    TG_END_ALLOW_THREADS
}

/* ------------------------------------------------------------ attach/detach */

static void *attach_detach_worker(void *arg)
{
    int *ok = arg;
    *ok = tg_thread_attach() == 0 && tg_thread_is_attached();
    tg_obj *l = tg_list_new(0);
    *ok &= l != NULL && tg_list_append(l, l) == 0;
    tg_list_clear(l);
    tg_decref(l);
    tg_thread_detach();
    *ok &= !tg_thread_is_attached();
    return NULL;
}

Test(threads, attach_detach)
{
    init_gil(0.005);
    cr_assert(tg_thread_is_attached());
    int ok = 0;
    pthread_t t;
    pthread_create(&t, NULL, attach_detach_worker, &ok);
    join_released(t);
    cr_assert(ok);
    cr_assert_eq(nthreads(), 1);
    cr_assert_eq(tg_fini(), 0);
}

static void *attach_twice_worker(void *arg)
{
    int *res = arg;
    res[0] = tg_thread_attach();
    res[1] = tg_thread_attach();
    res[2] = tg_error();
    tg_thread_detach();
    tg_thread_detach();                 /* second detach: harmless */
    return NULL;
}

Test(threads, errors)
{
    /* attach before init */
    cr_assert_eq(tg_thread_attach(), -1);
    cr_assert_eq(tg_error(), TG_ERR_STATE);
    init_gil(0.005);
    int res[3];
    pthread_t t;
    pthread_create(&t, NULL, attach_twice_worker, res);
    join_released(t);
    cr_assert_eq(res[0], 0);
    cr_assert_eq(res[1], -1);
    cr_assert_eq(res[2], TG_ERR_STATE);
    cr_assert_eq(tg_fini(), 0);
}

static atomic_int fini_phase;
static void *stay_attached_worker(void *arg)
{
    (void)arg;
    tg_thread_attach();
    atomic_store(&fini_phase, 1);
    TG_BEGIN_ALLOW_THREADS
    while (atomic_load(&fini_phase) != 2) sleep_ms(1);
    TG_END_ALLOW_THREADS
    tg_thread_detach();
    return NULL;
}

Test(threads, fini_with_others_attached)
{
    init_gil(0.005);
    pthread_t t;
    pthread_create(&t, NULL, stay_attached_worker, NULL);
    TG_BEGIN_ALLOW_THREADS
    while (atomic_load(&fini_phase) != 1) sleep_ms(1);
    TG_END_ALLOW_THREADS
    cr_assert_eq(tg_fini(), -1);
    cr_assert_eq(tg_error(), TG_ERR_STATE);
    atomic_store(&fini_phase, 2);
    join_released(t);
    cr_assert_eq(tg_fini(), 0);
}

static tg_obj *survivor;
static void *exit_without_detach_worker(void *arg)
{
    (void)arg;
    tg_thread_attach();
    survivor = tg_list_new(0);
    for (int i = 0; i < 100; i++) {
        tg_obj *f = tg_float(i);
        tg_list_append(survivor, f);
        tg_decref(f);
    }
    tg_obj *junk = tg_float(1.5);       /* to the float free list at decref */
    tg_decref(junk);
    return NULL;                          /* no tg_thread_detach */
}

static void *exit_released_worker(void *arg)
{
    (void)arg;
    tg_thread_attach();
    (void)tg_release();                   /* exits inside "ALLOW_THREADS" */
    return NULL;
}

Test(threads, thread_exit_without_detach)
{
    init_gil(0.005);
    size_t live0 = tg_live_objects();
    pthread_t t;
    pthread_create(&t, NULL, exit_without_detach_worker, NULL);
    join_released(t);
    cr_assert_eq(nthreads(), 1, "the exit destructor unregistered the thread");
    cr_assert_eq(tg_list_len(survivor), 100);
    tg_obj *x = tg_list_get(survivor, 99);
    cr_assert_float_eq(tg_float_value(x), 99.0, 0);
    tg_decref(x);
    cr_assert_eq(tg_live_objects(), live0 + 101);
    tg_decref(survivor);
    cr_assert_eq(tg_live_objects(), live0);
    pthread_create(&t, NULL, exit_released_worker, NULL);
    join_released(t);
    cr_assert_eq(nthreads(), 1);
    cr_assert_eq(tg_fini(), 0);
    cr_assert_eq(tg_live_objects(), 0);
}

/* ------------------------------------------------------------ GIL exclusion */

static atomic_int inside, overlap;
static long plain_counter;
static atomic_int exclusion_started;

#define EXCLUSION_ROUNDS 100000
static void *exclusion_worker(void *arg)
{
    (void)arg;
    /* All four wait for each other before attaching, so that a loaded
       machine starting them late cannot let each run alone (no hand-off). */
    atomic_fetch_add(&exclusion_started, 1);
    while (atomic_load(&exclusion_started) < 4) sched_yield();
    tg_thread_attach();
    /* 100,000 rounds (~10 ms of work per thread, 50 switch intervals): with
       20,000 a loaded machine once let the threads run nearly one after the
       other (2 hand-offs, the assertion below wants 4) */
    for (int i = 0; i < EXCLUSION_ROUNDS; i++) {
        if (atomic_fetch_add(&inside, 1) != 0) atomic_store(&overlap, 1);
        long v = plain_counter;
        for (volatile int k = 0; k < 300; k++) {}
        plain_counter = v + 1;
        atomic_fetch_sub(&inside, 1);
        if (i % 16 == 0) { tg_obj *f = tg_float(i); tg_decref(f); }   /* allocation safepoints */
        tg_safepoint();
    }
    tg_thread_detach();
    return NULL;
}

Test(threads, gil_exclusion)
{
    init_gil(0.0002);
    tg_gil_reset_stats();
    atomic_store(&exclusion_started, 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, exclusion_worker, NULL);
    for (int i = 0; i < 4; i++) join_released(t[i]);
    cr_assert_eq(atomic_load(&overlap), 0, "two threads ran attached at once");
    cr_assert_eq(plain_counter, 4 * EXCLUSION_ROUNDS);
    tg_gil_stats st;
    tg_gil_get_stats(&st);
    cr_assert_geq(st.handoffs, 4, "handoffs %llu", (unsigned long long)st.handoffs);
    cr_assert_eq(tg_fini(), 0);
}

/* -------------------------------------------------------- release/reacquire */

static atomic_int blocked_phase;
static void *blocker(void *arg)
{
    (void)arg;
    tg_thread_attach();
    TG_BEGIN_ALLOW_THREADS
    atomic_store(&blocked_phase, 1);
    while (atomic_load(&blocked_phase) != 2) sleep_ms(1);    /* "blocking I/O" */
    TG_END_ALLOW_THREADS
    tg_obj *f = tg_float(2.0);                                /* attached again */
    tg_decref(f);
    atomic_store(&blocked_phase, 3);
    tg_thread_detach();
    return NULL;
}

Test(threads, release_reacquire)
{
    init_gil(0.005);
    pthread_t t;
    pthread_create(&t, NULL, blocker, NULL);
    TG_BEGIN_ALLOW_THREADS
    while (atomic_load(&blocked_phase) != 1) sleep_ms(1);
    TG_END_ALLOW_THREADS
    /* The blocked thread holds nothing: we run and allocate freely. */
    uint64_t t0 = now_ns();
    for (int i = 0; i < 10000; i++) {
        tg_obj *f = tg_float(i);
        tg_decref(f);
        tg_safepoint();
    }
    cr_assert_lt(now_ns() - t0, 2000000000u);
    cr_assert_eq(tg_stop_the_world(), 0, "a released thread never holds up a stop");
    tg_start_the_world();
    atomic_store(&blocked_phase, 2);
    join_released(t);
    cr_assert_eq(atomic_load(&blocked_phase), 3);
    cr_assert_eq(tg_fini(), 0);
}

/* --------------------------------------------------------- stop-the-world */

static atomic_int stw_phase, reattached;
static void *stw_released_worker(void *arg)
{
    (void)arg;
    tg_thread_attach();
    TG_BEGIN_ALLOW_THREADS
    atomic_store(&stw_phase, 1);
    while (atomic_load(&stw_phase) != 2) sleep_ms(1);
    TG_END_ALLOW_THREADS
    atomic_store(&reattached, 1);
    tg_thread_detach();
    return NULL;
}

static void stw_with_detached(tg_mode mode)
{
    init_gil(0.005);
    cr_assert_eq(_tg_sync_test_set_mode(mode), 0);
    pthread_t t;
    pthread_create(&t, NULL, stw_released_worker, NULL);
    TG_BEGIN_ALLOW_THREADS
    while (atomic_load(&stw_phase) != 1) sleep_ms(1);
    TG_END_ALLOW_THREADS
    cr_assert_eq(tg_stop_the_world(), 0);
    cr_assert_eq(tg_stop_the_world(), -1, "not nestable");
    cr_assert_eq(tg_error(), TG_ERR_STATE);
    atomic_store(&stw_phase, 2);               /* it tries to re-attach now */
    sleep_ms(50);
    cr_assert_eq(atomic_load(&reattached), 0, "re-attached while the world was stopped");
    tg_start_the_world();
    join_released(t);
    cr_assert_eq(atomic_load(&reattached), 1);
    cr_assert_eq(_tg_sync_test_set_mode(TG_MODE_GIL), 0);
    cr_assert_eq(tg_fini(), 0);
}

Test(threads, stw_detached_gil) { stw_with_detached(TG_MODE_GIL); }
Test(threads, stw_detached_ft) { stw_with_detached(TG_MODE_FREE_THREADED); }

static atomic_long busy_count[2];
static atomic_int busy_stop, busy_ready;
static void *busy_worker(void *arg)
{
    long i = (long)(intptr_t)arg;
    tg_thread_attach();
    atomic_fetch_add(&busy_ready, 1);
    while (!atomic_load_explicit(&busy_stop, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&busy_count[i], 1, memory_order_relaxed);
        tg_safepoint();
    }
    tg_thread_detach();
    return NULL;
}

Test(threads, stw_busy_ft)
{
    init_gil(0.005);
    cr_assert_eq(_tg_sync_test_set_mode(TG_MODE_FREE_THREADED), 0);
    pthread_t t[2];
    for (long i = 0; i < 2; i++) pthread_create(&t[i], NULL, busy_worker, (void *)(intptr_t)i);
    while (atomic_load(&busy_ready) != 2) sleep_ms(1);
    for (int round = 0; round < 200; round++) {
        cr_assert_eq(tg_stop_the_world(), 0);
        long a = atomic_load(&busy_count[0]), b = atomic_load(&busy_count[1]);
        if (round % 50 == 0) sleep_ms(5);
        else for (volatile int k = 0; k < 2000; k++) {}
        cr_assert_eq(atomic_load(&busy_count[0]), a, "thread 0 ran during a stop");
        cr_assert_eq(atomic_load(&busy_count[1]), b, "thread 1 ran during a stop");
        tg_start_the_world();
        tg_safepoint();
    }
    atomic_store(&busy_stop, 1);
    for (int i = 0; i < 2; i++) join_released(t[i]);
    cr_assert_gt(atomic_load(&busy_count[0]), 0);
    tg_stw_stats st;
    tg_stw_get_stats(&st);
    cr_assert_eq(st.stops, 200);
    cr_assert_eq(_tg_sync_test_set_mode(TG_MODE_GIL), 0);
    cr_assert_eq(tg_fini(), 0);
}

/* Two requesters at once (free-threaded): one waits for the other. */
static atomic_int in_stop, double_stop;
static void *requester(void *arg)
{
    (void)arg;
    tg_thread_attach();
    for (int i = 0; i < 300; i++) {
        tg_stop_the_world();
        if (atomic_fetch_add(&in_stop, 1) != 0) atomic_store(&double_stop, 1);
        atomic_fetch_sub(&in_stop, 1);
        tg_start_the_world();
        tg_safepoint();
    }
    tg_thread_detach();
    return NULL;
}

Test(threads, stw_concurrent_requesters_ft)
{
    init_gil(0.005);
    cr_assert_eq(_tg_sync_test_set_mode(TG_MODE_FREE_THREADED), 0);
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, requester, NULL);
    for (int i = 0; i < 3; i++) join_released(t[i]);
    cr_assert_eq(atomic_load(&double_stop), 0);
    cr_assert_eq(_tg_sync_test_set_mode(TG_MODE_GIL), 0);
    cr_assert_eq(tg_fini(), 0);
}

/* ------------------------------------------------------------------ fork */

static atomic_int fork_stop;
static void *fork_busy(void *arg)
{
    tg_obj *l = arg;
    tg_thread_attach();
    while (!atomic_load(&fork_stop)) {
        tg_obj *f = tg_float(1.0);
        tg_list_append(l, f);
        tg_decref(f);
        if (tg_list_len(l) > 1000) tg_list_clear(l);
        tg_safepoint();
    }
    tg_thread_detach();
    return NULL;
}

#if !TG_TEST_ASAN
static void *child_thread(void *arg)
{
    int *ok = arg;
    *ok = tg_thread_attach() == 0;
    tg_obj *s = tg_str("from a child thread");
    *ok &= s != NULL;
    tg_decref(s);
    tg_thread_detach();
    return NULL;
}
#endif

static int child_main(tg_obj *shared)
{
    if (nthreads() != 1) return 10;
    tg_obj *f = tg_float(3.0);
    if (tg_list_append(shared, f) < 0) return 11;
    tg_decref(f);
    tg_list_clear(shared);
    tg_decref(shared);
    /* A new thread attaching in the child. Not under ASan: gcc 12's
       sanitizer allocator has no fork handler, so when a parent thread
       (criterion's, or one of ours) was inside it at fork(), the child's
       first allocation from that size class blocks forever on the copied
       lock — seen once in 15 runs of this test under the asan preset, the
       child's new thread stuck in SizeClassAllocator64::GetFromAllocator
       (calloc of its thread state). The debug build runs this part. */
#if !TG_TEST_ASAN
    int ok = 0;
    pthread_t t;
    pthread_create(&t, NULL, child_thread, &ok);
    join_released(t);
    if (!ok) return 12;
#endif
    tg_gil_stats st;
    tg_gil_get_stats(&st);
    if (tg_fini() != 0) return 13;
    return 0;
}

Test(threads, fork_child_uses_runtime)
{
    init_gil(0.001);
    tg_obj *l = tg_list_new(0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, fork_busy, l);
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 2000; i++) tg_safepoint();
        TG_BEGIN_ALLOW_THREADS
        sleep_ms(3);
        TG_END_ALLOW_THREADS
        pid_t pid = fork();
        if (pid == 0) _exit(child_main(l));
        int st = 0;
        TG_BEGIN_ALLOW_THREADS
        waitpid(pid, &st, 0);
        TG_END_ALLOW_THREADS
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed: status %d", st);
    }
    atomic_store(&fork_stop, 1);
    for (int i = 0; i < 2; i++) join_released(t[i]);
    tg_list_clear(l);
    tg_decref(l);
    cr_assert_eq(tg_fini(), 0);
}

/* ------------------------------------------------------------------ tg_mutex */

Test(threads, mutex_basics)
{
    tg_mutex m = {0};
    cr_assert_eq(sizeof m, 1);
    cr_assert(!tg_mutex_is_locked(&m));
    cr_assert(tg_mutex_trylock(&m));
    cr_assert(tg_mutex_is_locked(&m));
    cr_assert(!tg_mutex_trylock(&m));
    tg_mutex_unlock(&m);
    cr_assert(!tg_mutex_is_locked(&m));
    tg_mutex_lock(&m);
    cr_assert(tg_mutex_is_locked(&m));
    tg_mutex_unlock(&m);
    cr_assert_eq(m.v, 0);
}

static tg_mutex cm;
static long cm_counter;
static void *mutex_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++) {
        tg_mutex_lock(&cm);
        long v = cm_counter;
        if (i % 1000 == 0) sched_yield();   /* get preempted holding it: parkers */
        cm_counter = v + 1;
        tg_mutex_unlock(&cm);
    }
    return NULL;
}

Test(threads, mutex_contention)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, mutex_worker, NULL);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    cr_assert_eq(cm_counter, 400000);
    cr_assert(!tg_mutex_is_locked(&cm));
}

static tg_mutex hm;
static atomic_int hm_phase;
static void *handoff_waiter(void *arg)
{
    (void)arg;
    atomic_store(&hm_phase, 1);
    tg_mutex_lock(&hm);                     /* parks: main holds it until then */
    atomic_store(&hm_phase, 2);
    sleep_ms(5);
    tg_mutex_unlock(&hm);
    return NULL;
}

Test(threads, mutex_handoff_to_long_waiter)
{
    tg_mutex_lock(&hm);
    pthread_t t;
    pthread_create(&t, NULL, handoff_waiter, NULL);
    while (atomic_load(&hm_phase) != 1) sleep_ms(1);
    /* It spins briefly, then parks: wait for that (a fixed 20 ms was not
       always enough on a loaded machine), then a little more, so that it
       has waited over 1 ms when we unlock. */
    uint64_t deadline = now_ns() + 10000000000u;
    while (__atomic_load_n(&hm.v, __ATOMIC_ACQUIRE) != 3 && now_ns() < deadline) sleep_ms(1);
    sleep_ms(5);
    cr_assert_eq(hm.v, 3, "the waiter parked (LOCKED|PARKED), v=%d", hm.v);
    tg_mutex_unlock(&hm);
    /* It waited > 1 ms: the lock was handed to it, we cannot barge back in. */
    cr_assert(!tg_mutex_trylock(&hm), "unlock handed the lock to the long waiter");
    pthread_join(t, NULL);
    cr_assert_eq(atomic_load(&hm_phase), 2);
    cr_assert(!tg_mutex_is_locked(&hm));
}

/* ------------------------------------------------------ critical sections */

static tg_obj *cs_obj[2];
static long cs_counter[2];
static void cs_nested_increment(void)
{
    TG_BEGIN_CRITICAL_SECTION(cs_obj[1])
    cs_counter[1]++;
    TG_END_CRITICAL_SECTION()
}

static void *cs_worker(void *arg)
{
    long id = (long)(intptr_t)arg;
    tg_thread_attach();
    for (int i = 0; i < 20000; i++) {
        TG_BEGIN_CRITICAL_SECTION(cs_obj[0])
        long v = cs_counter[0];
        if (i % 500 == 0) {                 /* block inside: suspends, then resumes */
            TG_BEGIN_ALLOW_THREADS
            sched_yield();
            TG_END_ALLOW_THREADS
            v = cs_counter[0];              /* re-read: not atomic across a block */
        }
        cs_counter[0] = v + 1;
        TG_END_CRITICAL_SECTION()
        TG_BEGIN_CRITICAL_SECTION2(cs_obj[id & 1], cs_obj[!(id & 1)])
        cs_nested_increment();              /* nested, same object */
        TG_END_CRITICAL_SECTION()
        tg_safepoint();
    }
    tg_thread_detach();
    return NULL;
}

Test(threads, critical_sections_ft)
{
    init_gil(0.005);
    cs_obj[0] = tg_list_new(0);
    cs_obj[1] = tg_dict_new();
    cr_assert_eq(_tg_sync_test_set_mode(TG_MODE_FREE_THREADED), 0);
    /* no-ops are not what we test here: mode is free-threaded now */
    pthread_t t[3];
    for (long i = 0; i < 3; i++) pthread_create(&t[i], NULL, cs_worker, (void *)(intptr_t)i);
    for (int r = 0; r < 20; r++) {          /* stops interleaved with the sections */
        sleep_ms(2);
        tg_stop_the_world();
        cr_assert(!tg_mutex_is_locked(&cs_obj[0]->ob_mutex), "a thread parked for the stop holds a critical section: v=%d", cs_obj[0]->ob_mutex.v);
        tg_start_the_world();
    }
    for (int i = 0; i < 3; i++) join_released(t[i]);
    cr_assert_eq(cs_counter[0], 60000);
    cr_assert_eq(cs_counter[1], 60000);
    cr_assert(!tg_mutex_is_locked(&cs_obj[0]->ob_mutex));
    cr_assert(!tg_mutex_is_locked(&cs_obj[1]->ob_mutex));
    cr_assert_eq(_tg_sync_test_set_mode(TG_MODE_GIL), 0);
    tg_decref(cs_obj[0]);
    tg_decref(cs_obj[1]);
    cr_assert_eq(tg_fini(), 0);
}

Test(threads, critical_sections_gil_noop)
{
    init_gil(0.005);
    tg_obj *l = tg_list_new(0);
    TG_BEGIN_CRITICAL_SECTION2(l, l)
    cr_assert(!tg_mutex_is_locked(&l->ob_mutex));
    TG_END_CRITICAL_SECTION()
    tg_decref(l);
    cr_assert_eq(tg_fini(), 0);
}

/* ------------------------------------------------------------- gil_handoff */

/* BENCH.md gil_handoff: two CPU-bound threads calling tg_safepoint each get
   50% +- 10% of a 2 s run, and hand-off latency stays within 2 x the switch
   interval. A thread holds the GIL from the return of one safepoint to the
   next; a safepoint that returns after more than 200 us was a wait. The
   latency bound is checked on the 90th percentile of the waits (and the
   runtime's own drop-request -> acquisition mean).
   Noise: on a loaded 2-core machine a waiter whose timed wait expires can
   sit in the run queue for tens of ms before it runs and asks for the GIL;
   no GIL design controls that. So each wait is also measured net of the
   time the waiting thread spent runnable but not running (the second field
   of /proc/thread-self/schedstat), and the bound applies to that. A GIL
   that never asks the holder to drop, or lets it retake the lock at once,
   still fails: its waiters are asleep, not queued, while they wait. */
#define HO_RUN_NS 2000000000ull
#define HO_MAX_WAITS 4096
typedef struct {
    uint64_t held, nwaits, waits[HO_MAX_WAITS], net[HO_MAX_WAITS];
} ho_thread;

/* ns this thread has spent runnable but not running; 0 if unknown */
static uint64_t runqueue_ns(int fd)
{
    char buf[128];
    ssize_t n = fd < 0 ? -1 : pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return 0;
    buf[n] = 0;
    unsigned long long run, wait;
    return sscanf(buf, "%llu %llu", &run, &wait) == 2 ? wait : 0;
}
static ho_thread ho[2];
static atomic_int ho_ready;
static atomic_ullong ho_start;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void *ho_worker(void *arg)
{
    ho_thread *me = arg;
    tg_thread_attach();
    atomic_fetch_add(&ho_ready, 1);
    while (!atomic_load(&ho_start)) tg_safepoint();
    uint64_t end = atomic_load(&ho_start) + HO_RUN_NS;
    uint64_t last = now_ns();
    int fd = open("/proc/thread-self/schedstat", O_RDONLY);
    volatile double x = 1.0;
    for (;;) {
        for (int k = 0; k < 200; k++) x = x * 1.0000001 + 1e-9;   /* ~1 us of work */
        uint64_t q0 = runqueue_ns(fd);
        uint64_t t0 = now_ns();
        if (t0 >= end) { me->held += t0 - last; break; }
        tg_safepoint();
        uint64_t t1 = now_ns();
        if (t1 - t0 > 200000) {
            uint64_t q = runqueue_ns(fd) - q0;
            me->held += t0 - last;
            if (me->nwaits < HO_MAX_WAITS) {
                me->waits[me->nwaits] = t1 - t0;
                me->net[me->nwaits++] = q < t1 - t0 ? t1 - t0 - q : 0;
            }
            last = t1 > end ? end : t1;
        }
    }
    if (fd >= 0) close(fd);
    tg_thread_detach();
    return NULL;
}

Test(threads, gil_handoff, .timeout = 60)
{
    const double interval = 0.005;
    init_gil(interval);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, ho_worker, &ho[i]);
    TG_BEGIN_ALLOW_THREADS
    while (atomic_load(&ho_ready) != 2) sleep_ms(1);
    TG_END_ALLOW_THREADS
    tg_gil_reset_stats();
    atomic_store(&ho_start, now_ns());
    for (int i = 0; i < 2; i++) join_released(t[i]);
    tg_gil_stats st;
    tg_gil_get_stats(&st);

    uint64_t total = ho[0].held + ho[1].held;
    double share0 = (double)ho[0].held / (double)total, share1 = 1.0 - share0;
    static uint64_t all[2 * HO_MAX_WAITS], net[2 * HO_MAX_WAITS];
    size_t n = 0;
    for (int i = 0; i < 2; i++)
        for (uint64_t k = 0; k < ho[i].nwaits; k++) { all[n] = ho[i].waits[k]; net[n++] = ho[i].net[k]; }
    qsort(all, n, sizeof all[0], cmp_u64);
    qsort(net, n, sizeof net[0], cmp_u64);
    uint64_t p50 = n ? all[n / 2] : 0, p90raw = n ? all[(n * 9) / 10] : 0;
    uint64_t p90 = n ? net[(n * 9) / 10] : 0;
    double bound = 2 * interval * 1e9;
    double handoff_mean = st.handoffs ? (double)st.handoff_ns_total / (double)st.handoffs : 0;
    cr_log_info("gil_handoff: share %.3f / %.3f, %zu waits, p50 %.2f ms, p90 %.2f ms (net of run-queue delay %.2f ms), "
                "handoffs %llu, drop requests %llu, forced %llu, request->handoff mean %.2f ms max %.2f ms",
                share0, share1, n, p50 / 1e6, p90raw / 1e6, p90 / 1e6, (unsigned long long)st.handoffs,
                (unsigned long long)st.drop_requests, (unsigned long long)st.forced_switches,
                handoff_mean / 1e6, st.handoff_ns_max / 1e6);
    cr_assert(share0 >= 0.40 && share0 <= 0.60, "thread 0 got %.1f%% of the GIL", share0 * 100);
    cr_assert(share1 >= 0.40 && share1 <= 0.60, "thread 1 got %.1f%% of the GIL", share1 * 100);
    /* ~400 on an idle machine; a GIL that never hands over gives ~0 */
    cr_assert_gt(n, 20, "only %zu hand-offs in 2 s at a 5 ms interval", n);
    cr_assert_leq(p90, bound, "hand-off wait p90 %.2f ms (net of run-queue delay) > 2 x interval", p90 / 1e6);
    cr_assert_leq(handoff_mean, bound, "drop request -> hand-off mean %.2f ms", handoff_mean / 1e6);
    cr_assert_eq(tg_fini(), 0);
}
