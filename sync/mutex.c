/*
 * sync/mutex.c — tg_mutex (one byte, zero = unlocked) and the parking lot.
 *
 * The byte:  bit 0 LOCKED, bit 1 PARKED (some thread is, or is about to be,
 * asleep in the parking lot on this address). The bits above belong to the
 * object that embeds the mutex (an object lock's bias state and reservation,
 * sync/bias.c): every transition here keeps them as they are, and they may
 * be set by another thread at any time. The one exception: lock_slow takes
 * over an object lock held in reserve (_TG_LOCK_STICKY), whose holder would
 * never unlock it.
 *
 *   lock   fast path: load, then CAS v -> v|LOCKED (acquire) when LOCKED is
 *          clear. One atomic.
 *   unlock fast path: load, then CAS v -> v&~LOCKED (release) when PARKED is
 *          clear. One atomic. With PARKED set the slow path wakes a waiter.
 *
 * Lock slow path: spin with exponential backoff (ck_backoff) for
 * _TG_MUTEX_SPIN tries — most critical sections are shorter than a sleep —
 * then set PARKED and park. park() re-checks, under the bucket lock, that
 * the byte still reads LOCKED|PARKED before sleeping, and the unlocker takes
 * the same bucket lock before choosing a waiter, so no wake-up is lost.
 *
 * Unlock slow path (under the bucket lock): dequeue the first waiter on this
 * address (FIFO). If it has waited longer than _TG_MUTEX_FAIR_NS, hand the
 * lock over: the byte stays LOCKED and the waiter returns owning it —
 * otherwise a thread that unlocks and relocks in a loop could starve
 * sleepers forever. Else the byte is unlocked (PARKED kept while other
 * waiters remain) and the woken waiter competes for it like a newcomer.
 * (The same policy as WebKit's WTF::Lock and CPython's PyMutex.)
 *
 * The parking lot: a fixed table of buckets hashed by address, each a
 * pthread mutex and a FIFO list of waiters. A waiter sleeps on a futex word
 * in its own stack frame; the waker sets it with a release store before the
 * futex wake, and the waiter reads it with an acquire load, so everything
 * the waker did (a handed-over critical section's writes) is visible to it.
 */
#include <ck_backoff.h>
#include <ck_pr.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "sync/sync.h"
#include "sync/chaos.h"

enum { M_LOCKED = 1, M_PARKED = 2 };

/* Tries before parking, with ck_backoff_eb between them (an empty loop of
   16, 32, ... capped at 4096 iterations, about a cycle each): ~60,000
   iterations in all, roughly 20-30 us — longer than the critical sections
   object locks protect, about the cost of the futex sleep + wake-up that
   spinning saves. */
#define _TG_MUTEX_SPIN 20
#define _TG_MUTEX_BACKOFF_MAX 4096
/* A waiter older than this gets the lock handed to it (CPython: 1 ms). */
#define _TG_MUTEX_FAIR_NS 1000000u
#define NBUCKETS 256               /* power of two */

typedef struct waiter {
    struct waiter *next;
    const void    *addr;
    uint64_t       since;          /* when it started waiting */
    _Atomic uint32_t futex;        /* 0 asleep, 1 woken, 2 woken with the lock */
} waiter;

typedef struct bucket {
    pthread_mutex_t lock;
    waiter *head, *tail;
} __attribute__((aligned(64))) bucket;

static bucket lot[NBUCKETS];
static pthread_once_t lot_once = PTHREAD_ONCE_INIT;

static void lot_init(void)
{
    for (int i = 0; i < NBUCKETS; i++) {
        pthread_mutex_init(&lot[i].lock, NULL);
        lot[i].head = lot[i].tail = NULL;
    }
}

static bucket *bucket_of(const void *addr)
{
    uintptr_t a = (uintptr_t)addr;
    a ^= a >> 17;
    a *= 0x9E3779B97F4A7C15ull;
    return &lot[(a >> 56) & (NBUCKETS - 1)];
}

static void futex_wait(_Atomic uint32_t *w, uint32_t val)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}
static void futex_wake(_Atomic uint32_t *w)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Sleep on addr if *addr still reads `expect`. Returns 2 if the lock was
   handed over, 1 if woken (or the value changed) and the caller retries. */
static int park(uint8_t *addr, uint8_t expect, uint64_t since)
{
    pthread_once(&lot_once, lot_init);
    bucket *b = bucket_of(addr);
    waiter w = { .next = NULL, .addr = addr, .since = since };
    atomic_init(&w.futex, 0);
    pthread_mutex_lock(&b->lock);
    if (__atomic_load_n(addr, __ATOMIC_RELAXED) != expect) {
        pthread_mutex_unlock(&b->lock);
        return 1;
    }
    if (b->tail) b->tail->next = &w; else b->head = &w;
    b->tail = &w;
    pthread_mutex_unlock(&b->lock);
    uint32_t v;
    /* acquire: pairs with the waker's release store (handed-over data) */
    while ((v = atomic_load_explicit(&w.futex, memory_order_acquire)) == 0)
        futex_wait(&w.futex, 0);
    /* The waker does not touch w after its futex store... except for the
       wake call, which only uses the address: safe even if w is gone. */
    return (int)v;
}

static TG_NOINLINE void unlock_slow(tg_mutex *m)
{
    pthread_once(&lot_once, lot_init);
    bucket *b = bucket_of(m);
    pthread_mutex_lock(&b->lock);
    waiter *w = NULL, *prev = NULL;
    for (waiter *x = b->head; x; prev = x, x = x->next)
        if (x->addr == m) { w = x; break; }
    bool more = false;
    if (w) {
        if (prev) prev->next = w->next; else b->head = w->next;
        if (b->tail == w) b->tail = prev;
        for (waiter *x = w->next; x; x = x->next)
            if (x->addr == m) { more = true; break; }
    }
    uint32_t how = 1;
    if (w && _tg_now_ns() - w->since > _TG_MUTEX_FAIR_NS) {
        /* hand-off: stays LOCKED; release so the new owner (acquire on its
           futex word) sees our critical section */
        how = 2;
    }
    /* A CAS loop, not a store: a waiter may set PARKED and the object may
       set its own bits (above PARKED) meanwhile. release: the critical
       section happens before the next locker's acquire (hand-off: before
       the new owner's acquire load of its futex word). */
    uint8_t v = __atomic_load_n(&m->v, __ATOMIC_RELAXED), nv;
    do {
        nv = (uint8_t)((v & ~(M_LOCKED | M_PARKED)) | (how == 2 ? M_LOCKED : 0) | (more ? M_PARKED : 0));
    } while (!__atomic_compare_exchange_n(&m->v, &v, nv, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
    if (w) {
        /* release: pairs with the waiter's acquire load of its futex word */
        atomic_store_explicit(&w->futex, how, memory_order_release);
        futex_wake(&w->futex);
    }
    pthread_mutex_unlock(&b->lock);
}

static TG_NOINLINE void lock_slow(tg_mutex *m)
{
    ck_backoff_t backoff = 16;
    uint64_t since = 0;
    int spins = 0;
    for (;;) {
        uint8_t v = __atomic_load_n(&m->v, __ATOMIC_RELAXED);
        if (!(v & M_LOCKED)) {
            /* acquire: the previous holder's critical section happens before ours */
            if (__atomic_compare_exchange_n(&m->v, &v, (uint8_t)(v | M_LOCKED), false,
                                            __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                return;
            continue;
        }
        if ((v & (_TG_LOCK_STICKY | _TG_LOCK_TAKING)) == _TG_LOCK_STICKY) {
            /* an object lock held in reserve (sync/bias.c): its holder
               does not unlock it; take it over */
            if (_tg_sticky_steal_any((tg_obj *)(void *)((char *)m - offsetof(tg_obj, ob_mutex))))
                return;
            continue;
        }
        if (spins < _TG_MUTEX_SPIN && !(v & M_PARKED)) {
            spins++;
            ck_backoff_eb(&backoff);
            if (backoff > _TG_MUTEX_BACKOFF_MAX) backoff = _TG_MUTEX_BACKOFF_MAX;
            continue;
        }
        if (!(v & M_PARKED)) {
            /* relaxed: PARKED carries no data, the bucket lock orders the rest */
            if (!__atomic_compare_exchange_n(&m->v, &v, (uint8_t)(v | M_PARKED), false,
                                             __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                continue;
        }
        if (!since) since = _tg_now_ns();
        if (park(&m->v, (uint8_t)(v | M_LOCKED | M_PARKED), since) == 2)
            return;                    /* handed over: we own it */
    }
}

TG_API void tg_mutex_lock(tg_mutex *m)
{
    TG_CHAOS_POINT(TG_CHAOS_SITE_LOCK_ACQUIRE);
    uint8_t v = __atomic_load_n(&m->v, __ATOMIC_RELAXED);
    /* acquire: see the previous critical section's writes */
    if (TG_LIKELY(!(v & M_LOCKED))
        && TG_LIKELY(__atomic_compare_exchange_n(&m->v, &v, (uint8_t)(v | M_LOCKED), false,
                                                 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)))
        return;
    lock_slow(m);
}

TG_API void tg_mutex_unlock(tg_mutex *m)
{
    uint8_t v = __atomic_load_n(&m->v, __ATOMIC_RELAXED);
    /* release: publish this critical section to the next holder. Retried
       when only the object's own bits changed under us. */
    while (TG_LIKELY(!(v & M_PARKED))) {
#if TG_DEBUG >= 1
        if (!(v & M_LOCKED)) _tg_fatal("tg_mutex_unlock: mutex %p is not locked", (void *)m);
#endif
        if (TG_LIKELY(__atomic_compare_exchange_n(&m->v, &v, (uint8_t)(v & ~M_LOCKED), false,
                                                  __ATOMIC_RELEASE, __ATOMIC_RELAXED))) {
            TG_CHAOS_POINT(TG_CHAOS_SITE_LOCK_RELEASE);
            return;
        }
    }
    unlock_slow(m);
}

TG_API int tg_mutex_trylock(tg_mutex *m)
{
    uint8_t v = __atomic_load_n(&m->v, __ATOMIC_RELAXED);
    while (!(v & M_LOCKED)) {
        /* acquire: as tg_mutex_lock */
        if (__atomic_compare_exchange_n(&m->v, &v, (uint8_t)(v | M_LOCKED), false,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return 1;
    }
    return 0;
}

TG_API int tg_mutex_is_locked(const tg_mutex *m)
{
    return (__atomic_load_n(&m->v, __ATOMIC_RELAXED) & M_LOCKED) != 0;
}

/* Fork child: the sleepers belong to threads that did not come along. A
   tg_mutex one of them held stays locked in the child (as in CPython). */
void _tg_parking_fork_child(void)
{
    pthread_once(&lot_once, lot_init);
    lot_init();
}
