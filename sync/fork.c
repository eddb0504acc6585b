/*
 * sync/fork.c — fork() with a running runtime.
 *
 * After fork() the child has one thread: the one that forked. The handlers
 * make the runtime usable there:
 *   prepare (parent, before fork): take the registry lock and the GIL's
 *     internal locks, so the child copies them in a consistent state (no
 *     other thread is halfway through registering or handing the GIL over).
 *     The allocator registers its own handlers for its locks.
 *   parent (after fork): release them.
 *   child:
 *     1. rebuild the registry lock, the stop-the-world state, the parking
 *        lot and the GIL (held by the forking thread if it was attached,
 *        else free);
 *     2. drop every other thread state: their live-object counts move to
 *        _tg_rt.live_retired (their objects stay valid and are now owned by
 *        nobody in particular: in GIL mode every object carries the same
 *        thread id, so the child's thread may use them all);
 *     3. _tg_alloc_fork_child(): the allocator adopts or releases the heaps
 *        of the threads that did not come along.
 * Free-threaded mode adds: prepare stops the world (every other thread is
 * parked at a safepoint: QSBR-offline, no runtime or object lock held) and
 * waits out grace periods in flight; parent restarts it; the child merges
 * the other threads' biased-count queues and QSBR lists and drops them from
 * the biased-count registry (runtime/brc.c, _tg_ft_fork_child), so objects
 * they owned are merged by the next decref that would have queued them.
 * In GIL mode, tg_mutex locks (object locks) held by other threads at the
 * fork stay locked in the child, as with CPython: fork from a quiet point.
 */
#include <pthread.h>
#include "sync/sync.h"
#include "sync/chaos.h"
#include "alloc/alloc.h"
#include "runtime/ft.h"

void _tg_stw_fork_child(void);     /* sync/safepoint.c */

static bool had_runtime;           /* prepare saw an initialised runtime */
static bool stopped_world;         /* free-threaded: prepare stopped the world */

static void prepare(void)
{
    had_runtime = atomic_load(&_tg_rt.initialized);
    if (!had_runtime) return;
    TG_CHAOS_POINT(TG_CHAOS_SITE_FORK);
    /* Free-threaded mode: stop the world, so that every other thread is
       parked at a safepoint (QSBR-offline, holding no runtime lock and no
       object lock) when the child is copied (CPython 3.13t does the same). */
    _tg_tstate *ts = _tg_tls_ts;
    stopped_world = _tg_ft() && ts && atomic_load(&ts->status) == _TG_TS_ATTACHED;
    if (stopped_world) {
        _tg_stw_stop();
        _tg_qsbr_fork_prepare(ts);
    }
    pthread_mutex_lock(&_tg_rt.registry_lock);
    _tg_gil_fork_prepare();
}

static void parent(void)
{
    if (!had_runtime) return;
    _tg_gil_fork_parent();
    pthread_mutex_unlock(&_tg_rt.registry_lock);
    if (stopped_world) _tg_stw_start();
}

static void child(void)
{
    if (!had_runtime) return;
    _tg_tstate *me = _tg_tls_ts;
    pthread_mutex_init(&_tg_rt.registry_lock, NULL);
    _tg_stw_fork_child();
    _tg_parking_fork_child();
    /* membarrier() registration belongs to the address space: register the
       child's (a no-op where the kernel copies it) */
    if (_tg_ft()) _tg_bias_runtime_init();
    if (_tg_ft()) _tg_ft_fork_child(me);

    /* 2. one thread remains */
    _tg_tstate *t = _tg_rt.threads;
    _tg_rt.threads = NULL;
    _tg_rt.nthreads = 0;
    while (t) {
        _tg_tstate *next = t->next;
        if (t == me) {
            t->next = t->prev = NULL;
            _tg_rt.threads = t;
            _tg_rt.nthreads = 1;
            atomic_fetch_and(&t->eval_breaker, ~(uintptr_t)_TG_EB_STW);
            _tg_sync_of(t)->stw_counted = false;
            t->thread = pthread_self();
        } else {
            _tg_rt.live_retired += __atomic_load_n(&t->live_delta, __ATOMIC_RELAXED);
            free(t);
        }
        t = next;
    }

    /* 1. the GIL: held by the forking thread iff it was attached (it may
       have forked from inside TG_BEGIN_ALLOW_THREADS: then it is free). */
    bool holds = me && _tg_sync_of(me)->holds_gil;
    _tg_gil_fork_child(holds ? me : NULL);
    if (me && atomic_load(&me->status) == _TG_TS_SUSPENDED)
        atomic_store(&me->status, _TG_TS_DETACHED);

    /* 3. */
    _tg_alloc_fork_child();
}

static void install(void) { pthread_atfork(prepare, parent, child); }

void _tg_fork_install(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install);
}
