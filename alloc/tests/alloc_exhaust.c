/*
 * alloc/tests/alloc_exhaust.c — when the reserved range is full, small
 * requests fall back to the system allocator and everything still works.
 * Built by tests/alloc.cmake from alloc/alloc.c with TG_ALLOC_RESERVE = 64 MiB
 * (64 arenas, about 63 MiB of pools). Exits 0 on success.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tangle.h"
#include "alloc/alloc.h"

#define N 600000            /* x 128 bytes = 77 MiB: more than the range holds */

int main(void)
{
    char **p = malloc(N * sizeof *p);
    size_t in_pools = 0;
    for (size_t i = 0; i < N; i++) {
        p[i] = tg_mem_alloc(128);
        if (!p[i]) { fprintf(stderr, "allocation %zu failed\n", i); return 1; }
        memset(p[i], (int)(i & 0x7f), 128);
        in_pools += _tg_alloc_is_pool_block(p[i]);
    }
    if (in_pools == N) { fprintf(stderr, "the range never filled up\n"); return 1; }
    for (size_t i = 0; i < N; i++) {
        if (p[i][0] != (char)(i & 0x7f) || p[i][127] != (char)(i & 0x7f)) {
            fprintf(stderr, "block %zu corrupted\n", i); return 1;
        }
        tg_mem_free(p[i]);
    }
    free(p);
    _tg_alloc_collect();
    tg_mem_stats st;
    tg_mem_get_stats(&st);
    if (st.blocks_in_use[7] != 0 || st.large_bytes != 0 || st.arenas > 1) {
        fprintf(stderr, "not everything came back: %zu blocks, %zu large bytes, %zu arenas\n",
                st.blocks_in_use[7], st.large_bytes, st.arenas);
        return 1;
    }
    void *q = tg_mem_alloc(64);                 /* the range is usable again */
    if (!q || !_tg_alloc_is_pool_block(q)) { fprintf(stderr, "no pool block after freeing\n"); return 1; }
    tg_mem_free(q);
    printf("alloc_exhaust: %zu of %d blocks in pools, the rest from the system; all returned\n",
           in_pools, N);
    return 0;
}
