/*
 * alloc/alloc.h — the allocator's interface to the rest of the runtime.
 *
 * The algorithm, the invariants and who may touch what are written at the top
 * of alloc/alloc.c and in docs/alloc.md.
 */
#ifndef TG_ALLOC_H
#define TG_ALLOC_H
#if !defined(TG_BUILDING_LIBRARY) && !defined(TG_INTERNAL_CLIENT)
#error "alloc/alloc.h is internal to libtangle; include <tangle.h>"
#endif
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ compile-time knobs */

/* Small requests: 1..512 bytes in 16-byte classes (CPython's obmalloc uses the
   same grain and limit), so 32 classes. */
#define TG_ALLOC_GRAIN      16
#define TG_ALLOC_SMALL_MAX  512
#define TG_ALLOC_NCLASSES   (TG_ALLOC_SMALL_MAX / TG_ALLOC_GRAIN)
/* A pool is 16 KiB (CPython 3.10+), found from any block by masking. */
#define TG_ALLOC_POOL_SHIFT 14
#define TG_ALLOC_POOL_SIZE  ((size_t)1 << TG_ALLOC_POOL_SHIFT)
/* An arena is 1 MiB, aligned to its size; its first pool holds the arena header,
   the other 63 are handed out (1.6% overhead). */
#define TG_ALLOC_ARENA_SHIFT 20
#define TG_ALLOC_ARENA_SIZE ((size_t)1 << TG_ALLOC_ARENA_SHIFT)
/* Address space reserved (PROT_NONE, no memory) at first use; arenas are
   committed inside it. 32 GiB of arenas is far beyond any workload we run; if
   it is exhausted, small requests fall back to the system allocator. */
#ifndef TG_ALLOC_RESERVE
#define TG_ALLOC_RESERVE    ((size_t)32 << 30)
#endif
/* Empty pools a heap keeps for reuse (any class) before returning them to
   their arena: saves the arena lock on alloc/free waves. 4 pools = 64 KiB. */
#define TG_ALLOC_HEAP_CACHE 4
/* Prefetch the next free block of a class when one is handed out (1 = on).
   Off: no difference measurable within the noise of the project's VM. */
#ifndef TG_ALLOC_PREFETCH
#define TG_ALLOC_PREFETCH 0
#endif
/* Valgrind memcheck client requests: 1 marks every pool block as a malloc-like
   allocation (VALGRIND_MALLOCLIKE_BLOCK/FREELIKE_BLOCK). Off by default: the
   requests cost a few instructions on the fast paths even outside valgrind.
   CMake: -DTANGLE_VALGRIND=ON (needs <valgrind/memcheck.h>). */
#ifndef TG_ALLOC_VALGRIND
#define TG_ALLOC_VALGRIND 0
#endif

/* ------------------------------------------------------ hooks for the runtime */

/* The runtime calls these (runtime/init.c, runtime/tstate.c, sync/fork.c). */
void _tg_alloc_thread_detach(void);   /* the calling thread leaves the runtime: abandon its heap */
void _tg_alloc_fini(void);            /* tg_fini: release everything, objects leaked included */
void _tg_alloc_fork_child(void);      /* in the child after fork(): one thread remains (idempotent;
                                         alloc/ also registers its own pthread_atfork handlers) */

/* ------------------------------------------------------ for tests and tools */

/* Collect what can be collected now: the calling thread's pending remote frees,
   empty pools of its heap and empty abandoned pools go back to their arenas,
   and every empty arena but one goes back to the OS. Returns the number of
   pools returned. */
size_t _tg_alloc_collect(void);
/* How long an empty arena is kept for reuse before it goes back to the OS
   (nanoseconds; 0: the default, 1 s). */
void _tg_alloc_set_arena_decay(uint64_t ns);
/* Check the calling thread's heap against the invariants at the top of
   alloc.c. Returns 0 when they hold, else a negative code (and prints why to
   stderr). O(heap size). */
int _tg_alloc_validate(void);
/* Size of the usable block behind p (class size for pool blocks, the requested
   size for large blocks). */
size_t _tg_alloc_usable_size(const void *p);
/* 1 if p points into the pool region (a pool block), 0 if it came from the
   system allocator. */
int _tg_alloc_is_pool_block(const void *p);
/* Counters of events, for tests. */
typedef struct _tg_alloc_counters {
    size_t pools_abandoned, pools_adopted, remote_frees, remote_announces, faults_injected;
} _tg_alloc_counters;
void _tg_alloc_get_counters(_tg_alloc_counters *out);
/* A function that does nothing: every injected failure calls it, so a debugger
   can break on it (SQLite's idea). */
void _tg_alloc_fault_breakpoint(void);

#endif
