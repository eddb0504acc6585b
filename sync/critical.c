/*
 * sync/critical.c — critical sections: hold an object's own lock (ob_mutex),
 * or two in address order (TG_BEGIN_CRITICAL_SECTION / ..2). CPython's
 * PEP 703 design.
 *
 * GIL mode: nothing to do — the GIL already serialises attached threads.
 *
 * Free-threaded mode. Each thread keeps a stack of its critical sections in
 * _tg_tstate.critical_section, linked through tg_critical_section.prev. A
 * link's low bit (INACTIVE) says the section it points to has been suspended:
 * its locks are not held. Rules:
 *   - begin: lock a (and b), push.
 *   - end: unlock, pop; if the new top is INACTIVE, relock it (resume).
 *   - when the thread leaves ATTACHED (tg_release, a stop-the-world, or
 *     blocking on a contended object lock) every active section is
 *     suspended — its locks released — so a blocked thread never holds an
 *     object lock: no lock-order cycle can form between object locks and
 *     the GIL / a stop-the-world / another thread's critical sections.
 *   - when the thread comes back only the innermost section is relocked;
 *     outer ones are relocked lazily as the inner ones end.
 * The price, as in CPython: an outer critical section is not atomic across
 * a blocking call made inside it.
 *
 * Nesting on the same object: a section whose objects the innermost active
 * section already holds (e.g. tg_list_append(l) inside
 * TG_BEGIN_CRITICAL_SECTION(l)) is NESTED: it takes no lock — taking it
 * again would block on itself, release the outer section and let another
 * thread in between the embedder's operations. A nested section relies on
 * the section below it that owns the locks: suspend skips it (the owner
 * unlocks), and resuming a nested section resumes the owner with it, so the
 * operation inside never runs without the lock.
 *
 * Owner-biased locks (sync/bias.c): the object's owner mutates it without
 * the lock while the bias stands; begin revokes the bias before it locks an
 * object it does not own, so the lock excludes the owner's lock-free path
 * too. The owner's own sections keep the bias: its lock-free mutations and
 * its sections run on one thread, one after the other.
 *
 * Blocking on a contended lock: the section is pushed with its objects
 * cleared (so a suspend/resume while we wait does not touch them), the
 * thread releases (which suspends the outer sections), blocks in
 * tg_mutex_lock, reacquires, then records its objects. With two objects the
 * first lock is kept while waiting for the second: address order makes that
 * safe among critical sections.
 */
#include <stddef.h>
#include "sync/sync.h"

#define INACTIVE ((uintptr_t)1)
enum { CS_NESTED = 1u };

static inline tg_critical_section *untag(uintptr_t p) { return (tg_critical_section *)(p & ~INACTIVE); }
static inline uintptr_t *top_slot(_tg_tstate *ts) { return (uintptr_t *)&ts->critical_section; }

static void cs_unlock(tg_critical_section *c)
{
    if (c->flags & CS_NESTED) return;        /* the owner below unlocks */
    if (c->b) tg_mutex_unlock(&c->b->ob_mutex);
    if (c->a) tg_mutex_unlock(&c->a->ob_mutex);
}

/* Lock one object's mutex; if contended, block detached. */
/* Spins (attached) before detaching: object locks guard a few stores, so the
   holder is usually done within a few hundred nanoseconds, while detaching
   and re-attaching costs two state changes and two QSBR transitions. */
#define CS_SPIN_TRIES 200

static void lock_detached(_tg_tstate *ts, tg_mutex *m)
{
    /* Exponential backoff between tries, reading (not writing) the lock
       byte while we wait: a waiter that keeps pulling the line away slows
       the holder down, and under contention the holder then runs several
       short sections back to back with the line in its own cache. A lock
       held in reserve is not unlocked by its holder: straight to
       tg_mutex_lock, which takes it over. */
    unsigned pause = 1;
    for (int i = 0; i < CS_SPIN_TRIES && !(__atomic_load_n(&m->v, __ATOMIC_RELAXED) & _TG_LOCK_STICKY); i++) {
        if (tg_mutex_trylock(m)) return;
        for (unsigned k = 0; k < pause; k++) _TG_CPU_RELAX();
        if (pause < 64) pause *= 2;
    }
    /* A reserved lock: as a list operation does (sync/bias.c,
       _tg_sticky_acquire), wait out the holder's slice while it is busy
       with the object (detached: outer sections suspended meanwhile), then
       take it over; an idle holder's reservation at once, attached. (With
       the world stopped by us no holder is busy: no detaching.) Taken over
       at once, the hammering threads that fall back to a section — a plain
       hold that outlasted the quick path's spin — traded the reservation
       292-792 times per 4M appends instead of 19-27, at 52-73M appends/s
       instead of 63-88M (sync_bench hammer, alternating runs). */
    if ((__atomic_load_n(&m->v, __ATOMIC_RELAXED) & (_TG_LOCK_STICKY | _TG_LOCK_TAKING)) == _TG_LOCK_STICKY
        && _tg_sticky_acquire((tg_obj *)(void *)((char *)m - offsetof(tg_obj, ob_mutex))))
        return;
    tg_tstate *t = tg_release();            /* suspends active sections */
    for (;;) {
        tg_mutex_lock(m);
        /* Re-attach with m only if no stop is in progress: a stopped world
           holds no object lock (fork copies it so). Else let m go, wait out
           the stop, and try again. The section m belongs to is not on the
           stack yet, so resuming outer sections will not relock it. */
        if (_tg_sync_try_enter(ts, true)) return;
        tg_mutex_unlock(m);
        tg_reacquire(t);
        t = tg_release();
    }
}

TG_API void _tg_cs_begin(tg_critical_section *cs, tg_obj *a, tg_obj *b)
{
    cs->flags = 0;
    if (_tg_rt.mode == TG_MODE_GIL) {
        cs->prev = NULL; cs->a = a; cs->b = b;
        return;
    }
    _tg_tstate *ts = _tg_tls_ts;
    if (a == b) b = NULL;
    if (b && (uintptr_t)b < (uintptr_t)a) { tg_obj *t = a; a = b; b = t; }
    uintptr_t top = *top_slot(ts);
    if (top && !(top & INACTIVE)) {
        tg_critical_section *t = untag(top);
        bool has_a = t->a == a || t->b == a, has_b = !b || t->a == b || t->b == b;
        if (has_a && has_b) {                /* already held: nested, no lock */
            cs->a = a; cs->b = b;
            cs->flags = CS_NESTED;
            cs->prev = (tg_critical_section *)top;
            *top_slot(ts) = (uintptr_t)cs;
            return;
        }
    }
    cs->a = cs->b = NULL;                   /* nothing to suspend/resume yet */
    cs->prev = (tg_critical_section *)*top_slot(ts);
    *top_slot(ts) = (uintptr_t)cs;
    /* Another thread may be running a biased section on a or b (its owner's
       lock-free path, sync/bias.c): revoke the bias first. */
    _tg_bias_claim(a);
    if (b) _tg_bias_claim(b);
    /* A lock this thread holds in reserve (sync/bias.c): back to an
       ordinary hold, released, so that both locks are taken in address
       order below. */
    tg_obj *mine = __atomic_load_n(&_tg_tls_sticky, __ATOMIC_RELAXED);
    if (mine && (mine == a || mine == b) && _tg_sticky_unreserve(mine))
        tg_mutex_unlock(&mine->ob_mutex);
    lock_detached(ts, &a->ob_mutex);
    if (b) lock_detached(ts, &b->ob_mutex);
    cs->a = a; cs->b = b;
}

TG_API void _tg_cs_end(tg_critical_section *cs)
{
    if (_tg_rt.mode == TG_MODE_GIL) return;
    _tg_tstate *ts = _tg_tls_ts;
    TG_ASSERT(untag(*top_slot(ts)) == cs);
    cs_unlock(cs);
    *top_slot(ts) = (uintptr_t)cs->prev;
    if (*top_slot(ts) & INACTIVE) _tg_cs_resume(ts);
}

void _tg_cs_suspend_all(_tg_tstate *ts)
{
    uintptr_t *slot = top_slot(ts);
    while (*slot && !(*slot & INACTIVE)) {
        tg_critical_section *c = untag(*slot);
        cs_unlock(c);
        *slot |= INACTIVE;
        slot = (uintptr_t *)&c->prev;
    }
}

void _tg_cs_resume(_tg_tstate *ts)
{
    uintptr_t *slot = top_slot(ts);
    if (!(*slot & INACTIVE)) return;
    tg_critical_section *c = untag(*slot);
    if (c->flags & CS_NESTED) {
        /* Activate the nested sections down to the one that owns the locks,
           then resume that one (its link is the last one we reach). */
        while (c->flags & CS_NESTED) {
            *slot = (uintptr_t)c;
            slot = (uintptr_t *)&c->prev;
            c = untag(*slot);
        }
        if (!(*slot & INACTIVE)) return;     /* cannot happen: suspend is top-down */
    }
    /* Mark active first: if we block here, the release inside lock_detached
       must not unlock what we do not hold — so lock with the objects hidden. */
    tg_obj *a = c->a, *b = c->b;
    c->a = c->b = NULL;
    *slot = (uintptr_t)c;
    if (a) lock_detached(ts, &a->ob_mutex);
    if (b) lock_detached(ts, &b->ob_mutex);
    c->a = a; c->b = b;
}
