/*
 * sync/qsbr.c — quiescent-state-based reclamation for free-threaded mode's
 * lock-free reads (liburcu's QSBR flavour). docs/free-threading.md.
 *
 * Readers: every attached thread is a QSBR reader. It registers on attach,
 * is offline while detached (tg_release, blocking, parked for a stop), and
 * announces a quiescent state at a safepoint when a grace period is waiting
 * for it (_TG_EB_QSBR). A lock-free read (tg_list_get, tg_dict_get, ...)
 * never keeps a pointer it has not taken a reference to past its return, and
 * returns before the thread's next safepoint — so between two quiescent
 * states a reader may only hold pointers that were reachable when it read
 * them.
 *
 * Writers (under the container's lock) never free what a reader may be
 * looking at. Two things are deferred until a grace period has passed:
 *   - retired blocks: a list's item array or a dict's key table replaced by a
 *     bigger one, or detached by a clear;
 *   - deferred decrefs: the reference a container held to an item it no
 *     longer holds (set, del, pop, clear). Until the grace period ends the
 *     item's count stays above zero, so a reader's try-incref on a pointer it
 *     just read from a slot cannot touch freed memory; it then re-validates
 *     the slot and otherwise falls back to the locked path.
 * Each thread keeps its own lists. Past a bound (QSBR_MAX_BLOCKS retired
 * blocks, QSBR_MAX_BYTES of them, or QSBR_MAX_DEFERRED decrefs) the thread
 * forces a grace period at its next safepoint: it asks every other thread
 * for a quiescent state (their _TG_EB_QSBR), goes offline (tg_release: a
 * thread waiting for a grace period never holds up a stop-the-world or an
 * object lock) and calls synchronize_rcu. A stop-the-world is a grace period
 * too: with the world stopped every thread is at a safepoint or detached, so
 * the collector frees every thread's retired blocks and drops the deferred
 * references after the restart. Memory held for grace periods is therefore
 * bounded by (threads × bound).
 *
 * TSan: liburcu is not instrumented, so TSan does not see that a grace
 * period orders a reader's last access before the free. Each quiescent state
 * and offline transition releases `qsbr_tsan_token`, and the end of
 * synchronize_rcu acquires it — exactly the happens-before edges the grace
 * period provides. No suppression is needed.
 */
#include <dlfcn.h>
#include <sched.h>
#include <urcu/urcu-qsbr.h>
#include <urcu/static/urcu-qsbr.h>      /* struct urcu_qsbr_reader: its registry node */
#include "runtime/ft.h"
#include "sync/sync.h"
#include "sync/chaos.h"

#if defined(__SANITIZE_THREAD__)
#  define TG_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define TG_TSAN 1
#  endif
#endif
#ifdef TG_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
static char qsbr_tsan_token;
#  define TSAN_RELEASE() __tsan_release(&qsbr_tsan_token)
#  define TSAN_ACQUIRE() __tsan_acquire(&qsbr_tsan_token)
#else
#  define TSAN_RELEASE() ((void)0)
#  define TSAN_ACQUIRE() ((void)0)
#endif

#define QSBR_MAX_BLOCKS   256
#define QSBR_MAX_BYTES    (4u << 20)
#define QSBR_MAX_DEFERRED 4096

static _Atomic uint64_t grace_periods;     /* forced grace periods (stats) */
/* Threads inside force_grace_period. While there are any, every thread that
   announces a quiescent state asks itself for another at its next safepoint:
   liburcu counts only quiescent states announced after synchronize_rcu has
   started its grace period, and a reader that consumed its _TG_EB_QSBR
   request just before (the requester sets it, then goes offline, then
   synchronizes) would otherwise never be asked again — two writers forcing
   grace periods while two readers spun in lock-free reads waited forever
   (tests/test_ft.c lockfree_reads_race_writers). */
static _Atomic int qsbr_waiters;

void _tg_qsbr_thread_init(_tg_ft_tstate *f)
{
    urcu_qsbr_register_thread();                 /* online */
    f->rcu_registered = true;
}

void _tg_qsbr_online(_tg_tstate *ts)
{
    if (ts->ft && ts->ft->rcu_registered) urcu_qsbr_thread_online();
}

void _tg_qsbr_offline(_tg_tstate *ts)
{
    if (ts->ft && ts->ft->rcu_registered) {
        TSAN_RELEASE();
        urcu_qsbr_thread_offline();
    }
}

static inline bool over_bound(_tg_ft_tstate *f)
{
    return f->retired.n >= QSBR_MAX_BLOCKS || f->retired_bytes >= QSBR_MAX_BYTES
        || f->deferred.n >= QSBR_MAX_DEFERRED;
}

static void note_pending(_tg_ft_tstate *f)
{
    if (over_bound(f))
        atomic_fetch_or_explicit(&f->ts->eval_breaker, (uintptr_t)_TG_EB_QSBR, memory_order_relaxed);
}

void _tg_qsbr_retire(void *mem)
{
    _tg_tstate *ts = _tg_tls_ts;
    if (!mem) return;
    if (!ts || !ts->ft) { tg_mem_free(mem); return; }
    _tg_ptrvec_push(&ts->ft->retired, mem);
    ts->ft->retired_bytes += 64;            /* a lower bound; the count bound does the work */
    note_pending(ts->ft);
}

void _tg_qsbr_defer_decref(tg_obj *o)
{
    _tg_tstate *ts = _tg_tls_ts;
    if (!ts || !ts->ft || _tg_is_immortal(o)) { tg_decref(o); return; }
    _tg_ptrvec_push(&ts->ft->deferred, o);
    note_pending(ts->ft);
}

/* After a grace period: free the blocks, drop the references. */
static void release_lists(_tg_ptrvec *retired, _tg_ptrvec *deferred)
{
    for (size_t i = 0; i < retired->n; i++) tg_mem_free(retired->v[i]);
    _tg_ptrvec_free(retired);
    for (size_t i = 0; i < deferred->n; i++) tg_decref(deferred->v[i]);
    _tg_ptrvec_free(deferred);
}

/* Ask every other thread for a quiescent state, wait for a grace period
   offline, then release what this thread deferred before it. */
static void force_grace_period(_tg_tstate *ts)
{
    _tg_ft_tstate *f = ts->ft;
    _tg_ptrvec retired = f->retired, deferred = f->deferred;
    f->retired = (_tg_ptrvec){ 0 };
    f->deferred = (_tg_ptrvec){ 0 };
    f->retired_bytes = 0;
    atomic_fetch_add(&qsbr_waiters, 1);   /* before the requests: see qsbr_waiters */
    pthread_mutex_lock(&_tg_rt.registry_lock);
    for (_tg_tstate *t = _tg_rt.threads; t; t = t->next)
        if (t != ts) atomic_fetch_or(&t->eval_breaker, (uintptr_t)_TG_EB_QSBR);
    pthread_mutex_unlock(&_tg_rt.registry_lock);
    TG_CHAOS_POINT(TG_CHAOS_SITE_QSBR);
    tg_tstate *saved = tg_release();       /* offline; suspends critical sections */
    urcu_qsbr_synchronize_rcu();
    TSAN_ACQUIRE();
    atomic_fetch_sub(&qsbr_waiters, 1);
    tg_reacquire(saved);
    atomic_fetch_add_explicit(&grace_periods, 1, memory_order_relaxed);
    release_lists(&retired, &deferred);
}

/* Safepoint, _TG_EB_QSBR set. */
void _tg_qsbr_quiescent(_tg_tstate *ts)
{
    atomic_fetch_and(&ts->eval_breaker, ~(uintptr_t)_TG_EB_QSBR);
    _tg_ft_tstate *f = ts->ft;
    if (!f || !f->rcu_registered) return;
    TG_CHAOS_POINT(TG_CHAOS_SITE_QSBR);
    TSAN_RELEASE();
    urcu_qsbr_quiescent_state();
    if (atomic_load(&qsbr_waiters) > 0)    /* a grace period may still need us */
        atomic_fetch_or(&ts->eval_breaker, (uintptr_t)_TG_EB_QSBR);
    if (over_bound(f)) force_grace_period(ts);
}

void _tg_qsbr_safepoint(_tg_tstate *ts) { _tg_qsbr_quiescent(ts); }

void _tg_qsbr_thread_fini(_tg_ft_tstate *f)
{
    if (f->rcu_registered) {
        if (f->retired.n || f->deferred.n) force_grace_period(f->ts);
        TSAN_RELEASE();
        urcu_qsbr_unregister_thread();
        f->rcu_registered = false;
    }
    /* A stop-the-world reclaim empties the lists but keeps their storage. */
    _tg_ptrvec_free(&f->retired);
    _tg_ptrvec_free(&f->deferred);
}

/* The world is stopped by the caller: no reader is inside a read. Retired
   blocks are freed now; deferred references are handed to the collector's
   pending list (dropped after the restart: a decref may run finalizers). */
void _tg_ft_stw_defer(tg_obj *o);           /* runtime/brc.c */
void _tg_qsbr_stw_reclaim_thread(_tg_ft_tstate *f)
{
    TSAN_ACQUIRE();
    for (size_t i = 0; i < f->retired.n; i++) tg_mem_free(f->retired.v[i]);
    f->retired.n = 0;
    f->retired_bytes = 0;
    for (size_t i = 0; i < f->deferred.n; i++) _tg_ft_stw_defer(f->deferred.v[i]);
    f->deferred.n = 0;
}

/* fork() in free-threaded mode, world stopped by the caller (sync/fork.c):
   wait for grace periods other threads have in flight, so that none of them
   holds liburcu's grace-period lock when the child is copied. Such a thread
   is detached inside synchronize_rcu, waiting for online readers: the
   caller goes offline while it waits, and every other thread is parked
   offline, so they finish. */
void _tg_qsbr_fork_prepare(_tg_tstate *ts)
{
    if (!ts->ft || !ts->ft->rcu_registered) return;
    while (atomic_load(&qsbr_waiters) > 0) {
        urcu_qsbr_thread_offline();
        sched_yield();
        urcu_qsbr_thread_online();
    }
}

/* fork() child, free-threaded mode. liburcu's QSBR flavour has no fork
   support: its reader registry still links the readers of the threads that
   did not come along. Their thread-local blocks are memory glibc reuses for
   threads the child creates, so a new thread would link the same node a
   second time — a corrupt ring in which synchronize_rcu never returns (seen
   in tests/test_ft.c, about one fork in ten). Only the forking thread
   exists now, so the ring is rebuilt as: registry head <-> its own reader.
   The head is the one node of the ring that lies in a loaded object's data
   (liburcu's static `registry`); readers' nodes lie in thread-local blocks,
   which no object file maps. If the ring does not look like that, it is
   left alone and the child must not create threads. */
void _tg_qsbr_fork_child(_tg_tstate *me)
{
    if (!me || !me->ft || !me->ft->rcu_registered) return;
    struct cds_list_head *self = &URCU_TLS(urcu_qsbr_reader).node, *head = NULL;
    size_t n = 0;
    for (struct cds_list_head *p = self->next; p != self; p = p->next) {
        Dl_info info;
        if (++n > 100000) return;                     /* not a ring we understand */
        if (dladdr(p, &info) && info.dli_fname) {
            if (head) return;                         /* two candidates: leave it */
            head = p;
        }
    }
    if (!head) return;
    head->next = head->prev = self;
    self->next = self->prev = head;
}

TG_API uint64_t _tg_qsbr_grace_periods(void) { return atomic_load(&grace_periods); }
