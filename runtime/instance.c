/*
 * runtime/instance.c — generic attribute objects (tg_object_new), embedder
 * type instances (tg_new), and capsules.
 *
 * An instance is one block: [gc head][tg_obj][attrs, nattrs, weaklist][payload].
 * Its attribute table (interned str keys) belongs to it, so the collector sees
 * one object. Instances of TG_TYPE_GC types and every tg_object_new object are
 * tracked; a tg_new object of a type without TG_TYPE_GC holds no attributes.
 */
#include "runtime/internal.h"

int  _tg_inst_traverse(tg_obj *o, tg_visitproc visit, void *arg);
void _tg_inst_clear(tg_obj *o);
void _tg_inst_destroy(tg_obj *o);
size_t _tg_inst_sizeof(const tg_obj *o);

tg_type _tg_object_type = {
    .name = "object", .basicsize = sizeof(_tg_inst), .kind = _TG_K_OBJECT,
    .flags = _TG_GC_FLAGS | _TG_TPF_BUILTIN | _TG_TPF_WEAKREFABLE | _TG_TPF_INSTANCE,
    .traverse = _tg_inst_traverse, .clear = _tg_inst_clear,
    .destroy = _tg_inst_destroy, .size_of = _tg_inst_sizeof,
};

int _tg_inst_traverse(tg_obj *o, tg_visitproc visit, void *arg)
{
    _tg_inst *in = (_tg_inst *)o;
    int r = _tg_dk_traverse(in->attrs, visit, arg);
    if (!r && o->ob_type->user_traverse) r = o->ob_type->user_traverse(o, visit, arg);
    return r;
}

/* Drop every reference (collector's clear): the embedder's, then the attributes. */
void _tg_inst_clear(tg_obj *o)
{
    _tg_inst *in = (_tg_inst *)o;
    if (o->ob_type->user_clear) o->ob_type->user_clear(o);
    _tg_dkeys *k = in->attrs;
    in->attrs = NULL;
    in->nattrs = 0;
    _tg_dk_free(k);
}

void _tg_inst_destroy(tg_obj *o)
{
    const tg_type *t = o->ob_type;
    _tg_inst_clear(o);
    if (t->dealloc) t->dealloc(o);
}

size_t _tg_inst_sizeof(const tg_obj *o)
{
    return o->ob_type->basicsize + _tg_dk_sizeof(((const _tg_inst *)o)->attrs);
}

tg_obj *_tg_inst_new(const tg_type *t)
{
    tg_obj *o = _tg_obj_alloc(t, t->basicsize);
    if (!o) return NULL;
    memset((char *)o + sizeof(tg_obj), 0, t->basicsize - sizeof(tg_obj));
    if (t->flags & TG_TYPE_GC) {
        o->ob_flags |= _TG_OBF_ATTRS_OK;
        _tg_gc_track(o);
        _tg_gc_on_alloc();
    }
    return o;
}

TG_API tg_obj *tg_object_new(tg_type *type)
{
    const tg_type *t = type ? type : &_tg_object_type;
    if (type && type->kind != _TG_K_USER) {
        _tg_err_set(TG_ERR_TYPE, "tg_object_new: not an embedder-defined type");
        return NULL;
    }
    tg_obj *o = _tg_obj_alloc(t, t->basicsize);
    if (!o) return NULL;
    memset((char *)o + sizeof(tg_obj), 0, t->basicsize - sizeof(tg_obj));
    o->ob_flags |= _TG_OBF_ATTRS_OK;
    _tg_gc_track(o);
    _tg_gc_on_alloc();
    return o;
}

static _tg_inst *attr_owner(tg_obj *o, const char *name, const char *fn)
{
    if (!o || !(o->ob_type->flags & _TG_TPF_INSTANCE) || !(o->ob_flags & _TG_OBF_ATTRS_OK)) {
        _tg_err_set(TG_ERR_TYPE, "%s: '%s' objects have no attributes", fn, o ? o->ob_type->name : "NULL");
        return NULL;
    }
    if (!name || !*name) {
        _tg_err_set(TG_ERR_VALUE, "%s: empty attribute name", fn);
        return NULL;
    }
    return (_tg_inst *)o;
}

TG_API int tg_setattr(tg_obj *o, const char *name, tg_obj *value)
{
    _tg_inst *in = attr_owner(o, name, "tg_setattr");
    if (!in) return -1;
    if (!value) { _tg_err_set(TG_ERR_VALUE, "tg_setattr: NULL value"); return -1; }
    tg_obj *key = tg_str_intern(name);
    if (!key) return -1;
    /* free-threaded mode: under the instance's own lock */
    tg_critical_section cs;
    if (_tg_ft()) _tg_cs_begin(&cs, o, NULL);
    int r = _tg_dk_set(&in->attrs, &in->nattrs, key, tg_hash(key), value);
    if (_tg_ft()) _tg_cs_end(&cs);
    return r;
}

TG_API tg_obj *tg_getattr(tg_obj *o, const char *name)
{
    _tg_inst *in = attr_owner(o, name, "tg_getattr");
    if (!in) return NULL;
    tg_obj *key = tg_str_intern(name);
    if (!key) return NULL;
    int err = 0;
    tg_critical_section cs;
    if (_tg_ft()) _tg_cs_begin(&cs, o, NULL);
    tg_obj *v = _tg_dk_get(&in->attrs, key, tg_hash(key), &err);
    if (v) tg_incref(v);
    if (_tg_ft()) _tg_cs_end(&cs);
    if (v) return v;
    if (!err) _tg_err_set(TG_ERR_KEY, "'%s' object has no attribute '%s'", o->ob_type->name, name);
    return NULL;
}

TG_API int tg_delattr(tg_obj *o, const char *name)
{
    _tg_inst *in = attr_owner(o, name, "tg_delattr");
    if (!in) return -1;
    tg_obj *key = tg_str_intern(name);
    if (!key) return -1;
    tg_critical_section cs;
    if (_tg_ft()) _tg_cs_begin(&cs, o, NULL);
    int r = _tg_dk_del(&in->attrs, &in->nattrs, key, tg_hash(key));
    if (_tg_ft()) _tg_cs_end(&cs);
    if (r == 0) {
        _tg_err_set(TG_ERR_KEY, "'%s' object has no attribute '%s'", o->ob_type->name, name);
        return -1;
    }
    return r < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- capsule */

static void capsule_destroy(tg_obj *o)
{
    _tg_capsule *c = (_tg_capsule *)o;
    if (c->destructor) c->destructor(c->ptr);
}

tg_type _tg_capsule_type = {
    .name = "capsule", .basicsize = sizeof(_tg_capsule), .kind = _TG_K_CAPSULE,
    .flags = _TG_TPF_BUILTIN | _TG_TPF_WEAKREFABLE, .destroy = capsule_destroy,
};

TG_API tg_obj *tg_capsule(void *ptr, void (*destructor)(void *ptr))
{
    _tg_capsule *c = (_tg_capsule *)_tg_obj_alloc(&_tg_capsule_type, sizeof(_tg_capsule));
    if (!c) return NULL;
    c->ptr = ptr;
    c->destructor = destructor;
    c->weaklist = NULL;
    return &c->base;
}

TG_API void *tg_capsule_ptr(tg_obj *o)
{
    TG_CHECK_KIND(o, _TG_K_CAPSULE, NULL);
    return ((_tg_capsule *)o)->ptr;
}

tg_obj **_tg_weaklist_slot(tg_obj *o)
{
    if (o->ob_type->flags & _TG_TPF_INSTANCE) return &((_tg_inst *)o)->weaklist;
    if (_tg_kind_of(o) == _TG_K_CAPSULE) return &((_tg_capsule *)o)->weaklist;
    return NULL;
}
