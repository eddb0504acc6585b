/*
 * runtime/internal.h — the object core's internal interface: type objects,
 * object layouts, allocation and deallocation, thread state, errors.
 *
 * Glossary
 *   tg_obj        the 32-byte header every object starts with (tangle/object.h)
 *   _tg_gchead    16 bytes in front of every container, owned by the collector
 *   tg_type       a type object: immortal; built-in types are static
 *   _tg_tstate    one per attached thread: errors, free lists, trashcan, breaker
 *
 * Cross-file internals are _tg_<module>_..., listed under the file defining them.
 */
#ifndef TG_RUNTIME_INTERNAL_H
#define TG_RUNTIME_INTERNAL_H

#if !defined(TG_BUILDING_LIBRARY) && !defined(TG_INTERNAL_CLIENT)
#error "runtime/internal.h is internal to libtangle; include <tangle.h>"
#endif

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tangle.h"
#include "runtime/config.h"

#ifndef TG_DEBUG
#define TG_DEBUG 0
#endif

#define TG_NOINLINE __attribute__((noinline))
#define TG_COLD __attribute__((cold, noinline))
#define TG_INTERNAL __attribute__((visibility("hidden")))

/* ------------------------------------------------------------------ debug */

TG_COLD _Noreturn void _tg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
TG_COLD _Noreturn void _tg_fatal_obj(const tg_obj *o, const char *what);
#define TG_ASSERT_LEVEL(lvl, cond) \
    do { if (TG_DEBUG >= (lvl) && !(cond)) \
        _tg_fatal("%s:%d: assertion failed: %s", __FILE__, __LINE__, #cond); } while (0)
#define TG_ASSERT(cond)  TG_ASSERT_LEVEL(1, cond)   /* cheap */
#define TG_ASSERT2(cond) TG_ASSERT_LEVEL(2, cond)   /* internal */

/* ------------------------------------------------------------------ types */

/* Internal type flags, above the public TG_TYPE_* bits. */
enum {
    _TG_TPF_BUILTIN     = 1u << 8,
    _TG_TPF_WEAKREFABLE = 1u << 9,
    _TG_TPF_INSTANCE    = 1u << 10,  /* layout _tg_inst: attrs + weaklist + payload */
    _TG_TPF_IMMUTABLE   = 1u << 11,  /* copy/deepcopy return the object itself */
    _TG_TPF_GCHEAD      = 1u << 12,  /* instances have a gc head (may be tracked) */
};
/* Container types: tracked by the collector, with a gc head. Instance types
   all have a gc head; only those with TG_TYPE_GC (or created by
   tg_object_new) are tracked. */
#define _TG_GC_FLAGS (TG_TYPE_GC | _TG_TPF_GCHEAD)

typedef enum {
    _TG_K_NONE, _TG_K_BOOL, _TG_K_INT, _TG_K_FLOAT, _TG_K_STR, _TG_K_BYTES,
    _TG_K_TUPLE, _TG_K_LIST, _TG_K_DICT, _TG_K_OBJECT, _TG_K_CAPSULE,
    _TG_K_WEAKREF, _TG_K_TYPE, _TG_K_USER
} _tg_kind;

struct tg_type {
    tg_obj       ob_base;             /* immortal */
    const char  *name;
    size_t       basicsize;           /* bytes of one instance, header included, gc head excluded */
    unsigned     flags;               /* TG_TYPE_* | _TG_TPF_* */
    _tg_kind     kind;
    /* the slots of tg_type_spec; for instance types, traverse and clear
       also cover the attributes and call user_traverse/user_clear */
    int   (*traverse)(tg_obj *self, tg_visitproc visit, void *arg);
    void  (*clear)(tg_obj *self);
    void  (*finalize)(tg_obj *self);
    void  (*dealloc)(tg_obj *self);
    int64_t (*hash)(tg_obj *self);
    int   (*eq)(tg_obj *self, tg_obj *other);
    /* internal slots */
    void  (*destroy)(tg_obj *self);            /* drop references, free buffers (not the object); NULL: nothing */
    size_t (*size_of)(const tg_obj *self);     /* tg_sizeof, gc head excluded */
    void  (*release)(tg_obj *self);            /* return the memory (free list); NULL: _tg_obj_free */
    int   (*user_traverse)(tg_obj *self, tg_visitproc visit, void *arg);
    void  (*user_clear)(tg_obj *self);
    char  *owned_name;                         /* embedder types: copy of spec->name */
    struct tg_type *next_user;                 /* embedder types: the registry list */
};

/* Has a gc head (the memory layout), not "is tracked". */
static inline bool _tg_type_is_gc(const tg_type *t) { return (t->flags & _TG_TPF_GCHEAD) != 0; }
static inline bool _tg_is_gc(const tg_obj *o) { return _tg_type_is_gc(o->ob_type); }
static inline _tg_kind _tg_kind_of(const tg_obj *o) { return o->ob_type->kind; }

extern TG_INTERNAL tg_type _tg_none_type, _tg_bool_type, _tg_int_type, _tg_float_type,
    _tg_str_type, _tg_bytes_type, _tg_tuple_type, _tg_list_type, _tg_dict_type,
    _tg_object_type, _tg_capsule_type, _tg_weakref_type, _tg_type_type;

/* Checks used by every public entry point: set TG_ERR_TYPE and fail. */
#define TG_CHECK_KIND(o, k, fail)                                         \
    do { if (TG_UNLIKELY((o) == NULL || _tg_kind_of(o) != (k))) {          \
        _tg_err_wrong_type((o), #k); return fail; } } while (0)

/* ---------------------------------------------------------------- objects */

/* Object flags (ob_flags). */
enum {
    _TG_OBF_INTERNED  = 1u << 0,   /* str: in the intern table */
    _TG_OBF_STATIC    = 1u << 1,   /* lives in static storage: never freed */
    _TG_OBF_FINALIZED = 1u << 2,   /* PEP 442 finalizer has run */
    _TG_OBF_DEAD      = 1u << 3,   /* debug: memory released (poisoned header) */
    _TG_OBF_WEAKLIST  = 1u << 4,   /* has had weakrefs (weaklist may be non-empty) */
    _TG_OBF_ATTRS_OK  = 1u << 5,   /* instance may hold attributes (created by tg_object_new or GC type) */
};

typedef struct _tg_freelist { tg_obj *head; int n; } _tg_freelist;

/* The collector's 16 bytes in front of each container. The collector documents
   how it reuses the fields during a collection (gc/gc_internal.h). */
typedef struct _tg_gchead {
    uintptr_t gc_next;
    uintptr_t gc_prev;
} _tg_gchead;

static inline _tg_gchead *_tg_as_gc(const tg_obj *o) { return (_tg_gchead *)o - 1; }
static inline tg_obj *_tg_from_gc(_tg_gchead *g) { return (tg_obj *)(g + 1); }

/* Allocate an object of `size` bytes (header included; a gc head is added in
   front for GC types), with one reference owned by the calling thread. Not
   tracked yet: constructors call _tg_gc_track once the object is consistent.
   NULL + TG_ERR_NOMEM on failure. */
TG_INTERNAL tg_obj *_tg_obj_alloc(const tg_type *t, size_t size);
/* Free lists: _tg_obj_recycle puts a destroyed object on a free list (false if
   full); _tg_obj_reuse takes one back as a fresh object with one reference. */
TG_INTERNAL bool _tg_obj_recycle(tg_obj *o, _tg_freelist *fl, int max);
TG_INTERNAL tg_obj *_tg_obj_reuse(_tg_freelist *fl);
/* Release the memory of an object whose references are gone (no destroy). */
TG_INTERNAL void _tg_obj_free(tg_obj *o);
/* Called when the last reference goes: finalize (once), clear weakrefs, untrack,
   destroy, free. Deep structures are released iteratively (trashcan). */
TG_INTERNAL void _tg_dealloc(tg_obj *o);
/* Make a statically allocated or runtime-lifetime object immortal. */
TG_INTERNAL void _tg_obj_init_immortal(tg_obj *o, const tg_type *t);
static inline bool _tg_is_immortal(const tg_obj *o)
{
    return __atomic_load_n(&o->ob_ref_local, __ATOMIC_RELAXED) == _TG_IMMORTAL_LOCAL;
}
static inline tg_obj *_tg_newref(tg_obj *o) { tg_incref(o); return o; }
static inline void _tg_setref(tg_obj **slot, tg_obj *v) /* v already a new ref */
{
    tg_obj *old = *slot; *slot = v; tg_xdecref(old);
}
/* Run an object's PEP 442 finalizer if it has one that has not run. Returns 1
   if the object was resurrected (its count is above zero afterwards). */
TG_INTERNAL int _tg_obj_finalize(tg_obj *o);

/* ---------------------------------------------------------------- layouts */

typedef struct { tg_obj base; int64_t value; } _tg_int;
typedef struct { tg_obj base; double value; } _tg_float;
typedef struct {
    tg_obj  base;
    int64_t hash;           /* -1 until computed (relaxed atomic) */
    size_t  nbytes;
    size_t  nchars;
    char    data[];         /* nbytes + NUL */
} _tg_str;
typedef _tg_str _tg_bytes;  /* same layout; nchars = nbytes */
typedef struct { tg_obj base; size_t n; tg_obj *items[]; } _tg_tuple;

/* A list's item array. In free-threaded mode it is replaced (not resized in
   place) when it grows, so that lock-free readers always see a consistent
   cap — except inside its owner's biased section (sync/bias.c), where no
   reader can be looking. Slots in [len, cap) are NULL in that mode. */
typedef struct _tg_items { size_t cap; tg_obj *item[]; } _tg_items;
typedef struct { tg_obj base; size_t len; _tg_items *items; } _tg_list;

/* Dict storage: a compact, insertion-ordered table (docs/architecture.md). */
typedef struct _tg_dentry { int64_t hash; tg_obj *key; tg_obj *value; } _tg_dentry;
typedef struct _tg_dkeys {
    uint8_t  log2_size;     /* index slots = 1 << log2_size */
    uint8_t  ixbytes;       /* 1, 2, 4 or 8 bytes per index slot */
    size_t   usable;        /* entries that fit before a resize */
    size_t   nentries;      /* entries used, deleted ones included */
    /* indices (ixbytes << log2_size bytes), then _tg_dentry[usable] */
    char     indices[];
} _tg_dkeys;
typedef struct { tg_obj base; size_t used; _tg_dkeys *keys; } _tg_dict;

/* Generic objects and embedder-type instances: attributes + weakrefs + payload. */
typedef struct _tg_inst {
    tg_obj     base;
    _tg_dkeys *attrs;       /* NULL until the first attribute */
    size_t     nattrs;
    tg_obj    *weaklist;    /* first weakref to this object, or NULL */
    uint64_t   _pad;        /* payload is 16-byte aligned */
} _tg_inst;
typedef struct {
    tg_obj  base;
    void   *ptr;
    void  (*destructor)(void *);
    tg_obj *weaklist;
} _tg_capsule;
typedef struct _tg_weakref {
    tg_obj        base;
    tg_obj       *target;   /* not a reference; NULL once the target died */
    tg_weakref_cb callback;
    void         *arg;
    tg_obj       *next;     /* in the target's list */
    tg_obj       *prev;
} _tg_weakref;

/* The weaklist slot of a weakrefable object, or NULL. */
TG_INTERNAL tg_obj **_tg_weaklist_slot(tg_obj *o);
/* runtime/weakref.c: detach every weakref to o (each reads None from then on)
   without running callbacks; those with a callback are pushed, with a new
   reference, on *pending (linked through _tg_weakref.next) for the caller to
   run later (the collector queues them until the garbage is cleared). */
TG_INTERNAL void _tg_weakrefs_detach(tg_obj *o, tg_obj **pending);

/* ---------------------------------------------------------------- dict core
   Shared by dicts and instance attributes: operate on (keys, used). */
TG_INTERNAL int     _tg_dk_set(_tg_dkeys **kp, size_t *used, tg_obj *key, int64_t hash, tg_obj *value);
/* kp: the owner's table slot, so that a lookup whose comparison replaced the
   table (an embedder's eq may mutate the owner) starts over on the new one. */
TG_INTERNAL tg_obj *_tg_dk_get(_tg_dkeys *const *kp, tg_obj *key, int64_t hash, int *err); /* borrowed */
TG_INTERNAL int     _tg_dk_del(_tg_dkeys **kp, size_t *used, tg_obj *key, int64_t hash); /* 1 deleted, 0 absent, -1 */
TG_INTERNAL void    _tg_dk_free(_tg_dkeys *k);   /* drops every reference, frees the table */
TG_INTERNAL _tg_dentry *_tg_dk_entries(_tg_dkeys *k);
TG_INTERNAL size_t  _tg_dk_sizeof(const _tg_dkeys *k);
TG_INTERNAL int     _tg_dk_traverse(_tg_dkeys *k, tg_visitproc visit, void *arg);

/* ----------------------------------------------------------------- errors */

TG_INTERNAL void _tg_err_set(tg_errcode code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
TG_INTERNAL void _tg_err_nomem(void);
TG_INTERNAL void _tg_err_wrong_type(const tg_obj *o, const char *expected);

/* ----------------------------------------------------------- thread state */

/* Eval-breaker bits (docs/threads.md): one word per thread, one load at safepoints. */
enum {
    _TG_EB_GIL_DROP   = 1u << 0,   /* another thread wants the GIL */
    _TG_EB_STW        = 1u << 1,   /* stop the world requested */
    _TG_EB_GC         = 1u << 2,   /* an automatic collection is due */
    _TG_EB_MERGE_RC   = 1u << 3,   /* biased counts queued to this thread */
    _TG_EB_CHAOS      = 1u << 4,
    _TG_EB_QSBR       = 1u << 5,   /* a grace period waits for this thread's quiescent state */
};

typedef struct _tg_tstate {
    uintptr_t          tid;            /* the id objects carry in ob_tid */
    _Atomic uintptr_t  eval_breaker;
    _Atomic int        status;         /* _TG_TS_* (sync/) */
    struct _tg_tstate *next, *prev;    /* the runtime's registry */
    pthread_t          thread;
    /* trashcan: deferred deallocations of deep structures */
    int                dealloc_depth;
    tg_obj            *trash;
    /* live-object accounting: summed by tg_live_objects, never a shared counter */
    int64_t            live_delta;
    /* free lists of the hot types */
    _tg_freelist       fl_list, fl_dict, fl_float;
    _tg_freelist       fl_tuple[_TG_TUPLE_FREELIST_SIZES];
    /* owned by other modules */
    void              *alloc_heap;     /* alloc/ */
    void              *gc_state;       /* gc/ */
    void              *sync_state;     /* sync/ */
    tg_critical_section *critical_section;  /* innermost, free-threaded mode */
    int                gc_count_delta; /* tracked allocations minus deallocations since last sum */
    struct _tg_ft_tstate *ft;          /* free-threaded mode (runtime/brc.c); NULL in GIL mode */
} _tg_tstate;

enum { _TG_TS_DETACHED = 0, _TG_TS_ATTACHED = 1, _TG_TS_SUSPENDED = 2 };

extern TG_API _Thread_local _tg_tstate *_tg_tls_ts TG_TLS_IE;
static inline _tg_tstate *_tg_ts(void) { return _tg_tls_ts; }

/* The runtime (one per process). The fields up to obj_lock_birth are
   written only by tg_init and tg_fini; mode and rc are read on every call
   (_tg_ft(), the refcount paths), obj_lock_birth for every new object. The
   registry is written at every attach and detach and by every stop of the
   world (its lock): it starts a line of its own, or each of those writes
   would take the mode's line from every thread's cache (they shared one). */
typedef struct _tg_runtime {
    _Atomic int   initialized;
    tg_config     config;
    tg_mode       mode;
    tg_rc_kind    rc;
    uint8_t       obj_lock_birth;       /* ob_mutex of a new object (sync/bias.c) */
    _Alignas(128) pthread_mutex_t registry_lock;   /* tstate list, retired counters */
    _tg_tstate   *threads;              /* attached (and suspended) threads */
    size_t        nthreads;
    uintptr_t     next_tid;
    int64_t       live_retired;         /* live_delta of threads that detached */
    size_t        live_at_fini;
} _tg_runtime;
extern TG_INTERNAL _tg_runtime _tg_rt;

/* Safepoints (sync/safepoint.c, docs/threads.md). Every runtime call that can
   allocate, and tg_safepoint(), calls _tg_safepoint_check: the fast path is one
   relaxed load of the calling thread's eval-breaker word (a stale zero only
   delays the request to the next safepoint); any bit set takes the slow path,
   which may drop the GIL or park for a stop-the-world. */
TG_INTERNAL void _tg_safepoint_slow(_tg_tstate *ts);
static inline void _tg_safepoint_check(void)
{
    _tg_tstate *ts = _tg_tls_ts;
    if (TG_UNLIKELY(atomic_load_explicit(&ts->eval_breaker, memory_order_relaxed) != 0))
        _tg_safepoint_slow(ts);
}

TG_INTERNAL _tg_tstate *_tg_tstate_new(void);
TG_INTERNAL void _tg_tstate_flush(_tg_tstate *ts);   /* free lists, pending trash */

/* Module life cycle hooks, called by tg_init/tg_fini in this order. */
TG_INTERNAL int  _tg_types_init(void);      /* runtime/: immortals, interning */
TG_INTERNAL void _tg_types_fini(void);
TG_INTERNAL int  _tg_gc_init(void);         /* gc/ */
TG_INTERNAL void _tg_gc_fini(void);

/* ---------------------------------------------------------- gc interface */

TG_INTERNAL void _tg_gc_track(tg_obj *o);
/* false: o is on another thread's young list (free-threaded mode); the
   caller destroys it and then hands it to _tg_gc_free_deferred instead of
   freeing it (the list's owner unlinks and frees it; gc/gc_internal.h). */
TG_INTERNAL bool _tg_gc_untrack(tg_obj *o);
TG_INTERNAL void _tg_gc_free_deferred(tg_obj *o);
TG_INTERNAL bool _tg_gc_untrack_is_local(const tg_obj *o);   /* untrack would return true */
TG_INTERNAL void _tg_gc_thread_fini(_tg_tstate *ts);        /* runtime/tstate.c, detaching */
TG_INTERNAL bool _tg_gc_is_tracked(const tg_obj *o);
/* Called after a tracked-type allocation: may run an automatic collection. */
TG_INTERNAL void _tg_gc_on_alloc(void);
TG_INTERNAL void _tg_gc_on_dealloc(void);

/* ------------------------------------------------------- free-list helpers */

static inline tg_obj *_tg_freelist_pop(_tg_freelist *fl)
{
    tg_obj *o = fl->head;
    if (o) { fl->head = *(tg_obj **)(o + 1); fl->n--; }
    return o;
}
static inline bool _tg_freelist_push(_tg_freelist *fl, tg_obj *o, int max)
{
    if (fl->n >= max) return false;
    *(tg_obj **)(o + 1) = fl->head; fl->head = o; fl->n++;
    return true;
}

/* ------------------------------------------------- biased counts (brc.c)
   ob_ref_shared = count << 2 | state (docs/free-threading.md). */
enum {
    _TG_REF_BIASED = 0,    /* owner's local count + others' shared count */
    _TG_REF_HOT    = 1,    /* contended: count >> 2 is an index into the hot table; others count per thread */
    _TG_REF_QUEUED = 2,    /* queued to the owner for a merge (the queue holds one reference) */
    _TG_REF_MERGED = 3,    /* shared count only (ob_tid == _TG_TID_SHARED, local 0) */
};
static inline bool _tg_ft(void) { return _tg_rt.mode == TG_MODE_FREE_THREADED; }
/* The object's total count; exact only when the world is stopped (hot
   objects: after _tg_ft_stw_merge folded the per-thread counts). */
TG_INTERNAL intptr_t _tg_ft_count(const tg_obj *o);
/* Hold a temporary reference around a finalizer / weakref callbacks of an
   object whose count reached zero; end returns true if it was resurrected. */
TG_INTERNAL void _tg_resurrect_begin(tg_obj *o);
TG_INTERNAL bool _tg_resurrect_end(tg_obj *o);
/* Thread life cycle (free-threaded mode), called by runtime/tstate.c. */
TG_INTERNAL int  _tg_ft_thread_init(_tg_tstate *ts);
TG_INTERNAL void _tg_ft_thread_fini(_tg_tstate *ts);
/* Merge the calling thread's queue (its safepoint). */
TG_INTERNAL void _tg_ft_merge_own(_tg_tstate *ts);
/* World stopped by the caller: merge every queue, fold per-thread counts of
   hot objects. Objects found dead are kept (one reference) for
   _tg_ft_stw_release, which runs after the restart. */
TG_INTERNAL void _tg_ft_stw_merge(void);
TG_INTERNAL void _tg_ft_stw_release(void);
/* Lock-free reads: take a reference unless the object is dying. The
   immortal and owner cases inline; the shared count's CAS loop out of
   line (runtime/brc.c). */
TG_INTERNAL bool _tg_try_incref_shared(tg_obj *o);
static inline bool _tg_try_incref_fast(tg_obj *o)
{
    uint32_t local = __atomic_load_n(&o->ob_ref_local, __ATOMIC_RELAXED);
    if (local == _TG_IMMORTAL_LOCAL) return true;
    if (__atomic_load_n(&o->ob_tid, __ATOMIC_RELAXED) != _tg_tls_tid) return _tg_try_incref_shared(o);
    if (local == 0) return false;            /* the owner's count ran out: dying */
    __atomic_store_n(&o->ob_ref_local, local + 1, __ATOMIC_RELAXED);
    return true;
}
/* QSBR (sync/qsbr.c): retire a block / defer a decref until no reader can
   hold it. Free-threaded mode only. */
TG_INTERNAL void _tg_qsbr_retire(void *mem);
TG_INTERNAL void _tg_qsbr_defer_decref(tg_obj *o);
TG_INTERNAL void _tg_qsbr_quiescent(_tg_tstate *ts);     /* EB bit: announce a quiescent state */

/* ---------------------------------------------------------- ptrmap.c
   Object address -> word (the memo of deepcopy and marshal). */
typedef struct { const void *key; uintptr_t val; } _tg_ptrmap_slot;
typedef struct { _tg_ptrmap_slot *tab; size_t cap, used; } _tg_ptrmap;
TG_INTERNAL bool _tg_ptrmap_get(const _tg_ptrmap *m, const void *key, uintptr_t *val);
TG_INTERNAL int  _tg_ptrmap_put(_tg_ptrmap *m, const void *key, uintptr_t val);   /* -1: TG_ERR_NOMEM */
TG_INTERNAL void _tg_ptrmap_free(_tg_ptrmap *m);

/* ------------------------------------------------------------------ misc */

TG_INTERNAL int64_t _tg_hash_bytes(const void *p, size_t n);
TG_INTERNAL tg_obj *_tg_str_from_valid(const char *utf8, size_t nbytes, size_t nchars);
TG_INTERNAL bool    _tg_utf8_check(const char *s, size_t n, size_t *nchars);
TG_INTERNAL tg_obj *_tg_small_int(int64_t v);  /* NULL outside -5..256 */

#endif
