/*
 * runtime/tuple.c — tuples: immutable arrays; the empty tuple is an immortal
 * singleton, tuples of length 1..20 are recycled through per-thread free lists.
 */
#include "runtime/internal.h"

static void tuple_destroy(tg_obj *o)
{
    _tg_tuple *t = (_tg_tuple *)o;
    for (size_t i = 0; i < t->n; i++) tg_xdecref(t->items[i]);
}

static void tuple_release(tg_obj *o)
{
    size_t n = ((_tg_tuple *)o)->n;
    if (n < 1 || n > _TG_TUPLE_FREELIST_SIZES ||
        !_tg_obj_recycle(o, &_tg_ts()->fl_tuple[n - 1], _TG_TUPLE_FREELIST_MAX))
        _tg_obj_free(o);
}

static int tuple_traverse(tg_obj *o, tg_visitproc visit, void *arg)
{
    _tg_tuple *t = (_tg_tuple *)o;
    for (size_t i = 0; i < t->n; i++)
        if (t->items[i]) { int r = visit(t->items[i], arg); if (r) return r; }
    return 0;
}

static size_t tuple_sizeof(const tg_obj *o)
{
    return sizeof(_tg_tuple) + ((const _tg_tuple *)o)->n * sizeof(tg_obj *);
}

tg_type _tg_tuple_type = {
    .name = "tuple", .basicsize = sizeof(_tg_tuple), .kind = _TG_K_TUPLE,
    .flags = _TG_GC_FLAGS | _TG_TPF_BUILTIN | _TG_TPF_IMMUTABLE,
    .traverse = tuple_traverse, .destroy = tuple_destroy, .release = tuple_release,
    .size_of = tuple_sizeof,
};

static struct { _tg_gchead gc; _tg_tuple t; } empty_tuple;

void _tg_tuple_init(void)
{
    _tg_obj_init_immortal(&empty_tuple.t.base, &_tg_tuple_type);
    empty_tuple.t.n = 0;
}

/* A new tuple of n NULL items, not yet tracked. */
tg_obj *_tg_tuple_alloc(size_t n)
{
    if (n == 0) return &empty_tuple.t.base;
    if (n > (SIZE_MAX - sizeof(_tg_tuple)) / sizeof(tg_obj *) / 2) {
        _tg_err_set(TG_ERR_OVERFLOW, "tuple too long");
        return NULL;
    }
    _tg_tuple *t = NULL;
    if (n <= _TG_TUPLE_FREELIST_SIZES)
        t = (_tg_tuple *)_tg_obj_reuse(&_tg_ts()->fl_tuple[n - 1]);
    if (!t) {
        t = (_tg_tuple *)_tg_obj_alloc(&_tg_tuple_type, sizeof(_tg_tuple) + n * sizeof(tg_obj *));
        if (!t) return NULL;
    }
    t->n = n;
    memset(t->items, 0, n * sizeof(tg_obj *));
    return &t->base;
}

TG_API tg_obj *tg_tuple_from_array(size_t n, tg_obj *const *items)
{
    for (size_t i = 0; i < n; i++)
        if (!items[i]) { _tg_err_set(TG_ERR_VALUE, "tg_tuple: item %zu is NULL", i); return NULL; }
    tg_obj *o = _tg_tuple_alloc(n);
    if (!o || n == 0) return o;
    _tg_tuple *t = (_tg_tuple *)o;
    for (size_t i = 0; i < n; i++) t->items[i] = _tg_newref(items[i]);
    _tg_gc_track(o);
    _tg_gc_on_alloc();
    return o;
}

TG_API tg_obj *tg_tuple(size_t n, ...)
{
    tg_obj *small[16];
    tg_obj **items = n <= 16 ? small : malloc(n * sizeof(tg_obj *));
    if (!items) { _tg_err_nomem(); return NULL; }
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) items[i] = va_arg(ap, tg_obj *);
    va_end(ap);
    tg_obj *t = tg_tuple_from_array(n, items);
    if (items != small) free(items);
    return t;
}

TG_API size_t tg_tuple_len(tg_obj *t)
{
    TG_CHECK_KIND(t, _TG_K_TUPLE, 0);
    return ((_tg_tuple *)t)->n;
}

TG_API tg_obj *tg_tuple_get(tg_obj *o, ptrdiff_t i)
{
    TG_CHECK_KIND(o, _TG_K_TUPLE, NULL);
    _tg_tuple *t = (_tg_tuple *)o;
    ptrdiff_t n = (ptrdiff_t)t->n;
    if (i < 0) i += n;
    if (i < 0 || i >= n) {
        _tg_err_set(TG_ERR_INDEX, "tuple index out of range");
        return NULL;
    }
    return _tg_newref(t->items[i]);
}
