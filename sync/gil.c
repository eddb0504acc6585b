/*
 * sync/gil.c — the global interpreter lock (GIL mode), CPython's design
 * (Python/ceval_gil.c, "new GIL" of 3.2) written afresh.
 *
 * State, all under gil.mutex unless said otherwise:
 *   locked        1 while a thread holds the GIL
 *   holder        the thread holding it (NULL when unlocked)
 *   last_holder   the last thread that took it (under switch_mutex)
 *   switch_number incremented each time a different thread takes it
 *   waiters       threads inside take() waiting (atomic: read by drop())
 *
 * Taking (take):
 *   1. lock mutex; if unlocked, take it (step 4).
 *   2. wait on cond for at most the switch interval.
 *   3. if the wait timed out, the GIL is still held and no switch happened
 *      meanwhile (switch_number unchanged), set _TG_EB_GIL_DROP in the
 *      holder's eval breaker: it drops at its next safepoint. Go to 2.
 *   4. locked = 1, holder = me; under switch_mutex: if me != last_holder,
 *      last_holder = me, switch_number++ (a hand-off), signal switch_cond.
 *      Clear a stale drop request of mine. Unlock mutex.
 *
 * Dropping (drop):
 *   1. lock mutex; locked = 0, holder = NULL; signal cond; unlock.
 *   2. Forced switching: if the drop answers a drop request and someone is
 *      waiting, wait on switch_cond until last_holder != me. Without this the
 *      dropper, still running on its CPU, would usually retake the GIL before
 *      the woken waiter is scheduled, and the waiter would starve.
 *
 * Why a waiter waits a whole interval before asking: a holder that releases
 * by itself (blocking I/O) hands over without any request, and CPU-bound
 * holders get interval-sized slices instead of thrashing the lock.
 *
 * Latency: a waiter asks after one interval; the holder sees the request at
 * its next safepoint, so hand-off latency is interval + safepoint distance +
 * one wake-up. Stats (tg_gil_get_stats) count both.
 *
 * The GIL is a pthread mutex/condvar pair rather than a tg_mutex: condvar
 * timed waits are what the protocol needs, and TSan understands them.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include "sync/sync.h"
#include "sync/chaos.h"

static struct {
    pthread_mutex_t mutex;
    pthread_cond_t  cond;          /* the GIL was dropped */
    pthread_mutex_t switch_mutex;
    pthread_cond_t  switch_cond;   /* a thread took the GIL */
    int             locked;
    _tg_tstate     *holder;
    _tg_tstate     *last_holder;   /* under switch_mutex */
    uint64_t        switch_number;
    _Atomic int     waiters;
    uint64_t        drop_request_ns;   /* first pending drop request, 0 if none */
    tg_gil_stats    stats;             /* but forced_switches: */
    _Atomic uint64_t forced_switches;  /* counted under switch_mutex only */
} gil;

uint64_t _tg_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void init_locks(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&gil.mutex, NULL);
    pthread_cond_init(&gil.cond, &ca);
    pthread_mutex_init(&gil.switch_mutex, NULL);
    pthread_cond_init(&gil.switch_cond, NULL);
    pthread_condattr_destroy(&ca);
}

void _tg_gil_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_locks);
    pthread_mutex_lock(&gil.mutex);
    gil.locked = 0;
    gil.holder = NULL;
    gil.switch_number = 0;
    gil.drop_request_ns = 0;
    memset(&gil.stats, 0, sizeof gil.stats);
    atomic_store_explicit(&gil.forced_switches, 0, memory_order_relaxed);
    pthread_mutex_unlock(&gil.mutex);
    pthread_mutex_lock(&gil.switch_mutex);
    gil.last_holder = NULL;
    pthread_mutex_unlock(&gil.switch_mutex);
}

static uint64_t interval_ns(void)
{
    double s = _tg_rt.config.switch_interval_s;
    return s > 0 ? (uint64_t)(s * 1e9) : 5000000u;
}

static struct timespec deadline_after(uint64_t ns)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    uint64_t n = (uint64_t)t.tv_nsec + ns;
    t.tv_sec += (time_t)(n / 1000000000u);
    t.tv_nsec = (long)(n % 1000000000u);
    return t;
}

void _tg_gil_take(_tg_tstate *ts)
{
    TG_CHAOS_POINT(TG_CHAOS_SITE_GIL_ACQUIRE);
    pthread_mutex_lock(&gil.mutex);
    uint64_t t0 = 0;
    if (gil.locked) {
        t0 = _tg_now_ns();
        atomic_fetch_add_explicit(&gil.waiters, 1, memory_order_relaxed);
        uint64_t iv = interval_ns();
        while (gil.locked) {
            uint64_t sw = gil.switch_number;
            struct timespec dl = deadline_after(iv);
            int rc = pthread_cond_timedwait(&gil.cond, &gil.mutex, &dl);
            if (rc == ETIMEDOUT && gil.locked && gil.switch_number == sw) {
                /* seq_cst RMW: the holder's relaxed safepoint load sees it
                   soon; no data is published through the bit */
                atomic_fetch_or(&gil.holder->eval_breaker, (uintptr_t)_TG_EB_GIL_DROP);
                if (!gil.drop_request_ns) gil.drop_request_ns = _tg_now_ns();
                gil.stats.drop_requests++;
            }
        }
        atomic_fetch_sub_explicit(&gil.waiters, 1, memory_order_relaxed);
    }
    gil.locked = 1;
    gil.holder = ts;
    gil.stats.acquisitions++;
    uint64_t now = t0 || gil.drop_request_ns ? _tg_now_ns() : 0;
    if (t0) {
        uint64_t w = now - t0;
        gil.stats.waits++;
        gil.stats.wait_ns_total += w;
        if (w > gil.stats.wait_ns_max) gil.stats.wait_ns_max = w;
    }
    pthread_mutex_lock(&gil.switch_mutex);
    if (ts != gil.last_holder) {
        gil.last_holder = ts;
        gil.switch_number++;
        gil.stats.handoffs++;
        if (gil.drop_request_ns) {
            uint64_t h = now - gil.drop_request_ns;
            gil.stats.handoff_ns_total += h;
            if (h > gil.stats.handoff_ns_max) gil.stats.handoff_ns_max = h;
        }
    }
    gil.drop_request_ns = 0;
    pthread_cond_signal(&gil.switch_cond);
    pthread_mutex_unlock(&gil.switch_mutex);
    /* A request addressed to me as an earlier holder is stale now; requests
       are only made under gil.mutex, which I hold, so none is lost. */
    atomic_fetch_and(&ts->eval_breaker, ~(uintptr_t)_TG_EB_GIL_DROP);
    _tg_sync_of(ts)->holds_gil = true;
    pthread_mutex_unlock(&gil.mutex);
}

void _tg_gil_drop(_tg_tstate *ts)
{
    _tg_sync_of(ts)->holds_gil = false;
    pthread_mutex_lock(&gil.mutex);
    TG_ASSERT(gil.locked && gil.holder == ts);
    gil.locked = 0;
    gil.holder = NULL;
    pthread_cond_signal(&gil.cond);
    pthread_mutex_unlock(&gil.mutex);

    uintptr_t eb = atomic_fetch_and(&ts->eval_breaker, ~(uintptr_t)_TG_EB_GIL_DROP);
    if (!(eb & _TG_EB_GIL_DROP))
        return;
    /* Forced switching: wait until somebody else has taken the GIL. The
       waiters check guards against waiting for nobody (the requester may
       already have taken and dropped it). */
    pthread_mutex_lock(&gil.switch_mutex);
    if (gil.last_holder == ts && atomic_load_explicit(&gil.waiters, memory_order_relaxed) > 0) {
        atomic_fetch_add_explicit(&gil.forced_switches, 1, memory_order_relaxed);
        while (gil.last_holder == ts && atomic_load_explicit(&gil.waiters, memory_order_relaxed) > 0) {
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_nsec += 1000000;           /* re-check waiters every ms */
            if (dl.tv_nsec >= 1000000000) { dl.tv_sec++; dl.tv_nsec -= 1000000000; }
            pthread_cond_timedwait(&gil.switch_cond, &gil.switch_mutex, &dl);
        }
    }
    pthread_mutex_unlock(&gil.switch_mutex);
    TG_CHAOS_POINT(TG_CHAOS_SITE_GIL_RELEASE);
}

TG_API void tg_gil_get_stats(tg_gil_stats *out)
{
    pthread_mutex_lock(&gil.mutex);
    *out = gil.stats;
    out->forced_switches = atomic_load_explicit(&gil.forced_switches, memory_order_relaxed);
    pthread_mutex_unlock(&gil.mutex);
}

TG_API void tg_gil_reset_stats(void)
{
    pthread_mutex_lock(&gil.mutex);
    memset(&gil.stats, 0, sizeof gil.stats);
    atomic_store_explicit(&gil.forced_switches, 0, memory_order_relaxed);
    pthread_mutex_unlock(&gil.mutex);
}

/* fork: hold both GIL locks across fork() so the child copies them in a
   consistent state; the child then rebuilds them from scratch (the waiters
   recorded in them did not come along). */
void _tg_gil_fork_prepare(void)
{
    pthread_mutex_lock(&gil.mutex);
    pthread_mutex_lock(&gil.switch_mutex);
}

void _tg_gil_fork_parent(void)
{
    pthread_mutex_unlock(&gil.switch_mutex);
    pthread_mutex_unlock(&gil.mutex);
}

void _tg_gil_fork_child(_tg_tstate *holder)
{
    init_locks();
    gil.locked = holder != NULL;
    gil.holder = holder;
    gil.last_holder = holder;
    atomic_store(&gil.waiters, 0);
    gil.drop_request_ns = 0;
    if (holder) atomic_fetch_and(&holder->eval_breaker, ~(uintptr_t)_TG_EB_GIL_DROP);
}
