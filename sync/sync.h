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
