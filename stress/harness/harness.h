/*
 * stress/harness/harness.h — the stress harness behind `tangle stress`: a registry of
 * scenarios, the runner that executes them (each in a fresh child process),
 * and helpers for writing scenarios (threads, seeded PRNG, invariant checks).
 *
 * Not a benchmark: operation counts are printed to show the work done, not to
 * compare speed.
 *
 * A scenario is one round of work plus the checks of its invariants. The runner
 * forks a child per (scenario, mode, thread count), calls tg_init there (with
 * chaos_seed set under --chaos), runs rounds until the time budget is spent,
 * checks after every round that tg_live_objects() is back where it was, calls
 * tg_fini and checks tg_live_objects() == 0. A crash, a hang or a broken
 * invariant in the child is reported with the command line that reproduces it;
 * the harness itself carries on.
 *
 * Reproducibility contract: everything a round does is decided by
 * ctx->round_seed, which depends only on (--seed, scenario, mode, threads,
 * round). Use tgs_rand() / tgs_worker.rng, never time or addresses, to decide
 * what to do.
 *
 * Adding a scenario (docs/stress.md): define a tgs_scenario and call
 * tgs_register() before tgs_main(), or add it to the built-in table in
 * stress/harness/harness.c.
 */
#ifndef TG_STRESS_HARNESS_H
#define TG_STRESS_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include "tangle.h"

typedef struct tgs_shared tgs_shared;   /* the child's report to the runner (private) */

typedef struct tgs_ctx {
    tg_mode  mode;
    int      threads;       /* worker threads (or processes) for this run */
    double   seconds;       /* this run's budget */
    uint64_t seed;          /* --seed */
    int      chaos;         /* --chaos */
    uint64_t round;         /* 0, 1, 2, ... */
    uint64_t round_seed;    /* decides all of this round's work */
    double   deadline;      /* monotonic time at which the run should stop */
    double   hard_deadline; /* waits give up (and fail) after this */
    const struct tgs_scenario *scenario;
    tgs_shared *shared;
} tgs_ctx;

enum { TGS_OK = 0, TGS_FAILED = 1, TGS_UNAVAILABLE = 2 };

typedef struct tgs_scenario {
    const char *name;
    const char *description;  /* one line */
    const char *invariants;   /* what is checked, for --list and the docs */
    int   fixed_threads;      /* > 0: always this many threads (once per mode) */
    /* One round. Returns TGS_OK, TGS_FAILED (after tgs_fail) or
       TGS_UNAVAILABLE (after tgs_unavailable: a needed API is not there yet). */
    int (*run)(tgs_ctx *ctx);
} tgs_scenario;

/* ------------------------------------------------------------ registry, runner */

int  tgs_register(const tgs_scenario *s);           /* -1 when the table is full */
/* `tangle stress` itself: parses argv (argv[0] = "stress"), runs, prints. */
int  tgs_main(int argc, char **argv);

/* ------------------------------------------------------- reporting from a round */

/* Count n operations (batched by workers: cheap). */
void tgs_ops(tgs_ctx *ctx, uint64_t n);
/* Record a broken invariant. Thread-safe; the message should say exactly what
   was expected and what was found. Always returns TGS_FAILED. */
int  tgs_fail(tgs_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Record that the scenario cannot run in this build yet, and why. */
int  tgs_unavailable(tgs_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int  tgs_failures(tgs_ctx *ctx);                    /* failures so far in this run */
#define TGS_CHECK(ctx, cond, ...) \
    ((cond) ? 1 : (tgs_fail((ctx), __VA_ARGS__), 0))

double tgs_now(void);                               /* monotonic seconds */

/* ------------------------------------------------------------- seeded PRNG */

uint64_t tgs_mix(uint64_t x);                       /* splitmix64 finaliser */
static inline uint64_t tgs_next(uint64_t *s)        /* xorshift64* */
{
    uint64_t x = *s;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}
static inline uint64_t tgs_below(uint64_t *s, uint64_t n) { return n ? tgs_next(s) % n : 0; }

/* ---------------------------------------------------------------- threads */

typedef struct tgs_worker {
    tgs_ctx  *ctx;
    int       index;        /* 0 .. n-1 */
    int       nthreads;
    uint64_t  rng;          /* seeded from (round_seed, index) */
    void     *arg;
    uint64_t  ops;          /* not yet reported */
    unsigned  pauses;
    bool      no_detach;    /* set by fn: exit without tg_thread_detach */
} tgs_worker;

/* Start n threads running fn(worker), each attached (tg_thread_attach) with
   its chaos sequence seeded from (round_seed, index + 1), released together
   from a barrier; wait for them with the GIL released. Returns 0, or -1 after
   tgs_fail when a thread could not be started or attached. */
int tgs_run_threads(tgs_ctx *ctx, int n, void (*fn)(tgs_worker *w), void *arg);

/* Call often (every few operations) from workers: counts ops, passes a
   safepoint and a chaos point, and now and then releases the GIL briefly so
   that GIL mode really interleaves threads. */
void tgs_pause(tgs_worker *w);
static inline void tgs_op(tgs_worker *w) { w->ops++; }
/* Wait (GIL released) for a moment; false once ctx->hard_deadline has passed. */
bool tgs_wait_a_little(tgs_ctx *ctx);

/* The built-in scenarios (stress/harness/scen_*.c). */
extern const tgs_scenario tgs_scen_refcount_storm, tgs_scen_seed_appends,
    tgs_scen_list_dict_readers, tgs_scen_handoff, tgs_scen_owner_exit,
    tgs_scen_mem_churn, tgs_scen_gc_mutation, tgs_scen_fork_threads,
    tgs_scen_shm_counters, tgs_scen_ft_append_exact, tgs_scen_ft_biased_handoff,
    tgs_scen_ft_hot_reads, tgs_scen_ft_bias_revoke, tgs_scen_ft_local_gc,
    tgs_scen_ft_aged_gc, tgs_scen_ft_list_reserve;

#endif
