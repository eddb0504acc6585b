/*
 * alloc/alloc.c — tangle's small-object allocator: size classes, pools,
 * arenas, per-thread heaps, remote frees, abandonment, stats, fault injection.
 * (docs/alloc.md has the same story for readers who do not read C.)
 *
 * Glossary
 *   block   one allocation of a small request (1..512 bytes), 16-byte classes.
 *   pool    16 KiB of blocks of one class, aligned to 16 KiB. Its metadata
 *           (struct pool, 128 bytes) is not in the pool but in the metadata
 *           slot of the same index in its arena's first 16 KiB: a block's pool
 *           is (arena + ((addr >> 14) & 63) * 128) where arena = addr & ~(1 MiB-1).
 *           (Headers at the start of 16 KiB-aligned pools, as CPython has them,
 *           all fall into the same few cache sets: alloc_churn ran 15% slower.)
 *   arena   1 MiB, aligned to 1 MiB, committed with mmap inside one reserved
 *           address range; its first 16 KiB hold the arena header (slot 0) and
 *           the metadata of pools 1..63, which are lent to heaps. A heap takes
 *           its fresh pools from arenas of its own (arena->owner), so that two
 *           threads' pools and pool metadata do not lie side by side
 *           (arena_take_pool says why).
 *   heap    one per thread that allocates (created lazily, _Thread_local):
 *           avail lists of the pools it owns, by class, and a list of all of them.
 *   large   a request of 0 bytes or more than 512: the system allocator, with
 *           a 32-byte header that links it into a list so tg_fini can free it.
 *
 * Telling a pool block from a large block on free
 *   All arenas live in one contiguous address range reserved (PROT_NONE,
 *   MAP_NORESERVE: no memory, no commit charge) the first time the allocator
 *   runs; its base and length never change afterwards, also across tg_fini. A
 *   pointer is a pool block iff (p - base) < length: one subtraction and one
 *   compare against two words of a read-mostly cache line, no table. Rejected:
 *   (a) reading a magic at p & ~(ARENA_SIZE-1) — for a system block that address
 *   may be unmapped or hold anything; (b) giving large blocks their own aligned
 *   mmap — a system call and page faults per 600-byte list array; (c) aligning
 *   large blocks to 16 KiB so their offset in a "pool" is a tag — glibc's
 *   memalign then spends up to 16 KiB per block. If the range is ever full,
 *   small requests are served as large blocks: correct, only slower.
 *
 * Who touches what (the rule that makes the fast paths atomic-free)
 *   pool->free, ->used, ->bump, ->next/prev, ->hnext/hprev, ->flags: only the
 *     owning heap's thread (an abandoned pool: whoever holds the abandoned-list
 *     lock; a free pool: whoever holds the arena lock). `used`, `cls`, `size`
 *     and `state` are stored with relaxed atomics so tg_mem_get_stats may read them.
 *   pool->thread_free: any thread (atomic). Low 2 bits are the pool's announce
 *     state, the rest a stack of blocks freed by other threads (_mt paths).
 *   pool->rnext: the thread that announces the pool, then the owner.
 *   pool->heap: written by the owner when it takes / abandons the pool, read by all.
 *   heap->remote_pools: any thread pushes, the owner takes all (atomic).
 *   everything else in a heap: its thread only.
 *   arenas and their free pools, the free-slot stack, arena stats: the arena lock.
 *   abandoned pools (one list per class): the abandoned lock (taken before the
 *     arena lock when both are needed).
 *
 * Invariants (for a pool owned by heap H, as H's thread sees it)
 *   used + |free| + uncarved == capacity          (uncarved = (limit - bump) / size)
 *   |thread_free| <= used;  live blocks == used - |thread_free|
 *   Every pool H owns is on H->pools, and either on H->avail[cls] or flagged
 *   PF_FULL (then free == NULL and uncarved == 0).
 *   state NORMAL  <=> thread_free holds no block and p is not on H->remote_pools;
 *   state QUEUED  ==> p is on H->remote_pools (or H is draining it right now);
 *   state FREEING: a remote freer is announcing p (transient);
 *   state NEVER   <=> p is abandoned (heap == NULL) or being abandoned.
 *   A pool leaves its heap (to the cache or its arena) only with used == 0
 *   and state NORMAL: nobody else can reach it any more.
 *
 * The announce protocol (why full pools do not strand remote frees)
 *   A full pool is on no list the owner looks at when allocating, so remote
 *   frees must be announced — but announcing every block would cost the owner
 *   an atomic per pool switch. Instead the *first* remote free into a pool in
 *   state NORMAL CASes thread_free from NORMAL to (its block | FREEING), pushes
 *   the pool onto the owner heap's remote_pools stack (pool->heap cannot change
 *   meanwhile: abandoning waits for FREEING to clear), and CASes FREEING ->
 *   QUEUED; later remote frees just push their block, keeping the state. The
 *   owner takes remote_pools on its allocation slow path (before it maps
 *   anything): per pool, it waits out FREEING, CASes (blocks | QUEUED) to
 *   NORMAL, puts the blocks on p->free and un-fulls the pool. The owner's own
 *   full/un-full moves are plain list operations: no atomics anywhere on the
 *   owner's side unless another thread actually freed into the pool.
 *   (A variant of mimalloc's delayed free.)
 *
 * Abandoning (thread exit: pthread key destructor; detach: _tg_alloc_thread_detach)
 *   1. settle every owned pool: wait out FREEING, set NEVER — afterwards no
 *      remote freer touches the heap; remote_pools is dropped (its pools are
 *      all on H->pools anyway);
 *   2. collect each pool's thread_free; empty pools go to their arena, the
 *      others to the abandoned list of their class with heap = NULL;
 *   3. a thread that needs a pool of that class adopts one (heap = itself,
 *      NEVER -> NORMAL taking the blocks) before it takes a fresh pool. Empty
 *      abandoned pools are swept back to their arenas when a heap maps a new
 *      arena (bounded) and by _tg_alloc_collect.
 *   The heap struct is recycled for the next thread (never freed, so a stale
 *   pointer to one is never dangling).
 *
 * Allocation order within a class
 *   The head of avail[cls] is the current pool. A fresh pool goes to the head;
 *   a pool that comes back from full goes to the tail, so that it gathers free
 *   blocks while it waits (FIFO, as mimalloc does). CPython's head insertion
 *   made alloc_churn switch pools on every third allocation (20 ns/op -> 10).
 *
 * Memory returns to the OS
 *   A pool whose last block is freed by its owner goes to the heap's small
 *   cache of empty pools or, when that is full, back to its arena (kept if it
 *   is the only pool of its class the heap has, to avoid thrashing). An arena
 *   whose pools are all free joins the empty arenas, oldest first, and is
 *   decommitted (mmap PROT_NONE over it) when it has been empty for longer
 *   than the decay (1 s), or when there are more empty arenas than the cap:
 *   as many as are in use, at least 8 and at most 64 (MiB). One spare is
 *   always kept, as CPython does. The check runs whenever a pool goes back
 *   to an arena; _tg_alloc_collect releases every empty arena but the spare.
 *   Why keep more than CPython's one: binary-trees frees and rebuilds trees
 *   of 1-32 MiB; with one spare every rebuild mapped its arenas afresh —
 *   343,700 page faults in a 4.8 s run, against 25,400 with the empties kept
 *   (docs/PERFORMANCE.md, "Empty arenas kept").
 *
 * Memory orders, one sentence each
 *   - remote push onto thread_free: CAS release, so the block's link (and the
 *     freeing thread's last writes to the block) happen before the owner, which
 *     takes the stack with an acquire CAS, reads them.
 *   - NORMAL -> FREEING: acq_rel; the acquire half makes the freer's read of
 *     pool->heap see the owner that published the pool (heap is stored with
 *     release before the pool can hold any block another thread frees).
 *   - push onto heap->remote_pools: CAS release, so p->rnext is written before
 *     the owner's acquire exchange of the list reads it.
 *   - FREEING -> QUEUED: release, so the freer's push onto remote_pools happens
 *     before the owner (acquire loads while waiting out FREEING) resets the pool.
 *   - settle (-> NEVER) and take (-> NORMAL): acq_rel CAS, ordering them with
 *     the remote CASes on both sides.
 *   - pool->heap: release store on taking / abandoning, relaxed load in the
 *     owner check (a thread only ever compares it with its own heap, which no
 *     other thread can store there).
 *   - stats fields (used, cls, size, state): relaxed; stats are a racy snapshot
 *     (blocks freed remotely but not yet collected count as in use).
 *   - fault injection countdown: relaxed fetch_sub; only the count matters.
 *
 * Sanitizers: under ASan a block on a free list is poisoned (the allocator
 * opens its 8 link bytes around each use); with TG_ALLOC_VALGRIND=1 blocks are
 * VALGRIND_MALLOCLIKE/FREELIKE allocations and free-list links are opened the
 * same way. Both catch a use-after-free inside a pool (alloc/tests/alloc_uaf.c).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "tangle.h"
#include "alloc/alloc.h"
#include "sync/chaos.h"

#ifndef TG_DEBUG
#define TG_DEBUG 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#  define TG_ALLOC_ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define TG_ALLOC_ASAN 1
#  endif
#endif
#ifndef TG_ALLOC_ASAN
#  define TG_ALLOC_ASAN 0
#endif
#if TG_ALLOC_ASAN
#  include <sanitizer/asan_interface.h>
#  define POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#  define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#  define POISON(p, n)   ((void)(p), (void)(n))
#  define UNPOISON(p, n) ((void)(p), (void)(n))
#endif
#if TG_ALLOC_VALGRIND
#  include <valgrind/memcheck.h>
#  define VG_MALLOCLIKE(p, n) VALGRIND_MALLOCLIKE_BLOCK((p), (n), 0, 0)
#  define VG_FREELIKE(p)      VALGRIND_FREELIKE_BLOCK((p), 0)
#  define VG_DEFINED(p, n)    VALGRIND_MAKE_MEM_DEFINED((p), (n))
#  define VG_UNDEFINED(p, n)  VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#  define VG_NOACCESS(p, n)   VALGRIND_MAKE_MEM_NOACCESS((p), (n))
#else
#  define VG_MALLOCLIKE(p, n) ((void)(p), (void)(n))
#  define VG_FREELIKE(p)      ((void)(p))
#  define VG_DEFINED(p, n)    ((void)(p), (void)(n))
#  define VG_UNDEFINED(p, n)  ((void)(p), (void)(n))
#  define VG_NOACCESS(p, n)   ((void)(p), (void)(n))
#endif

#define NOINLINE __attribute__((noinline))
#define COLD     __attribute__((cold, noinline))
#define TLS_IE   __attribute__((tls_model("initial-exec")))

#define POOL_SIZE     TG_ALLOC_POOL_SIZE
#define ARENA_SIZE    TG_ALLOC_ARENA_SIZE
#define NCLASSES      TG_ALLOC_NCLASSES
#define POOL_META     128                         /* sizeof(pool) */
#define POOLS_PER_ARENA ((int)(ARENA_SIZE / POOL_SIZE))
#define ARENA_MAGIC   0x746e67417265614eull      /* "tngArenaN"-ish */
#define LARGE_MAGIC   0x4c61726765426c6bull
#define CARVE_BYTES   2048                        /* carve up to this much per refill */

/* ----------------------------------------------------------------- types */

typedef struct block { struct block *next; } block;
typedef struct heap heap;

/* thread_free state, in the low bits of the word (see "The announce protocol") */
enum { TF_NORMAL = 0, TF_FREEING = 1, TF_QUEUED = 2, TF_NEVER = 3, TF_MASK = 3 };
/* pool->state, for the stats walker */
enum { PS_FREE = 0, PS_OWNED = 1, PS_ABANDONED = 2, PS_CACHED = 3 };
/* pool->flags, owner only */
enum { PF_FULL = 1 };

typedef struct pool {
    /* cache line 0: the owner's */
    block        *free;         /* blocks to hand out */
    uint32_t      used;         /* blocks handed out and not yet collected back */
    uint16_t      size;         /* block size in bytes */
    uint8_t       cls;          /* size class */
    uint8_t       flags;        /* PF_* */
    char         *bump;         /* next uncarved byte */
    char         *limit;        /* end of the last whole block */
    struct pool  *next, *prev;  /* avail list (owned), abandoned list, arena free list */
    heap         *heap;         /* owner; NULL when abandoned or free (atomic) */
    uint16_t      capacity;
    uint8_t       state;        /* PS_* (relaxed atomic) */
    uint8_t       _pad0[5];
    /* cache line 1: written by other threads */
    uintptr_t     thread_free __attribute__((aligned(64)));  /* block stack | TF_* */
    struct pool  *rnext;        /* on the owner's remote_pools list (TF_FREEING/QUEUED) */
    struct pool  *hnext, *hprev;/* every pool the heap owns (owner only) */
    uint8_t       _pad1[32];
} pool;
_Static_assert(sizeof(pool) == POOL_META, "pool metadata is two cache lines");

typedef struct arena {
    uint64_t      magic;
    uint32_t      nfree;        /* pools on the free list or never used */
    uint32_t      nfresh;       /* pools never used: [POOLS_PER_ARENA - nfresh, POOLS_PER_ARENA) */
    pool         *free_pools;   /* pools returned (linked by next) */
    struct arena *next, *prev;  /* all committed arenas */
    struct arena *unext, *uprev;/* arenas with a free pool */
    struct arena *enext, *eprev;/* empty arenas, oldest first */
    uint64_t      emptied_ns;   /* when it became empty (CLOCK_MONOTONIC_COARSE) */
    bool          usable;
    bool          empty;        /* on the empty list: every pool free */
    struct heap  *owner;        /* the heap that takes its fresh pools from here,
                                   NULL: none yet, or again (all free; the heap
                                   gave up its pools). Placement only: pools of
                                   other heaps may be here (adopted, or taken
                                   when the region was full). */
} arena;

_Static_assert(sizeof(arena) <= POOL_META, "the arena header fits in metadata slot 0");

struct heap {
    pool         *avail[NCLASSES];  /* pools with (maybe) free blocks; head = current */
    pool         *avail_tail[NCLASSES];
    pool         *pools;            /* every pool owned (hnext/hprev), full ones included */
    pool         *cache;            /* empty pools kept for reuse */
    int           ncache;
    pool         *remote_pools;     /* pools other threads freed into (atomic stack via rnext) */
    heap         *next_all;         /* every heap ever made */
    heap         *next_free;        /* recycled heaps */
    bool          live;             /* owned by a thread */
};

/* --------------------------------------------------------------- globals */

/* The empty pool and heap every thread starts with: the fast paths find no
   block and no owner match without testing for NULL. */
static pool empty_pool;
static heap empty_heap = { .avail = {
#define E4 &empty_pool, &empty_pool, &empty_pool, &empty_pool
    E4, E4, E4, E4, E4, E4, E4, E4
#undef E4
} };
_Static_assert(NCLASSES == 32, "empty_heap initialiser");

static _Thread_local heap *tls_heap TLS_IE = &empty_heap;

/* Read on every free; written once. */
static struct {
    uintptr_t base, length;
} region __attribute__((aligned(64)));

static int fail_armed __attribute__((aligned(64)));   /* read on every allocation (relaxed) */
static long fail_countdown = -1;

/* On lines of its own (and so is region, above): every arena take and put
   writes its counters, and fail_armed, which every allocation reads, sat on
   the line of its last fields. */
static struct {
    pthread_mutex_t lock;
    size_t   nslots, next_slot;   /* arena slots in the region; bump index */
    uint32_t *free_slots;         /* stack of decommitted slot indexes */
    size_t   nfree_slots;
    arena   *all, *usable;
    arena   *empty_head, *empty_tail; /* empty arenas, oldest first */
    size_t   narenas, peak, nempty;
    uint64_t decay_ns;            /* how long an empty arena is kept (0: the default) */
    size_t   mapped_total, released_total;
    size_t   pools_in_use;
    bool     reserve_failed;
} ar __attribute__((aligned(64))) = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct {
    pthread_mutex_t lock;
    pool   *list[NCLASSES];
    size_t  count[NCLASSES];      /* read without the lock (relaxed) */
} ab = { .lock = PTHREAD_MUTEX_INITIALIZER };

typedef struct large_hdr {
    struct large_hdr *next, *prev;
    size_t size;
    uint64_t magic;
} large_hdr;
static struct {
    pthread_mutex_t lock;
    large_hdr head;               /* circular list */
    size_t    n, bytes;
} lg = { .lock = PTHREAD_MUTEX_INITIALIZER, .head = { &lg.head, &lg.head, 0, 0 } };

static struct {
    pthread_mutex_t lock;
    heap   *all, *recycled;
    pthread_key_t key;
} hp = { .lock = PTHREAD_MUTEX_INITIALIZER };
static pthread_once_t hp_once = PTHREAD_ONCE_INIT;
static pid_t forked_pid;          /* the child pid the fork logic already ran in */

static _tg_alloc_counters counters;   /* relaxed atomic increments */
#define COUNT(field) __atomic_fetch_add(&counters.field, 1, __ATOMIC_RELAXED)

/* ------------------------------------------------------ small helpers */

static inline size_t class_of(size_t n) { return (n - 1) >> 4; }
static inline size_t class_size(size_t c) { return (c + 1) * TG_ALLOC_GRAIN; }
static inline arena *arena_of(const void *p) { return (arena *)((uintptr_t)p & ~(uintptr_t)(ARENA_SIZE - 1)); }
/* The metadata of pool i of an arena is the i-th 128-byte slot of the arena's
   first 16 KiB (slot 0 is the arena header): found by masking and shifting. */
static inline pool *pool_of(const void *p)
{
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(ARENA_SIZE - 1);
    return (pool *)(a + (((uintptr_t)p >> TG_ALLOC_POOL_SHIFT) & (POOLS_PER_ARENA - 1)) * POOL_META);
}
static inline char *pool_data(const pool *p)
{
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(ARENA_SIZE - 1);
    return (char *)(a + (((uintptr_t)p - a) / POOL_META) * POOL_SIZE);
}
static inline pool *pool_meta(arena *a, size_t i) { return (pool *)((char *)a + i * POOL_META); }
static inline bool in_region(const void *p)
{
    return (uintptr_t)p - region.base < region.length;
}
static inline void set_used(pool *p, uint32_t v) { __atomic_store_n(&p->used, v, __ATOMIC_RELAXED); }
static inline heap *pool_heap_relaxed(pool *p) { return __atomic_load_n(&p->heap, __ATOMIC_RELAXED); }
static inline void cpu_relax(int *spins)
{
    if (++*spins < 64) __builtin_ia32_pause();
    else sched_yield();
}

/* Free-list links live inside free blocks, which are poisoned (ASan) or
   no-access (valgrind): the allocator opens the 8 link bytes around each use. */
static inline block *link_get(block *b)
{
    UNPOISON(b, sizeof(block)); VG_DEFINED(b, sizeof(block));
    block *n = b->next;
    POISON(b, sizeof(block)); VG_NOACCESS(b, sizeof(block));
    return n;
}
static inline void link_set(block *b, block *n)
{
    UNPOISON(b, sizeof(block)); VG_UNDEFINED(b, sizeof(block));
    b->next = n;
    POISON(b, sizeof(block)); VG_NOACCESS(b, sizeof(block));
}
/* The block becomes the caller's / stops being the caller's. */
static inline void *block_give(block *b, size_t size)
{
    UNPOISON(b, size); VG_MALLOCLIKE(b, size);
    return b;
}
static inline void block_take(block *b, size_t size)
{
    POISON(b, size); VG_FREELIKE(b);
}

/* ------------------------------------------------------ pool lists (owner) */

static inline void list_push(pool **head, pool *p)
{
    p->prev = NULL; p->next = *head;
    if (*head) (*head)->prev = p;
    *head = p;
}
static inline void list_remove(pool **head, pool *p)
{
    if (p->prev) p->prev->next = p->next; else *head = p->next;
    if (p->next) p->next->prev = p->prev;
    p->next = p->prev = NULL;
}
/* avail lists end in empty_pool, not NULL (the fast path never tests NULL) */
static inline void avail_push(heap *h, pool *p)          /* at the head: used next */
{
    pool **head = &h->avail[p->cls];
    p->prev = NULL;
    if (*head != &empty_pool) { p->next = *head; (*head)->prev = p; }
    else { p->next = NULL; h->avail_tail[p->cls] = p; }
    *head = p;
}
/* At the tail: a pool that comes back from full waits its turn and gathers
   more free blocks meanwhile (FIFO, as mimalloc does). Pushing it at the head
   (CPython's choice) makes the allocator switch pools every block or two
   under random frees: measured 1 slow path per 3 allocations in alloc_churn. */
static inline void avail_append(heap *h, pool *p)
{
    pool **head = &h->avail[p->cls];
    p->next = NULL;
    if (*head == &empty_pool) { p->prev = NULL; *head = p; }
    else { pool *t = h->avail_tail[p->cls]; t->next = p; p->prev = t; }
    h->avail_tail[p->cls] = p;
}
static inline void avail_remove(heap *h, pool *p)
{
    pool **head = &h->avail[p->cls];
    if (p->prev) p->prev->next = p->next;
    else *head = p->next ? p->next : &empty_pool;
    if (p->next) p->next->prev = p->prev;
    else h->avail_tail[p->cls] = p->prev;
    p->next = p->prev = NULL;
}

static inline void owned_add(heap *h, pool *p)
{
    p->hprev = NULL; p->hnext = h->pools;
    if (h->pools) h->pools->hprev = p;
    h->pools = p;
}
static inline void owned_remove(heap *h, pool *p)
{
    if (p->hprev) p->hprev->hnext = p->hnext; else h->pools = p->hnext;
    if (p->hnext) p->hnext->hprev = p->hprev;
}

/* ------------------------------------------------------- thread_free (_mt) */

/* Owner (or abandoned-list holder): take every remotely freed block of p and put
   it on p->free. Returns how many. */
static size_t collect_thread_free(pool *p)
{
    uintptr_t cur = __atomic_load_n(&p->thread_free, __ATOMIC_RELAXED);
    do {
        if ((cur & ~(uintptr_t)TF_MASK) == 0) return 0;
    } while (!__atomic_compare_exchange_n(&p->thread_free, &cur, cur & TF_MASK, true,
                                          __ATOMIC_ACQUIRE, __ATOMIC_RELAXED));
    block *b = (block *)(cur & ~(uintptr_t)TF_MASK);
    block *first = b, *last = b;
    size_t n = 1;
    for (block *nx; (nx = link_get(last)) != NULL; last = nx) n++;
    link_set(last, p->free);
    p->free = first;
    set_used(p, p->used - (uint32_t)n);
    return n;
}

/* Owner: take p's remote blocks and reset its state to NORMAL (p came off the
   heap's remote_pools list, or is being adopted, so the next remote free
   announces it to its new or same owner). */
static size_t take_announced(pool *p)
{
    int spins = 0;
    uintptr_t cur = __atomic_load_n(&p->thread_free, __ATOMIC_ACQUIRE);
    for (;;) {
        if ((cur & TF_MASK) == TF_FREEING) {
            cpu_relax(&spins);
            cur = __atomic_load_n(&p->thread_free, __ATOMIC_ACQUIRE);
            continue;
        }
        if (__atomic_compare_exchange_n(&p->thread_free, &cur, (uintptr_t)TF_NORMAL, true,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            break;
    }
    block *b = (block *)(cur & ~(uintptr_t)TF_MASK);
    if (!b) return 0;
    block *last = b;
    size_t n = 1;
    for (block *nx; (nx = link_get(last)) != NULL; last = nx) n++;
    link_set(last, p->free);
    p->free = b;
    set_used(p, p->used - (uint32_t)n);
    return n;
}

/* Another thread frees b, which belongs to p. */
static NOINLINE void free_remote_mt(pool *p, block *b)
{
    COUNT(remote_frees);
    TG_CHAOS_POINT(TG_CHAOS_SITE_REMOTE_FREE);   /* tangle stress --chaos */
    uintptr_t cur = __atomic_load_n(&p->thread_free, __ATOMIC_RELAXED);
    for (;;) {
        uintptr_t st = cur & TF_MASK;
        link_set(b, (block *)(cur & ~(uintptr_t)TF_MASK));
        if (st != TF_NORMAL) {
            /* already announced, being announced, or abandoned: just push */
            if (__atomic_compare_exchange_n(&p->thread_free, &cur, (uintptr_t)b | st, true,
                                            __ATOMIC_RELEASE, __ATOMIC_RELAXED))
                return;
            continue;
        }
        /* first remote free since the owner last looked: announce the pool */
        if (!__atomic_compare_exchange_n(&p->thread_free, &cur, (uintptr_t)b | TF_FREEING, true,
                                         __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            continue;
        /* The owner cannot abandon p, nor retire it, while it is FREEING. */
        heap *h = __atomic_load_n(&p->heap, __ATOMIC_ACQUIRE);
        pool *top = __atomic_load_n(&h->remote_pools, __ATOMIC_RELAXED);
        do p->rnext = top;
        while (!__atomic_compare_exchange_n(&h->remote_pools, &top, p, true,
                                            __ATOMIC_RELEASE, __ATOMIC_RELAXED));
        COUNT(remote_announces);
        cur = __atomic_load_n(&p->thread_free, __ATOMIC_RELAXED);
        while (!__atomic_compare_exchange_n(&p->thread_free, &cur,
                                            (cur & ~(uintptr_t)TF_MASK) | TF_QUEUED, true,
                                            __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            ;
        return;   /* p must not be touched after this: it may be retired */
    }
}

/* ------------------------------------------------------------- arenas */

static void arena_usable_add(arena *a)
{
    if (a->usable) return;
    a->usable = true; a->uprev = NULL; a->unext = ar.usable;
    if (ar.usable) ar.usable->uprev = a;
    ar.usable = a;
}
static void arena_usable_remove(arena *a)
{
    if (!a->usable) return;
    a->usable = false;
    if (a->uprev) a->uprev->unext = a->unext; else ar.usable = a->unext;
    if (a->unext) a->unext->uprev = a->uprev;
}

/* The empty arenas: every pool free, kept for reuse for a while (the
   policy is at the top of this file). ar.lock held for all of these. */
#define ARENA_DECAY_NS   1000000000ull          /* 1 s */
#define ARENA_KEEP_MIN   8
#define ARENA_KEEP_MAX   64

static uint64_t coarse_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void arena_empty_add(arena *a, uint64_t now)
{
    a->empty = true;
    a->emptied_ns = now;
    a->enext = NULL; a->eprev = ar.empty_tail;
    if (ar.empty_tail) ar.empty_tail->enext = a; else ar.empty_head = a;
    ar.empty_tail = a;
    ar.nempty++;
}

static void arena_empty_remove(arena *a)
{
    if (!a->empty) return;
    a->empty = false;
    if (a->eprev) a->eprev->enext = a->enext; else ar.empty_head = a->enext;
    if (a->enext) a->enext->eprev = a->eprev; else ar.empty_tail = a->eprev;
    ar.nempty--;
}

static void arena_release(arena *a);

/* Release the empty arenas over the cap, then those empty for longer than
   the decay, oldest first; the newest stays (the spare). force: all but the
   spare. */
static void arenas_trim(bool force)
{
    if (ar.nempty <= 1) return;
    size_t used = ar.narenas - ar.nempty;
    size_t keep = force ? 1 : used < ARENA_KEEP_MIN ? ARENA_KEEP_MIN : used > ARENA_KEEP_MAX ? ARENA_KEEP_MAX : used;
    while (ar.nempty > keep) arena_release(ar.empty_head);
    if (ar.nempty <= 1) return;
    uint64_t now = coarse_ns(), decay = ar.decay_ns ? ar.decay_ns : ARENA_DECAY_NS;
    while (ar.nempty > 1 && now - ar.empty_head->emptied_ns >= decay) arena_release(ar.empty_head);
}

/* Reserve the region once. Called with ar.lock held. */
static bool region_reserve(void)
{
    if (region.length) return true;
    if (ar.reserve_failed) return false;
    for (size_t want = TG_ALLOC_RESERVE; want >= ((size_t)64 << 20); want /= 2) {
        size_t len = want + ARENA_SIZE;          /* slack to align the base */
        char *m = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) continue;
        uintptr_t base = ((uintptr_t)m + ARENA_SIZE - 1) & ~(uintptr_t)(ARENA_SIZE - 1);
        ar.nslots = want / ARENA_SIZE;
        ar.free_slots = mmap(NULL, ar.nslots * sizeof(uint32_t), PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (ar.free_slots == MAP_FAILED) { munmap(m, len); ar.free_slots = NULL; continue; }
        __atomic_store_n(&region.base, base, __ATOMIC_RELAXED);
        __atomic_store_n(&region.length, want, __ATOMIC_RELEASE);
        return true;
    }
    ar.reserve_failed = true;
    return false;
}

/* A fresh committed arena, or NULL. ar.lock held. */
static arena *arena_new(void)
{
    if (!region_reserve()) return NULL;
    size_t slot;
    if (ar.nfree_slots) slot = ar.free_slots[--ar.nfree_slots];
    else if (ar.next_slot < ar.nslots) slot = ar.next_slot++;
    else return NULL;
    char *addr = (char *)region.base + slot * ARENA_SIZE;
    if (mmap(addr, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)
        == MAP_FAILED) {
        ar.free_slots[ar.nfree_slots++] = (uint32_t)slot;
        return NULL;
    }
    UNPOISON(addr, ARENA_SIZE);
    arena *a = (arena *)addr;
    a->magic = ARENA_MAGIC;
    a->nfree = a->nfresh = POOLS_PER_ARENA - 1;
    a->free_pools = NULL;
    a->usable = false;
    a->empty = false;                           /* its first pool is taken at once */
    a->owner = NULL;
    a->prev = NULL; a->next = ar.all;
    if (ar.all) ar.all->prev = a;
    ar.all = a;
    arena_usable_add(a);
    ar.narenas++;
    if (ar.narenas > ar.peak) ar.peak = ar.narenas;
    ar.mapped_total++;
    return a;
}

/* Give an empty arena back to the OS. ar.lock held. */
static void arena_release(arena *a)
{
    arena_usable_remove(a);
    arena_empty_remove(a);
    if (a->prev) a->prev->next = a->next; else ar.all = a->next;
    if (a->next) a->next->prev = a->prev;
    ar.narenas--; ar.released_total++;
    size_t slot = ((uintptr_t)a - region.base) / ARENA_SIZE;
    UNPOISON(a, ARENA_SIZE);
    /* mmap over it: the pages go away, the address range stays reserved */
    mmap(a, ARENA_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    ar.free_slots[ar.nfree_slots++] = (uint32_t)slot;
}

/* A free pool for heap h, or NULL. ar.lock held.
   From an arena h owns, else one nobody owns (h takes it), else a new one
   (h's); only when no arena can be mapped, one of another heap. Two threads'
   pools side by side in one arena cost each other 7-20% of their speed
   when both turn pools over: a thread that kept and freed 600-2,000
   64-byte blocks at a time slowed a thread making cyclic garbage beside it
   from 13.75M to 11.07M ops/s in one process, not at all as a separate
   process, and not with glibc's malloc (docs/PERFORMANCE.md); per-heap
   arenas took most of that back. Likely one core's prefetchers pulling in
   the neighbour's adjacent pool lines and metadata, which the other core
   then has to take back (this machine has no counters to show it).
   mimalloc's segments are per thread too. The walk of the usable list is
   the slow path's (a heap's cache of empty pools is empty). */
static pool *arena_take_pool(heap *h)
{
    arena *a = NULL;
    for (arena *x = ar.usable; x; x = x->unext) {
        if (x->owner == h) { a = x; break; }
        if (!x->owner && !a) a = x;
    }
    if (!a && !(a = arena_new())) a = ar.usable;
    if (!a) return NULL;
    if (!a->owner) a->owner = h;
    arena_empty_remove(a);
    pool *p;
    if (a->free_pools) { p = a->free_pools; a->free_pools = p->next; }
    else p = pool_meta(a, (size_t)(POOLS_PER_ARENA - a->nfresh--));
    if (--a->nfree == 0) arena_usable_remove(a);
    ar.pools_in_use++;
    return p;
}

/* ar.lock held. */
static void arena_put_pool(pool *p)
{
    arena *a = arena_of(p);
    __atomic_store_n(&p->state, PS_FREE, __ATOMIC_RELAXED);
    __atomic_store_n(&p->heap, NULL, __ATOMIC_RELAXED);
    p->thread_free = 0;
    UNPOISON(pool_data(p), POOL_SIZE);
    p->next = a->free_pools; a->free_pools = p;
    ar.pools_in_use--;
    if (a->nfree++ == 0) arena_usable_add(a);
    if (a->nfree == POOLS_PER_ARENA - 1) {
        a->owner = NULL;                        /* all free: anyone's again */
        arena_empty_add(a, coarse_ns());
    }
    arenas_trim(false);
}

/* Heap h gives up its pools (thread exit, detach, fork child): the arenas it
   took pools from are nobody's, so that other heaps take their free pools.
   ar.lock held. */
static void arenas_disown(heap *h)
{
    for (arena *a = ar.all; a; a = a->next)
        if (a->owner == h) a->owner = NULL;
}

/* ------------------------------------------------------------- pools */

/* Make p (fresh from an arena or a cache) a pool of class c owned by h. */
static void pool_init(pool *p, heap *h, size_t c)
{
    size_t size = class_size(c);
    char *data = pool_data(p);
    p->free = NULL;
    set_used(p, 0);
    __atomic_store_n(&p->size, (uint16_t)size, __ATOMIC_RELAXED);
    __atomic_store_n(&p->cls, (uint8_t)c, __ATOMIC_RELAXED);
    p->flags = 0;
    p->capacity = (uint16_t)(POOL_SIZE / size);
    p->bump = data;
    p->limit = p->bump + (size_t)p->capacity * size;
    p->next = p->prev = NULL;
    p->rnext = NULL;
    __atomic_store_n(&p->thread_free, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&p->heap, h, __ATOMIC_RELEASE);
    owned_add(h, p);
    __atomic_store_n(&p->state, PS_OWNED, __ATOMIC_RELAXED);
    POISON(data, POOL_SIZE);
    VG_NOACCESS(data, POOL_SIZE);
}

/* Carve a batch of blocks from the pool's uncarved tail onto its free list. */
static void pool_carve(pool *p)
{
    size_t size = p->size;
    size_t n = (size_t)(p->limit - p->bump) / size;
    size_t batch = CARVE_BYTES / size;
    if (batch < 4) batch = 4;
    if (n > batch) n = batch;
    block *head = p->free;
    char *end = p->bump + n * size;
    for (char *q = end - size; q >= p->bump; q -= size) {
        link_set((block *)q, head);
        head = (block *)q;
    }
    p->bump = end;
    p->free = head;
}

/* An empty pool leaves heap h: to its cache or its arena. */
static void pool_retire(heap *h, pool *p)
{
    owned_remove(h, p);
    if (h->ncache < TG_ALLOC_HEAP_CACHE) {
        __atomic_store_n(&p->state, PS_CACHED, __ATOMIC_RELAXED);
        p->next = h->cache; h->cache = p; h->ncache++;
        return;
    }
    pthread_mutex_lock(&ar.lock);
    arena_put_pool(p);
    pthread_mutex_unlock(&ar.lock);
}

/* An abandoned pool of class c, now owned by h, or NULL. */
static pool *pool_adopt(heap *h, size_t c)
{
    if (__atomic_load_n(&ab.count[c], __ATOMIC_RELAXED) == 0) return NULL;
    pthread_mutex_lock(&ab.lock);
    pool *p = ab.list[c];
    if (p) {
        list_remove(&ab.list[c], p);
        __atomic_store_n(&ab.count[c], ab.count[c] - 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&ab.lock);
    if (!p) return NULL;
    __atomic_store_n(&p->heap, h, __ATOMIC_RELEASE);
    __atomic_store_n(&p->state, PS_OWNED, __ATOMIC_RELAXED);
    p->flags = 0;
    owned_add(h, p);
    take_announced(p);          /* NEVER -> NORMAL: remote frees announce to h from now */
    COUNT(pools_adopted);
    return p;
}

static size_t sweep_abandoned(size_t budget);

/* A pool of class c for h: its cache, an abandoned pool, an arena. */
static pool *pool_acquire(heap *h, size_t c)
{
    pool *p = pool_adopt(h, c);
    if (p) return p;
    if (h->cache) {
        p = h->cache; h->cache = p->next; h->ncache--;
        pool_init(p, h, c);
        return p;
    }
    pthread_mutex_lock(&ar.lock);
    size_t mapped = ar.mapped_total;
    p = arena_take_pool(h);
    mapped = ar.mapped_total - mapped;
    pthread_mutex_unlock(&ar.lock);
    /* The heap grew by an arena: first give back what abandoned pools no
       longer use, so they do not pin arenas while nobody adopts them. */
    if (mapped && p) sweep_abandoned(4 * POOLS_PER_ARENA);
    if (!p) {
        /* region exhausted or mmap failed: free empty abandoned pools and retry
           (bounded: while the range stays full every refill comes here) */
        if (sweep_abandoned(4 * POOLS_PER_ARENA) == 0) return NULL;
        pthread_mutex_lock(&ar.lock);
        p = arena_take_pool(h);
        pthread_mutex_unlock(&ar.lock);
        if (!p) return NULL;
    }
    pool_init(p, h, c);
    return p;
}

/* ------------------------------------------------------------- owner frees */

/* An empty pool may leave the heap unless it is the heap's only pool of its
   class or is on the remote_pools list (QUEUED/FREEING: the list still
   points at it; the drain retires it). */
static inline bool may_retire(heap *h, pool *p)
{
    return p->used == 0 && !(h->avail[p->cls] == p && p->next == NULL)
        && (__atomic_load_n(&p->thread_free, __ATOMIC_RELAXED) & TF_MASK) == TF_NORMAL;
}

/* After blocks went onto p->free by its owner: the pool was full or is now empty. */
static NOINLINE void free_owner_slow(heap *h, pool *p)
{
    if (p->flags & PF_FULL) {
        p->flags &= (uint8_t)~PF_FULL;
        avail_append(h, p);
    }
    if (may_retire(h, p)) {
        avail_remove(h, p);
        pool_retire(h, p);
    }
}

static inline void free_owner(heap *h, pool *p, block *b)
{
    uint32_t u = p->used - 1;
    link_set(b, p->free);
    p->free = b;
    set_used(p, u);
    if (TG_UNLIKELY(u == 0 || (p->flags & PF_FULL)))
        free_owner_slow(h, p);
}

/* Take back the blocks of every pool other threads announced (h is ours). */
static size_t drain_remote(heap *h)
{
    if (__atomic_load_n(&h->remote_pools, __ATOMIC_RELAXED) == NULL) return 0;
    pool *p = __atomic_exchange_n(&h->remote_pools, NULL, __ATOMIC_ACQUIRE);
    size_t n = 0;
    while (p) {
        pool *nx = p->rnext;            /* read before the state goes back to NORMAL */
        n += take_announced(p);
        if ((p->flags & PF_FULL) && p->free) { p->flags &= (uint8_t)~PF_FULL; avail_append(h, p); }
        if (!(p->flags & PF_FULL) && may_retire(h, p)) { avail_remove(h, p); pool_retire(h, p); }
        p = nx;
    }
    return n;
}

/* ------------------------------------------------------------- large blocks */

static void *large_alloc(size_t n)
{
    if (n > SIZE_MAX - sizeof(large_hdr)) return NULL;
    large_hdr *hd = malloc(sizeof(large_hdr) + n);
    if (!hd) return NULL;
    hd->size = n; hd->magic = LARGE_MAGIC;
    pthread_mutex_lock(&lg.lock);
    hd->prev = &lg.head; hd->next = lg.head.next;
    lg.head.next->prev = hd; lg.head.next = hd;
    lg.n++; lg.bytes += n;
    pthread_mutex_unlock(&lg.lock);
    return hd + 1;
}

static inline large_hdr *large_hdr_of(void *p)
{
    large_hdr *hd = (large_hdr *)p - 1;
    if (TG_DEBUG >= 1 && hd->magic != LARGE_MAGIC) {
        fprintf(stderr, "tangle: tg_mem_free(%p): not a tangle block (bad header)\n", p);
        abort();
    }
    return hd;
}

static void large_free(void *p)
{
    large_hdr *hd = large_hdr_of(p);
    pthread_mutex_lock(&lg.lock);
    hd->prev->next = hd->next; hd->next->prev = hd->prev;
    lg.n--; lg.bytes -= hd->size;
    pthread_mutex_unlock(&lg.lock);
    hd->magic = 0;
    free(hd);
}

/* NULL if the system allocator fails (p is then untouched and still listed). */
static void *large_realloc(void *p, size_t n)
{
    large_hdr *hd = large_hdr_of(p);
    if (n > SIZE_MAX - sizeof(large_hdr)) return NULL;
    /* unlinked while realloc may move it; relinked whatever happens */
    pthread_mutex_lock(&lg.lock);
    hd->prev->next = hd->next; hd->next->prev = hd->prev;
    pthread_mutex_unlock(&lg.lock);
    size_t old = hd->size;
    large_hdr *nh = realloc(hd, sizeof(large_hdr) + n);
    bool ok = nh != NULL;
    if (ok) nh->size = n; else nh = hd;
    pthread_mutex_lock(&lg.lock);
    nh->prev = &lg.head; nh->next = lg.head.next;
    lg.head.next->prev = nh; lg.head.next = nh;
    lg.bytes = lg.bytes - old + nh->size;
    pthread_mutex_unlock(&lg.lock);
    return ok ? nh + 1 : NULL;
}

/* ------------------------------------------------------------- heaps */

static void heap_abandon(heap *h);

static void key_destructor(void *v)
{
    heap *h = v;
    if (h && h->live) heap_abandon(h);
    if (tls_heap == h) tls_heap = &empty_heap;
}

static void atfork_prepare(void);
static void atfork_parent(void);
static void atfork_child(void);

static void heaps_once(void)
{
    pthread_key_create(&hp.key, key_destructor);
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* Register the fork handlers when the library loads, before the runtime
   registers its own (sync/fork.c): prepare handlers run in reverse order of
   registration, so ours runs last and the allocator's locks are the innermost
   ones taken around fork(), after any runtime lock a thread may hold while it
   allocates. (glibc places its malloc locks the same way.) */
__attribute__((constructor)) static void alloc_load(void)
{
    pthread_once(&hp_once, heaps_once);
}

static void heap_reset(heap *h)
{
    for (int c = 0; c < NCLASSES; c++) h->avail[c] = &empty_pool;
    h->pools = NULL; h->cache = NULL; h->ncache = 0;
    __atomic_store_n(&h->remote_pools, NULL, __ATOMIC_RELAXED);
}

static COLD heap *heap_create(void)
{
    pthread_once(&hp_once, heaps_once);
    pthread_mutex_lock(&hp.lock);
    heap *h = hp.recycled;
    if (h) hp.recycled = h->next_free;
    pthread_mutex_unlock(&hp.lock);
    if (!h) {
        h = calloc(1, sizeof *h);
        if (!h) return NULL;
        pthread_mutex_lock(&hp.lock);
        h->next_all = hp.all; hp.all = h;
        pthread_mutex_unlock(&hp.lock);
    }
    heap_reset(h);
    h->live = true;
    tls_heap = h;
    pthread_setspecific(hp.key, h);
    return h;
}

/* Wait out FREEING, then set NEVER: from now on remote freers only push onto
   thread_free and nobody touches the owner heap on p's behalf. */
static void pool_settle(pool *p)
{
    int spins = 0;
    uintptr_t cur = __atomic_load_n(&p->thread_free, __ATOMIC_ACQUIRE);
    for (;;) {
        if ((cur & TF_MASK) == TF_FREEING) {
            cpu_relax(&spins);
            cur = __atomic_load_n(&p->thread_free, __ATOMIC_ACQUIRE);
        } else if (__atomic_compare_exchange_n(&p->thread_free, &cur, cur | TF_NEVER, true,
                                               __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return;
    }
}

/* Hand pool p (no longer on any heap list, state NEVER) over: arena if empty,
   else the abandoned list of its class. */
static void pool_abandon(pool *p)
{
    collect_thread_free(p);
    p->flags = 0;
    p->next = p->prev = NULL;
    if (p->used == 0) {
        pthread_mutex_lock(&ar.lock);
        arena_put_pool(p);
        pthread_mutex_unlock(&ar.lock);
        return;
    }
    __atomic_store_n(&p->state, PS_ABANDONED, __ATOMIC_RELAXED);
    __atomic_store_n(&p->heap, NULL, __ATOMIC_RELEASE);
    pthread_mutex_lock(&ab.lock);
    list_push(&ab.list[p->cls], p);
    __atomic_store_n(&ab.count[p->cls], ab.count[p->cls] + 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&ab.lock);
    COUNT(pools_abandoned);
}

/* Move every pool of h to the abandoned lists (or its arena). `in_fork_child`:
   no other thread exists, so a FREEING left by a thread of the parent is final. */
static void heap_release_pools(heap *h, bool in_fork_child)
{
    for (pool *p = h->pools; p; p = p->hnext) {
        if (in_fork_child) p->thread_free |= TF_NEVER;
        else pool_settle(p);
    }
    /* nobody pushes onto h->remote_pools any more; its pools are all in h->pools */
    __atomic_store_n(&h->remote_pools, NULL, __ATOMIC_RELAXED);
    for (pool *p = h->pools, *nx; p; p = nx) { nx = p->hnext; pool_abandon(p); }
    pthread_mutex_lock(&ar.lock);
    for (pool *p = h->cache, *nx; p; p = nx) { nx = p->next; arena_put_pool(p); }
    arenas_disown(h);
    pthread_mutex_unlock(&ar.lock);
    heap_reset(h);
}

static void heap_abandon(heap *h)
{
    heap_release_pools(h, false);
    h->live = false;
    pthread_mutex_lock(&hp.lock);
    h->next_free = hp.recycled; hp.recycled = h;
    pthread_mutex_unlock(&hp.lock);
}

/* ------------------------------------------------------------- fault injection */

void _tg_alloc_fault_breakpoint(void) { __asm__ volatile("" ::: "memory"); }

static bool should_fail(void)
{
    if (!__atomic_load_n(&fail_armed, __ATOMIC_RELAXED)) return false;
    long v = __atomic_fetch_sub(&fail_countdown, 1, __ATOMIC_RELAXED);
    if (v != 0) return false;
    __atomic_store_n(&fail_armed, 0, __ATOMIC_RELAXED);
    COUNT(faults_injected);
    _tg_alloc_fault_breakpoint();
    return true;
}

TG_API void tg_mem_fail_after(long n)
{
    __atomic_store_n(&fail_armed, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fail_countdown, n < 0 ? -1 : n, __ATOMIC_RELAXED);
    if (n >= 0) __atomic_store_n(&fail_armed, 1, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------- allocation */

/* A block of class c for heap h, or NULL when no pool can be had. */
static block *heap_refill(heap *h, size_t c)
{
    for (;;) {
        pool *p = h->avail[c];
        if (p != &empty_pool) {
            if (p->free) goto pop;
            if (p->bump < p->limit) { pool_carve(p); goto pop; }
            if (collect_thread_free(p)) goto pop;
            /* exhausted: off the avail list; a free into it (ours, or announced
               through remote_pools) brings it back */
            avail_remove(h, p);
            p->flags |= PF_FULL;
            continue;
        }
        if (drain_remote(h) && h->avail[c] != &empty_pool) continue;
        p = pool_acquire(h, c);
        if (!p) return NULL;
        avail_push(h, p);
        continue;
    pop:;
        block *b = p->free;
        p->free = link_get(b);
        set_used(p, p->used + 1);
        return b;
    }
}

/* Any request, no fault injection. */
static void *alloc_nocheck(size_t n)
{
    if (n - 1 >= TG_ALLOC_SMALL_MAX) return large_alloc(n);
    heap *h = tls_heap;
    if (h == &empty_heap && !(h = heap_create())) return large_alloc(n);
    size_t c = class_of(n);
    block *b = heap_refill(h, c);
    if (!b) return large_alloc(n);          /* no pool to be had: system allocator */
    return block_give(b, class_size(c));
}

static NOINLINE void *alloc_slow(size_t n)
{
#if TG_DEBUG >= 3
    /* whole-heap validation on every slow path (TANGLE_DEBUG=3 only) */
    if (_tg_alloc_validate() != 0) abort();
#endif
    if (should_fail()) return NULL;
    return alloc_nocheck(n);
}

/* The fast path: a TLS load, an indexed load, a pop. */
TG_API void *tg_mem_alloc(size_t n)
{
    if (TG_LIKELY(n - 1 < TG_ALLOC_SMALL_MAX) && TG_LIKELY(!__atomic_load_n(&fail_armed, __ATOMIC_RELAXED))) {
        heap *h = tls_heap;
        pool *p = h->avail[class_of(n)];
        block *b = p->free;
        if (TG_LIKELY(b != NULL)) {
            block *next = link_get(b);
            p->free = next;
#if TG_ALLOC_PREFETCH
            __builtin_prefetch(next, 1);   /* the next allocation of this class reads its link */
#endif
            set_used(p, p->used + 1);
            return block_give(b, p->size);
        }
    }
    return alloc_slow(n);
}

static NOINLINE void free_slow(void *ptr)
{
    if (ptr == NULL) return;
    large_free(ptr);
}

TG_API void tg_mem_free(void *ptr)
{
    if (TG_LIKELY(in_region(ptr))) {
        pool *p = pool_of(ptr);
        block *b = ptr;
        if (TG_DEBUG >= 1 && TG_UNLIKELY(__atomic_load_n(&p->state, __ATOMIC_RELAXED) == PS_FREE
                                         || ((char *)b - pool_data(p)) % p->size != 0)) {
            fprintf(stderr, "tangle: tg_mem_free(%p): not an allocated block\n", ptr);
            abort();
        }
        block_take(b, p->size);
        heap *h = tls_heap;
        if (TG_LIKELY(pool_heap_relaxed(p) == h)) {
            free_owner(h, p, b);
            return;
        }
        free_remote_mt(p, b);
        return;
    }
    free_slow(ptr);
}

size_t _tg_alloc_usable_size(const void *p)
{
    if (in_region(p)) return pool_of(p)->size;
    return large_hdr_of((void *)p)->size;
}

int _tg_alloc_is_pool_block(const void *p) { return p && in_region(p); }

/* Keeps the data, moves between classes (a shrink to a smaller class moves too,
   so the memory is really given back). Fault injection counts every call with
   p != NULL as one allocation; on failure p is untouched. A shrink that cannot
   get a new block keeps the old one: it is still big enough. */
TG_API void *tg_mem_realloc(void *p, size_t n)
{
    if (p == NULL) return tg_mem_alloc(n);
    if (should_fail()) return NULL;
    if (in_region(p)) {
        size_t old = pool_of(p)->size;
        if (n != 0 && n <= old && n > old - TG_ALLOC_GRAIN) return p;   /* same class */
        void *q = alloc_nocheck(n);
        if (!q) return n <= old ? p : NULL;
        memcpy(q, p, n < old ? n : old);
        tg_mem_free(p);
        return q;
    }
    large_hdr *hd = large_hdr_of(p);
    if (n != 0 && n <= TG_ALLOC_SMALL_MAX) {               /* large -> pool */
        void *q = alloc_nocheck(n);
        if (!q) return n <= hd->size ? p : NULL;
        memcpy(q, p, n < hd->size ? n : hd->size);
        large_free(p);
        return q;
    }
    return large_realloc(p, n);
}

/* ------------------------------------------------------------- collection */

/* Return abandoned pools that remote frees have emptied to their arenas,
   looking at no more than `budget` pools (classes taken in turn). */
static size_t sweep_abandoned(size_t budget)
{
    static int cursor;          /* ab.lock */
    size_t returned = 0;
    pthread_mutex_lock(&ab.lock);
    for (int k = 0; k < NCLASSES && budget; k++) {
        int c = cursor = (cursor + 1) % NCLASSES;
        for (pool *p = ab.list[c], *nx; p && budget; p = nx, budget--) {
            nx = p->next;
            collect_thread_free(p);
            if (p->used == 0) {
                list_remove(&ab.list[c], p);
                __atomic_store_n(&ab.count[c], ab.count[c] - 1, __ATOMIC_RELAXED);
                pthread_mutex_lock(&ar.lock);
                arena_put_pool(p);
                pthread_mutex_unlock(&ar.lock);
                returned++;
            }
        }
    }
    pthread_mutex_unlock(&ab.lock);
    return returned;
}

size_t _tg_alloc_collect(void)
{
    size_t returned = 0;
    heap *h = tls_heap;
    if (h != &empty_heap) {
        drain_remote(h);
        for (pool *p = h->pools, *nx; p; p = nx) {
            nx = p->hnext;
            collect_thread_free(p);
            if (p->flags & PF_FULL) {
                if (!p->free) continue;
                p->flags &= (uint8_t)~PF_FULL;
                avail_push(h, p);
            }
            if (p->used == 0 && (__atomic_load_n(&p->thread_free, __ATOMIC_RELAXED) & TF_MASK) == TF_NORMAL) {
                avail_remove(h, p);
                owned_remove(h, p);
                pthread_mutex_lock(&ar.lock);
                arena_put_pool(p);
                pthread_mutex_unlock(&ar.lock);
                returned++;
            }
        }
        pthread_mutex_lock(&ar.lock);
        for (pool *p = h->cache, *nx; p; p = nx) { nx = p->next; arena_put_pool(p); returned++; }
        pthread_mutex_unlock(&ar.lock);
        h->cache = NULL; h->ncache = 0;
    }
    returned += sweep_abandoned(SIZE_MAX);
    pthread_mutex_lock(&ar.lock);
    arenas_trim(true);                       /* every empty arena but the spare */
    pthread_mutex_unlock(&ar.lock);
    return returned;
}

void _tg_alloc_set_arena_decay(uint64_t ns)
{
    pthread_mutex_lock(&ar.lock);
    ar.decay_ns = ns;
    pthread_mutex_unlock(&ar.lock);
}

/* ------------------------------------------------------------- validation */

static size_t list_len(block *b)
{
    size_t n = 0;
    for (; b; b = link_get(b)) n++;
    return n;
}

static int validate_pool(heap *h, pool *p, size_t c, bool full)
{
    size_t uncarved = (size_t)(p->limit - p->bump) / p->size;
    size_t nfree = list_len(p->free);
    if (p->cls != c || pool_heap_relaxed(p) != h) {
        fprintf(stderr, "tangle alloc: pool %p on the wrong list\n", (void *)p); return -1;
    }
    if (p->used + nfree + uncarved != p->capacity) {
        fprintf(stderr, "tangle alloc: pool %p: used %u + free %zu + uncarved %zu != capacity %u\n",
                (void *)p, p->used, nfree, uncarved, p->capacity);
        return -2;
    }
    if (full && (p->free || p->bump != p->limit)) {
        fprintf(stderr, "tangle alloc: pool %p on the full list is not full\n", (void *)p); return -3;
    }
    return 0;
}

int _tg_alloc_validate(void)
{
    heap *h = tls_heap;
    if (h == &empty_heap) return 0;
    int rc;
    size_t on_avail = 0, owned = 0;
    for (int c = 0; c < NCLASSES; c++)
        for (pool *p = h->avail[c]; p && p != &empty_pool; p = p->next) {
            if ((rc = validate_pool(h, p, (size_t)c, false))) return rc;
            if (p->flags & PF_FULL) { fprintf(stderr, "tangle alloc: full pool on avail\n"); return -5; }
            on_avail++;
        }
    for (pool *p = h->pools; p; p = p->hnext) {
        owned++;
        if (p->flags & PF_FULL) { if ((rc = validate_pool(h, p, p->cls, true))) return rc; on_avail++; }
    }
    if (on_avail != owned) {
        fprintf(stderr, "tangle alloc: %zu pools owned but %zu on avail lists or full\n", owned, on_avail);
        return -4;
    }
    return 0;
}

void _tg_alloc_get_counters(_tg_alloc_counters *out)
{
    out->pools_abandoned = __atomic_load_n(&counters.pools_abandoned, __ATOMIC_RELAXED);
    out->pools_adopted = __atomic_load_n(&counters.pools_adopted, __ATOMIC_RELAXED);
    out->remote_frees = __atomic_load_n(&counters.remote_frees, __ATOMIC_RELAXED);
    out->remote_announces = __atomic_load_n(&counters.remote_announces, __ATOMIC_RELAXED);
    out->faults_injected = __atomic_load_n(&counters.faults_injected, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------- stats */

typedef struct class_stats { size_t pools, used, capacity; } class_stats;

/* Walk every pool in use; ar.lock held. */
static void walk_pools(class_stats cs[NCLASSES])
{
    memset(cs, 0, sizeof(class_stats) * NCLASSES);
    for (arena *a = ar.all; a; a = a->next) {
        int first = POOLS_PER_ARENA - (int)a->nfresh;   /* pools beyond are fresh */
        for (int i = 1; i < first; i++) {
            pool *p = pool_meta(a, (size_t)i);
            uint8_t st = __atomic_load_n(&p->state, __ATOMIC_RELAXED);
            if (st != PS_OWNED && st != PS_ABANDONED) continue;
            uint8_t c = __atomic_load_n(&p->cls, __ATOMIC_RELAXED);
            if (c >= NCLASSES) continue;
            uint16_t size = __atomic_load_n(&p->size, __ATOMIC_RELAXED);
            cs[c].pools++;
            cs[c].used += __atomic_load_n(&p->used, __ATOMIC_RELAXED);
            cs[c].capacity += POOL_SIZE / (size ? size : 1);
        }
    }
}

TG_API void tg_mem_get_stats(tg_mem_stats *out)
{
    class_stats cs[NCLASSES];
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&ar.lock);
    walk_pools(cs);
    out->arenas = ar.narenas;
    out->arenas_peak = ar.peak;
    out->pools = ar.pools_in_use;
    out->bytes_mapped = ar.narenas * ARENA_SIZE;
    pthread_mutex_unlock(&ar.lock);
    pthread_mutex_lock(&lg.lock);
    out->large_bytes = lg.bytes;
    out->bytes_mapped += lg.bytes + lg.n * sizeof(large_hdr);
    pthread_mutex_unlock(&lg.lock);
    out->bytes_in_use = out->large_bytes;
    for (size_t c = 0; c < NCLASSES; c++) {
        out->blocks_in_use[c] = cs[c].used;
        out->bytes_in_use += cs[c].used * class_size(c);
    }
}

TG_API void tg_mem_dump(FILE *out)
{
    class_stats cs[NCLASSES];
    size_t narenas, peak, mapped_total, released_total, pools_in_use, nempty;
    pthread_mutex_lock(&ar.lock);
    walk_pools(cs);
    narenas = ar.narenas; peak = ar.peak; mapped_total = ar.mapped_total;
    released_total = ar.released_total; pools_in_use = ar.pools_in_use; nempty = ar.nempty;
    pthread_mutex_unlock(&ar.lock);
    pthread_mutex_lock(&lg.lock);
    size_t nlarge = lg.n, large_bytes = lg.bytes;
    pthread_mutex_unlock(&lg.lock);

    fprintf(out, "tangle allocator: %zu-byte classes up to %d bytes, %zu KiB pools, %zu KiB arenas\n",
            (size_t)TG_ALLOC_GRAIN, TG_ALLOC_SMALL_MAX, POOL_SIZE >> 10, ARENA_SIZE >> 10);
    fprintf(out, "\nclass   size   num pools   blocks in use  avail blocks\n");
    fprintf(out, "-----   ----   ---------   -------------  ------------\n");
    size_t in_blocks = 0, avail = 0, quant = 0, tot_pools = 0;
    for (size_t c = 0; c < NCLASSES; c++) {
        if (!cs[c].pools) continue;
        size_t size = class_size(c);
        fprintf(out, "%5zu %6zu %11zu %15zu %13zu\n", c, size, cs[c].pools, cs[c].used,
                cs[c].capacity - cs[c].used);
        in_blocks += cs[c].used * size;
        avail += (cs[c].capacity - cs[c].used) * size;
        quant += cs[c].pools * (POOL_SIZE % size);
        tot_pools += cs[c].pools;
    }
    size_t committed = narenas * ARENA_SIZE;
    size_t arena_hdrs = narenas * POOL_SIZE;
    size_t free_pools = committed - arena_hdrs - tot_pools * POOL_SIZE;
    fprintf(out, "\n# arenas allocated total           = %15zu\n", mapped_total);
    fprintf(out, "# arenas reclaimed                 = %15zu\n", released_total);
    fprintf(out, "# arenas highwater mark            = %15zu\n", peak);
    fprintf(out, "# arenas allocated current         = %15zu\n", narenas);
    fprintf(out, "# empty arenas kept (for reuse)    = %15zu\n", nempty);
    fprintf(out, "# bytes in arenas (%4zu x %zu KiB) = %15zu\n\n", narenas, ARENA_SIZE >> 10, committed);
    fprintf(out, "# pools in use (owned, abandoned, cached) = %8zu\n", pools_in_use);
    fprintf(out, "# bytes in allocated blocks        = %15zu\n", in_blocks);
    fprintf(out, "# bytes in available blocks        = %15zu\n", avail);
    fprintf(out, "# bytes in free or cached pools    = %15zu\n", free_pools);
    fprintf(out, "# bytes lost to quantization       = %15zu\n", quant);
    fprintf(out, "# bytes in arena and pool headers  = %15zu\n", arena_hdrs);
    fprintf(out, "Total                              = %15zu\n\n", committed);
    fprintf(out, "# large blocks (system allocator)  = %15zu\n", nlarge);
    fprintf(out, "# bytes in large blocks            = %15zu\n", large_bytes);
}

/* ------------------------------------------------------------- life cycle */

void _tg_alloc_thread_detach(void)
{
    heap *h = tls_heap;
    if (h == &empty_heap) return;
    tls_heap = &empty_heap;
    pthread_setspecific(hp.key, NULL);
    heap_abandon(h);
}

void _tg_alloc_fini(void)
{
    /* Every heap forgets its pools (their threads must not be allocating). */
    pthread_mutex_lock(&hp.lock);
    for (heap *h = hp.all; h; h = h->next_all) heap_reset(h);
    pthread_mutex_unlock(&hp.lock);
    pthread_mutex_lock(&ab.lock);
    for (int c = 0; c < NCLASSES; c++) { ab.list[c] = NULL; ab.count[c] = 0; }
    pthread_mutex_unlock(&ab.lock);
    pthread_mutex_lock(&ar.lock);
    while (ar.all) {
        arena *a = ar.all;
        arena_release(a);
    }
    ar.usable = NULL; ar.empty_head = ar.empty_tail = NULL; ar.nempty = 0; ar.pools_in_use = 0; ar.peak = 0;
    pthread_mutex_unlock(&ar.lock);
    pthread_mutex_lock(&lg.lock);
    while (lg.head.next != &lg.head) {
        large_hdr *hd = lg.head.next;
        lg.head.next = hd->next;
        hd->magic = 0;
        free(hd);
    }
    lg.head.prev = &lg.head; lg.n = 0; lg.bytes = 0;
    pthread_mutex_unlock(&lg.lock);
}

/* Fork: the prepare handler takes every allocator lock so the child inherits
   consistent lists; the child reinitialises them and adopts the heaps of the
   threads that did not come along. A thread that was inside a lock-free path
   (a fast path, a remote push) at the fork may leave one pool's free list or
   one FREEING state half-done: the child forces FREEING back to NORMAL (the
   announced block may leak) and otherwise trusts the lists. */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&hp.lock);
    pthread_mutex_lock(&ab.lock);
    pthread_mutex_lock(&ar.lock);
    pthread_mutex_lock(&lg.lock);
}
static void atfork_parent(void)
{
    pthread_mutex_unlock(&lg.lock);
    pthread_mutex_unlock(&ar.lock);
    pthread_mutex_unlock(&ab.lock);
    pthread_mutex_unlock(&hp.lock);
}
/* The child's only thread is the one that took the locks in prepare: it
   releases them (re-initialising a held mutex is undefined behaviour, and
   ThreadSanitizer reports the next lock as a double lock). */
static void atfork_child(void)
{
    atfork_parent();
    _tg_alloc_fork_child();
}

void _tg_alloc_fork_child(void)
{
    pid_t me = getpid();
    if (forked_pid == me) return;
    forked_pid = me;
    heap *mine = tls_heap;
    if (mine != &empty_heap) {
        /* A remote freer of the parent may have died between announcing a pool
           and finishing. Drain the list without waiting (FREEING is final here),
           then any pool still FREEING was never listed: back to NORMAL. */
        for (pool *p = mine->remote_pools; p; p = p->rnext)
            p->thread_free = (p->thread_free & ~(uintptr_t)TF_MASK) | TF_QUEUED;
        drain_remote(mine);
        for (pool *p = mine->pools; p; p = p->hnext)
            if ((p->thread_free & TF_MASK) == TF_FREEING) p->thread_free &= ~(uintptr_t)TF_MASK;
    }
    heap *all = hp.all;
    for (heap *h = all; h; h = h->next_all) {
        if (h == mine || !h->live) continue;
        heap_release_pools(h, true);
        h->live = false;
        h->next_free = hp.recycled; hp.recycled = h;
    }
}
