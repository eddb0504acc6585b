/*
 * sync/sync.h — the threading substrate's interface to the rest of the runtime:
 * thread status, the GIL, safepoints, stop-the-world, the parking lot,
 * critical sections, fork. The protocols are written down in docs/threads.md
 * and at the top of each .c file here.
 *
 * Thread status (_tg_tstate.status, one atomic int):
 *   ATTACHED   running runtime code. GIL mode: holds the GIL.
 *   DETACHED   registered but not running runtime code (blocked in
 *              tg_release, waiting for the GIL, or parked after a restart).
 *              Counts as stopped for a stop-the-world.
 *   SUSPENDED  stopped by a stop-the-world; only the requester's restart moves
 *              it back to DETACHED. A thread may not attach while SUSPENDED.
 *
 *   DETACHED  --self: attach (GIL taken first in GIL mode)-->   ATTACHED
 *   ATTACHED  --self: release / GIL drop / final detach----->   DETACHED
 *   ATTACHED  --self: safepoint during a stop-the-world ---->   SUSPENDED
 *   DETACHED  --requester: CAS during a stop ---------------->  SUSPENDED
 *   SUSPENDED --requester: restart -------------------------->  DETACHED
 *
 * Files
 *   safepoint.c   status transitions, attach/detach, release/reacquire,
 *                 safepoints, stop-the-world
 *   gil.c         the GIL (CPython's ceval_gil design)
 *   mutex.c       tg_mutex and the parking lot
 *   critical.c    critical sections (free-threaded mode)
 *   fork.c        pthread_atfork handlers
 */
#ifndef TG_SYNC_H
#define TG_SYNC_H
#if !defined(TG_BUILDING_LIBRARY) && !defined(TG_INTERNAL_CLIENT)
#error "sync/sync.h is internal to libtangle; include <tangle.h>"
#endif
#include <stdint.h>
#include "runtime/internal.h"

/* Per-thread state owned by sync/, allocated with the thread state
   (runtime/tstate.c) and reached through _tg_tstate.sync_state. */
typedef struct _tg_sync_tstate {
    /* set by a stop-the-world requester (under the registry lock) when it
       found this thread ATTACHED and counted it in its countdown; cleared by
       this thread (under the same lock) when it stops */
    bool     stw_counted;
    /* the thread holds the GIL (GIL mode; only the thread itself reads it) */
    bool     holds_gil;
} _tg_sync_tstate;

/* A thread state and its sync part, allocated together. */
typedef struct _tg_tstate_full {
    _tg_tstate      ts;
    _tg_sync_tstate sync;
} _tg_tstate_full;
static inline _tg_sync_tstate *_tg_sync_of(_tg_tstate *ts) { return &((_tg_tstate_full *)ts)->sync; }

/* ------------------------------------------------------------ spinlock
   A test-and-test-and-set spinlock for critical sections of a few pointer
   writes (the collector's generation lists, biased-count merge queues).
   Written with __atomic builtins rather than ck_spinlock: Concurrency Kit's
   gcc flavour loads and stores the lock word with plain volatile accesses
   (ck_pr.h: ck_pr_md_load_uint / ck_pr_md_store_uint), which ThreadSanitizer
   reports as races against the atomic exchange — and which it then cannot
   use as happens-before edges for the data the lock protects. The exchange
   acquires; the unlock store releases. */
typedef struct _tg_spinlock { int locked; } _tg_spinlock;
#if defined(__x86_64__) || defined(__i386__)
#  define _TG_CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#  define _TG_CPU_RELAX() __asm__ __volatile__("yield")
#else
#  define _TG_CPU_RELAX() ((void)0)
#endif
#define _TG_SPINLOCK_INIT { 0 }
static inline void _tg_spin_lock(_tg_spinlock *l)
{
    while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED)) _TG_CPU_RELAX();
    }
}
static inline void _tg_spin_unlock(_tg_spinlock *l) { __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE); }

/* ------------------------------------------------------------ safepoint.c */

/* tg_init / tg_fini (before any thread attaches / after the last detached). */
void _tg_sync_runtime_init(void);
void _tg_sync_runtime_fini(void);
/* A thread state has just been registered (status DETACHED, or SUSPENDED
   when a stop is in progress): take the GIL (GIL mode) and become ATTACHED. */
void _tg_sync_attach(_tg_tstate *ts);
/* The thread is about to be unregistered: become DETACHED, drop the GIL. The
   thread may be ATTACHED or already released (thread exit after tg_release). */
void _tg_sync_detach(_tg_tstate *ts);
/* Status changes of the calling thread (what tg_release/tg_reacquire do). */
void _tg_sync_leave(_tg_tstate *ts);        /* ATTACHED -> DETACHED (drop GIL) */
void _tg_sync_enter(_tg_tstate *ts);        /* DETACHED -> ATTACHED (take GIL) */
/* Called by registry_add under the registry lock: the status a new thread
   starts in (SUSPENDED while a stop is in progress, else DETACHED). */
int  _tg_sync_initial_status_locked(void);

/* Stop-the-world for the collector (and tg_stop_the_world). The caller is
   attached. In GIL mode the caller holds the GIL, so every other thread is
   already detached and the stop is a scan; in free-threaded mode attached
   threads park at their next safepoint. Not nestable. */
/* Free-threaded mode: re-attach unless a stop is in progress (safepoint.c). */
bool _tg_sync_try_enter(_tg_tstate *ts, bool resume);
void _tg_stw_stop(void);
void _tg_stw_start(void);
bool _tg_stw_is_stopped(void);              /* by the calling thread */

/* ------------------------------------------------------------------ gil.c */

void _tg_gil_init(void);                    /* runtime init: unlocked, stats zero */
void _tg_gil_take(_tg_tstate *ts);
void _tg_gil_drop(_tg_tstate *ts);          /* forced switch if ts had a drop request */
/* fork child: the GIL is free, or held by ts (the forking thread) */
void _tg_gil_fork_child(_tg_tstate *holder_or_null);
void _tg_gil_fork_prepare(void);
void _tg_gil_fork_parent(void);
/* monotonic nanoseconds */
uint64_t _tg_now_ns(void);

/* ---------------------------------------------------------------- mutex.c */

void _tg_parking_fork_child(void);          /* forget every waiter: they are gone */

/* ------------------------------------------------------------- bias.c
   Owner-biased object locks (free-threaded mode; docs/free-threading.md).
   An object's lock (ob_mutex) is biased to the thread that created it: that
   thread runs list and dict mutations without the lock, announcing the
   object in its bias slot (a thread-local pointer) instead. Another thread
   that wants the lock first revokes the bias, once per object, forever:
   it sets _TG_BIAS_REVOKING in the lock byte, runs membarrier() (a full
   fence on every running thread of the process, so the owner's slot store
   and its re-check of the byte are ordered against ours) and waits until
   the owner's slot no longer holds the object; then it sets
   _TG_BIAS_SHARED and from then on everyone, the owner too, takes the lock.
   tg_mutex (mutex.c) keeps these two bits through lock and unlock.

   The owner's side is a plain store, a compiler barrier and a load — no
   atomic read-modify-write. Under ThreadSanitizer, which does not know
   membarrier(), both sides use sequentially consistent accesses instead.

   A biased section must not block, detach or reach a safepoint: the revoker
   spins on it (yielding, and detaching between tries after a while). List
   and dict mutations qualify: in free-threaded mode they defer their
   decrefs through QSBR, so no destructor runs inside. */
enum { _TG_BIAS_REVOKING = 4, _TG_BIAS_SHARED = 8, _TG_BIAS_OFF = 12 };

extern TG_INTERNAL _Thread_local tg_obj *_tg_tls_bias TG_TLS_IE;

#if defined(__SANITIZE_THREAD__)
#  define _TG_BIAS_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define _TG_BIAS_TSAN 1
#  endif
#endif
#ifdef _TG_BIAS_TSAN
#  define _TG_BIAS_ORDER __ATOMIC_SEQ_CST
#else
#  define _TG_BIAS_ORDER __ATOMIC_RELAXED
#endif

/* Enter o's biased section: true when the calling thread owns o, o's bias
   stands and the thread is not inside another biased section. Then the
   caller mutates o without its lock and calls _tg_bias_exit. */
static inline bool _tg_bias_enter(tg_obj *o)
{
    /* No test of the lock byte before the announcement: the one after it
       decides, and an object whose bias is off costs only the store and
       its undoing on its way to the lock. */
    if (__atomic_load_n(&o->ob_tid, __ATOMIC_RELAXED) != _tg_tls_tid || _tg_tls_bias)
        return false;
    __atomic_store_n(&_tg_tls_bias, o, _TG_BIAS_ORDER);
    /* the revoker's membarrier() orders this store before the load below */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (TG_LIKELY(!(__atomic_load_n(&o->ob_mutex.v, _TG_BIAS_ORDER) & _TG_BIAS_OFF)))
        return true;
    __atomic_store_n(&_tg_tls_bias, NULL, __ATOMIC_RELEASE);
    return false;
}

/* release: the section's writes happen before a revoker's acquire load of
   the slot that sees it empty */
static inline void _tg_bias_exit(void) { __atomic_store_n(&_tg_tls_bias, NULL, __ATOMIC_RELEASE); }

/* Before a thread locks o's ob_mutex, or reads o's contents without the
   lock (tg_list_get, tg_dict_get): revoke o's bias if another live thread
   may hold it. Cheap when there is nothing to do. Because readers revoke
   too, a biased section knows that no other thread is looking at the
   object: it may grow a list's block in place and free a dict's old key
   table at once, as GIL mode does. */
void _tg_bias_revoke_slow(tg_obj *o);
static inline void _tg_bias_claim(tg_obj *o)
{
    if (TG_LIKELY(__atomic_load_n(&o->ob_mutex.v, __ATOMIC_ACQUIRE) & _TG_BIAS_SHARED)) return;
    uintptr_t tid = __atomic_load_n(&o->ob_tid, __ATOMIC_ACQUIRE);
    if (tid == _tg_tls_tid || tid == _TG_TID_SHARED) return;   /* no other thread can hold it */
    _tg_bias_revoke_slow(o);
}

/* Hold every object biased to the calling thread, as if it were inside a
   biased section on each: until _tg_bias_release_all, any other thread that
   starts revoking one of them waits (the collector's thread-local young
   collection uses this so that no other thread starts mutating or reading
   the thread's own unshared objects while it examines them). Only outside a
   biased section; the same rules as a biased section apply meanwhile (no
   blocking, no safepoint). */
#define _TG_BIAS_ALL ((tg_obj *)(uintptr_t)1)
static inline void _tg_bias_hold_all(void)
{
    __atomic_store_n(&_tg_tls_bias, _TG_BIAS_ALL, _TG_BIAS_ORDER);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}
static inline void _tg_bias_release_all(void) { __atomic_store_n(&_tg_tls_bias, NULL, __ATOMIC_RELEASE); }

/* The lock of a short runtime operation that neither blocks nor reaches a
   safepoint (the same operations a biased section may run): when the thread
   has no critical section open (so no nesting to detect and nothing to
   suspend), lock o's mutex with one CAS and no section record; false when
   that is not possible at once (contended, or sections open) — then the
   caller takes the full critical-section path. Pair with _tg_lock_quick_end. */
/* ------------------------------------------- reserved locks (bias.c)
   Once the bias of an object is gone (_TG_BIAS_SHARED), its lock can be
   held in reserve by the last thread that used it many times in a row
   (_TG_STICKY_STREAK quick-locked list operations on it, with none on
   another object in between): that
   thread keeps the lock locked after its operation, records the object in
   its sticky slot (_tg_tls_sticky) and sets _TG_LOCK_STICKY. Its later
   operations on the object run like a biased section — bias slot, compiler
   barrier, re-check of the byte — with no atomic read-modify-write.

   The holder never unlocks a reserved lock itself (it may no longer have a
   reference to the object). Another thread that wants it takes it over
   (_tg_sticky_steal): it sets _TG_LOCK_TAKING, runs membarrier(), waits
   until no thread's bias slot holds the object, forgets the object in every
   sticky slot and clears STICKY|TAKING, keeping LOCKED: it now holds the
   lock as if it had locked it. A list operation that finds the lock
   reserved by a thread still using it (its bias slot is seen holding the
   object within a short look) waits for it to go idle, up to a time slice
   (1 ms, detached), first, as a GIL waiter does:
   two threads that hammer one list then take turns in slices instead of
   passing the lock and its cache line back and forth on every operation.
   Everything else (critical sections, tg_mutex_lock) takes it over at once.

   STICKY is only ever set together with LOCKED and SHARED and without
   PARKED; tg_mutex keeps it through its transitions. */
enum { _TG_LOCK_STICKY = 16, _TG_LOCK_TAKING = 32 };
/* Set once a thread has read the object without its lock (lists: a writer
   may then no longer move the item block; runtime/list.c). */
enum { _TG_LOCK_READERS = 64 };
#define _TG_STICKY_STREAK 16

extern TG_INTERNAL _Thread_local tg_obj *_tg_tls_sticky TG_TLS_IE;
extern TG_INTERNAL _Thread_local tg_obj *_tg_tls_streak_obj TG_TLS_IE;
extern TG_INTERNAL _Thread_local uint32_t _tg_tls_streak_n TG_TLS_IE;

#ifdef _TG_BIAS_TSAN
#  define _TG_STICKY_ACQ __ATOMIC_SEQ_CST
#else
#  define _TG_STICKY_ACQ __ATOMIC_ACQUIRE
#endif

/* Enter an operation on o under the lock the calling thread holds in
   reserve: true when it does (then _tg_sticky_exit after the operation).
   The second look at the sticky slot catches a take-over that completed
   between the first look and the byte load: the taker forgets the slot
   before it clears TAKING (acquire on the byte orders the two loads). */
static inline bool _tg_sticky_enter(tg_obj *o)
{
    if (__atomic_load_n(&_tg_tls_sticky, __ATOMIC_RELAXED) != o || _tg_tls_bias) return false;
    __atomic_store_n(&_tg_tls_bias, o, _TG_BIAS_ORDER);
    /* the taker's membarrier() orders this store before the load below */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    uint8_t v = __atomic_load_n(&o->ob_mutex.v, _TG_STICKY_ACQ);
    if (TG_LIKELY((v & (_TG_LOCK_STICKY | _TG_LOCK_TAKING)) == _TG_LOCK_STICKY)
        && TG_LIKELY(__atomic_load_n(&_tg_tls_sticky, __ATOMIC_RELAXED) == o))
        return true;
    __atomic_store_n(&_tg_tls_bias, NULL, __ATOMIC_RELEASE);
    return false;
}
/* release: the operation's writes happen before a taker's acquire load of
   the slot that sees it empty */
static inline void _tg_sticky_exit(void) { __atomic_store_n(&_tg_tls_bias, NULL, __ATOMIC_RELEASE); }

/* o's lock is held: if reserved by another thread (or by nobody any more),
   wait a slice while its holder is busy with it, then take it over; if held
   plainly, spin a little for the holder's short operation to end (it may
   reserve the lock then). true: the caller holds the lock; false: take the
   ordinary path. */
bool _tg_sticky_acquire(tg_obj *o);
/* Take over o's reserved lock now; true if the caller holds it after. The
   caller is attached (a stop must not find a take-over half done).
   turns: a take-over soon after the reservation was made tells its holder
   that the threads take turns on o (bias.c, TURNS_NS); false when the
   caller was already waiting for o before the reservation was made (from
   a critical section or tg_mutex_lock, with the holder busy). */
bool _tg_sticky_steal(tg_obj *o, bool turns);
/* The same from tg_mutex_lock, attached or not: a detached caller
   attaches for the take-over (false, to retry, while a stop is in
   progress); turns only if the holder is not busy with o. (Critical
   sections wait out a busy holder's slice first: _tg_sticky_acquire.) */
bool _tg_sticky_steal_any(tg_obj *o);
/* Keep o's lock (held by the caller) in reserve; false if it may not. */
bool _tg_sticky_keep(tg_obj *o);
/* The calling thread holds o's lock in reserve: turn it into an ordinary
   hold (then it unlocks as usual). false if it does not hold it (any more). */
bool _tg_sticky_unreserve(tg_obj *o);
/* o is being freed with STICKY set: forget it in every sticky slot (a new
   object at the same address must not look reserved to a stale slot). */
void _tg_sticky_forget(tg_obj *o);
static inline void _tg_sticky_on_free(tg_obj *o)
{
    if (TG_UNLIKELY(__atomic_load_n(&o->ob_mutex.v, __ATOMIC_RELAXED) & _TG_LOCK_STICKY))
        _tg_sticky_forget(o);
}

/* The lock of a short runtime operation that neither blocks nor reaches a
   safepoint (the same operations a biased section may run): when the thread
   has no critical section open (so no nesting to detect and nothing to
   suspend), lock o's mutex with one CAS and no section record; false when
   that is not possible at once (contended, or sections open) — then the
   caller takes the full critical-section path. Pair with _tg_lock_quick_end,
   which may keep the lock in reserve (above). */
static inline bool _tg_lock_quick(tg_obj *o)
{
    if (_tg_tls_ts->critical_section) return false;
    _tg_bias_claim(o);
    uint8_t v = __atomic_load_n(&o->ob_mutex.v, __ATOMIC_RELAXED);
    if (TG_UNLIKELY(v & (_TG_LOCK_STICKY | 1))) return _tg_sticky_acquire(o);
    /* acquire: see the previous holder's writes (tg_mutex's protocol) */
    return !(v & 1)
        && __atomic_compare_exchange_n(&o->ob_mutex.v, &v, (uint8_t)(v | 1), false,
                                       __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}
static inline void _tg_lock_quick_end(tg_obj *o)
{
    if (_tg_tls_streak_obj == o) {
        if (_tg_tls_streak_n < _TG_STICKY_STREAK) _tg_tls_streak_n++;
        else if (_tg_sticky_keep(o)) return;
    } else {
        _tg_tls_streak_obj = o;
        _tg_tls_streak_n = 1;
    }
    tg_mutex_unlock(&o->ob_mutex);
}

/* Runtime start (free-threaded mode): register for membarrier(); without it
   objects are born with _TG_BIAS_SHARED set (plain locking). Again in a fork
   child. */
void _tg_bias_runtime_init(void);
/* Number of revocations so far (statistics, tests). */
TG_INTERNAL uint64_t _tg_bias_revocations(void);
/* Number of take-overs of reserved locks so far (statistics, tests). */
TG_INTERNAL uint64_t _tg_sticky_takeovers(void);

/* ------------------------------------------------------------- critical.c */

/* Unlock every active critical section of ts (it is about to block), and
   relock the innermost one when it comes back. Free-threaded mode only. */
void _tg_cs_suspend_all(_tg_tstate *ts);
void _tg_cs_resume(_tg_tstate *ts);

/* ------------------------------------------------------------- qsbr.c */

/* The thread leaves / re-enters ATTACHED (free-threaded mode): QSBR offline / online. */
void _tg_qsbr_offline(_tg_tstate *ts);
void _tg_qsbr_online(_tg_tstate *ts);

/* ----------------------------------------------------------------- fork.c */

void _tg_fork_install(void);                /* once per process, from tg_init */

/* ---------------------------------------------------------- test hooks */

/* Switch the running runtime between GIL and free-threaded status handling
   while only the calling thread is attached (tg_init still refuses
   free-threaded mode). Lets tests and benchmarks exercise the free-threaded
   paths of stop-the-world, release and critical sections. 0, or -1 with
   TG_ERR_STATE when other threads are registered. Threads attached after the
   switch get their own thread ids, so objects they share go through the
   shared-count paths: share only immortal objects with them. */
int _tg_sync_test_set_mode(tg_mode mode);

#endif
