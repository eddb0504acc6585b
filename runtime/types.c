/*
 * runtime/types.c — type objects: the built-in types' shared machinery,
 * embedder-defined types (tg_type_new, tg_new, tg_payload), the scalar
 * singletons (None, True, False) and the runtime immortals' life cycle.
 */
#include <pthread.h>
#include <stdio.h>
#include "runtime/internal.h"

tg_type _tg_type_type = {
    .name = "type", .basicsize = sizeof(tg_type), .kind = _TG_K_TYPE,
    .flags = _TG_TPF_BUILTIN | _TG_TPF_IMMUTABLE,
};

tg_type _tg_none_type = {
    .name = "NoneType", .basicsize = sizeof(tg_obj), .kind = _TG_K_NONE,
    .flags = _TG_TPF_BUILTIN | _TG_TPF_IMMUTABLE,
};
tg_type _tg_bool_type = {
    .name = "bool", .basicsize = sizeof(_tg_int), .kind = _TG_K_BOOL,
    .flags = _TG_TPF_BUILTIN | _TG_TPF_IMMUTABLE,
};

static tg_obj none_obj;
static _tg_int true_obj = { .value = 1 }, false_obj = { .value = 0 };

TG_API tg_obj *tg_none(void) { return &none_obj; }
TG_API tg_obj *tg_true(void) { return &true_obj.base; }
TG_API tg_obj *tg_false(void) { return &false_obj.base; }
TG_API tg_obj *tg_bool(int v) { return v ? &true_obj.base : &false_obj.base; }

TG_API const tg_type *tg_type_none(void) { return &_tg_none_type; }
TG_API const tg_type *tg_type_bool(void) { return &_tg_bool_type; }
TG_API const tg_type *tg_type_int(void) { return &_tg_int_type; }
TG_API const tg_type *tg_type_float(void) { return &_tg_float_type; }
TG_API const tg_type *tg_type_str(void) { return &_tg_str_type; }
TG_API const tg_type *tg_type_bytes(void) { return &_tg_bytes_type; }
TG_API const tg_type *tg_type_tuple(void) { return &_tg_tuple_type; }
TG_API const tg_type *tg_type_list(void) { return &_tg_list_type; }
TG_API const tg_type *tg_type_dict(void) { return &_tg_dict_type; }
TG_API const tg_type *tg_type_object(void) { return &_tg_object_type; }
TG_API const tg_type *tg_type_capsule(void) { return &_tg_capsule_type; }
TG_API const tg_type *tg_type_weakref(void) { return &_tg_weakref_type; }

/* ------------------------------------------------------- embedder types */

void _tg_inst_destroy(tg_obj *o);       /* runtime/instance.c */
int  _tg_inst_traverse(tg_obj *o, tg_visitproc visit, void *arg);
void _tg_inst_clear(tg_obj *o);
size_t _tg_inst_sizeof(const tg_obj *o);

/* Embedder types are immortal: they live until the process ends (instances
   of them are the embedder's to manage, and a type is small). The registry
   keeps them reachable, so leak checkers do not report them. */
static pthread_mutex_t user_types_lock = PTHREAD_MUTEX_INITIALIZER;
static tg_type *user_types;
TG_API tg_type *tg_type_new(const tg_type_spec *spec)
{
    if (!spec || !spec->name || !*spec->name) {
        _tg_err_set(TG_ERR_VALUE, "tg_type_new: a type needs a name");
        return NULL;
    }
    if ((spec->flags & ~(unsigned)(TG_TYPE_GC | TG_TYPE_LEGACY_DEL)) != 0) {
        _tg_err_set(TG_ERR_VALUE, "tg_type_new: unknown flags 0x%x", spec->flags);
        return NULL;
    }
    if ((spec->flags & TG_TYPE_LEGACY_DEL) && !spec->finalize) {
        _tg_err_set(TG_ERR_VALUE, "tg_type_new: TG_TYPE_LEGACY_DEL needs a finalize function");
        return NULL;
    }
    if (spec->payload_size > ((size_t)1 << 40)) {
        _tg_err_set(TG_ERR_OVERFLOW, "tg_type_new: payload_size too large");
        return NULL;
    }
    tg_type *t = calloc(1, sizeof *t);
    char *name = t ? strdup(spec->name) : NULL;
    if (!t || !name) { free(t); _tg_err_nomem(); return NULL; }
    _tg_obj_init_immortal(&t->ob_base, &_tg_type_type);
    t->ob_base.ob_flags &= (uint16_t)~_TG_OBF_STATIC;
    t->owned_name = name;
    t->name = name;
    t->basicsize = sizeof(_tg_inst) + spec->payload_size;
    t->flags = spec->flags | _TG_TPF_WEAKREFABLE | _TG_TPF_INSTANCE | _TG_TPF_GCHEAD;
    t->kind = _TG_K_USER;
    t->traverse = _tg_inst_traverse;
    t->clear = _tg_inst_clear;
    t->user_traverse = spec->traverse;
    t->user_clear = spec->clear;
    t->finalize = spec->finalize;
    t->dealloc = spec->dealloc;
    t->hash = spec->hash;
    t->eq = spec->eq;
    t->destroy = _tg_inst_destroy;
    t->size_of = _tg_inst_sizeof;
    pthread_mutex_lock(&user_types_lock);
    t->next_user = user_types;
    user_types = t;
    pthread_mutex_unlock(&user_types_lock);
    return t;
}

tg_obj *_tg_inst_new(const tg_type *t);   /* runtime/instance.c */

TG_API tg_obj *tg_new(tg_type *type)
{
    if (!type || type->kind != _TG_K_USER) {
        _tg_err_set(TG_ERR_TYPE, "tg_new: not an embedder-defined type (use tg_type_new)");
        return NULL;
    }
    return _tg_inst_new(type);
}

TG_API void *tg_payload(tg_obj *o)
{
    if (!o || !(o->ob_type->flags & _TG_TPF_INSTANCE)) {
        _tg_err_wrong_type(o, "_TG_K_USER");
        return NULL;
    }
    return (char *)o + sizeof(_tg_inst);
}

/* --------------------------------------------------------- runtime immortals */

int  _tg_int_init(void);   void _tg_int_fini(void);     /* runtime/int.c */
int  _tg_str_init(void);   void _tg_str_fini(void);     /* runtime/str.c */
void _tg_tuple_init(void);                              /* runtime/tuple.c */

static void init_static_types(void)
{
    tg_type *all[] = { &_tg_type_type, &_tg_none_type, &_tg_bool_type, &_tg_int_type,
        &_tg_float_type, &_tg_str_type, &_tg_bytes_type, &_tg_tuple_type, &_tg_list_type,
        &_tg_dict_type, &_tg_object_type, &_tg_capsule_type, &_tg_weakref_type };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        _tg_obj_init_immortal(&all[i]->ob_base, &_tg_type_type);
    _tg_obj_init_immortal(&none_obj, &_tg_none_type);
    _tg_obj_init_immortal(&true_obj.base, &_tg_bool_type);
    _tg_obj_init_immortal(&false_obj.base, &_tg_bool_type);
}

int _tg_types_init(void)
{
    init_static_types();
    _tg_tuple_init();
    if (_tg_int_init() < 0) return -1;
    if (_tg_str_init() < 0) { _tg_int_fini(); return -1; }
    return 0;
}

void _tg_types_fini(void)
{
    _tg_str_fini();
    _tg_int_fini();
}
