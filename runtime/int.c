/*
 * runtime/int.c — int (int64) with the cached small ints -5..256, and float
 * with its per-thread free list.
 */
#include "runtime/internal.h"

tg_type _tg_int_type = {
    .name = "int", .basicsize = sizeof(_tg_int), .kind = _TG_K_INT,
    .flags = _TG_TPF_BUILTIN | _TG_TPF_IMMUTABLE,
};

static void float_release(tg_obj *o);
tg_type _tg_float_type = {
    .name = "float", .basicsize = sizeof(_tg_float), .kind = _TG_K_FLOAT,
    .flags = _TG_TPF_BUILTIN | _TG_TPF_IMMUTABLE,
    .release = float_release,
};

/* Immortal, static: the same objects across tg_fini/tg_init. */
static _tg_int small_ints[_TG_SMALL_INT_MAX - _TG_SMALL_INT_MIN + 1];

int _tg_int_init(void)
{
    for (int64_t v = _TG_SMALL_INT_MIN; v <= _TG_SMALL_INT_MAX; v++) {
        _tg_int *i = &small_ints[v - _TG_SMALL_INT_MIN];
        _tg_obj_init_immortal(&i->base, &_tg_int_type);
        i->value = v;
    }
    return 0;
}
void _tg_int_fini(void) {}

tg_obj *_tg_small_int(int64_t v)
{
    if (v >= _TG_SMALL_INT_MIN && v <= _TG_SMALL_INT_MAX)
        return &small_ints[v - _TG_SMALL_INT_MIN].base;
    return NULL;
}

TG_API tg_obj *tg_int(int64_t v)
{
    if (v >= _TG_SMALL_INT_MIN && v <= _TG_SMALL_INT_MAX)
        return &small_ints[v - _TG_SMALL_INT_MIN].base;
    _tg_int *i = (_tg_int *)_tg_obj_alloc(&_tg_int_type, sizeof(_tg_int));
    if (!i) return NULL;
    i->value = v;
    return &i->base;
}

TG_API int64_t tg_int_value(tg_obj *o)
{
    if (o && (_tg_kind_of(o) == _TG_K_INT || _tg_kind_of(o) == _TG_K_BOOL))
        return ((_tg_int *)o)->value;
    _tg_err_wrong_type(o, "_TG_K_INT");
    return -1;
}

TG_API tg_obj *tg_float(double v)
{
    _tg_float *f = (_tg_float *)_tg_obj_reuse(&_tg_ts()->fl_float);
    if (!f && !(f = (_tg_float *)_tg_obj_alloc(&_tg_float_type, sizeof(_tg_float))))
        return NULL;
    f->value = v;
    return &f->base;
}

static void float_release(tg_obj *o)
{
    if (!_tg_obj_recycle(o, &_tg_ts()->fl_float, _TG_FLOAT_FREELIST_MAX))
        _tg_obj_free(o);
}

TG_API double tg_float_value(tg_obj *o)
{
    if (o && _tg_kind_of(o) == _TG_K_FLOAT) return ((_tg_float *)o)->value;
    if (o && (_tg_kind_of(o) == _TG_K_INT || _tg_kind_of(o) == _TG_K_BOOL))
        return (double)((_tg_int *)o)->value;
    _tg_err_wrong_type(o, "_TG_K_FLOAT");
    return -1.0;
}
