/*
 * tangle.h — the public API of libtangle (see API.md in the design notes and
 * docs/embedding.md).
 *
 * Conventions: every function returning tg_obj * returns a new reference (the
 * caller must tg_decref it); no argument is stolen unless the name ends in
 * _steal. On failure pointer-returning functions return NULL and int-returning
 * ones -1, and the calling thread's error (tg_error, tg_error_message) says why;
 * nothing is half-done on failure. Every call requires the calling thread to be
 * attached (tg_init attaches the initialising thread, others tg_thread_attach).
 */
#ifndef TANGLE_H
#define TANGLE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tangle/object.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TG_VERSION_MAJOR 0
#define TG_VERSION_MINOR 1
#define TG_VERSION_PATCH 0
#define TG_VERSION "0.1.0"
TG_API const char *tg_version(void);

/* ---------------------------------------------------------------- runtime */

typedef enum { TG_MODE_GIL = 0, TG_MODE_FREE_THREADED = 1 } tg_mode;
typedef enum { TG_RC_DEFAULT = 0, TG_RC_BIASED = 1, TG_RC_ATOMIC = 2 } tg_rc_kind;

typedef struct tg_config {
    tg_mode    mode;               /* default TG_MODE_GIL                        */
    tg_rc_kind refcount;           /* free-threaded only; default biased         */
    int        gc_enabled;         /* default 1                                  */
    long       gc_threshold[3];    /* default {700, 10, 10}; 0 keeps the default */
    double     switch_interval_s;  /* GIL hand-off interval; default 0.005       */
    unsigned   chaos_seed;         /* stress scheduling perturbation; 0 = off    */
} tg_config;

TG_API void    tg_config_default(tg_config *cfg);
/* NULL = defaults; the environment variable TANGLE_MODE=gil|ft overrides the
   mode. Fails with TG_ERR_STATE if already initialised. */
TG_API int     tg_init(const tg_config *cfg);
/* Finalises the runtime: every object still alive is counted (tg_live_objects)
   and its memory released. Other threads must have detached (TG_ERR_STATE). */
TG_API int     tg_fini(void);
TG_API int     tg_is_initialized(void);
TG_API tg_mode tg_current_mode(void);
TG_API tg_rc_kind tg_current_refcount(void);

TG_API int  tg_thread_attach(void);      /* takes the GIL in GIL mode */
TG_API void tg_thread_detach(void);
TG_API int  tg_thread_is_attached(void);
TG_API void tg_safepoint(void);

typedef struct tg_tstate tg_tstate;
TG_API tg_tstate *tg_release(void);
TG_API void       tg_reacquire(tg_tstate *ts);
#define TG_BEGIN_ALLOW_THREADS { tg_tstate *tg__ts = tg_release();
#define TG_END_ALLOW_THREADS   tg_reacquire(tg__ts); }

/* Objects alive now; after tg_fini, how many were still alive at fini (leaks). */
TG_API size_t tg_live_objects(void);

/* GIL statistics since tg_init (or the last reset); zero in free-threaded mode.
   See docs/threads.md for the hand-off protocol these count. */
typedef struct tg_gil_stats {
    uint64_t acquisitions;      /* times a thread took the GIL */
    uint64_t handoffs;          /* acquisitions by another thread than the last holder */
    uint64_t drop_requests;     /* a waiter's switch interval ran out: holder asked to drop */
    uint64_t forced_switches;   /* a holder dropped on request and waited for a waiter to take over */
    uint64_t waits;             /* acquisitions that had to wait */
    uint64_t wait_ns_total;     /* time from asking to holding, summed over those waits */
    uint64_t wait_ns_max;
    uint64_t handoff_ns_total;  /* drop request -> another thread holds the GIL */
    uint64_t handoff_ns_max;
} tg_gil_stats;
TG_API void tg_gil_get_stats(tg_gil_stats *out);
TG_API void tg_gil_reset_stats(void);

/* Stop the world (both modes): every other attached thread parks at its next
   safepoint and no detached thread can attach until tg_start_the_world. The
   caller must be attached, must not release/block or stop again before
   restarting. -1 with TG_ERR_STATE on misuse. For embedders that need a
   consistent snapshot, and for the stw_latency benchmark. */
TG_API int  tg_stop_the_world(void);
TG_API void tg_start_the_world(void);
typedef struct tg_stw_stats {
    uint64_t stops;             /* completed stops */
    uint64_t ns_total;          /* request -> all other threads stopped, summed */
    uint64_t ns_max;
} tg_stw_stats;
TG_API void tg_stw_get_stats(tg_stw_stats *out);

/* ----------------------------------------------------------------- errors */

typedef enum {
    TG_OK = 0, TG_ERR_NOMEM, TG_ERR_TYPE, TG_ERR_VALUE, TG_ERR_INDEX, TG_ERR_KEY,
    TG_ERR_OVERFLOW, TG_ERR_STATE, TG_ERR_OS, TG_ERR_NOT_FOUND, TG_ERR_PERMISSION,
    TG_ERR_CORRUPT
} tg_errcode;
TG_API tg_errcode  tg_error(void);
TG_API const char *tg_error_message(void);
TG_API void        tg_error_clear(void);
TG_API const char *tg_errcode_name(tg_errcode code);   /* "TG_ERR_NOMEM", ... */
/* Set the calling thread's error (for embedders' own type callbacks). */
TG_API void        tg_error_set(tg_errcode code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---------------------------------------------------------------- objects */

TG_API intptr_t       tg_refcount(const tg_obj *o);
TG_API int            tg_is_immortal(const tg_obj *o);
TG_API uintptr_t      tg_id(const tg_obj *o);
TG_API const tg_type *tg_typeof(const tg_obj *o);
TG_API const char    *tg_type_name(const tg_type *t);
TG_API size_t         tg_sizeof(const tg_obj *o);
TG_API int            tg_eq(tg_obj *a, tg_obj *b);
TG_API int64_t        tg_hash(tg_obj *o);

/* the built-in types, for comparing with tg_typeof */
TG_API const tg_type *tg_type_none(void);
TG_API const tg_type *tg_type_bool(void);
TG_API const tg_type *tg_type_int(void);
TG_API const tg_type *tg_type_float(void);
TG_API const tg_type *tg_type_str(void);
TG_API const tg_type *tg_type_bytes(void);
TG_API const tg_type *tg_type_tuple(void);
TG_API const tg_type *tg_type_list(void);
TG_API const tg_type *tg_type_dict(void);
TG_API const tg_type *tg_type_object(void);
TG_API const tg_type *tg_type_capsule(void);
TG_API const tg_type *tg_type_weakref(void);

TG_API tg_obj *tg_none(void);
TG_API tg_obj *tg_true(void);
TG_API tg_obj *tg_false(void);
TG_API tg_obj *tg_bool(int v);

TG_API tg_obj *tg_int(int64_t v);
TG_API int64_t tg_int_value(tg_obj *o);
TG_API tg_obj *tg_float(double v);
TG_API double  tg_float_value(tg_obj *o);        /* ints convert; TG_ERR_TYPE: -1.0 */

TG_API tg_obj *tg_str(const char *utf8);
TG_API tg_obj *tg_str_n(const char *utf8, size_t nbytes);
TG_API tg_obj *tg_str_const(const char *utf8);
TG_API tg_obj *tg_str_intern(const char *utf8);
TG_API int     tg_str_is_interned(tg_obj *s);
TG_API const char *tg_str_utf8(tg_obj *s, size_t *nbytes);
TG_API size_t  tg_str_len(tg_obj *s);            /* in code points */
TG_API tg_obj *tg_bytes(const void *data, size_t n);
TG_API const void *tg_bytes_data(tg_obj *b, size_t *nbytes);

TG_API tg_obj *tg_tuple(size_t n, ...);
TG_API tg_obj *tg_tuple_from_array(size_t n, tg_obj *const *items);
TG_API size_t  tg_tuple_len(tg_obj *t);
TG_API tg_obj *tg_tuple_get(tg_obj *t, ptrdiff_t i);

TG_API tg_obj *tg_list_new(size_t capacity_hint);
TG_API size_t  tg_list_len(tg_obj *l);
TG_API int     tg_list_append(tg_obj *l, tg_obj *item);
TG_API tg_obj *tg_list_get(tg_obj *l, ptrdiff_t i);
TG_API int     tg_list_set(tg_obj *l, ptrdiff_t i, tg_obj *item);
TG_API int     tg_list_insert(tg_obj *l, ptrdiff_t i, tg_obj *item);
TG_API tg_obj *tg_list_pop(tg_obj *l, ptrdiff_t i);
TG_API int     tg_list_extend(tg_obj *l, tg_obj *other);
TG_API int     tg_list_clear(tg_obj *l);

TG_API tg_obj *tg_dict_new(void);
TG_API size_t  tg_dict_len(tg_obj *d);
TG_API int     tg_dict_set(tg_obj *d, tg_obj *key, tg_obj *value);
TG_API tg_obj *tg_dict_get(tg_obj *d, tg_obj *key);
TG_API int     tg_dict_contains(tg_obj *d, tg_obj *key);   /* 1, 0, -1 */
TG_API int     tg_dict_del(tg_obj *d, tg_obj *key);
TG_API int     tg_dict_next(tg_obj *d, size_t *pos, tg_obj **key, tg_obj **value);

TG_API tg_obj *tg_copy(tg_obj *o);
TG_API tg_obj *tg_deepcopy(tg_obj *o);

/* --------------------------------------------------- embedder-defined types */

typedef int (*tg_visitproc)(tg_obj *child, void *arg);

enum { TG_TYPE_GC = 1u << 0, TG_TYPE_LEGACY_DEL = 1u << 1 };

typedef struct tg_type_spec {
    const char *name;
    size_t      payload_size;
    unsigned    flags;
    int   (*traverse)(tg_obj *self, tg_visitproc visit, void *arg);
    void  (*clear)(tg_obj *self);
    void  (*finalize)(tg_obj *self);
    void  (*dealloc)(tg_obj *self);
    int64_t (*hash)(tg_obj *self);
    int   (*eq)(tg_obj *self, tg_obj *other);
} tg_type_spec;

TG_API tg_type *tg_type_new(const tg_type_spec *spec);
TG_API tg_obj  *tg_new(tg_type *type);
TG_API void    *tg_payload(tg_obj *o);

TG_API tg_obj *tg_object_new(tg_type *type_or_null);
TG_API int     tg_setattr(tg_obj *o, const char *name, tg_obj *value);
TG_API tg_obj *tg_getattr(tg_obj *o, const char *name);
TG_API int     tg_delattr(tg_obj *o, const char *name);

TG_API tg_obj *tg_capsule(void *ptr, void (*destructor)(void *ptr));
TG_API void   *tg_capsule_ptr(tg_obj *c);

typedef void (*tg_weakref_cb)(tg_obj *weakref, void *arg);
TG_API tg_obj *tg_weakref(tg_obj *target, tg_weakref_cb callback, void *arg);
TG_API tg_obj *tg_weakref_get(tg_obj *ref);
TG_API size_t  tg_weakref_count(tg_obj *target);

/* ---------------------------------------------------------------- collector */

TG_API intptr_t tg_gc_collect(int generation);
TG_API void tg_gc_enable(void);
TG_API void tg_gc_disable(void);
TG_API int  tg_gc_isenabled(void);
TG_API void tg_gc_set_threshold(long t0, long t1, long t2);
TG_API void tg_gc_get_threshold(long out[3]);
TG_API void tg_gc_get_count(long out[3]);
TG_API int  tg_gc_is_tracked(tg_obj *o);
TG_API int  tg_gc_is_finalized(tg_obj *o);
TG_API tg_obj *tg_gc_garbage(void);
enum { TG_GC_DEBUG_STATS = 1, TG_GC_DEBUG_SAVEALL = 32 };
TG_API void tg_gc_set_debug(unsigned flags);
TG_API unsigned tg_gc_get_debug(void);
TG_API tg_obj *tg_gc_get_referrers(tg_obj *o);
TG_API tg_obj *tg_gc_get_referents(tg_obj *o);
TG_API tg_obj *tg_gc_get_objects(int generation);
TG_API void   tg_gc_freeze(void);
TG_API void   tg_gc_unfreeze(void);
TG_API size_t tg_gc_get_freeze_count(void);

typedef struct tg_gc_info {
    int generation; intptr_t collected; intptr_t uncollectable; uint64_t pause_ns;
} tg_gc_info;
enum { TG_GC_START = 0, TG_GC_STOP = 1 };
typedef void (*tg_gc_callback)(int phase, const tg_gc_info *info, void *arg);
TG_API int  tg_gc_add_callback(tg_gc_callback cb, void *arg);
TG_API int  tg_gc_remove_callback(tg_gc_callback cb, void *arg);

typedef struct tg_gc_stats {
    uint64_t collections; uint64_t collected; uint64_t uncollectable;
    uint64_t pause_ns_total; uint64_t pause_ns_max;
} tg_gc_stats;
TG_API void tg_gc_get_stats(tg_gc_stats out[3]);

/* ------------------------------------------------------------------ memory */

TG_API void *tg_mem_alloc(size_t n);
TG_API void *tg_mem_realloc(void *p, size_t n);
TG_API void  tg_mem_free(void *p);
typedef struct tg_mem_stats {
    size_t arenas, arenas_peak, pools, bytes_in_use, bytes_mapped, large_bytes;
    size_t blocks_in_use[64];
} tg_mem_stats;
TG_API void tg_mem_get_stats(tg_mem_stats *out);
TG_API void tg_mem_dump(FILE *out);
TG_API void tg_mem_fail_after(long n);

/* ------------------------------------------------------------------- locks */

TG_API void tg_mutex_lock(tg_mutex *m);
TG_API void tg_mutex_unlock(tg_mutex *m);
TG_API int  tg_mutex_trylock(tg_mutex *m);
TG_API int  tg_mutex_is_locked(const tg_mutex *m);

/* A critical section holds one object's lock (two, in address order) in
   free-threaded mode; in GIL mode it does nothing. Nestable; a thread that
   blocks (tg_release) inside one suspends it and resumes it on reacquire. */
typedef struct tg_critical_section {
    struct tg_critical_section *prev;
    tg_obj *a, *b;
    unsigned flags;                 /* runtime use */
} tg_critical_section;
TG_API void _tg_cs_begin(tg_critical_section *cs, tg_obj *a, tg_obj *b);
TG_API void _tg_cs_end(tg_critical_section *cs);
#define TG_BEGIN_CRITICAL_SECTION(obj) \
    { tg_critical_section tg__cs; _tg_cs_begin(&tg__cs, (obj), NULL);
#define TG_BEGIN_CRITICAL_SECTION2(a, b) \
    { tg_critical_section tg__cs; _tg_cs_begin(&tg__cs, (a), (b));
#define TG_END_CRITICAL_SECTION() _tg_cs_end(&tg__cs); }

/* ------------------------------------------------ processes and shared memory */

typedef struct tg_shm_array tg_shm_array;
TG_API tg_shm_array *tg_shm_array_create(char typecode, size_t length);
TG_API tg_shm_array *tg_shm_array_open(const char *handle);
TG_API const char   *tg_shm_array_handle(tg_shm_array *a);
TG_API size_t        tg_shm_array_len(tg_shm_array *a);
TG_API char          tg_shm_array_typecode(tg_shm_array *a);
TG_API void         *tg_shm_array_data(tg_shm_array *a);
TG_API int  tg_shm_array_lock(tg_shm_array *a);
TG_API int  tg_shm_array_unlock(tg_shm_array *a);
TG_API int  tg_shm_array_get_i64(tg_shm_array *a, size_t i, int64_t *out);
TG_API int  tg_shm_array_set_i64(tg_shm_array *a, size_t i, int64_t v);
TG_API int  tg_shm_array_get_f64(tg_shm_array *a, size_t i, double *out);
TG_API int  tg_shm_array_set_f64(tg_shm_array *a, size_t i, double v);
TG_API int  tg_shm_array_close(tg_shm_array *a);
TG_API int  tg_shm_array_unlink(tg_shm_array *a);

typedef struct tg_process tg_process;
TG_API tg_process *tg_process_start(int (*fn)(void *arg), void *arg);
TG_API int         tg_process_join(tg_process *p, int *exit_code);
TG_API int         tg_process_kill(tg_process *p, int sig);

TG_API tg_obj *tg_marshal_dumps(tg_obj *o);
TG_API tg_obj *tg_marshal_loads(tg_obj *bytes);

#ifdef __cplusplus
}
#endif

#include "tangle/process.h"   /* queues, shm extras (after the types above) */
#endif
