/*
 * runtime/init.c — tg_init / tg_fini, configuration, live-object accounting.
 *
 * tg_init may be called again after tg_fini, with another configuration, in
 * the same process. tg_fini runs a last full collection (so cyclic garbage is
 * not reported as a leak), counts the objects still alive (tg_live_objects)
 * and releases every runtime resource.
 */
#include <stdio.h>
#include <strings.h>
#include "runtime/internal.h"
#include "alloc/alloc.h"
#include "sync/sync.h"
#include "sync/chaos.h"

_tg_runtime _tg_rt = { .registry_lock = PTHREAD_MUTEX_INITIALIZER };

int  _tg_thread_attach_impl(void);
void _tg_thread_detach_impl(void);

TG_API const char *tg_version(void) { return TG_VERSION; }

TG_API void tg_config_default(tg_config *cfg)
{
    *cfg = (tg_config){
        .mode = TG_MODE_GIL,
        .refcount = TG_RC_DEFAULT,
        .gc_enabled = 1,
        .gc_threshold = {700, 10, 10},
        .switch_interval_s = 0.005,
        .chaos_seed = 0,
    };
}

static int config_from(const tg_config *in, tg_config *out)
{
    tg_config_default(out);
    if (in) {
        *out = *in;
        static const long defaults[3] = {700, 10, 10};
        for (int i = 0; i < 3; i++) {
            if (out->gc_threshold[i] == 0) out->gc_threshold[i] = defaults[i];
            if (out->gc_threshold[i] < 0) {
                _tg_err_set(TG_ERR_VALUE, "tg_init: gc_threshold[%d] is negative (%ld)", i, out->gc_threshold[i]);
                return -1;
            }
        }
        if (!(out->switch_interval_s > 0)) {
            if (out->switch_interval_s == 0) out->switch_interval_s = 0.005;
            else {
                _tg_err_set(TG_ERR_VALUE, "tg_init: switch_interval_s must be positive");
                return -1;
            }
        }
    }
    if (out->mode != TG_MODE_GIL && out->mode != TG_MODE_FREE_THREADED) {
        _tg_err_set(TG_ERR_VALUE, "tg_init: unknown mode %d", (int)out->mode);
        return -1;
    }
    if ((unsigned)out->refcount > TG_RC_ATOMIC) {
        _tg_err_set(TG_ERR_VALUE, "tg_init: unknown refcount kind %d", (int)out->refcount);
        return -1;
    }
    const char *env = getenv("TANGLE_MODE");
    if (env && *env) {
        if (!strcasecmp(env, "gil")) out->mode = TG_MODE_GIL;
        else if (!strcasecmp(env, "ft") || !strcasecmp(env, "free-threaded")) out->mode = TG_MODE_FREE_THREADED;
        else {
            _tg_err_set(TG_ERR_VALUE, "TANGLE_MODE=%s: expected gil or ft", env);
            return -1;
        }
    }
    return 0;
}

TG_API int tg_init(const tg_config *cfg)
{
    if (atomic_load(&_tg_rt.initialized)) {
        _tg_err_set(TG_ERR_STATE, "tg_init: already initialised (call tg_fini first)");
        return -1;
    }
    tg_config c;
    if (config_from(cfg, &c) < 0) return -1;
    _tg_rt.config = c;
    _tg_chaos_init(_tg_rt.config.chaos_seed);
    _tg_rt.mode = c.mode;
    _tg_rt.rc = c.mode == TG_MODE_GIL ? TG_RC_DEFAULT
              : (c.refcount == TG_RC_ATOMIC ? TG_RC_ATOMIC : TG_RC_BIASED);
    _tg_rt.threads = NULL;
    _tg_rt.nthreads = 0;
    _tg_rt.next_tid = 16;
    _tg_rt.live_retired = 0;
    _tg_rt.live_at_fini = 0;
    _tg_sync_runtime_init();
    atomic_store(&_tg_rt.initialized, 1);
    if (_tg_thread_attach_impl() < 0) goto fail;
    if (_tg_types_init() < 0) goto fail_detach;
    if (_tg_gc_init() < 0) goto fail_types;
    tg_error_clear();
    return 0;

fail_types:
    _tg_types_fini();
fail_detach:
    _tg_thread_detach_impl();
fail:
    atomic_store(&_tg_rt.initialized, 0);
    _tg_sync_runtime_fini();
    _tg_alloc_fini();
    return -1;
}

static int64_t live_sum_locked(void)
{
    int64_t n = _tg_rt.live_retired;
    for (_tg_tstate *t = _tg_rt.threads; t; t = t->next)
        n += __atomic_load_n(&t->live_delta, __ATOMIC_RELAXED);
    return n;
}

TG_API size_t tg_live_objects(void)
{
    if (!atomic_load(&_tg_rt.initialized))
        return _tg_rt.live_at_fini;
    pthread_mutex_lock(&_tg_rt.registry_lock);
    int64_t n = live_sum_locked();
    pthread_mutex_unlock(&_tg_rt.registry_lock);
    return n < 0 ? 0 : (size_t)n;
}

TG_API int tg_fini(void)
{
    if (!atomic_load(&_tg_rt.initialized)) {
        _tg_err_set(TG_ERR_STATE, "tg_fini: the runtime is not initialised");
        return -1;
    }
    if (!_tg_tls_ts) {
        _tg_err_set(TG_ERR_STATE, "tg_fini: the calling thread is not attached");
        return -1;
    }
    pthread_mutex_lock(&_tg_rt.registry_lock);
    size_t others = _tg_rt.nthreads - 1;
    pthread_mutex_unlock(&_tg_rt.registry_lock);
    if (others) {
        _tg_err_set(TG_ERR_STATE, "tg_fini: %zu other thread(s) still attached", others);
        return -1;
    }
    /* A last full collection, as CPython does at exit: garbage cycles are not leaks. */
    tg_gc_collect(2);
    _tg_tstate_flush(_tg_tls_ts);
    _tg_gc_fini();
    _tg_types_fini();          /* interned strings and other runtime immortals */
    _tg_tstate_flush(_tg_tls_ts);
    pthread_mutex_lock(&_tg_rt.registry_lock);
    int64_t live = live_sum_locked();
    pthread_mutex_unlock(&_tg_rt.registry_lock);
    _tg_thread_detach_impl();
    _tg_rt.live_at_fini = live < 0 ? 0 : (size_t)live;
    atomic_store(&_tg_rt.initialized, 0);
    _tg_sync_runtime_fini();
    _tg_alloc_fini();
    tg_error_clear();
    return 0;
}

TG_API int tg_is_initialized(void) { return atomic_load(&_tg_rt.initialized); }
TG_API tg_mode tg_current_mode(void) { return _tg_rt.mode; }
TG_API tg_rc_kind tg_current_refcount(void) { return _tg_rt.rc; }
