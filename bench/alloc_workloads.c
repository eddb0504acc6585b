/*
 * bench/alloc_workloads.c — alloc_churn and alloc_prodcons (BENCH.md).
 * See alloc_workloads.h for what each measures.
 */
#include "bench/alloc_workloads.h"

#include <ck_pr.h>
#include <ck_ring.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define CHURN_SLOTS 10000
#define RING_SLOTS  4096          /* ck_ring holds RING_SLOTS - 1 */
#define SEED        0x2545f4914f6cdd1dull

static uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return *s = x;
}
static size_t draw_size(uint64_t r) { return 16 + (size_t)(r >> 32) % 497; }   /* 16..512 */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile uint64_t sink;

double bench_alloc_churn(const bench_allocator *a, long ops)
{
    void **slot = malloc(CHURN_SLOTS * sizeof *slot);
    if (!slot) return -1;
    uint64_t s = SEED;
    for (size_t i = 0; i < CHURN_SLOTS; i++) {
        slot[i] = a->alloc(draw_size(xorshift64(&s)));
        if (!slot[i]) return -1;
        *(uint64_t *)slot[i] = i;
    }
    int failed = 0;
    double t0 = now_ns();
    for (long op = 0; op < ops; op++) {
        uint64_t r = xorshift64(&s);
        size_t i = (size_t)((uint32_t)r % CHURN_SLOTS);
        a->free(slot[i]);
        void *p = a->alloc(draw_size(r));
        if (!p) { failed = 1; slot[i] = NULL; break; }
        *(uint64_t *)p = (uint64_t)op;      /* the 8-byte write */
        slot[i] = p;
    }
    double t1 = now_ns();
    uint64_t sum = 0;
    for (size_t i = 0; i < CHURN_SLOTS; i++)
        if (slot[i]) { sum += *(uint64_t *)slot[i]; a->free(slot[i]); }
    sink = sum;
    free(slot);
    return failed ? -1 : (t1 - t0) / (double)ops;
}

/* ------------------------------------------------------------ prodcons */

typedef struct {
    const bench_allocator *a;
    long ops;
    ck_ring_t ring;
    ck_ring_buffer_t *buf;
    int start;                 /* both threads spin on it (ck_pr) */
    int ready;
    int failed;
    double t0, t1;
} prodcons;

static void thread_begin(prodcons *pc)
{
    if (pc->a->thread_init) pc->a->thread_init();
    ck_pr_inc_int(&pc->ready);
    while (!ck_pr_load_int(&pc->start)) ck_pr_stall();
}

static void *producer(void *arg)
{
    prodcons *pc = arg;
    thread_begin(pc);
    uint64_t s = SEED;
    for (long op = 0; op < pc->ops; op++) {
        uint64_t *p = pc->a->alloc(draw_size(xorshift64(&s)));
        if (!p) { ck_pr_store_int(&pc->failed, 1); break; }
        *p = (uint64_t)op;
        while (!ck_ring_enqueue_spsc(&pc->ring, pc->buf, p)) ck_pr_stall();
    }
    if (pc->a->thread_fini) pc->a->thread_fini();
    return NULL;
}

static void *consumer(void *arg)
{
    prodcons *pc = arg;
    thread_begin(pc);
    for (long op = 0; op < pc->ops; op++) {
        void *p;
        while (!ck_ring_dequeue_spsc(&pc->ring, pc->buf, &p)) {
            if (ck_pr_load_int(&pc->failed)) goto out;
            ck_pr_stall();
        }
        if (*(uint64_t *)p != (uint64_t)op) ck_pr_store_int(&pc->failed, 1);
        pc->a->free(p);
    }
out:
    pc->t1 = now_ns();
    if (pc->a->thread_fini) pc->a->thread_fini();
    return NULL;
}

double bench_alloc_prodcons(const bench_allocator *a, long ops)
{
    prodcons pc = { .a = a, .ops = ops };
    pc.buf = calloc(RING_SLOTS, sizeof *pc.buf);
    if (!pc.buf) return -1;
    ck_ring_init(&pc.ring, RING_SLOTS);
    pthread_t tp, tc;
    if (pthread_create(&tc, NULL, consumer, &pc)) { free(pc.buf); return -1; }
    if (pthread_create(&tp, NULL, producer, &pc)) {
        ck_pr_store_int(&pc.failed, 1); ck_pr_store_int(&pc.start, 1);
        pthread_join(tc, NULL); free(pc.buf); return -1;
    }
    while (ck_pr_load_int(&pc.ready) < 2) ck_pr_stall();
    pc.t0 = now_ns();
    ck_pr_fence_store();        /* t0 is written before the threads are released */
    ck_pr_store_int(&pc.start, 1);
    pthread_join(tp, NULL);
    pthread_join(tc, NULL);
    free(pc.buf);
    return pc.failed ? -1 : (pc.t1 - pc.t0) / (double)ops;
}
