/*
 * sync/gil.c — provisional GIL: one mutex held by the attached thread, released
 * around blocking calls. The switch-interval hand-off, safepoints and
 * stop-the-world come with the threads issue.
 */
#include <pthread.h>
#include "sync/sync.h"

static pthread_mutex_t gil = PTHREAD_MUTEX_INITIALIZER;

void _tg_sync_runtime_init(void) {}
void _tg_sync_runtime_fini(void) {}

void _tg_sync_attach(_tg_tstate *ts)
{
    if (_tg_rt.mode == TG_MODE_GIL) pthread_mutex_lock(&gil);
    atomic_store(&ts->status, _TG_TS_ATTACHED);
}

void _tg_sync_detach(_tg_tstate *ts)
{
    atomic_store(&ts->status, _TG_TS_DETACHED);
    if (_tg_rt.mode == TG_MODE_GIL) pthread_mutex_unlock(&gil);
}

TG_API void tg_safepoint(void) {}

TG_API tg_tstate *tg_release(void)
{
    _tg_tstate *ts = _tg_ts();
    if (ts) _tg_sync_detach(ts);
    return (tg_tstate *)ts;
}

TG_API void tg_reacquire(tg_tstate *t)
{
    _tg_tstate *ts = (_tg_tstate *)t;
    if (ts) _tg_sync_attach(ts);
}

TG_API void tg_mutex_lock(tg_mutex *m)
{
    while (__atomic_exchange_n(&m->v, 1, __ATOMIC_ACQUIRE))
        sched_yield();
}
TG_API void tg_mutex_unlock(tg_mutex *m) { __atomic_store_n(&m->v, 0, __ATOMIC_RELEASE); }
TG_API int tg_mutex_trylock(tg_mutex *m) { return !__atomic_exchange_n(&m->v, 1, __ATOMIC_ACQUIRE); }
TG_API int tg_mutex_is_locked(const tg_mutex *m) { return __atomic_load_n(&m->v, __ATOMIC_RELAXED) != 0; }

TG_API void _tg_cs_begin(tg_critical_section *cs, tg_obj *a, tg_obj *b) { cs->a = a; cs->b = b; cs->prev = NULL; }
TG_API void _tg_cs_end(tg_critical_section *cs) { (void)cs; }
