/*
 * runtime/copy.c — tg_copy (copy.copy) and tg_deepcopy (copy.deepcopy).
 *
 * Immutable objects are returned as themselves; a tuple is deep-copied only
 * if one of its items changes. tg_deepcopy keeps a memo from original to
 * copy, so shared references stay shared and cycles are reproduced. On
 * failure nothing is returned and the partial copy is released (a partial
 * copy that already forms a cycle is left to the collector).
 */
#include "runtime/internal.h"

tg_obj *_tg_tuple_alloc(size_t n);    /* runtime/tuple.c */

/* --------------------------------------------------------------- the memo */

typedef _tg_ptrmap memo;     /* original -> its copy (borrowed: the copy owns it) */

static tg_obj *memo_get(memo *m, const tg_obj *key)
{
    uintptr_t v;
    return _tg_ptrmap_get(m, key, &v) ? (tg_obj *)v : NULL;
}

static int memo_put(memo *m, const tg_obj *key, tg_obj *val) { return _tg_ptrmap_put(m, key, (uintptr_t)val); }

/* ------------------------------------------------------------------ copy */

static bool copyable_instance(tg_obj *o)
{
    /* An embedder payload is opaque memory: copying it is the embedder's call. */
    return (o->ob_type->flags & _TG_TPF_INSTANCE) && o->ob_type->basicsize == sizeof(_tg_inst)
        && (o->ob_flags & _TG_OBF_ATTRS_OK);
}

static tg_obj *new_instance_like(tg_obj *o)
{
    return tg_object_new(_tg_kind_of(o) == _TG_K_USER ? (tg_type *)o->ob_type : NULL);
}

static TG_COLD tg_obj *cannot_copy(tg_obj *o, const char *fn)
{
    _tg_err_set(TG_ERR_TYPE, "%s: cannot copy '%s' object", fn, o->ob_type->name);
    return NULL;
}

TG_API tg_obj *tg_copy(tg_obj *o)
{
    if (!o) { _tg_err_set(TG_ERR_VALUE, "tg_copy: NULL argument"); return NULL; }
    if (o->ob_type->flags & _TG_TPF_IMMUTABLE || _tg_kind_of(o) == _TG_K_WEAKREF)
        return _tg_newref(o);
    switch (_tg_kind_of(o)) {
    case _TG_K_LIST: {
        tg_obj *l = tg_list_new(tg_list_len(o));
        if (l && tg_list_extend(l, o) < 0) { tg_decref(l); return NULL; }
        return l;
    }
    case _TG_K_DICT: {
        tg_obj *d = tg_dict_new(), *k, *v;
        size_t pos = 0;
        if (!d) return NULL;
        while (tg_dict_next(o, &pos, &k, &v) == 1) {
            int r = tg_dict_set(d, k, v);
            tg_decref(k); tg_decref(v);
            if (r < 0) { tg_decref(d); return NULL; }
        }
        return d;
    }
    default:
        if (!copyable_instance(o)) return cannot_copy(o, "tg_copy");
        tg_obj *n = new_instance_like(o);
        if (!n) return NULL;
        _tg_inst *src = (_tg_inst *)o, *dst = (_tg_inst *)n;
        _tg_dkeys *k = src->attrs;
        for (size_t i = 0; k && i < k->nentries; i++) {
            _tg_dentry *e = &_tg_dk_entries(k)[i];
            if (e->key && _tg_dk_set(&dst->attrs, &dst->nattrs, e->key, e->hash, e->value) < 0) {
                tg_decref(n);
                return NULL;
            }
        }
        return n;
    }
}

/* -------------------------------------------------------------- deepcopy */

static tg_obj *deep(tg_obj *o, memo *m, int depth);

static tg_obj *deep_list(tg_obj *o, memo *m, int depth)
{
    tg_obj *l = tg_list_new(tg_list_len(o));
    if (!l || memo_put(m, o, l) < 0) { tg_xdecref(l); return NULL; }
    /* src may change length under a copy (a finalizer, another thread):
       read it through tg_list_get, which is safe against both */
    for (size_t i = 0; i < tg_list_len(o); i++) {
        tg_obj *x = tg_list_get(o, (ptrdiff_t)i);
        if (!x) { tg_error_clear(); break; }   /* shrank since the length check */
        tg_obj *c = deep(x, m, depth + 1);
        tg_decref(x);
        if (!c || tg_list_append(l, c) < 0) { tg_xdecref(c); tg_decref(l); return NULL; }
        tg_decref(c);
    }
    return l;
}

static int deep_entries(_tg_dkeys *k, memo *m, int depth, _tg_dkeys **dk, size_t *used)
{
    for (size_t i = 0; k && i < k->nentries; i++) {
        _tg_dentry *e = &_tg_dk_entries(k)[i];
        if (!e->key) continue;
        tg_obj *ck = deep(e->key, m, depth + 1);
        if (!ck) return -1;
        tg_obj *cv = deep(e->value, m, depth + 1);
        if (!cv) { tg_decref(ck); return -1; }
        int64_t h = ck == e->key ? e->hash : tg_hash(ck);
        int r = h == -1 ? -1 : _tg_dk_set(dk, used, ck, h, cv);
        tg_decref(ck);
        tg_decref(cv);
        if (r < 0) return -1;
    }
    return 0;
}

static tg_obj *deep_dict(tg_obj *o, memo *m, int depth)
{
    tg_obj *d = tg_dict_new();
    if (!d || memo_put(m, o, d) < 0) { tg_xdecref(d); return NULL; }
    _tg_dict *dd = (_tg_dict *)d;
    if (deep_entries(((_tg_dict *)o)->keys, m, depth, &dd->keys, &dd->used) < 0) {
        tg_decref(d);
        return NULL;
    }
    return d;
}

static tg_obj *deep_tuple(tg_obj *o, memo *m, int depth)
{
    _tg_tuple *t = (_tg_tuple *)o;
    tg_obj *small[16];
    tg_obj **items = t->n <= 16 ? small : malloc(t->n * sizeof(tg_obj *));
    if (!items) { _tg_err_nomem(); return NULL; }
    size_t done = 0;
    bool same = true;
    tg_obj *r = NULL;
    for (; done < t->n; done++) {
        items[done] = deep(t->items[done], m, depth + 1);
        if (!items[done]) goto out;
        same &= items[done] == t->items[done];
    }
    /* A cycle through this tuple may have copied it already. */
    if ((r = memo_get(m, o))) { r = _tg_newref(r); goto out; }
    if (same) { r = _tg_newref(o); goto out; }
    r = tg_tuple_from_array(t->n, items);
    if (r && memo_put(m, o, r) < 0) { tg_decref(r); r = NULL; }
out:
    for (size_t i = 0; i < done; i++) tg_decref(items[i]);
    if (items != small) free(items);
    return r;
}

static tg_obj *deep_instance(tg_obj *o, memo *m, int depth)
{
    tg_obj *n = new_instance_like(o);
    if (!n || memo_put(m, o, n) < 0) { tg_xdecref(n); return NULL; }
    _tg_inst *dst = (_tg_inst *)n;
    if (deep_entries(((_tg_inst *)o)->attrs, m, depth, &dst->attrs, &dst->nattrs) < 0) {
        tg_decref(n);
        return NULL;
    }
    return n;
}

static tg_obj *deep(tg_obj *o, memo *m, int depth)
{
    if (o->ob_type->flags & _TG_TPF_IMMUTABLE && _tg_kind_of(o) != _TG_K_TUPLE)
        return _tg_newref(o);
    if (_tg_kind_of(o) == _TG_K_WEAKREF) return _tg_newref(o);
    tg_obj *c = memo_get(m, o);
    if (c) return _tg_newref(c);
    if (depth > _TG_RECURSION_LIMIT) {
        _tg_err_set(TG_ERR_OVERFLOW, "tg_deepcopy: maximum recursion depth exceeded");
        return NULL;
    }
    switch (_tg_kind_of(o)) {
    case _TG_K_LIST:  return deep_list(o, m, depth);
    case _TG_K_DICT:  return deep_dict(o, m, depth);
    case _TG_K_TUPLE: return deep_tuple(o, m, depth);
    default:
        if (!copyable_instance(o)) return cannot_copy(o, "tg_deepcopy");
        return deep_instance(o, m, depth);
    }
}

TG_API tg_obj *tg_deepcopy(tg_obj *o)
{
    if (!o) { _tg_err_set(TG_ERR_VALUE, "tg_deepcopy: NULL argument"); return NULL; }
    memo m = {0};
    tg_obj *r = deep(o, &m, 0);
    _tg_ptrmap_free(&m);
    return r;
}
