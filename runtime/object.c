/*
 * runtime/object.c — object allocation, reference-count slow paths,
 * deallocation (with the trashcan), and the generic object protocol
 * (tg_refcount, tg_sizeof, tg_eq, tg_hash, ...).
 *
 * Deallocation order (API.md): when the count reaches zero, a PEP 442
 * finalizer runs first (once per object; a legacy finalizer at every death),
 * and may resurrect the object; then weakrefs to it are cleared (their
 * callbacks run), then it is untracked, its type's clear and dealloc run,
 * its references are dropped, and its memory is released.
 *
 * Trashcan: destroying a container drops references to its items, which may
 * destroy them in turn. Past _TG_TRASHCAN_DEPTH nested destructions, a
 * container whose count hit zero is pushed on the thread's trash list (linked
 * through its gc head, free once untracked) and destroyed by the outermost
 * deallocation, so a chain of a million nested lists needs no deep C stack.
 */
#include <math.h>
#include <stdio.h>
#include "runtime/internal.h"

/* --------------------------------------------------------------- allocation */

#if TG_DEBUG >= 1
/* A constructor called from a thread that is not attached: say so, rather
   than crash on the missing thread state. */
static TG_COLD void unattached_alloc(const char *tname)
{
    _tg_fatal("creating %s object from a thread that is not attached (call tg_thread_attach)", tname);
}
#define CHECK_ATTACHED_ALLOC(tname) do { if (TG_UNLIKELY(!_tg_tls_ts)) unattached_alloc(tname); } while (0)
#else
#define CHECK_ATTACHED_ALLOC(tname) ((void)0)
#endif

/* One reference, owned by the calling thread (biased); TG_RC_ATOMIC: born
   merged, the shared count is the only count (runtime/brc.c). */
static inline void init_counts(tg_obj *o)
{
    if (TG_UNLIKELY(_tg_rt.rc == TG_RC_ATOMIC)) {
        o->ob_tid = _TG_TID_SHARED;
        o->ob_ref_local = 0;
        o->ob_ref_shared = 4 | _TG_REF_MERGED;
    } else {
        o->ob_tid = _tg_tls_tid;
        o->ob_ref_local = 1;
        o->ob_ref_shared = 0;
    }
}

tg_obj *_tg_obj_alloc(const tg_type *t, size_t size)
{
    CHECK_ATTACHED_ALLOC(t->name);
    _tg_safepoint_check();     /* allocation is a safepoint (sync/): GIL hand-off, stop-the-world */
    bool gc = _tg_type_is_gc(t);
    size_t total = size + (gc ? sizeof(_tg_gchead) : 0);
    char *mem = tg_mem_alloc(total);
    if (TG_UNLIKELY(!mem)) { _tg_err_nomem(); return NULL; }
    if (gc) {
        memset(mem, 0, sizeof(_tg_gchead));
        mem += sizeof(_tg_gchead);
    }
    tg_obj *o = (tg_obj *)mem;
    o->ob_flags = 0;
    o->ob_mutex.v = _tg_rt.obj_lock_birth;   /* biased to its creator (sync/bias.c) */
    o->ob_gc_bits = 0;
    o->ob_type = t;
    init_counts(o);
    _tg_tstate *ts = _tg_ts();
    __atomic_store_n(&ts->live_delta, ts->live_delta + 1, __ATOMIC_RELAXED);
    return o;
}

void _tg_obj_free(tg_obj *o)
{
    _tg_tstate *ts = _tg_ts();
    if (!_tg_is_immortal(o))
        __atomic_store_n(&ts->live_delta, ts->live_delta - 1, __ATOMIC_RELAXED);
    void *mem = _tg_is_gc(o) ? (void *)_tg_as_gc(o) : (void *)o;
#if TG_DEBUG >= 1
    /* Poison the header so a later use names the culprit (see _tg_fatal_obj). */
    o->ob_flags = _TG_OBF_DEAD;
    o->ob_ref_local = 0;
    o->ob_tid = 0;
#endif
    tg_mem_free(mem);
}

bool _tg_obj_recycle(tg_obj *o, _tg_freelist *fl, int max)
{
    _tg_tstate *ts = _tg_ts();
    if (!ts || !_tg_freelist_push(fl, o, max)) return false;
    __atomic_store_n(&ts->live_delta, ts->live_delta - 1, __ATOMIC_RELAXED);
#if TG_DEBUG >= 1
    /* Poison the header as _tg_obj_free does: a free-listed object is freed
       memory to its users, and the link lives after the header. */
    o->ob_flags = _TG_OBF_DEAD;
    o->ob_ref_local = 0;
    o->ob_tid = 0;
#endif
    return true;
}

tg_obj *_tg_obj_reuse(_tg_freelist *fl)
{
    CHECK_ATTACHED_ALLOC("an");                 /* fl points into the missing thread state */
    tg_obj *o = _tg_freelist_pop(fl);
    if (!o) return NULL;
    if (_tg_is_gc(o)) memset(_tg_as_gc(o), 0, sizeof(_tg_gchead));
    o->ob_flags = 0;
    o->ob_mutex.v = _tg_rt.obj_lock_birth;   /* biased to its creator (sync/bias.c) */
    o->ob_gc_bits = 0;
    init_counts(o);
    _tg_tstate *ts = _tg_ts();
    __atomic_store_n(&ts->live_delta, ts->live_delta + 1, __ATOMIC_RELAXED);
    return o;
}

void _tg_obj_init_immortal(tg_obj *o, const tg_type *t)
{
    o->ob_tid = _TG_TID_SHARED;
    o->ob_flags |= _TG_OBF_STATIC;
    o->ob_ref_local = _TG_IMMORTAL_LOCAL;
    o->ob_ref_shared = 0;
    o->ob_type = t;
}

/* Make a heap object created by the runtime immortal (interned strings, ...):
   it no longer counts as live; the runtime frees it at tg_fini. */
void _tg_obj_make_immortal(tg_obj *o)
{
    _tg_tstate *ts = _tg_ts();
    __atomic_store_n(&ts->live_delta, ts->live_delta - 1, __ATOMIC_RELAXED);
    o->ob_ref_local = _TG_IMMORTAL_LOCAL;
    o->ob_tid = _TG_TID_SHARED;
    o->ob_ref_shared = 0;
}

/* ------------------------------------------------------ reference counting */

/* The slow paths, tg_refcount and the free-threaded states are in
   runtime/brc.c. */

TG_API int tg_is_immortal(const tg_obj *o) { return _tg_is_immortal(o); }
TG_API uintptr_t tg_id(const tg_obj *o) { return (uintptr_t)o; }
TG_API const tg_type *tg_typeof(const tg_obj *o) { return o->ob_type; }
TG_API const char *tg_type_name(const tg_type *t) { return t ? t->name : "NULL"; }

/* ----------------------------------------------------------- deallocation */

int _tg_obj_finalize(tg_obj *o)
{
    const tg_type *t = o->ob_type;
    if (!t->finalize) return 0;
    bool legacy = (t->flags & TG_TYPE_LEGACY_DEL) != 0;
    if (!legacy && (o->ob_flags & _TG_OBF_FINALIZED)) return 0;
    o->ob_flags |= _TG_OBF_FINALIZED;
    /* Hold a temporary reference so that the finalizer's own increfs and
       decrefs cannot free the object under it. */
    _tg_resurrect_begin(o);
    tg_errcode saved = tg_error();
    char savedmsg[_TG_ERRMSG_MAX];
    if (saved) snprintf(savedmsg, sizeof savedmsg, "%s", tg_error_message());
    t->finalize(o);
    if (saved) _tg_err_set(saved, "%s", savedmsg); else tg_error_clear();
    return _tg_resurrect_end(o);
}

void _tg_weakrefs_clear(tg_obj *o, bool call_callbacks);   /* runtime/weakref.c */

static void destroy(tg_obj *o)
{
    const tg_type *t = o->ob_type;
    bool linked = false;   /* still on another thread's young list (free-threaded mode) */
    if (_tg_is_gc(o)) {
        if (_tg_gc_is_tracked(o)) linked = !_tg_gc_untrack(o);
        /* count0 counts what constructors counted: objects tracked at birth
           (containers, attribute objects, instances of TG_TYPE_GC types). */
        if ((t->flags & TG_TYPE_GC) || (o->ob_flags & _TG_OBF_ATTRS_OK))
            _tg_gc_on_dealloc();
    }
    if (t->destroy) t->destroy(o);
    if (TG_UNLIKELY(linked)) _tg_gc_free_deferred(o);   /* its list's owner frees it */
    else if (t->release) t->release(o); else _tg_obj_free(o);
}

/* Runs destroy() on o and on everything the trashcan deferred meanwhile. */
static void destroy_with_trashcan(_tg_tstate *ts, tg_obj *o)
{
    ts->dealloc_depth++;
    destroy(o);
    ts->dealloc_depth--;
    if (ts->dealloc_depth == 0) {
        while (ts->trash) {
            tg_obj *next = ts->trash;
            ts->trash = (tg_obj *)_tg_as_gc(next)->gc_next;
            ts->dealloc_depth++;
            destroy(next);
            ts->dealloc_depth--;
        }
    }
}

void _tg_dealloc(tg_obj *o)
{
    const tg_type *t = o->ob_type;
#if TG_DEBUG >= 1
    if (_tg_is_immortal(o)) _tg_fatal_obj(o, "deallocating an immortal object");
#endif
    if (t->finalize && _tg_obj_finalize(o))
        return;                               /* resurrected */
    if (o->ob_flags & _TG_OBF_WEAKLIST) {
        /* Callbacks may take references; hold one meanwhile. */
        _tg_resurrect_begin(o);
        _tg_weakrefs_clear(o, true);
        if (_tg_resurrect_end(o)) return;     /* a callback resurrected it */
    }
    if (!_tg_is_gc(o)) {
        /* An atom (int, float, str, bytes, capsule, weakref) holds no object
           references: no trashcan, no collector bookkeeping. */
        if (t->destroy) t->destroy(o);
        if (t->release) t->release(o); else _tg_obj_free(o);
        return;
    }
    _tg_tstate *ts = _tg_ts();
    /* (An object on another thread's young list cannot lend its gc head to
       the trash chain: it is destroyed at once.) */
    if (ts->dealloc_depth >= _TG_TRASHCAN_DEPTH
        && (!_tg_gc_is_tracked(o) || _tg_gc_untrack_is_local(o))) {
        if (_tg_gc_is_tracked(o)) _tg_gc_untrack(o);
        _tg_as_gc(o)->gc_next = (uintptr_t)ts->trash;
        ts->trash = o;
        return;
    }
    destroy_with_trashcan(ts, o);
}

void _tg_tstate_flush(_tg_tstate *ts)
{
    _tg_freelist *lists[3 + _TG_TUPLE_FREELIST_SIZES] = { &ts->fl_list, &ts->fl_dict, &ts->fl_float };
    for (int i = 0; i < _TG_TUPLE_FREELIST_SIZES; i++) lists[3 + i] = &ts->fl_tuple[i];
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        tg_obj *o;
        while ((o = _tg_freelist_pop(lists[i]))) {
            void *mem = _tg_is_gc(o) ? (void *)_tg_as_gc(o) : (void *)o;
            tg_mem_free(mem);
        }
    }
}

/* ------------------------------------------------------------- protocol */

TG_API size_t tg_sizeof(const tg_obj *o)
{
    size_t n = o->ob_type->size_of ? o->ob_type->size_of(o) : o->ob_type->basicsize;
    if (_tg_is_gc(o)) n += sizeof(_tg_gchead);
    return n;
}

int _tg_eq_depth(tg_obj *a, tg_obj *b, int depth);
int64_t _tg_hash_depth(tg_obj *o, int depth);

static bool is_number(const tg_obj *o)
{
    _tg_kind k = _tg_kind_of(o);
    return k == _TG_K_INT || k == _TG_K_BOOL || k == _TG_K_FLOAT;
}

static int number_eq(tg_obj *a, tg_obj *b)
{
    bool af = _tg_kind_of(a) == _TG_K_FLOAT, bf = _tg_kind_of(b) == _TG_K_FLOAT;
    if (!af && !bf) return ((_tg_int *)a)->value == ((_tg_int *)b)->value;
    if (af && bf) return ((_tg_float *)a)->value == ((_tg_float *)b)->value;
    /* int against float: exact comparison, as Python does (no rounding of the int). */
    double d = af ? ((_tg_float *)a)->value : ((_tg_float *)b)->value;
    int64_t i = af ? ((_tg_int *)b)->value : ((_tg_int *)a)->value;
    if (d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0) return 0;
    return (int64_t)d == i;
}

int _tg_eq_depth(tg_obj *a, tg_obj *b, int depth)
{
    if (a == b) return 1;
    if (depth > _TG_RECURSION_LIMIT) {
        _tg_err_set(TG_ERR_OVERFLOW, "tg_eq: maximum recursion depth exceeded");
        return -1;
    }
    if (is_number(a) && is_number(b)) return number_eq(a, b);
    const tg_type *t = a->ob_type;
    if (t != b->ob_type) {
        if (b->ob_type->eq && !(b->ob_type->flags & _TG_TPF_BUILTIN)) return b->ob_type->eq(b, a);
        if (t->eq && !(t->flags & _TG_TPF_BUILTIN)) return t->eq(a, b);
        return 0;
    }
    switch (t->kind) {
    case _TG_K_STR: case _TG_K_BYTES: {
        _tg_str *x = (_tg_str *)a, *y = (_tg_str *)b;
        if (x->nbytes != y->nbytes) return 0;
        int64_t hx = __atomic_load_n(&x->hash, __ATOMIC_RELAXED), hy = __atomic_load_n(&y->hash, __ATOMIC_RELAXED);
        if (hx != -1 && hy != -1 && hx != hy) return 0;
        return memcmp(x->data, y->data, x->nbytes) == 0;
    }
    case _TG_K_TUPLE: case _TG_K_LIST: {
        size_t n = t->kind == _TG_K_TUPLE ? tg_tuple_len(a) : tg_list_len(a);
        size_t m = t->kind == _TG_K_TUPLE ? tg_tuple_len(b) : tg_list_len(b);
        if (n != m) return 0;
        for (size_t i = 0; i < n; i++) {
            tg_obj *x = t->kind == _TG_K_TUPLE ? tg_tuple_get(a, (ptrdiff_t)i) : tg_list_get(a, (ptrdiff_t)i);
            tg_obj *y = t->kind == _TG_K_TUPLE ? tg_tuple_get(b, (ptrdiff_t)i) : tg_list_get(b, (ptrdiff_t)i);
            if (!x || !y) { tg_xdecref(x); tg_xdecref(y); return t->kind == _TG_K_LIST ? 0 : -1; }
            int r = _tg_eq_depth(x, y, depth + 1);
            tg_decref(x); tg_decref(y);
            if (r != 1) return r;
        }
        return 1;
    }
    case _TG_K_DICT: {
        if (tg_dict_len(a) != tg_dict_len(b)) return 0;
        size_t pos = 0;
        tg_obj *k, *v;
        while (tg_dict_next(a, &pos, &k, &v) == 1) {
            int64_t h = tg_hash(k);
            int err = 0;
            tg_obj *w = h == -1 ? NULL : _tg_dk_get(&((_tg_dict *)b)->keys, k, h, &err);
            int r = 0;
            if (w) { tg_incref(w); r = _tg_eq_depth(v, w, depth + 1); tg_decref(w); }
            else if (h == -1 || err) r = -1;
            tg_decref(k); tg_decref(v);
            if (r != 1) return r;
        }
        return 1;
    }
    default:
        if (t->eq) return t->eq(a, b);
        return 0;                               /* identity, and a != b */
    }
}

TG_API int tg_eq(tg_obj *a, tg_obj *b)
{
    if (!a || !b) { _tg_err_set(TG_ERR_VALUE, "tg_eq: NULL argument"); return -1; }
    return _tg_eq_depth(a, b, 0);
}

static int64_t fix_hash(int64_t h) { return h == -1 ? -2 : h; }

/* Hash of a double consistent with ints: equal numbers hash equally. */
static int64_t float_hash(double d)
{
    if (isnan(d)) return 0;
    if (isinf(d)) return d > 0 ? 314159 : -314159;
    if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
        return fix_hash((int64_t)d);
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    bits ^= bits >> 33; bits *= 0xff51afd7ed558ccdULL; bits ^= bits >> 33;
    return fix_hash((int64_t)(bits >> 1));
}

int64_t _tg_hash_depth(tg_obj *o, int depth)
{
    if (depth > _TG_RECURSION_LIMIT) {
        _tg_err_set(TG_ERR_OVERFLOW, "tg_hash: maximum recursion depth exceeded");
        return -1;
    }
    const tg_type *t = o->ob_type;
    switch (t->kind) {
    case _TG_K_NONE: return 0x5ca1ab1e;
    case _TG_K_BOOL: case _TG_K_INT: return fix_hash(((_tg_int *)o)->value);
    case _TG_K_FLOAT: return float_hash(((_tg_float *)o)->value);
    case _TG_K_STR: case _TG_K_BYTES: {
        _tg_str *s = (_tg_str *)o;
        int64_t h = __atomic_load_n(&s->hash, __ATOMIC_RELAXED);
        if (h == -1) {
            h = fix_hash(_tg_hash_bytes(s->data, s->nbytes));
            __atomic_store_n(&s->hash, h, __ATOMIC_RELAXED);
        }
        return h;
    }
    case _TG_K_TUPLE: {
        /* xxHash-style lane mixing, as CPython's tuplehash. */
        _tg_tuple *tu = (_tg_tuple *)o;
        uint64_t acc = 0x27d4eb2f165667c5ULL;
        for (size_t i = 0; i < tu->n; i++) {
            int64_t h = _tg_hash_depth(tu->items[i], depth + 1);
            if (h == -1) return -1;
            acc += (uint64_t)h * 0xc2b2ae3d27d4eb4fULL;
            acc = (acc << 31) | (acc >> 33);
            acc *= 0x9e3779b185ebca87ULL;
        }
        acc += tu->n ^ (0x27d4eb2f165667c5ULL ^ 3527539UL);
        return fix_hash((int64_t)(acc >> 1));
    }
    case _TG_K_LIST: case _TG_K_DICT:
        _tg_err_set(TG_ERR_TYPE, "unhashable type: '%s'", t->name);
        return -1;
    default:
        if (t->hash) {
            /* -1 is a failure only if the callback set an error: run it with
               the caller's error put aside, and put it back on success. */
            tg_errcode saved = tg_error();
            char msg[_TG_ERRMSG_MAX];
            if (saved) { snprintf(msg, sizeof msg, "%s", tg_error_message()); tg_error_clear(); }
            int64_t h = t->hash(o);
            if (h == -1 && tg_error() != TG_OK) return -1;
            if (saved) _tg_err_set(saved, "%s", msg);
            return h == -1 ? -2 : h;
        }
        /* identity hash: the address without its always-zero low bits */
        return fix_hash((int64_t)((uintptr_t)o >> 4));
    }
}

TG_API int64_t tg_hash(tg_obj *o)
{
    if (!o) { _tg_err_set(TG_ERR_VALUE, "tg_hash: NULL argument"); return -1; }
    return _tg_hash_depth(o, 0);
}
