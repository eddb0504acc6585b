/*
 * gc/gc.c — provisional: object tracking and the collector's settings. The
 * collection algorithm comes with the collector issue.
 */
#include "runtime/internal.h"

enum { GC_TRACKED = 1 };

static _tg_gchead young = { (uintptr_t)&young, (uintptr_t)&young };
static long threshold[3] = {700, 10, 10}, count[3];
static int enabled = 1;
static unsigned debug_flags;

int _tg_gc_init(void)
{
    young.gc_next = young.gc_prev = (uintptr_t)&young;
    for (int i = 0; i < 3; i++) { threshold[i] = _tg_rt.config.gc_threshold[i]; count[i] = 0; }
    enabled = _tg_rt.config.gc_enabled;
    return 0;
}
void _tg_gc_fini(void) {}

void _tg_gc_track(tg_obj *o)
{
    _tg_gchead *g = _tg_as_gc(o), *last = (_tg_gchead *)young.gc_prev;
    g->gc_prev = (uintptr_t)last;
    g->gc_next = (uintptr_t)&young;
    last->gc_next = (uintptr_t)g;
    young.gc_prev = (uintptr_t)g;
    o->ob_gc_bits |= GC_TRACKED;
}

void _tg_gc_untrack(tg_obj *o)
{
    _tg_gchead *g = _tg_as_gc(o);
    ((_tg_gchead *)g->gc_prev)->gc_next = g->gc_next;
    ((_tg_gchead *)g->gc_next)->gc_prev = g->gc_prev;
    g->gc_next = g->gc_prev = 0;
    o->ob_gc_bits &= (uint8_t)~GC_TRACKED;
}

bool _tg_gc_is_tracked(const tg_obj *o) { return (o->ob_gc_bits & GC_TRACKED) != 0; }
void _tg_gc_on_alloc(void) { count[0]++; }
void _tg_gc_on_dealloc(void) { if (count[0] > 0) count[0]--; }

TG_API intptr_t tg_gc_collect(int generation)
{
    if (generation < -1 || generation > 2) {
        _tg_err_set(TG_ERR_VALUE, "tg_gc_collect: generation must be 0, 1, 2 or -1");
        return -1;
    }
    _tg_err_set(TG_ERR_STATE, "tg_gc_collect: the cycle collector is not available yet");
    return -1;
}
TG_API void tg_gc_enable(void) { enabled = 1; }
TG_API void tg_gc_disable(void) { enabled = 0; }
TG_API int  tg_gc_isenabled(void) { return enabled; }
TG_API void tg_gc_set_threshold(long t0, long t1, long t2) { threshold[0] = t0; threshold[1] = t1; threshold[2] = t2; }
TG_API void tg_gc_get_threshold(long out[3]) { for (int i = 0; i < 3; i++) out[i] = threshold[i]; }
TG_API void tg_gc_get_count(long out[3]) { for (int i = 0; i < 3; i++) out[i] = count[i]; }
TG_API int  tg_gc_is_tracked(tg_obj *o) { return o && _tg_type_is_gc(o->ob_type) && _tg_gc_is_tracked(o); }
TG_API int  tg_gc_is_finalized(tg_obj *o) { return o && (o->ob_flags & _TG_OBF_FINALIZED) != 0; }
TG_API void tg_gc_set_debug(unsigned flags) { debug_flags = flags; }
TG_API unsigned tg_gc_get_debug(void) { return debug_flags; }
