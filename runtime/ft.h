/*
 * runtime/ft.h — per-thread state of free-threaded mode, shared by
 * runtime/brc.c (biased counts, merge queues, hot objects) and sync/qsbr.c
 * (retired memory, deferred decrefs). docs/free-threading.md.
 */
#ifndef TG_RUNTIME_FT_H
#define TG_RUNTIME_FT_H
#if !defined(TG_BUILDING_LIBRARY) && !defined(TG_INTERNAL_CLIENT)
#error "runtime/ft.h is internal to libtangle; include <tangle.h>"
#endif
#include "runtime/internal.h"
#include "sync/sync.h"

typedef struct _tg_ptrvec { void **v; size_t n, cap; } _tg_ptrvec;
TG_INTERNAL void _tg_ptrvec_push(_tg_ptrvec *pv, void *p);   /* fatal on OOM */
TG_INTERNAL void _tg_ptrvec_free(_tg_ptrvec *pv);

typedef struct _tg_ft_tstate {
    _tg_tstate           *ts;
    uintptr_t             tid;
    struct _tg_ft_tstate *next;          /* brc registry (brc_lock) */
    /* objects queued to this thread by others (qlock) */
    _tg_spinlock          qlock;
    _tg_ptrvec            queue;
    /* hot objects: this thread's counts, indexed like the hot table */
    int64_t              *hot;
    size_t                nhot;
    /* owner-biased locks (sync/bias.c): the thread's _tg_tls_bias */
    tg_obj *const        *bias_slot;
    /* reserved object locks (sync/bias.c): _tg_tls_sticky, and when the
       thread last reserved a lock (monotonic ns; relaxed accesses) */
    tg_obj              **sticky_slot;
    uint64_t              sticky_since;
    /* a reservation of this object was taken from this thread while idle,
       soon after it was made: do not reserve it again before `until`
       (written by the taker under brc_lock, read by this thread; relaxed) */
    tg_obj               *turns_obj;
    uint64_t              turns_until;
    unsigned              turns_checks;  /* this thread's only */
    /* contention detector: last object whose shared-count CAS failed */
    tg_obj               *suspect;
    unsigned              suspect_fails;
    /* QSBR (sync/qsbr.c) */
    _tg_ptrvec            retired;       /* blocks freed after a grace period */
    _tg_ptrvec            deferred;      /* references dropped after a grace period */
    size_t                retired_bytes;
    bool                  rcu_registered;
} _tg_ft_tstate;

/* Owner-biased locks: 1 if thread `tid` is registered and its bias slot
   holds o or _TG_BIAS_ALL (seq_cst load), 0 if it does not, -1 if no such
   thread is registered. */
TG_INTERNAL int _tg_ft_bias_slot_holds(uintptr_t tid, const tg_obj *o);
/* Reserved object locks (sync/bias.c), over every registered thread:
   whether some thread's bias slot holds o (seq_cst loads); whether some
   thread's sticky slot holds o (0: none), and then whether its bias slot is
   seen holding o within window_ns (2: busy; else 1); forget o in every
   sticky slot that holds it (CAS to NULL) — and a holder that reserved o
   less than turns_ns ago is told not to reserve o again for hold_off_ns
   (threads taking turns on o). */
TG_INTERNAL bool _tg_ft_any_slot_holds(const tg_obj *o);
TG_INTERNAL int _tg_ft_sticky_holder(const tg_obj *o, uint64_t window_ns);
TG_INTERNAL void _tg_ft_sticky_forget_all(tg_obj *o, uint64_t turns_ns, uint64_t hold_off_ns);
TG_INTERNAL void _tg_qsbr_thread_init(_tg_ft_tstate *f);
TG_INTERNAL void _tg_qsbr_thread_fini(_tg_ft_tstate *f);
TG_INTERNAL void _tg_qsbr_online(_tg_tstate *ts);
TG_INTERNAL void _tg_qsbr_offline(_tg_tstate *ts);
/* The world is stopped: free f's retired blocks, hand its deferred references to the collector. */
TG_INTERNAL void _tg_qsbr_stw_reclaim_thread(_tg_ft_tstate *f);
/* fork() (sync/fork.c): wait out in-flight grace periods; the child's side. */
TG_INTERNAL void _tg_qsbr_fork_prepare(_tg_tstate *ts);
TG_INTERNAL void _tg_ft_fork_child(_tg_tstate *me);
TG_INTERNAL void _tg_qsbr_fork_child(_tg_tstate *me);
#endif
