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
#include <sys/syscall.h>
#include <unistd.h>
#include "runtime/ft.h"
#include "sync/sync.h"
#include "sync/chaos.h"

TG_INTERNAL _Thread_local tg_obj *_tg_tls_bias TG_TLS_IE;

static _Atomic uint64_t revocations;
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
