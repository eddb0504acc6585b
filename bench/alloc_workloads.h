/*
 * bench/alloc_workloads.h — the allocator workloads of BENCH.md (alloc_churn,
 * alloc_prodcons), written once against an allocator vtable so the same code
 * measures tangle, glibc and mimalloc.
 */
#ifndef TB_ALLOC_WORKLOADS_H
#define TB_ALLOC_WORKLOADS_H

#include <stddef.h>

typedef struct bench_allocator {
    const char *name;                 /* "tangle", "glibc", "mimalloc" */
    void *(*alloc)(size_t);
    void  (*free)(void *);
    void  (*thread_init)(void);       /* may be NULL; run first in every thread the workload starts */
    void  (*thread_fini)(void);       /* may be NULL; run last in those threads */
} bench_allocator;

/* alloc_churn: a 10,000-slot live set (filled before the clock starts); each op
   frees a random slot and allocates 16..512 bytes into it (uniform, xorshift,
   fixed seed), writing 8 bytes. Runs in the calling thread. Returns ns per op
   (one free + one allocation), or a negative value if an allocation failed. */
double bench_alloc_churn(const bench_allocator *a, long ops);

/* alloc_prodcons: thread A allocates 16..512 bytes (same generator) and writes
   8 bytes, hands the block over through a 4,096-slot single-producer
   single-consumer ck_ring; thread B checks the 8 bytes and frees it, so every
   free is a remote free. Returns ns per op (wall time of the whole transfer /
   ops), or a negative value on failure. */
double bench_alloc_prodcons(const bench_allocator *a, long ops);

#endif
