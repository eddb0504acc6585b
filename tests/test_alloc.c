/*
 * tests/test_alloc.c — the allocator (alloc/): classes, realloc, zero and large
 * requests, stats, memory return, fault injection, remote frees, abandonment,
 * fork. Runs without tg_init: the allocator needs no runtime.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tangle.h"
#include "alloc/alloc.h"

static void fill(void *p, size_t n, unsigned seed)
{
    unsigned char *c = p;
    for (size_t i = 0; i < n; i++) c[i] = (unsigned char)(seed + i * 7);
}
static int check(const void *p, size_t n, unsigned seed)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != (unsigned char)(seed + i * 7)) return 0;
    return 1;
}

Test(alloc, every_size_class)
{
    void *ps[513];
    for (size_t n = 1; n <= 512; n++) {
        ps[n] = tg_mem_alloc(n);
        cr_assert_not_null(ps[n], "size %zu", n);
        cr_assert_eq((uintptr_t)ps[n] % 16, 0, "16-byte aligned");
        cr_assert(_tg_alloc_is_pool_block(ps[n]), "size %zu is a pool block", n);
        cr_assert_eq(_tg_alloc_usable_size(ps[n]), (n + 15) / 16 * 16, "class of %zu", n);
        fill(ps[n], n, (unsigned)n);
    }
    tg_mem_stats st;
    tg_mem_get_stats(&st);
    for (size_t c = 0; c < 32; c++)
        cr_assert_geq(st.blocks_in_use[c], 16, "class %zu", c);
    for (size_t n = 1; n <= 512; n++) {
        cr_assert(check(ps[n], n, (unsigned)n), "contents of size %zu", n);
        tg_mem_free(ps[n]);
    }
    cr_assert_eq(_tg_alloc_validate(), 0);
    void *big = tg_mem_alloc(513);
    cr_assert_not_null(big);
    cr_assert_not(_tg_alloc_is_pool_block(big), "513 bytes goes to the system");
    tg_mem_free(big);
}

Test(alloc, distinct_blocks)
{
    enum { N = 5000 };
    static char *p[N];
    for (int i = 0; i < N; i++) { p[i] = tg_mem_alloc(48); memset(p[i], i & 0xff, 48); }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < 48; j++) cr_assert_eq((unsigned char)p[i][j], (unsigned)(i & 0xff));
    for (int i = 0; i < N; i += 2) tg_mem_free(p[i]);
    for (int i = 0; i < N; i += 2) { p[i] = tg_mem_alloc(48); memset(p[i], i & 0xff, 48); }
    for (int i = 1; i < N; i += 2)
        for (int j = 0; j < 48; j++) cr_assert_eq((unsigned char)p[i][j], (unsigned)(i & 0xff));
    for (int i = 0; i < N; i++) tg_mem_free(p[i]);
    cr_assert_eq(_tg_alloc_validate(), 0);
}

Test(alloc, zero_size)
{
    void *a = tg_mem_alloc(0), *b = tg_mem_alloc(0);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_neq(a, b, "zero-byte blocks are distinct");
    cr_assert_not(_tg_alloc_is_pool_block(a), "zero bytes go to the system");
    tg_mem_free(a);
    tg_mem_free(b);
    tg_mem_free(NULL);
    void *c = tg_mem_alloc(32);
    void *d = tg_mem_realloc(c, 0);
    cr_assert_not_null(d);
    tg_mem_free(d);
}

Test(alloc, realloc_across_classes_and_large)
{
    char *p = tg_mem_realloc(NULL, 10);
    cr_assert_not_null(p);
    fill(p, 10, 1);
    char *q = tg_mem_realloc(p, 16);                 /* same class: in place */
    cr_assert_eq(p, q);
    size_t n = 16;
    for (size_t m = 17; m <= 4000; m = m * 3 / 2 + 1) {   /* grow through classes into large */
        fill(q, n, (unsigned)n);
        char *r = tg_mem_realloc(q, m);
        cr_assert_not_null(r);
        cr_assert(check(r, n, (unsigned)n), "grow %zu -> %zu keeps data", n, m);
        q = r; n = m;
    }
    cr_assert_not(_tg_alloc_is_pool_block(q));
    fill(q, n, 9);
    for (size_t m = n; m >= 1; m = m / 2) {          /* shrink from large back into classes */
        char *r = tg_mem_realloc(q, m);
        cr_assert_not_null(r);
        cr_assert(check(r, m, 9), "shrink to %zu keeps data", m);
        q = r;
    }
    cr_assert(_tg_alloc_is_pool_block(q));
    tg_mem_free(q);
}

Test(alloc, stats_consistency)
{
    tg_mem_stats a, b, c;
    tg_mem_get_stats(&a);
    enum { N = 3000 };
    static void *p[N];
    for (int i = 0; i < N; i++) p[i] = tg_mem_alloc(100);   /* class 6: 112 bytes */
    void *big = tg_mem_alloc(100000);
    tg_mem_get_stats(&b);
    cr_assert_eq(b.blocks_in_use[6] - a.blocks_in_use[6], N);
    cr_assert_eq(b.large_bytes - a.large_bytes, 100000);
    cr_assert_eq(b.bytes_in_use - a.bytes_in_use, (size_t)N * 112 + 100000);
    cr_assert_geq(b.pools, (size_t)N / ((16384 - 128) / 112));
    cr_assert_geq(b.arenas, 1);
    cr_assert_geq(b.arenas_peak, b.arenas);
    cr_assert_geq(b.bytes_mapped, b.bytes_in_use);
    for (int i = 0; i < N; i++) tg_mem_free(p[i]);
    tg_mem_free(big);
    tg_mem_get_stats(&c);
    cr_assert_eq(c.blocks_in_use[6], a.blocks_in_use[6]);
    cr_assert_eq(c.bytes_in_use, a.bytes_in_use);
    cr_assert_eq(c.large_bytes, a.large_bytes);
    char *buf = NULL; size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    tg_mem_dump(f);
    fclose(f);
    cr_assert(strstr(buf, "blocks in use") != NULL, "dump has the class table:\n%s", buf);
    cr_assert(strstr(buf, "# arenas highwater mark") != NULL);
    free(buf);
}

Test(alloc, memory_returns_after_freeing_everything)
{
    tg_mem_stats a, b, c;
    void *warm = tg_mem_alloc(16);
    tg_mem_get_stats(&a);
    enum { N = 200000 };
    void **p = malloc(N * sizeof *p);
    uint32_t x = 12345;
    for (int i = 0; i < N; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        p[i] = tg_mem_alloc(16 + x % 497);
    }
    tg_mem_get_stats(&b);
    cr_assert_gt(b.arenas, a.arenas + 20, "%zu arenas for %d blocks", b.arenas, N);
    for (int i = 0; i < N; i++) tg_mem_free(p[i]);
    free(p);
    _tg_alloc_collect();
    tg_mem_get_stats(&c);
    cr_assert_leq(c.arenas, a.arenas + 2, "back to %zu arenas (from %zu, started at %zu)",
                  c.arenas, b.arenas, a.arenas);
    cr_assert_eq(c.arenas_peak, b.arenas_peak);
    tg_mem_free(warm);
}

/* The empty-arena policy (alloc.c, "Memory returns to the OS"). Blocks of
   512 bytes: an arena holds at most 63 pools of 32. */
#define ARENA_BLOCKS 2016
typedef struct { void **p; size_t n; } blockset;

static blockset take_arenas(size_t arenas)
{
    blockset b = { malloc(arenas * ARENA_BLOCKS * sizeof(void *)), arenas * ARENA_BLOCKS };
    cr_assert_not_null(b.p);
    for (size_t i = 0; i < b.n; i++) cr_assert_not_null(b.p[i] = tg_mem_alloc(512));
    return b;
}

static void give_back(blockset *b)
{
    for (size_t i = 0; i < b->n; i++) tg_mem_free(b->p[i]);
    free(b->p);
    b->p = NULL;
}

/* "# arenas allocated total", "# arenas reclaimed", "# empty arenas kept" from tg_mem_dump */
static size_t dump_count(const char *label)
{
    char *buf = NULL; size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    tg_mem_dump(f);
    fclose(f);
    const char *at = strstr(buf, label);
    cr_assert_not_null(at, "no \"%s\" in the dump:\n%s", label, buf);
    at = strchr(at, '=');
    size_t n = (size_t)strtoull(at + 1, NULL, 10);
    free(buf);
    return n;
}

Test(alloc, empty_arenas_are_kept_and_reused_not_mapped_again)
{
    _tg_alloc_collect();                     /* at most the spare left */
    blockset base = take_arenas(12);         /* 12 arenas in use: the cap is 12 */
    blockset churn = take_arenas(6);
    give_back(&churn);
    size_t empties = dump_count("# empty arenas kept");
    /* the heap's cache keeps up to 4 empty pools, which may hold 2 arenas */
    cr_assert_geq(empties, 4, "%zu empty arenas kept after freeing 6 arenas' worth", empties);
    size_t mapped = dump_count("# arenas allocated total");
    for (int round = 0; round < 5; round++) {
        churn = take_arenas(6);
        give_back(&churn);
    }
    cr_assert_leq(dump_count("# arenas allocated total"), mapped + 1,
                  "five rebuilds of 6 arenas' worth mapped %zu arenas afresh",
                  dump_count("# arenas allocated total") - mapped);
    give_back(&base);
    _tg_alloc_collect();
    cr_assert_leq(dump_count("# empty arenas kept"), 1, "_tg_alloc_collect keeps the spare alone");
}

Test(alloc, empty_arenas_beyond_the_cap_are_released)
{
    _tg_alloc_collect();
    tg_mem_stats a, b;
    tg_mem_get_stats(&a);
    blockset big = take_arenas(30);          /* nothing else in use: the cap is 8 */
    give_back(&big);
    size_t empties = dump_count("# empty arenas kept");
    cr_assert_leq(empties, 8, "%zu empty arenas kept; the cap is 8 with (almost) none in use", empties);
    cr_assert_geq(empties, 6, "%zu empty arenas kept", empties);
    tg_mem_get_stats(&b);
    cr_assert_leq(b.arenas, a.arenas + 8 + 2, "%zu arenas mapped after freeing 30 arenas' worth (%zu before)",
                  b.arenas, a.arenas);
}

Test(alloc, empty_arenas_go_back_after_the_decay)
{
    _tg_alloc_collect();
    blockset base = take_arenas(12);         /* the cap (12) is not what releases them */
    size_t reclaimed = dump_count("# arenas reclaimed");
    blockset churn = take_arenas(6);
    give_back(&churn);                       /* under the default decay (1 s): all kept */
    cr_assert_geq(dump_count("# empty arenas kept"), 4);
    /* Shortened only now: with a 1 ms decay set before, a give_back slower
       than 1 ms (a loaded machine) released the first empties already. */
    _tg_alloc_set_arena_decay(1000000);      /* 1 ms */
    usleep(50000);                           /* the coarse clock ticks every 1-4 ms */
    churn = take_arenas(2);                  /* takes 2 of the empties ... */
    give_back(&churn);                       /* ... whose return runs the check */
    size_t empties = dump_count("# empty arenas kept");
    cr_assert_leq(empties, 3, "%zu empty arenas left 50 ms after, with a decay of 1 ms", empties);
    cr_assert_geq(dump_count("# arenas reclaimed"), reclaimed + 2);
    _tg_alloc_set_arena_decay(0);
    give_back(&base);
}

Test(alloc, fail_after)
{
    tg_mem_fail_after(3);
    void *a = tg_mem_alloc(8), *b = tg_mem_alloc(1000), *c = tg_mem_alloc(24);
    cr_assert(a && b && c, "three successes");
    cr_assert_null(tg_mem_alloc(8), "the fourth fails");
    void *d = tg_mem_alloc(8);
    cr_assert_not_null(d, "then allocation works again");
    tg_mem_fail_after(0);
    cr_assert_null(tg_mem_alloc(0), "n = 0: the next one fails");
    cr_assert_not_null(a = tg_mem_realloc(a, 200));
    /* realloc counts as an allocation and leaves the block alone on failure */
    memset(a, 7, 200);
    tg_mem_fail_after(0);
    cr_assert_null(tg_mem_realloc(a, 300));
    cr_assert_eq(((unsigned char *)a)[199], 7);
    tg_mem_fail_after(5);
    tg_mem_fail_after(-1);
    for (int i = 0; i < 100; i++) { void *e = tg_mem_alloc(8); cr_assert_not_null(e); tg_mem_free(e); }
    _tg_alloc_counters k;
    _tg_alloc_get_counters(&k);
    cr_assert_eq(k.faults_injected, 3);
    tg_mem_free(a); tg_mem_free(b); tg_mem_free(c); tg_mem_free(d);
}

/* ---------------------------------------------------------------- threads */

typedef struct { void **p; int n; size_t size; } batch;

static void *alloc_batch(void *arg)
{
    batch *bt = arg;
    for (int i = 0; i < bt->n; i++) { bt->p[i] = tg_mem_alloc(bt->size); fill(bt->p[i], bt->size, (unsigned)i); }
    return NULL;
}
static void *free_batch(void *arg)
{
    batch *bt = arg;
    for (int i = 0; i < bt->n; i++) {
        if (!check(bt->p[i], bt->size, (unsigned)i)) return (void *)1;
        tg_mem_free(bt->p[i]);
    }
    return NULL;
}

Test(alloc, remote_frees_are_reclaimed)
{
    enum { N = 20000 };
    static void *p[N];
    batch bt = { p, N, 64 };
    alloc_batch(&bt);                                  /* main thread owns them */
    tg_mem_stats a, b;
    tg_mem_get_stats(&a);
    pthread_t t;
    void *rc;
    pthread_create(&t, NULL, free_batch, &bt);         /* another thread frees them */
    pthread_join(t, &rc);
    cr_assert_null(rc, "contents intact when freed remotely");
    _tg_alloc_counters k;
    _tg_alloc_get_counters(&k);
    cr_assert_geq(k.remote_frees, N);
    cr_assert_gt(k.remote_announces, 0, "pools were announced to their owner");
    /* the owner takes them back: allocating again needs no new arena */
    alloc_batch(&bt);
    tg_mem_get_stats(&b);
    cr_assert_leq(b.arenas, a.arenas, "remote-freed blocks reused (%zu -> %zu arenas)", a.arenas, b.arenas);
    cr_assert_eq(_tg_alloc_validate(), 0);
    for (int i = 0; i < N; i++) tg_mem_free(p[i]);
    cr_assert_eq(_tg_alloc_validate(), 0);
}

static void *alloc_and_exit(void *arg) { return alloc_batch(arg); }

Test(alloc, abandoned_pools_are_adopted)
{
    enum { N = 10000 };
    static void *p[N];
    batch bt = { p, N, 200 };
    pthread_t t;
    pthread_create(&t, NULL, alloc_and_exit, &bt);     /* allocates, then exits: abandons */
    pthread_join(t, NULL);
    _tg_alloc_counters k;
    _tg_alloc_get_counters(&k);
    cr_assert_gt(k.pools_abandoned, 0);
    /* free half of them from here (remote frees into abandoned pools) */
    for (int i = 0; i < N; i += 2) { cr_assert(check(p[i], 200, (unsigned)i)); tg_mem_free(p[i]); }
    tg_mem_stats a, b;
    tg_mem_get_stats(&a);
    /* a new owner for class 12 adopts those pools instead of mapping new ones */
    static void *q[N / 2];
    for (int i = 0; i < N / 2; i++) q[i] = tg_mem_alloc(200);
    tg_mem_get_stats(&b);
    _tg_alloc_get_counters(&k);
    cr_assert_gt(k.pools_adopted, 0);
    cr_assert_leq(b.arenas, a.arenas, "adopted, not mapped");
    cr_assert_eq(_tg_alloc_validate(), 0);
    for (int i = 1; i < N; i += 2) { cr_assert(check(p[i], 200, (unsigned)i)); tg_mem_free(p[i]); }
    for (int i = 0; i < N / 2; i++) tg_mem_free(q[i]);
    _tg_alloc_collect();
    tg_mem_get_stats(&b);
    cr_assert_eq(b.blocks_in_use[12], 0, "nothing lost");
}

/* Each heap takes its fresh pools from arenas of its own (alloc.c,
   arena_take_pool): two threads that allocate at the same time get blocks in
   different arenas; once a thread has given its pools up, its arenas are
   anyone's, and the other thread fills them before mapping new ones. */
static uintptr_t arena_bits(const void *p) { return (uintptr_t)p & ~(uintptr_t)(TG_ALLOC_ARENA_SIZE - 1); }
static _Atomic int own_phase;
static void *own_worker(void *arg)
{
    batch *bt = arg;
    alloc_batch(bt);                                   /* 3 pools of its own */
    atomic_store(&own_phase, 1);
    while (atomic_load(&own_phase) < 2) sched_yield();  /* keeps them while main allocates */
    for (int i = 1; i < bt->n; i++) tg_mem_free(bt->p[i]);
    return NULL;                  /* exits holding p[0]: its pool is abandoned, its arena not empty */
}

Test(alloc, each_thread_takes_pools_from_its_own_arenas)
{
    enum { N = 600 };
    static void *w[N], *m[N];
    batch wb = { w, N, 64 }, mb = { m, N, 64 };
    atomic_store(&own_phase, 0);
    pthread_t t;
    pthread_create(&t, NULL, own_worker, &wb);
    while (atomic_load(&own_phase) < 1) sched_yield();
    alloc_batch(&mb);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j += 97)
            cr_assert_neq(arena_bits(m[i]), arena_bits(w[j]), "blocks %d (main) and %d (worker) share an arena", i, j);
    atomic_store(&own_phase, 2);
    pthread_join(t, NULL);
    cr_assert_eq(_tg_alloc_validate(), 0);
    /* the worker's arena is nobody's now, though a block of the worker's
       is still in it: when main has filled its own arena (63 pools), it
       goes on in the worker's instead of mapping a third */
    tg_mem_stats a, b;
    tg_mem_get_stats(&a);
    enum { M = 90 * 256 };                              /* 90 pools of 64-byte blocks */
    static void *q[M];
    for (int i = 0; i < M; i++) cr_assert_not_null(q[i] = tg_mem_alloc(64));
    tg_mem_get_stats(&b);
    cr_assert_leq(b.arenas_peak, a.arenas_peak, "%zu arenas at the peak, %zu before: the worker's arena was reused",
                  b.arenas_peak, a.arenas_peak);
    for (int i = 0; i < M; i++) tg_mem_free(q[i]);
    for (int i = 0; i < N; i++) tg_mem_free(m[i]);
    tg_mem_free(w[0]);
    cr_assert_eq(_tg_alloc_validate(), 0);
}

Test(alloc, detach_abandons_and_reattach_works)
{
    void *a = tg_mem_alloc(40);
    _tg_alloc_thread_detach();
    _tg_alloc_counters k;
    _tg_alloc_get_counters(&k);
    cr_assert_gt(k.pools_abandoned, 0);
    void *b = tg_mem_alloc(40);                         /* a fresh heap, adopting */
    cr_assert_not_null(b);
    tg_mem_free(a);
    tg_mem_free(b);
    cr_assert_eq(_tg_alloc_validate(), 0);
}

Test(alloc, fini_releases_everything_and_allocator_works_again)
{
    for (int i = 0; i < 10000; i++) (void)tg_mem_alloc((size_t)(i % 600));   /* "leaked" */
    _tg_alloc_fini();
    tg_mem_stats st;
    tg_mem_get_stats(&st);
    cr_assert_eq(st.arenas, 0);
    cr_assert_eq(st.large_bytes, 0);
    cr_assert_eq(st.bytes_in_use, 0);
    void *p = tg_mem_alloc(24);
    cr_assert_not_null(p);
    memset(p, 1, 24);
    tg_mem_free(p);
    cr_assert_eq(_tg_alloc_validate(), 0);
}

static void *hold_heap(void *arg)
{
    void **slot = arg;
    *slot = tg_mem_alloc(72);
    return NULL;
}

Test(alloc, fork_child_works)
{
    enum { N = 3000 };
    static void *p[N];
    for (int i = 0; i < N; i++) p[i] = tg_mem_alloc(32);
    void *other = NULL;
    pthread_t t;
    pthread_create(&t, NULL, hold_heap, &other);
    pthread_join(t, NULL);
    pid_t pid = fork();
    if (pid == 0) {
        _tg_alloc_fork_child();                          /* idempotent with the atfork handler */
        for (int i = 0; i < N; i++) tg_mem_free(p[i]);
        tg_mem_free(other);
        for (int r = 0; r < 5; r++) {
            for (int i = 0; i < N; i++) p[i] = tg_mem_alloc((size_t)(1 + i % 512));
            for (int i = 0; i < N; i++) tg_mem_free(p[i]);
        }
        _exit(_tg_alloc_validate() == 0 ? 0 : 3);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    for (int i = 0; i < N; i++) tg_mem_free(p[i]);
    tg_mem_free(other);
}

/* Random churn with periodic validation of the heap's equations. */
Test(alloc, churn_keeps_invariants)
{
    enum { SLOTS = 4096 };
    static void *p[SLOTS];
    static size_t sz[SLOTS];
    uint64_t x = 88172645463325252ull;
    for (int op = 0; op < 400000; op++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        size_t i = x % SLOTS;
        if (p[i]) { cr_assert(check(p[i], sz[i] < 16 ? sz[i] : 16, (unsigned)i)); tg_mem_free(p[i]); }
        sz[i] = 1 + (x >> 20) % 700;
        p[i] = tg_mem_alloc(sz[i]);
        fill(p[i], sz[i] < 16 ? sz[i] : 16, (unsigned)i);
        if (op % 50000 == 0) cr_assert_eq(_tg_alloc_validate(), 0);
    }
    for (int i = 0; i < SLOTS; i++) tg_mem_free(p[i]);
    cr_assert_eq(_tg_alloc_validate(), 0);
}
