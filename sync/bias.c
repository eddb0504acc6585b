/*
 * sync/bias.c — owner-biased object locks, the revoking side (sync/sync.h
 * has the protocol and the owner's inline side; docs/free-threading.md
 * "Owner-biased locks").
 *
 * Why: in free-threaded mode every list or dict mutation used to take the
 * object's lock, two atomic read-modify-writes around a 5 ns operation
 * (obj_list_append 15.5 ns against 4.7 ns in GIL mode). Most objects are
 * only ever mutated by the thread that made them, so that thread gets a
 * lock-free path, and the cost moves to the first other thread that wants
 * the lock: one membarrier() per object, once.
 *
 * Revocation of o, by a thread T that is not o's owner:
 *   1. set REVOKING in o's lock byte (seq_cst): the owner's next
 *      _tg_bias_enter fails from now on;
 *   2. look the owner up by ob_tid among the registered threads. Gone: its
 *      sections ended before it left the registry (the registry lock orders
 *      them before our lookup), nothing to wait for;
 *   3. membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): every running thread
 *      of the process executes a full fence. For the owner this splits its
 *      "store slot = o; load lock byte" pair: either its load sees REVOKING
 *      (it backs out and takes the lock), or its slot store is visible to us
 *      in step 4;
 *   4. wait until the owner's slot no longer holds o (acquire: its section's
 *      writes are visible to us afterwards);
 *   5. set SHARED: from now on everybody takes the lock, and later lockers
 *      skip all of this.
 * Two revokers may run at once; each waits for the owner itself, so neither
 * takes the lock while a biased section is running.
 *
 * ob_tid changes only to _TG_TID_SHARED (by the owner, outside any biased
 * section: merges) or while the object is garbage (resurrection), so the
 * owner read in step 2 is the only thread that can be inside a biased
 * section on o, and an object whose ob_tid is SHARED needs no revocation.
 *
 * The wait is short — a biased section is one list or dict mutation — but
 * the owner may have been preempted, so after a few hundred tries the
 * revoker yields, and after that detaches between tries (tg_release): it
 * never holds up a stop-the-world or a grace period while it waits, and its
 * own critical sections are suspended meanwhile, as when it blocks on a lock.
 */
#include <linux/membarrier.h>
#include <sched.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "runtime/ft.h"
#include "sync/sync.h"
#include "sync/chaos.h"

TG_INTERNAL _Thread_local tg_obj *_tg_tls_bias TG_TLS_IE;
TG_INTERNAL _Thread_local tg_obj *_tg_tls_sticky TG_TLS_IE;
TG_INTERNAL _Thread_local tg_obj *_tg_tls_streak_obj TG_TLS_IE;
TG_INTERNAL _Thread_local uint32_t _tg_tls_streak_n TG_TLS_IE;

static _Atomic uint64_t revocations, takeovers;
static bool membarrier_ok;

static int membarrier(int cmd)
{
    return (int)syscall(__NR_membarrier, cmd, 0u, 0);
}

void _tg_bias_runtime_init(void)
{
    membarrier_ok = false;
    if (_tg_rt.mode == TG_MODE_FREE_THREADED) {
        int cmds = membarrier(MEMBARRIER_CMD_QUERY);
        membarrier_ok = cmds >= 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED)
                        && membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
    }
    /* Without membarrier() the owner's plain store could not be ordered
       against a revoker: objects are then born unbiased (plain locking). */
    _tg_rt.obj_lock_birth = (uint8_t)(_tg_rt.mode == TG_MODE_FREE_THREADED && !membarrier_ok
                                      ? _TG_BIAS_SHARED : 0);
}

uint64_t _tg_bias_revocations(void) { return atomic_load_explicit(&revocations, memory_order_relaxed); }
uint64_t _tg_sticky_takeovers(void) { return atomic_load_explicit(&takeovers, memory_order_relaxed); }

#define SPIN_TRIES  256
#define YIELD_TRIES 64

void _tg_bias_revoke_slow(tg_obj *o)
{
    uintptr_t owner = __atomic_load_n(&o->ob_tid, __ATOMIC_ACQUIRE);
    /* 1. (seq_cst: the TSan build's Dekker pairing with the owner's seq_cst
       slot store and byte load; a locked OR on x86 either way) */
    __atomic_fetch_or(&o->ob_mutex.v, (uint8_t)_TG_BIAS_REVOKING, __ATOMIC_SEQ_CST);
    TG_CHAOS_POINT(TG_CHAOS_SITE_LOCK_ACQUIRE);
    /* 2. */
    int holds = _tg_ft_bias_slot_holds(owner, o);
#if defined(TG_PLANT_BIAS_RACE) && TG_PLANT_BIAS_RACE
    /* PLANTED BUG (the tangle-stress-bias-planted test build only): revoke
       without waiting for the owner's biased section to end. The
       ft_bias_revoke scenario must catch it. */
    holds = -1;
#endif
    if (holds >= 0) {
        /* 3. Registered (the query at start-up succeeded, or objects would
           have been born SHARED and we would not be here). */
        if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0)
            _tg_fatal("tangle: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after registration");
        /* 4. */
        for (unsigned tries = 0; (holds = _tg_ft_bias_slot_holds(owner, o)) == 1; tries++) {
            if (tries < SPIN_TRIES) {
                _TG_CPU_RELAX();
            } else if (tries < SPIN_TRIES + YIELD_TRIES) {
                sched_yield();
            } else {
                tg_tstate *t = tg_release();
                sched_yield();
                tg_reacquire(t);
            }
        }
    }
    /* 5. release: with the acquire in step 4, later lockers that see SHARED
       also see the owner's last biased section */
    __atomic_fetch_or(&o->ob_mutex.v, (uint8_t)_TG_BIAS_SHARED, __ATOMIC_SEQ_CST);
    atomic_fetch_add_explicit(&revocations, 1, memory_order_relaxed);
}

/* ------------------------------------------------------- reserved locks
   (the protocol: sync/sync.h, "reserved locks"; docs/free-threading.md)

   Why: with the bias gone, a list that two threads append to costs each
   append a CAS to lock and a CAS to unlock, and the line holding the lock
   byte and the list's length moves between the cores on nearly every
   append: 15 ns an append from one thread, and two threads together got
   0.34x the throughput of GIL mode, where the lock is the GIL and changes
   hands every few milliseconds. A reserved lock changes hands once per time
   slice instead, and its holder's appends cost what a biased section costs.

   Take-over of o (lock byte LOCKED|SHARED|STICKY), by a thread T:
     1. CAS TAKING in (only while STICKY is set and TAKING is not): from
        here on T alone finishes the take-over; the holder's next
        _tg_sticky_enter fails;
     2. membarrier(): as for a bias revocation, either a thread's entry sees
        TAKING, or its bias-slot store is visible to T in step 3;
     3. wait until no thread's bias slot holds o: an operation under the
        reserved lock may be running (acquire: its writes are T's now);
     4. forget o in every sticky slot (the holder's, unless it moved on);
     5. clear STICKY|TAKING, keeping LOCKED (and PARKED): T holds the
        lock.
   No holder cooperation is needed beyond finishing an operation that is
   already running, so a reserved lock cannot be part of a deadlock: its
   holder may block, detach, exit or hold another lock meanwhile. */

#define SLICE_NS      1000000u   /* how long a busy holder keeps its reservation */
#define POLL_SPIN_NS  2000u
#define POLL_SLEEP_NS 20000u
/* A reservation taken over within this long of being made: the threads take
   turns one operation (or one short burst) at a time; the holder does not
   reserve that object again for TURNS_HOLD_OFF_NS. (Not forever: a holder
   merely preempted right after reserving — a noisy host — or whose
   reservation a critical section took gets its reservations back soon.)
   1 ms, a slice: producer/consumer turns then cost one take-over per ms
   (52 per 100,000 round trips of sync_bench turns, ~0.1%), while a
   hammering holder that a preemption made look like a turn-taker is off
   reservations for 1 ms, not 10 (worker runs of scale_list_append_shared
   at T=2, 12 alternating: median 95M appends/s against 76M with 10 ms). */
#define TURNS_NS          50000u
#define PLAIN_SPINS       2048u      /* ~ a few microseconds of pause */
#define TURNS_HOLD_OFF_NS 1000000u
#define STICKY_OFF_BITS (M_PARKED_BIT | _TG_LOCK_STICKY | _TG_LOCK_TAKING)
enum { M_LOCKED_BIT = 1, M_PARKED_BIT = 2 };

static void sleep_for(uint64_t ns)
{
    struct timespec t = { 0, (long)ns };
    nanosleep(&t, NULL);
}

bool _tg_sticky_keep(tg_obj *o)
{
    if (!membarrier_ok) return false;
    uint8_t v = __atomic_load_n(&o->ob_mutex.v, __ATOMIC_RELAXED);
    for (;;) {
        if ((v & (M_LOCKED_BIT | _TG_BIAS_SHARED | STICKY_OFF_BITS)) != (M_LOCKED_BIT | _TG_BIAS_SHARED))
            return false;                   /* waiters parked, or still biased */
        /* A previous reservation is left behind, locked and held by nobody:
           the next thread that wants it takes it over. */
        _tg_tstate *ts = _tg_tls_ts;
        if (ts && ts->ft) {
            _tg_ft_tstate *f = ts->ft;
            if (__atomic_load_n(&f->turns_obj, __ATOMIC_RELAXED) == o) {
                /* we take turns on it with another thread: no reservation
                   until turns_until (the clock read every 64th time only:
                   this runs after every operation meanwhile) */
                if (++f->turns_checks & 63) return false;
                if (_tg_now_ns() < __atomic_load_n(&f->turns_until, __ATOMIC_RELAXED)) return false;
            }
            __atomic_store_n(&f->sticky_since, _tg_now_ns(), __ATOMIC_RELAXED);
        }
        __atomic_store_n(&_tg_tls_sticky, o, __ATOMIC_RELAXED);
        /* release: with the slot store before it, a taker that sees STICKY
           (acquire) finds o in our slot */
        if (__atomic_compare_exchange_n(&o->ob_mutex.v, &v, (uint8_t)(v | _TG_LOCK_STICKY), false,
                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            return true;
        __atomic_store_n(&_tg_tls_sticky, NULL, __ATOMIC_RELAXED);
    }
}

bool _tg_sticky_steal(tg_obj *o, bool turns)
{
    uint8_t v = __atomic_load_n(&o->ob_mutex.v, __ATOMIC_RELAXED);
    do {
        if ((v & (M_LOCKED_BIT | _TG_LOCK_STICKY | _TG_LOCK_TAKING)) != (M_LOCKED_BIT | _TG_LOCK_STICKY))
            return false;
        /* 1. seq_cst: the TSan build's Dekker pairing with the holder's
           seq_cst slot store and byte load */
    } while (!__atomic_compare_exchange_n(&o->ob_mutex.v, &v, (uint8_t)(v | _TG_LOCK_TAKING), false,
                                          __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    TG_CHAOS_POINT(TG_CHAOS_SITE_LOCK_ACQUIRE);
#if defined(TG_PLANT_STICKY_RACE) && TG_PLANT_STICKY_RACE
    /* PLANTED BUG (the tangle-stress-sticky-planted test build only): take
       the reserved lock over without waiting for an operation the holder
       may be running under it. The ft_list_reserve scenario must catch it
       (ctest stress_detects_planted_sticky_race). */
#else
    /* 2. */
    if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0)
        _tg_fatal("tangle: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after registration");
    /* 3. */
    /* Never detached while TAKING is ours: a stop-the-world (fork's, say)
       must not find a take-over half done. The operation we wait for never
       blocks and has no safepoint, so this ends. */
    for (unsigned tries = 0; _tg_ft_any_slot_holds(o); tries++) {
        if (tries < SPIN_TRIES) _TG_CPU_RELAX();
        else sched_yield();
    }
#endif
    /* 4. A holder that reserved it less than TURNS_NS ago is told to leave
       it alone for a while: the threads take turns on this list (a busy
       holder keeps a reservation for a whole slice), and a take-over per
       turn costs a membarrier() where a plain lock costs two atomics. */
    if (turns) _tg_ft_sticky_forget_all(o, TURNS_NS, TURNS_HOLD_OFF_NS);
    else _tg_ft_sticky_forget_all(o, 0, 0);
    /* 5. seq_cst (acq_rel would do: release orders step 4 before the bits
       clear for a holder's second look at its slot) */
    __atomic_fetch_and(&o->ob_mutex.v, (uint8_t)~(_TG_LOCK_STICKY | _TG_LOCK_TAKING), __ATOMIC_SEQ_CST);
    atomic_fetch_add_explicit(&takeovers, 1, memory_order_relaxed);
    return true;
}

bool _tg_sticky_steal_any(tg_obj *o)
{
    _tg_tstate *ts = _tg_tls_ts;
    bool detached = ts && atomic_load(&ts->status) != _TG_TS_ATTACHED;
    /* A waiter here found o locked before it was reserved, often a plain
       hold by a thread that then reserved it: two threads hammering one
       list. A busy holder is not taking turns with us; marking it would
       stop its reservations for TURNS_HOLD_OFF_NS and leave both threads
       on the plain lock, contended (seen: 50M appends/s at 2 threads
       where reservations give 100-130M, the mark renewed by each
       take-over). */
    bool turns = _tg_ft_sticky_holder(o, POLL_SPIN_NS) != 2;
    if (detached && !_tg_sync_try_enter(ts, false)) {
        sched_yield();                      /* a stop is in progress: let it pass */
        return false;
    }
    bool r = _tg_sticky_steal(o, turns);
    if (detached) _tg_sync_leave(ts);       /* holding o, as tg_mutex_lock's caller expects */
    return r;
}

bool _tg_sticky_acquire(tg_obj *o)
{
    tg_tstate *detached = NULL;
    uint64_t start = 0;
    unsigned plain = 0;
    for (;;) {
        /* acquire: orders our look at the sticky slots after the bits */
        uint8_t v = __atomic_load_n(&o->ob_mutex.v, __ATOMIC_ACQUIRE);
        if (v & M_LOCKED_BIT) {
            if (!(v & _TG_LOCK_STICKY)) {
                /* A plain hold: usually another list operation (a few ns),
                   often by a thread that has just taken the lock over and
                   will keep it in reserve — then wait for it like any
                   reservation, rather than take it over at once from a
                   critical section. A long hold: the caller's path. */
                if (detached || ++plain > PLAIN_SPINS) break;
                _TG_CPU_RELAX();
                continue;
            }
            if (v & _TG_LOCK_TAKING) { sched_yield(); continue; }   /* another taker: let it finish */
            /* Its holder, if still around: is it using the lock? While it
               is, wait out the slice, detached, looking again now and then. */
            uint64_t now = _tg_now_ns();
            if (!start) start = now;
            if (now - start < SLICE_NS && _tg_ft_sticky_holder(o, POLL_SPIN_NS) == 2) {
                if (!detached) detached = tg_release();     /* never hold up a stop-the-world */
                if (now - start >= 10 * POLL_SPIN_NS) sleep_for(POLL_SLEEP_NS);
                continue;
            }
        }
        /* Free, or reserved by an idle or departed holder, or the slice is
           over: take it — attached only, so that a stop (fork's) never finds
           us holding it while we wait to re-attach. */
        if (detached) {
            tg_reacquire(detached);
            detached = NULL;
            v = __atomic_load_n(&o->ob_mutex.v, __ATOMIC_ACQUIRE);
        }
        if (!(v & M_LOCKED_BIT)) {
            if (__atomic_compare_exchange_n(&o->ob_mutex.v, &v, (uint8_t)(v | M_LOCKED_BIT), false,
                                            __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                return true;
            continue;
        }
        if ((v & (_TG_LOCK_STICKY | _TG_LOCK_TAKING)) == _TG_LOCK_STICKY && _tg_sticky_steal(o, true))
            return true;
    }
    if (detached) tg_reacquire(detached);
    return false;
}

bool _tg_sticky_unreserve(tg_obj *o)
{
    if (!_tg_sticky_enter(o)) return false;
    /* Inside: a taker that set TAKING waits for us; one that has not
       yet fails its CAS once STICKY is gone. */
    uint8_t v = __atomic_load_n(&o->ob_mutex.v, __ATOMIC_RELAXED);
    bool mine = false;
    while (!(v & _TG_LOCK_TAKING)) {
        if (__atomic_compare_exchange_n(&o->ob_mutex.v, &v, (uint8_t)(v & ~_TG_LOCK_STICKY), false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
            mine = true;
            break;
        }
    }
    __atomic_store_n(&_tg_tls_sticky, NULL, __ATOMIC_RELAXED);
    _tg_bias_exit();
    return mine;
}

void _tg_sticky_forget(tg_obj *o) { _tg_ft_sticky_forget_all(o, 0, 0); }
