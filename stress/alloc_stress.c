/*
 * stress/alloc_stress.c — stress test of the allocator (alloc/). Not a
 * benchmark: it is meant to break invariants, not to measure anything.
 *
 * Each round starts N threads. Every thread has its own seeded PRNG and a
 * private array of live blocks; it allocates (mostly small, some large and
 * zero-sized), fills each block with a cookie derived from its address and
 * size, checks the cookie on free, and swaps blocks with the other threads
 * through an array of atomic transfer slots, so that most frees are remote.
 * At the end of a round every thread frees half its blocks and leaves the other
 * half for the thread that takes its place in the next round: the pools of the
 * exited thread are abandoned and those survivors are freed into them by a
 * thread that never owned them (or adopted them). After the last round
 * everything is freed and the allocator must be back to no block in use.
 *
 * usage: alloc_stress [--threads N] [--seconds S] [--seed X]
 * Any failure prints the seed that reproduces it.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tangle.h"
#include "alloc/alloc.h"

#define MAX_THREADS 64
#define TRANSFERS   1024
#define LIVE_MAX    2000
#define ITERS       20000          /* per thread per round */
#define COOKIE      0xbf58476d1ce4e5b9ull

static unsigned long g_seed = 1;
static _Atomic(uintptr_t) transfer[TRANSFERS];
static int g_failed;

typedef struct { uintptr_t *blocks; size_t n; } survivors;
static survivors surv[MAX_THREADS];

static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;                       /* splitmix-ish xorshift */
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return *s = x;
}

static void fail(const char *what, void *p)
{
    fprintf(stderr, "alloc_stress: %s at %p (reproduce with --seed %lu)\n", what, p, g_seed);
    __atomic_store_n(&g_failed, 1, __ATOMIC_RELAXED);
    abort();
}

/* Blocks are tagged: the low 4 bits of the handle hold nothing (16-aligned),
   the size is stored in the block itself. Layout: [size][cookie]...[cookie] */
static uintptr_t make_block(uint64_t *s)
{
    uint64_t r = rnd(s);
    size_t size;
    switch (r % 100) {
    case 0:  size = 0; break;
    case 1: case 2: size = 513 + (r >> 8) % 8000; break;        /* large */
    default: size = 16 + (r >> 8) % 497; break;                 /* 16..512 */
    }
    if (size < 16) {
        void *p = tg_mem_alloc(size);
        if (!p) fail("allocation failed", NULL);
        return (uintptr_t)p | 1;                                 /* 1: no contents */
    }
    uint64_t *p = tg_mem_alloc(size);
    if (!p) fail("allocation failed", NULL);
    size_t words = size / 8;
    p[0] = size;
    for (size_t i = 1; i < words; i++) p[i] = (uintptr_t)p ^ COOKIE ^ i;
    return (uintptr_t)p;
}

static void free_block(uintptr_t h)
{
    if (!h) return;
    if (h & 1) { tg_mem_free((void *)(h & ~(uintptr_t)1)); return; }
    uint64_t *p = (uint64_t *)h;
    size_t size = p[0];
    if (size < 16 || size > 513 + 8000) fail("bad size word (corrupted block)", p);
    size_t words = size / 8;
    for (size_t i = 1; i < words; i++)
        if (p[i] != ((uintptr_t)p ^ COOKIE ^ i)) fail("cookie mismatch (block corrupted or shared)", p);
    tg_mem_free(p);
}

typedef struct { int id; int round; } targ;

static void *worker(void *arg)
{
    targ *ta = arg;
    uint64_t s = (g_seed * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)ta->id << 32) ^ (uint64_t)ta->round;
    if (!s) s = 1;
    uintptr_t *live = calloc(LIVE_MAX, sizeof *live);
    size_t nlive = 0;
    /* the previous occupant's survivors: keep some, free the rest here */
    survivors *sv = &surv[ta->id];
    for (size_t i = 0; i < sv->n; i++) {
        if (nlive < LIVE_MAX / 2 && (rnd(&s) & 1)) live[nlive++] = sv->blocks[i];
        else free_block(sv->blocks[i]);
    }
    free(sv->blocks); sv->blocks = NULL; sv->n = 0;

    for (int it = 0; it < ITERS; it++) {
        uint64_t r = rnd(&s);
        unsigned op = (unsigned)(r % 16);
        if (op < 7 && nlive < LIVE_MAX) {
            live[nlive++] = make_block(&s);
        } else if (op < 11 && nlive) {
            size_t i = (r >> 8) % nlive;
            free_block(live[i]);
            live[i] = live[--nlive];
        } else if (nlive) {
            /* swap one of ours with a transfer slot: whoever takes it frees it */
            size_t i = (r >> 8) % nlive, t = (r >> 24) % TRANSFERS;
            uintptr_t got = atomic_exchange_explicit(&transfer[t], live[i], memory_order_acq_rel);
            if (got) live[i] = got; else live[i] = live[--nlive];
        }
    }
    /* half survive into the next round, handed to the next thread in this slot */
    sv->blocks = malloc((nlive / 2 + 1) * sizeof *sv->blocks);
    for (size_t i = 0; i < nlive; i++) {
        if (i % 2) sv->blocks[sv->n++] = live[i];
        else free_block(live[i]);
    }
    free(live);
    if (_tg_alloc_validate() != 0) fail("heap invariants broken", NULL);
    return NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int nthreads = 4;
    double seconds = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) nthreads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) g_seed = strtoul(argv[++i], NULL, 0);
        else { fprintf(stderr, "usage: %s [--threads N] [--seconds S] [--seed X]\n", argv[0]); return 2; }
    }
    if (nthreads < 1) nthreads = 1;
    if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;

    tg_mem_stats st0;
    tg_mem_get_stats(&st0);
    double t0 = now();
    int rounds = 0;
    pthread_t th[MAX_THREADS];
    targ ta[MAX_THREADS];
    do {
        for (int i = 0; i < nthreads; i++) {
            ta[i] = (targ){ i, rounds };
            pthread_create(&th[i], NULL, worker, &ta[i]);
        }
        for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
        rounds++;
    } while (now() - t0 < seconds);

    /* everything goes: survivors and what sits in the transfer slots */
    for (int i = 0; i < nthreads; i++) {
        for (size_t j = 0; j < surv[i].n; j++) free_block(surv[i].blocks[j]);
        free(surv[i].blocks);
    }
    for (int t = 0; t < TRANSFERS; t++) free_block(atomic_exchange(&transfer[t], 0));
    _tg_alloc_collect();

    tg_mem_stats st;
    tg_mem_get_stats(&st);
    size_t blocks = 0;
    for (int c = 0; c < 64; c++) blocks += st.blocks_in_use[c];
    _tg_alloc_counters k;
    _tg_alloc_get_counters(&k);
    printf("alloc_stress: seed %lu, %d threads, %d rounds, %.1f s; remote frees %zu (%zu announced), "
           "pools abandoned %zu, adopted %zu; arenas now %zu (peak %zu)\n",
           g_seed, nthreads, rounds, now() - t0, k.remote_frees, k.remote_announces,
           k.pools_abandoned, k.pools_adopted, st.arenas, st.arenas_peak);
    if (blocks != 0 || st.large_bytes != st0.large_bytes) {
        fprintf(stderr, "alloc_stress: %zu pool blocks and %zu large bytes still in use after freeing "
                "everything (reproduce with --seed %lu)\n", blocks, st.large_bytes, g_seed);
        tg_mem_dump(stderr);
        return 1;
    }
    if (st.arenas > 2) {
        fprintf(stderr, "alloc_stress: %zu arenas still mapped after freeing everything (seed %lu)\n",
                st.arenas, g_seed);
        tg_mem_dump(stderr);
        return 1;
    }
    return g_failed;
}
