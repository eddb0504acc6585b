/*
 * sync/safepoint.c — thread status transitions, release/reacquire,
 * safepoints and stop-the-world (docs/threads.md).
 *
 * Status protocol (states in sync/sync.h). A thread changes its own status
 * from ATTACHED; a stop-the-world requester changes other threads' status
 * from DETACHED to SUSPENDED and back. The registry lock (_tg_rt.registry_lock)
 * serialises requesters, protects the countdown and the per-thread
 * stw_counted flags, and is what parked threads sleep on.
 *
 * Stop (requester R, attached):
 *   1. lock registry; if another stop is in progress, R has been counted by
 *      it: park like any thread (below), then retry.
 *   2. requested = 1. For every other thread T:
 *        a. set _TG_EB_STW in T's eval breaker        (seq_cst RMW)
 *        b. load T's status                            (seq_cst)
 *           DETACHED : CAS it to SUSPENDED — stopped, it cannot re-attach;
 *           ATTACHED : mark T counted, countdown++ — T stops itself.
 *   3. unlock; wait until countdown == 0: spin _TG_STW_SPIN_NS, then sleep
 *      on stopped_cv.
 * Stopping (T, counted): at its next safepoint (or when it releases or
 * detaches, whichever comes first) T takes the registry lock, clears
 * counted, sets its status SUSPENDED, decrements the countdown (signalling
 * R at zero). A safepoint then waits while SUSPENDED: it spins
 * _TG_STW_SPIN_NS on its status (most pauses are shorter), then sleeps on
 * restart_cv.
 * Restart (R): under the registry lock, every SUSPENDED status becomes
 * DETACHED, every _TG_EB_STW is cleared, requested = 0, broadcast restart_cv.
 * Parked threads re-attach (DETACHED -> ATTACHED) by themselves.
 *
 * Why no counted thread is missed or counted twice (the Dekker pair):
 *   T leaving ATTACHED:  store status = DETACHED; load eval breaker   (seq_cst)
 *   R in step 2:         fetch_or eval breaker;   load status         (seq_cst)
 * In the single total order of seq_cst operations either R's status load
 * comes after T's store — R sees DETACHED and CASes it, T is not counted —
 * or R's fetch_or comes before T's load — T sees _TG_EB_STW and takes the
 * registry lock, which R holds through the whole scan, so by then T knows
 * from `counted` whether it owes a decrement. (Both may happen: then T
 * finds counted false and does nothing.) A thread that attaches (CAS
 * DETACHED -> ATTACHED) after R's CAS fails and waits; one that attached
 * before R's load is seen ATTACHED and counted. A thread registered while a
 * stop is in progress starts SUSPENDED.
 *
 * GIL mode: only the GIL holder is ever ATTACHED (take the GIL, then
 * attach; detach, then drop it), and a requester is attached, so it holds
 * the GIL: every other thread is DETACHED and the stop is just the scan.
 * In free-threaded mode release/detach are how threads leave: a thread
 * blocked in TG_BEGIN_ALLOW_THREADS is DETACHED and never holds up a stop.
 */
#include <ck_pr.h>
#include <pthread.h>
#include <sched.h>
#include "sync/sync.h"
#include "sync/chaos.h"

/* The requester spins this long on the countdown before sleeping: a busy
   thread reaches its next safepoint within a few microseconds, and a futex
   sleep + wake-up costs about as much as the whole stop. Long enough for
   p50, short enough not to burn a core that a stopping thread might need
   (on a 2-core machine the requester may be sharing a CPU with one). */
#define _TG_STW_SPIN_NS 20000u

static struct {
    _Atomic int     requested;     /* written under the registry lock */
    _tg_tstate *_Atomic requester; /* written under the registry lock */
    _Atomic int     countdown;     /* counted threads not stopped yet */
    pthread_cond_t  stopped_cv;    /* countdown reached zero */
    pthread_cond_t  restart_cv;    /* the world restarted */
    uint64_t        t_request;     /* requester only */
    tg_stw_stats    stats;         /* under the registry lock */
} stw;

static pthread_once_t stw_once = PTHREAD_ONCE_INIT;
static void stw_init_once(void)
{
    pthread_cond_init(&stw.stopped_cv, NULL);
    pthread_cond_init(&stw.restart_cv, NULL);
}

static inline bool gil_mode(void) { return _tg_rt.mode == TG_MODE_GIL; }
#define REG_LOCK()   pthread_mutex_lock(&_tg_rt.registry_lock)
#define REG_UNLOCK() pthread_mutex_unlock(&_tg_rt.registry_lock)

void _tg_sync_runtime_init(void)
{
    pthread_once(&stw_once, stw_init_once);
    atomic_store(&stw.requested, 0);
    atomic_store(&stw.countdown, 0);
    stw.requester = NULL;
    memset(&stw.stats, 0, sizeof stw.stats);
    _tg_gil_init();
    _tg_bias_runtime_init();
    _tg_fork_install();
}

void _tg_sync_runtime_fini(void) {}

int _tg_sync_initial_status_locked(void)
{
    return atomic_load(&stw.requested) ? _TG_TS_SUSPENDED : _TG_TS_DETACHED;
}

/* --------------------------------------------------------- stopping oneself */

/* T has left ATTACHED (status DETACHED) and saw _TG_EB_STW: if the
   requester counted it, become SUSPENDED and pay the decrement. Registry
   lock held. */
static void settle_counted_locked(_tg_tstate *ts)
{
    _tg_sync_tstate *s = _tg_sync_of(ts);
    if (!s->stw_counted) return;
    s->stw_counted = false;
    /* Only this thread moves its status out of DETACHED here: R never CASes
       a thread it counted. */
    atomic_store(&ts->status, _TG_TS_SUSPENDED);
    /* release: this thread's last runtime writes happen before the
       requester (acquire load of the countdown) touches the heap */
    if (atomic_fetch_sub_explicit(&stw.countdown, 1, memory_order_release) == 1)
        pthread_cond_signal(&stw.stopped_cv);
}

static void wait_restart_locked(_tg_tstate *ts)
{
    while (atomic_load(&ts->status) == _TG_TS_SUSPENDED)
        pthread_cond_wait(&stw.restart_cv, &_tg_rt.registry_lock);
}

/* A parked thread (counted, now SUSPENDED) waits for the restart: first
   by looking at its status, as the requester waits for the countdown
   (wait_stopped) — most pauses last a few microseconds, and a futex sleep
   costs the thread the pause plus a wake-up (an idle vCPU's, in a VM) —
   then asleep on restart_cv. The restart's status store (seq_cst, under
   the registry lock) is what the load sees, with the collector's writes
   before it. Registry lock not held. */
static void wait_restart(_tg_tstate *ts)
{
    uint64_t start = _tg_now_ns(), now = start;
    do {
        if (now - start < _TG_STW_SPIN_NS / 8) ck_pr_stall(); else sched_yield();
        if (atomic_load(&ts->status) != _TG_TS_SUSPENDED) return;
        now = _tg_now_ns();
    } while (now - start < _TG_STW_SPIN_NS);
    REG_LOCK();
    wait_restart_locked(ts);
    REG_UNLOCK();
}

void _tg_sync_leave(_tg_tstate *ts)
{
    TG_ASSERT2(atomic_load(&ts->status) == _TG_TS_ATTACHED);
    if (!gil_mode()) { _tg_cs_suspend_all(ts); _tg_qsbr_offline(ts); }
    /* Dekker pair with the requester (top of file): the status store and
       the eval-breaker load are seq_cst, so they cannot be reordered. */
    atomic_store(&ts->status, _TG_TS_DETACHED);
    if (TG_UNLIKELY(atomic_load(&ts->eval_breaker) & _TG_EB_STW)) {
        REG_LOCK();
        settle_counted_locked(ts);
        REG_UNLOCK();
    }
    if (_tg_sync_of(ts)->holds_gil) _tg_gil_drop(ts);
}

void _tg_sync_enter(_tg_tstate *ts)
{
    for (;;) {
        if (gil_mode()) _tg_gil_take(ts);
        int expected = _TG_TS_DETACHED;
        /* seq_cst CAS: pairs with the requester's status load (an attach
           before it is seen as ATTACHED and counted) */
        if (atomic_compare_exchange_strong(&ts->status, &expected, _TG_TS_ATTACHED))
            break;
        TG_ASSERT(expected == _TG_TS_SUSPENDED);
        /* A stop is in progress: wait for the restart without the GIL. */
        if (_tg_sync_of(ts)->holds_gil) _tg_gil_drop(ts);
        REG_LOCK();
        wait_restart_locked(ts);
        REG_UNLOCK();
    }
    if (!gil_mode()) { _tg_qsbr_online(ts); _tg_cs_resume(ts); }
}

/* Free-threaded mode: attach only if no stop-the-world is in progress (else
   false, still detached). For a thread that has just taken an object lock
   while detached: it must not wait out a stop holding the lock, because a
   stop promises that parked threads hold no object lock (fork relies on it:
   a lock held then stays locked in the child). No safepoint check after —
   the caller is inside an operation; it parks at its next safepoint.
   resume: relock the innermost suspended critical section, as a full
   re-attach does (false: the caller detaches again right after). */
bool _tg_sync_try_enter(_tg_tstate *ts, bool resume)
{
    if (gil_mode()) return false;
    int expected = _TG_TS_DETACHED;
    /* seq_cst CAS: as in _tg_sync_enter */
    if (!atomic_compare_exchange_strong(&ts->status, &expected, _TG_TS_ATTACHED))
        return false;
    _tg_qsbr_online(ts);
    if (resume) _tg_cs_resume(ts);
    return true;
}

void _tg_sync_attach(_tg_tstate *ts) { _tg_sync_enter(ts); }

void _tg_sync_detach(_tg_tstate *ts)
{
    if (atomic_load(&ts->status) == _TG_TS_ATTACHED) _tg_sync_leave(ts);
}

/* A safepoint found _TG_EB_STW. */
static void park_for_stop(_tg_tstate *ts)
{
    REG_LOCK();
    if (!_tg_sync_of(ts)->stw_counted) {
        /* stale: the stop that set it found us detached, or has ended */
        if (!atomic_load(&stw.requested))
            atomic_fetch_and(&ts->eval_breaker, ~(uintptr_t)_TG_EB_STW);
        REG_UNLOCK();
        return;
    }
    REG_UNLOCK();
    if (!gil_mode()) { _tg_cs_suspend_all(ts); _tg_qsbr_offline(ts); }
    atomic_store(&ts->status, _TG_TS_DETACHED);
    REG_LOCK();
    settle_counted_locked(ts);
    REG_UNLOCK();
    wait_restart(ts);
    _tg_sync_enter(ts);
}

/* Handlers for the other modules' bits, when those modules provide them. */
void _tg_gc_safepoint(void) __attribute__((weak));
void _tg_rc_merge_safepoint(void) __attribute__((weak));
void _tg_qsbr_safepoint(_tg_tstate *ts) __attribute__((weak));

void _tg_safepoint_slow(_tg_tstate *ts)
{
    if (!ts) return;
    uintptr_t eb = atomic_load_explicit(&ts->eval_breaker, memory_order_acquire);
    if (eb & _TG_EB_STW)
        park_for_stop(ts);
    if ((eb & _TG_EB_GIL_DROP) && _tg_sync_of(ts)->holds_gil) {
        /* Drop (forced switch: waits until the waiter got it) and retake. */
        _tg_sync_leave(ts);
        _tg_sync_enter(ts);
    }
    if (eb & _TG_EB_GC) {
        atomic_fetch_and(&ts->eval_breaker, ~(uintptr_t)_TG_EB_GC);
        if (_tg_gc_safepoint) _tg_gc_safepoint();
    }
    if (eb & _TG_EB_MERGE_RC) {
        atomic_fetch_and(&ts->eval_breaker, ~(uintptr_t)_TG_EB_MERGE_RC);
        if (_tg_rc_merge_safepoint) _tg_rc_merge_safepoint();
    }
    if (eb & _TG_EB_QSBR) {
        if (_tg_qsbr_safepoint) _tg_qsbr_safepoint(ts);
        else atomic_fetch_and(&ts->eval_breaker, ~(uintptr_t)_TG_EB_QSBR);
    }
    if (eb & _TG_EB_CHAOS)
        atomic_fetch_and(&ts->eval_breaker, ~(uintptr_t)_TG_EB_CHAOS);
}

TG_API void tg_safepoint(void)
{
    _tg_tstate *ts = _tg_tls_ts;
#if TG_DEBUG >= 1
    if (!ts) _tg_fatal("tg_safepoint from a thread that is not attached (call tg_thread_attach)");
#endif
    TG_CHAOS_POINT(TG_CHAOS_SITE_SAFEPOINT);
    if (TG_UNLIKELY(ts && atomic_load_explicit(&ts->eval_breaker, memory_order_relaxed) != 0))
        _tg_safepoint_slow(ts);
}

/* ---------------------------------------------------------- release / reacquire */

TG_API tg_tstate *tg_release(void)
{
    _tg_tstate *ts = _tg_tls_ts;
    if (!ts) return NULL;
    if (TG_UNLIKELY(atomic_load(&ts->status) != _TG_TS_ATTACHED))
        _tg_fatal("tg_release: the calling thread has already released (nested TG_BEGIN_ALLOW_THREADS?)");
    if (TG_UNLIKELY(stw.requester == ts && atomic_load(&stw.requested)))
        _tg_fatal("tg_release: the calling thread has stopped the world (call tg_start_the_world first)");
    _tg_sync_leave(ts);
    return (tg_tstate *)ts;
}

TG_API void tg_reacquire(tg_tstate *t)
{
    _tg_tstate *ts = (_tg_tstate *)t;
    if (!ts) return;
    if (TG_UNLIKELY(ts != _tg_tls_ts))
        _tg_fatal("tg_reacquire: thread state %p belongs to another thread", (void *)ts);
    if (TG_UNLIKELY(atomic_load(&ts->status) == _TG_TS_ATTACHED))
        _tg_fatal("tg_reacquire: the calling thread is already attached");
    _tg_sync_enter(ts);
    _tg_safepoint_check();          /* a stop that counted us while we came back */
}

/* ------------------------------------------------------------ stop-the-world */

static void wait_stopped(void)
{
    if (atomic_load_explicit(&stw.countdown, memory_order_acquire) == 0) return;
    uint64_t start = _tg_now_ns(), now = start;
    do {
        /* First a few microseconds of pure spinning (the running threads
           reach a safepoint within that); then yield between checks, so
           that a counted thread which our wake-up preempted on this CPU
           gets to run to its safepoint (oversubscribed machines). */
        if (now - start < _TG_STW_SPIN_NS / 8) ck_pr_stall(); else sched_yield();
        if (atomic_load_explicit(&stw.countdown, memory_order_acquire) == 0) return;
        now = _tg_now_ns();
    } while (now - start < _TG_STW_SPIN_NS);
    REG_LOCK();
    while (atomic_load_explicit(&stw.countdown, memory_order_acquire) != 0)
        pthread_cond_wait(&stw.stopped_cv, &_tg_rt.registry_lock);
    REG_UNLOCK();
}

void _tg_stw_stop(void)
{
    _tg_tstate *ts = _tg_tls_ts;
    TG_ASSERT(ts && atomic_load(&ts->status) == _TG_TS_ATTACHED);
    TG_CHAOS_POINT(TG_CHAOS_SITE_STW);
    uint64_t t0 = _tg_now_ns();
    REG_LOCK();
    while (atomic_load(&stw.requested)) {
        /* Another requester got here first and counted us (we are attached). */
        REG_UNLOCK();
        park_for_stop(ts);
        t0 = _tg_now_ns();
        REG_LOCK();
    }
    atomic_store(&stw.requested, 1);
    stw.requester = ts;
    int counted = 0;
    for (_tg_tstate *t = _tg_rt.threads; t; t = t->next) {
        if (t == ts) continue;
        atomic_fetch_or(&t->eval_breaker, (uintptr_t)_TG_EB_STW);   /* seq_cst: Dekker pair */
        int s = atomic_load(&t->status);
        for (;;) {
            if (s == _TG_TS_DETACHED) {
                if (atomic_compare_exchange_strong(&t->status, &s, _TG_TS_SUSPENDED)) break;
                continue;                      /* it attached meanwhile: s reloaded */
            }
            if (s == _TG_TS_ATTACHED) {
                _tg_sync_of(t)->stw_counted = true;
                counted++;
                break;
            }
            break;                             /* SUSPENDED: registered during a stop */
        }
    }
    /* The countdown is set once, after the scan, under the lock: counted
       threads decrement it under the same lock, so never before this. */
    atomic_store_explicit(&stw.countdown, counted, memory_order_relaxed);
    stw.t_request = t0;
    REG_UNLOCK();
    wait_stopped();
    uint64_t dt = _tg_now_ns() - t0;
    REG_LOCK();
    stw.stats.stops++;
    stw.stats.ns_total += dt;
    if (dt > stw.stats.ns_max) stw.stats.ns_max = dt;
    REG_UNLOCK();
}

void _tg_stw_start(void)
{
    TG_CHAOS_POINT(TG_CHAOS_SITE_STW);
    REG_LOCK();
    TG_ASSERT(atomic_load(&stw.requested) && stw.requester == _tg_tls_ts);
    for (_tg_tstate *t = _tg_rt.threads; t; t = t->next) {
        atomic_fetch_and(&t->eval_breaker, ~(uintptr_t)_TG_EB_STW);
        int s = _TG_TS_SUSPENDED;
        atomic_compare_exchange_strong(&t->status, &s, _TG_TS_DETACHED);
        _tg_sync_of(t)->stw_counted = false;
    }
    atomic_store(&stw.requested, 0);
    stw.requester = NULL;
    pthread_cond_broadcast(&stw.restart_cv);
    REG_UNLOCK();
}

bool _tg_stw_is_stopped(void)
{
    return atomic_load(&stw.requested) && stw.requester == _tg_tls_ts;
}

TG_API int tg_stop_the_world(void)
{
    _tg_tstate *ts = _tg_tls_ts;
    if (!ts) {
        _tg_err_set(TG_ERR_STATE, "tg_stop_the_world: the calling thread is not attached");
        return -1;
    }
    if (_tg_stw_is_stopped()) {
        _tg_err_set(TG_ERR_STATE, "tg_stop_the_world: the world is already stopped by this thread");
        return -1;
    }
    _tg_stw_stop();
    return 0;
}

TG_API void tg_start_the_world(void)
{
    if (_tg_tls_ts && _tg_stw_is_stopped()) _tg_stw_start();
}

TG_API void tg_stw_get_stats(tg_stw_stats *out)
{
    REG_LOCK();
    *out = stw.stats;
    REG_UNLOCK();
}

/* Fork child (sync/fork.c): no stop is in progress in a one-thread world. */
void _tg_stw_fork_child(void)
{
    pthread_cond_init(&stw.stopped_cv, NULL);
    pthread_cond_init(&stw.restart_cv, NULL);
    atomic_store(&stw.requested, 0);
    atomic_store(&stw.countdown, 0);
    stw.requester = NULL;
}

/* ---------------------------------------------------------------- test hook */

int _tg_sync_test_set_mode(tg_mode mode)
{
    _tg_tstate *ts = _tg_tls_ts;
    REG_LOCK();
    size_t n = _tg_rt.nthreads;
    REG_UNLOCK();
    if (!ts || n != 1) {
        _tg_err_set(TG_ERR_STATE, "_tg_sync_test_set_mode: only the calling thread may be registered");
        return -1;
    }
    if (mode == _tg_rt.mode) return 0;
    if (mode == TG_MODE_FREE_THREADED) {
        if (_tg_sync_of(ts)->holds_gil) _tg_gil_drop(ts);
        _tg_rt.mode = mode;
        _tg_bias_runtime_init();
    } else {
        _tg_rt.mode = mode;
        _tg_bias_runtime_init();
        _tg_gil_take(ts);
    }
    return 0;
}
