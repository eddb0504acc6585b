/*
 * runtime/tstate.c — thread states: attach, detach, the registry, thread-exit
 * clean-up.
 *
 * A thread state exists from tg_thread_attach (or tg_init) to tg_thread_detach
 * (or the thread's exit, through a pthread key destructor). The registry
 * (_tg_rt.threads) lists every thread state, under registry_lock; a
 * stop-the-world requester walks it under the same lock (sync/safepoint.c).
 *
 * Life of a thread state:
 *   attach:  allocate (with sync/'s part), register with the status a
 *            stop-the-world in progress dictates (DETACHED, or SUSPENDED),
 *            then _tg_sync_attach: take the GIL (GIL mode), become ATTACHED.
 *   detach:  if the thread had released (it exits inside
 *            TG_BEGIN_ALLOW_THREADS), re-attach first — the free lists are
 *            objects and may only be touched attached; flush free lists and
 *            trash, abandon the allocator heap, leave (DETACHED, drop the
 *            GIL), unregister (its live-object count is retired into
 *            _tg_rt.live_retired), free.
 * Objects created by a thread stay valid after it detaches or exits: they
 * live in the shared heap, and in GIL mode all carry the same thread id. In
 * free-threaded mode they keep the exited owner's id (ids are never reused);
 * runtime/brc.c merges their counts when another thread would queue them.
 */
#include <pthread.h>
#include "runtime/internal.h"
#include "alloc/alloc.h"
#include "sync/sync.h"

TG_API _Thread_local uintptr_t _tg_tls_tid TG_TLS_IE;
TG_API _Thread_local _tg_tstate *_tg_tls_ts TG_TLS_IE;

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void detach_current(void);

/* Runs at thread exit for a thread that never detached. */
static void on_thread_exit(void *arg)
{
    if (_tg_tls_ts == arg && atomic_load(&_tg_rt.initialized))
        detach_current();
}

static void make_exit_key(void) { pthread_key_create(&exit_key, on_thread_exit); }

_tg_tstate *_tg_tstate_new(void)
{
    _tg_tstate_full *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    _tg_tstate *ts = &f->ts;
    ts->thread = pthread_self();
    ts->sync_state = &f->sync;
    atomic_init(&ts->status, _TG_TS_DETACHED);
    atomic_init(&ts->eval_breaker, 0);
    return ts;
}

static void registry_add(_tg_tstate *ts)
{
    pthread_mutex_lock(&_tg_rt.registry_lock);
    ts->tid = _tg_rt.mode == TG_MODE_GIL ? _TG_TID_GIL : _tg_rt.next_tid++;
    /* A thread registered during a stop-the-world starts stopped. */
    atomic_store(&ts->status, _tg_sync_initial_status_locked());
    ts->prev = NULL;
    ts->next = _tg_rt.threads;
    if (ts->next) ts->next->prev = ts;
    _tg_rt.threads = ts;
    _tg_rt.nthreads++;
    pthread_mutex_unlock(&_tg_rt.registry_lock);
}

static void registry_remove(_tg_tstate *ts)
{
    pthread_mutex_lock(&_tg_rt.registry_lock);
    if (ts->prev) ts->prev->next = ts->next; else _tg_rt.threads = ts->next;
    if (ts->next) ts->next->prev = ts->prev;
    _tg_rt.nthreads--;
    _tg_rt.live_retired += __atomic_load_n(&ts->live_delta, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&_tg_rt.registry_lock);
}

int _tg_thread_attach_impl(void)
{
    pthread_once(&exit_key_once, make_exit_key);
    _tg_tstate *ts = _tg_tstate_new();
    if (!ts) { _tg_err_nomem(); return -1; }
    registry_add(ts);
    _tg_tls_ts = ts;
    _tg_sync_attach(ts);
    _tg_tls_tid = ts->tid;
    pthread_setspecific(exit_key, ts);
    if (_tg_rt.mode == TG_MODE_FREE_THREADED && _tg_ft_thread_init(ts) < 0) {
        detach_current();
        return -1;
    }
    return 0;
}

TG_API int tg_thread_attach(void)
{
    if (!atomic_load(&_tg_rt.initialized)) {
        _tg_err_set(TG_ERR_STATE, "tg_thread_attach: the runtime is not initialised (call tg_init)");
        return -1;
    }
    if (_tg_tls_ts) {
        _tg_err_set(TG_ERR_STATE, "tg_thread_attach: this thread is already attached");
        return -1;
    }
    return _tg_thread_attach_impl();
}

static void detach_current(void)
{
    _tg_tstate *ts = _tg_tls_ts;
    if (atomic_load(&ts->status) != _TG_TS_ATTACHED)
        _tg_sync_enter(ts);                /* exiting inside TG_BEGIN_ALLOW_THREADS */
    if (_tg_stw_is_stopped())
        _tg_stw_start();                   /* never leave the world stopped behind */
    /* free-threaded mode: merge what was queued to us, drop what waits for
       a grace period, leave the registry of owners (runtime/brc.c) */
    if (ts->ft) _tg_ft_thread_fini(ts);
    _tg_gc_thread_fini(ts);                /* young list to the global generation 0 */
    _tg_tstate_flush(ts);
    _tg_alloc_thread_detach();
    _tg_tls_tid = 0;
    _tg_sync_detach(ts);
    registry_remove(ts);
    _tg_tls_ts = NULL;
    pthread_setspecific(exit_key, NULL);
    free((_tg_tstate_full *)ts);
}

TG_API void tg_thread_detach(void)
{
    if (!_tg_tls_ts) return;
    detach_current();
}

void _tg_thread_detach_impl(void) { if (_tg_tls_ts) detach_current(); }

TG_API int tg_thread_is_attached(void) { return _tg_tls_ts != NULL; }
