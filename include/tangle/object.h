/*
 * tangle/object.h — the object header and the inline reference-count fast paths.
 *
 * Included by <tangle.h>; do not include directly. The struct is public only so
 * that tg_incref/tg_decref can be inlined into embedders' code: its fields are
 * not part of the API and embedders must not touch them.
 *
 * One header serves both threading modes (docs/free-threading.md):
 *
 *   ob_tid        the owning thread's id. In GIL mode every attached thread has
 *                 the same id (_TG_TID_GIL), so the owner fast path always hits.
 *                 In free-threaded mode each thread has its own id; an object
 *                 whose counts have been merged has _TG_TID_SHARED. An
 *                 unattached thread's id is 0, which no object ever carries, so
 *                 its calls fall to the slow path (which can diagnose them).
 *   ob_flags      runtime flags (_TG_OBF_*).
 *   ob_mutex      the object's own lock (free-threaded mode; lists, dicts).
 *   ob_gc_bits    collector state.
 *   ob_ref_local  the owner's count: plain, non-atomic (relaxed accesses only so
 *                 that racing readers in free-threaded mode are well defined).
 *                 UINT32_MAX marks an immortal object, whose counts never change.
 *   ob_ref_shared the count of every other thread (atomic), shifted left by 2;
 *                 the low two bits hold the biased-count state (_TG_REF_*).
 *   ob_type       the type.
 *
 * The count lives in one 32-bit field accessed with one width everywhere (a
 * 32-bit store followed by a 64-bit load of the same word stalls store
 * forwarding: measured 8.8x slower per pair).
 */
#ifndef TANGLE_OBJECT_H
#define TANGLE_OBJECT_H

#include <stdint.h>

#if defined(__GNUC__)
#  define TG_LIKELY(x)   __builtin_expect(!!(x), 1)
#  define TG_UNLIKELY(x) __builtin_expect(!!(x), 0)
#  define TG_API __attribute__((visibility("default")))
#  define TG_TLS_IE __attribute__((tls_model("initial-exec")))
#else
#  define TG_LIKELY(x)   (x)
#  define TG_UNLIKELY(x) (x)
#  define TG_API
#  define TG_TLS_IE
#endif

#ifdef __cplusplus
#  define TG_THREAD_LOCAL thread_local
extern "C" {
#else
#  define TG_THREAD_LOCAL _Thread_local
#endif

typedef struct tg_mutex { uint8_t v; } tg_mutex;

typedef struct tg_type tg_type;

typedef struct tg_obj {
    uintptr_t       ob_tid;
    uint16_t        ob_flags;
    tg_mutex        ob_mutex;
    uint8_t         ob_gc_bits;
    uint32_t        ob_ref_local;
    intptr_t        ob_ref_shared;
    const tg_type  *ob_type;
} tg_obj;

#define _TG_IMMORTAL_LOCAL UINT32_MAX
#define _TG_TID_SHARED ((uintptr_t)1)   /* counts merged: shared count only */
#define _TG_TID_GIL    ((uintptr_t)2)   /* every thread's id in GIL mode */

/* The calling thread's id (0 while unattached). */
extern TG_API TG_THREAD_LOCAL uintptr_t _tg_tls_tid TG_TLS_IE;

TG_API void _tg_incref_slow(tg_obj *o);
TG_API void _tg_decref_slow(tg_obj *o);

/* Immortals are tested first, inline: None, True, False, small ints and
   interned strings are increfed and decrefed all the time, and a call to the
   slow path for each costs more (obj_tuple2_new_del: 33-40 ns against 27-31
   ns) than the test saves on owned objects (docs/PERFORMANCE.md). */
static inline void tg_incref(tg_obj *o)
{
    uint32_t n = __atomic_load_n(&o->ob_ref_local, __ATOMIC_RELAXED) + 1;
    if (TG_UNLIKELY(n == 0))
        return;                                   /* immortal */
    if (TG_LIKELY(__atomic_load_n(&o->ob_tid, __ATOMIC_RELAXED) == _tg_tls_tid))
        __atomic_store_n(&o->ob_ref_local, n, __ATOMIC_RELAXED);
    else
        _tg_incref_slow(o);
}

static inline void tg_decref(tg_obj *o)
{
    uint32_t n = __atomic_load_n(&o->ob_ref_local, __ATOMIC_RELAXED);
    if (TG_UNLIKELY(n == _TG_IMMORTAL_LOCAL))
        return;
    /* The owner's last local reference (n == 1) goes to the slow path, which
       frees the object or merges it with the shared count. */
    if (TG_LIKELY(__atomic_load_n(&o->ob_tid, __ATOMIC_RELAXED) == _tg_tls_tid && n > 1))
        __atomic_store_n(&o->ob_ref_local, n - 1, __ATOMIC_RELAXED);
    else
        _tg_decref_slow(o);
}

static inline void tg_xdecref(tg_obj *o)
{
    if (o)
        tg_decref(o);
}

#ifdef __cplusplus
}
#endif

#endif
