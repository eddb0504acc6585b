/*
 * sync/chaos.h — chaos mode: seeded schedule perturbation at the runtime's
 * synchronisation points (docs/stress.md).
 *
 * Usage rule: put TG_CHAOS_POINT(site) where a different interleaving of
 * threads could expose a bug — just before a lock is taken, just after one is
 * released, at safepoints, on reference-count slow paths, at QSBR quiescent
 * points, before an allocator remote-free push. Nothing else.
 *
 * Cost: with TG_CHAOS == 0 (CMake -DTANGLE_CHAOS=OFF) a point compiles to
 * nothing. With TG_CHAOS == 1 and chaos off (chaos_seed == 0, the default) a
 * point is one load of a global and one branch predicted not-taken.
 *
 * When on, each thread draws from its own PRNG (xorshift64*), seeded from the
 * chaos seed and the thread's index, and at a point either does nothing, calls
 * sched_yield(), spins for a few hundred nanoseconds, or sleeps a few
 * microseconds. Same seed + same thread index = same sequence of decisions.
 */
#ifndef TG_SYNC_CHAOS_H
#define TG_SYNC_CHAOS_H
#if !defined(TG_BUILDING_LIBRARY) && !defined(TG_INTERNAL_CLIENT)
#error "sync/chaos.h is internal to libtangle; include <tangle.h>"
#endif
#include <stdint.h>
#include "tangle.h"

#ifndef TG_CHAOS
#define TG_CHAOS 0
#endif

/* Where a point is; counted per site (tangle stress prints the counts). */
typedef enum {
    TG_CHAOS_SITE_GIL_ACQUIRE,     /* before taking the GIL (attach, reacquire, hand-off) */
    TG_CHAOS_SITE_GIL_RELEASE,     /* after dropping the GIL (detach, release, hand-off) */
    TG_CHAOS_SITE_LOCK_ACQUIRE,    /* before taking a runtime mutex / object lock */
    TG_CHAOS_SITE_LOCK_RELEASE,    /* after releasing one */
    TG_CHAOS_SITE_SAFEPOINT,       /* tg_safepoint, eval-breaker slow path */
    TG_CHAOS_SITE_RC_SLOW,         /* refcount slow paths: shared incref/decref, queue to owner */
    TG_CHAOS_SITE_RC_MERGE,        /* merging biased counts */
    TG_CHAOS_SITE_QSBR,            /* QSBR quiescent state / grace period wait */
    TG_CHAOS_SITE_REMOTE_FREE,     /* allocator: before pushing onto another heap's remote-free list */
    TG_CHAOS_SITE_STW,             /* stop-the-world request / restart */
    TG_CHAOS_SITE_LIST,            /* list mutators */
    TG_CHAOS_SITE_DICT,            /* dict mutators */
    TG_CHAOS_SITE_GC,              /* collector phases */
    TG_CHAOS_SITE_FORK,            /* around fork */
    TG_CHAOS_SITE_USER,            /* stress scenarios and embedders' own code */
    TG_CHAOS_NSITES
} tg_chaos_site;

/* Non-zero while chaos is on. Written only by _tg_chaos_init (tg_init). */
extern TG_API int _tg_chaos_on;

/* The out-of-line body of a point: decides and perturbs. */
TG_API void _tg_chaos_point(tg_chaos_site site);

#if TG_CHAOS
#define TG_CHAOS_POINT(site) \
    do { if (TG_UNLIKELY(__atomic_load_n(&_tg_chaos_on, __ATOMIC_RELAXED))) _tg_chaos_point(site); } while (0)
#else
#define TG_CHAOS_POINT(site) ((void)0)
#endif

/* tg_init: turn chaos on (seed != 0) or off (seed == 0) and reset the
   counters. If seed is 0 and the environment variable TANGLE_CHAOS_SEED holds
   a non-zero number, that is used. Every thread reseeds lazily afterwards. */
TG_API void _tg_chaos_init(unsigned seed);
/* The calling thread's perturbation sequence from now on: derived from
   (seed, index) only. Threads that never call this get index = the order in
   which they first hit a point (not reproducible across runs; the stress
   harness calls this for every thread it starts). */
TG_API void _tg_chaos_thread_seed(uint64_t seed, unsigned index);
/* Whether chaos is compiled in (TG_CHAOS) and on now. */
TG_API int _tg_chaos_compiled(void);
TG_API int _tg_chaos_enabled(void);
TG_API unsigned _tg_chaos_seed(void);

typedef struct tg_chaos_stats {
    uint64_t points[TG_CHAOS_NSITES];      /* points hit, per site */
    uint64_t yields, spins, sleeps;        /* perturbations done */
} tg_chaos_stats;
/* Sums of the counters since _tg_chaos_init (relaxed: approximate while
   threads run, exact once they have stopped). */
TG_API void _tg_chaos_get_stats(tg_chaos_stats *out);
TG_API const char *_tg_chaos_site_name(tg_chaos_site site);

#endif
