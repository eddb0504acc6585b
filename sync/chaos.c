/*
 * sync/chaos.c — chaos mode: seeded yields and short delays at synchronisation
 * points, in the spirit of liburcu's DEBUG_YIELD and rr's chaos mode.
 *
 * Algorithm. A point (TG_CHAOS_POINT in sync/chaos.h) that finds chaos on calls
 * _tg_chaos_point. The calling thread's state is a 64-bit xorshift64* PRNG
 * seeded from (chaos seed, thread index). One draw per point decides:
 *
 *     r = next();
 *     if (r % CHAOS_ONE_IN != 0)  -> nothing          (most points)
 *     else by (r >> 8) % 8:
 *        0..3 -> sched_yield()                        (let another thread in)
 *        4..5 -> spin 1..CHAOS_SPIN_MAX pause loops   (shift timing a little)
 *        6..7 -> sleep 1..CHAOS_SLEEP_MAX_US µs       (shift timing a lot)
 *
 * The decisions depend only on the seed, the thread index and how many points
 * the thread has passed, so the same seed and the same work give the same
 * perturbations. What the OS scheduler does around them still varies, so a
 * failure found under one seed reproduces with high probability, not always.
 *
 * Who may touch what: _tg_chaos_on and the global seed are written only by
 * _tg_chaos_init (tg_init, no other thread attached); each thread's state is
 * thread-local; the counters are relaxed atomics (statistics only).
 */
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include "sync/chaos.h"

/* One point in CHAOS_ONE_IN perturbs (a power of two keeps the test cheap). */
#define CHAOS_ONE_IN        4
/* Longest spin: pause loops (~10-40 ns each on x86). */
#define CHAOS_SPIN_MAX      64
/* Longest sleep, in microseconds. */
#define CHAOS_SLEEP_MAX_US  20

TG_API int _tg_chaos_on;
static uint64_t chaos_seed_global;
static unsigned chaos_seed_given;
/* Bumped by every _tg_chaos_init: a thread whose state has an older epoch reseeds. */
static unsigned chaos_epoch = 1;
static unsigned next_index;                 /* lazily assigned thread indexes */

static uint64_t counters[TG_CHAOS_NSITES];
static uint64_t n_yields, n_spins, n_sleeps;

typedef struct chaos_thread {
    uint64_t s;          /* xorshift64* state, never 0 */
    unsigned epoch;
} chaos_thread;
static _Thread_local chaos_thread me;

static const char *const site_names[TG_CHAOS_NSITES] = {
    "gil-acquire", "gil-release", "lock-acquire", "lock-release", "safepoint",
    "rc-slow", "rc-merge", "qsbr", "remote-free", "stw", "list", "dict", "gc",
    "fork", "user",
};

/* splitmix64: spreads (seed, index) over the whole state space. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t next(chaos_thread *t)
{
    uint64_t x = t->s;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    t->s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static void seed_thread(chaos_thread *t, uint64_t seed, unsigned index)
{
    t->s = mix64(seed ^ mix64((uint64_t)index + 1)) | 1;
    t->epoch = __atomic_load_n(&chaos_epoch, __ATOMIC_RELAXED);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

TG_API void _tg_chaos_point(tg_chaos_site site)
{
    chaos_thread *t = &me;
    if (TG_UNLIKELY(t->epoch != __atomic_load_n(&chaos_epoch, __ATOMIC_RELAXED)))
        seed_thread(t, chaos_seed_global, __atomic_fetch_add(&next_index, 1, __ATOMIC_RELAXED));
    if ((unsigned)site < TG_CHAOS_NSITES)
        __atomic_fetch_add(&counters[site], 1, __ATOMIC_RELAXED);
    uint64_t r = next(t);
    if (r % CHAOS_ONE_IN != 0) return;
    unsigned what = (unsigned)((r >> 8) % 8);
    unsigned amount = (unsigned)(r >> 16);
    if (what < 4) {
        __atomic_fetch_add(&n_yields, 1, __ATOMIC_RELAXED);
        sched_yield();
    } else if (what < 6) {
        __atomic_fetch_add(&n_spins, 1, __ATOMIC_RELAXED);
        for (unsigned i = 0, n = 1 + amount % CHAOS_SPIN_MAX; i < n; i++) cpu_relax();
    } else {
        __atomic_fetch_add(&n_sleeps, 1, __ATOMIC_RELAXED);
        struct timespec ts = { 0, 1000L * (long)(1 + amount % CHAOS_SLEEP_MAX_US) };
        nanosleep(&ts, NULL);
    }
}

TG_API void _tg_chaos_init(unsigned seed)
{
    if (seed == 0) {
        const char *env = getenv("TANGLE_CHAOS_SEED");
        if (env && *env) seed = (unsigned)strtoul(env, NULL, 0);
    }
    chaos_seed_given = seed;
    chaos_seed_global = seed;
    for (int i = 0; i < TG_CHAOS_NSITES; i++) __atomic_store_n(&counters[i], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&n_yields, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&n_spins, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&n_sleeps, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&next_index, 0, __ATOMIC_RELAXED);
    __atomic_fetch_add(&chaos_epoch, 1, __ATOMIC_RELAXED);
    /* Release: a thread that sees chaos on also sees the seed and the epoch. */
    __atomic_store_n(&_tg_chaos_on, TG_CHAOS && seed != 0, __ATOMIC_RELEASE);
}

TG_API void _tg_chaos_thread_seed(uint64_t seed, unsigned index)
{
    seed_thread(&me, seed ^ chaos_seed_global, index);
}

TG_API int _tg_chaos_compiled(void) { return TG_CHAOS; }
TG_API int _tg_chaos_enabled(void) { return __atomic_load_n(&_tg_chaos_on, __ATOMIC_RELAXED); }
TG_API unsigned _tg_chaos_seed(void) { return chaos_seed_given; }

TG_API void _tg_chaos_get_stats(tg_chaos_stats *out)
{
    for (int i = 0; i < TG_CHAOS_NSITES; i++)
        out->points[i] = __atomic_load_n(&counters[i], __ATOMIC_RELAXED);
    out->yields = __atomic_load_n(&n_yields, __ATOMIC_RELAXED);
    out->spins = __atomic_load_n(&n_spins, __ATOMIC_RELAXED);
    out->sleeps = __atomic_load_n(&n_sleeps, __ATOMIC_RELAXED);
}

TG_API const char *_tg_chaos_site_name(tg_chaos_site site)
{
    return (unsigned)site < TG_CHAOS_NSITES ? site_names[site] : "?";
}
