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

/* A new tuple of n > 0 items, not yet tracked, the items uninitialised:
   the caller fills every one before anything else can see the tuple. */
static inline _tg_tuple *tuple_alloc_raw(size_t n)
{
    _tg_tuple *t = NULL;
    if (TG_LIKELY(n <= _TG_TUPLE_FREELIST_SIZES))
        t = (_tg_tuple *)_tg_obj_reuse(&_tg_ts()->fl_tuple[n - 1]);
    if (!t) {
        t = (_tg_tuple *)_tg_obj_alloc(&_tg_tuple_type, sizeof(_tg_tuple) + n * sizeof(tg_obj *));
        if (!t) return NULL;
    }
    t->n = n;
    return t;
}

/* A new tuple of n NULL items, not yet tracked. */
tg_obj *_tg_tuple_alloc(size_t n)
{
    if (n == 0) return &empty_tuple.t.base;
    if (n > (SIZE_MAX - sizeof(_tg_tuple)) / sizeof(tg_obj *) / 2) {
        _tg_err_set(TG_ERR_OVERFLOW, "tuple too long");
        return NULL;
    }
    _tg_tuple *t = tuple_alloc_raw(n);
    if (!t) return NULL;
    memset(t->items, 0, n * sizeof(tg_obj *));
    return &t->base;
}

static tg_obj *null_item(size_t i)
{
    _tg_err_set(TG_ERR_VALUE, "tg_tuple: item %zu is NULL", i);
    return NULL;
}

TG_API tg_obj *tg_tuple_from_array(size_t n, tg_obj *const *items)
{
    for (size_t i = 0; i < n; i++)
        if (!items[i]) return null_item(i);
    if (n == 0) return &empty_tuple.t.base;
    _tg_tuple *t = tuple_alloc_raw(n);
    if (!t) return NULL;
    for (size_t i = 0; i < n; i++) t->items[i] = _tg_newref(items[i]);
    _tg_gc_track(&t->base);
    _tg_gc_on_alloc();
    return &t->base;
}

/* The items straight from the argument list into the new tuple (no copy
   through an array, no zeroing first). */
TG_API tg_obj *tg_tuple(size_t n, ...)
{
    if (n == 0) return &empty_tuple.t.base;
    va_list ap;
    va_start(ap, n);
    va_list check;
    va_copy(check, ap);
    for (size_t i = 0; i < n; i++)
        if (!va_arg(check, tg_obj *)) { va_end(check); va_end(ap); return null_item(i); }
    va_end(check);
    _tg_tuple *t = tuple_alloc_raw(n);
    if (!t) { va_end(ap); return NULL; }
    for (size_t i = 0; i < n; i++) t->items[i] = _tg_newref(va_arg(ap, tg_obj *));
    va_end(ap);
    _tg_gc_track(&t->base);
    _tg_gc_on_alloc();
    return &t->base;
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
