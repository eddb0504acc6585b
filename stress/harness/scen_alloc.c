/*
 * stress/harness/scen_alloc.c — allocator churn: tg_mem_alloc / tg_mem_realloc /
 * tg_mem_free with blocks passed between threads (remote frees) and threads
 * that exit while others still hold their blocks (abandoned pools), in waves
 * (mimalloc's test-stress pattern). Every block carries a cookie checked when
 * it is freed.
 */
#include <inttypes.h>
#include <string.h>
#include "stress/harness/harness.h"

#define MC_OPS      6000
#define MC_SLOTS    512         /* the transfer array */
#define MC_LOCAL    32
#define MC_WAVES    3

typedef struct block_hdr { uint64_t cookie; uint64_t size; } block_hdr;

static void *mc_slots[MC_SLOTS];

static uint64_t mc_cookie(uint64_t size, const void *p) { return tgs_mix(size ^ (uint64_t)(uintptr_t)p ^ 0xb10cull); }

static void mc_fill(void *p, size_t size)
{
    block_hdr *h = p;
    h->cookie = mc_cookie(size, p);
    h->size = size;
    unsigned char *b = (unsigned char *)p + sizeof *h;
    size_t n = size - sizeof *h;
    unsigned char pat = (unsigned char)h->cookie;
    /* head and tail, not the middle: cheap but catches overlap and overrun */
    for (size_t i = 0; i < n && i < 32; i++) b[i] = (unsigned char)(pat + i);
    for (size_t i = n > 32 ? n - 32 : 32; i < n; i++) b[i] = (unsigned char)(pat + i);
}

static bool mc_check(tgs_ctx *ctx, void *p, const char *when)
{
    block_hdr *h = p;
    size_t size = h->size;
    if (size < sizeof *h || size > (1u << 20) || h->cookie != mc_cookie(size, p)) {
        tgs_fail(ctx, "%s: block %p has a bad header (cookie %#" PRIx64 ", size %zu): overwritten or freed twice",
                 when, p, h->cookie, size);
        return false;
    }
    unsigned char *b = (unsigned char *)p + sizeof *h;
    size_t n = size - sizeof *h;
    unsigned char pat = (unsigned char)h->cookie;
    for (size_t i = 0; i < n && i < 32; i++)
        if (b[i] != (unsigned char)(pat + i)) { tgs_fail(ctx, "%s: block %p (size %zu) corrupt at byte %zu", when, p, size, i + sizeof *h); return false; }
    for (size_t i = n > 32 ? n - 32 : 32; i < n; i++)
        if (b[i] != (unsigned char)(pat + i)) { tgs_fail(ctx, "%s: block %p (size %zu) corrupt at byte %zu", when, p, size, i + sizeof *h); return false; }
    return true;
}

static size_t mc_size(uint64_t *rng)
{
    uint64_t r = tgs_next(rng) % 100;
    if (r < 70) return sizeof(block_hdr) + tgs_below(rng, 512 - sizeof(block_hdr) + 1);
    if (r < 95) return 513 + tgs_below(rng, 4096 - 512);
    return 4097 + tgs_below(rng, 65536);
}

static void *mc_alloc(tgs_worker *w)
{
    size_t size = mc_size(&w->rng);
    void *p = tg_mem_alloc(size);
    if (!p) { tgs_fail(w->ctx, "tg_mem_alloc(%zu) returned NULL", size); return NULL; }
    mc_fill(p, size);
    return p;
}

static void mc_worker(tgs_worker *w)
{
    tgs_ctx *ctx = w->ctx;
    void *local[MC_LOCAL] = {0};
    for (int i = 0; i < MC_OPS && !tgs_failures(ctx); i++) {
        uint64_t r = tgs_next(&w->rng) % 10;
        unsigned li = (unsigned)tgs_below(&w->rng, MC_LOCAL);
        if (r < 4) {                                   /* alloc into a local slot */
            if (local[li] && mc_check(ctx, local[li], "local free")) tg_mem_free(local[li]);
            local[li] = mc_alloc(w);
        } else if (r < 7) {                            /* swap with the transfer array: a remote free */
            void *p = mc_alloc(w);
            if (!p) break;
            void *old = __atomic_exchange_n(&mc_slots[tgs_below(&w->rng, MC_SLOTS)], p, __ATOMIC_ACQ_REL);
            if (old && mc_check(ctx, old, "remote free")) tg_mem_free(old);
        } else if (r < 8) {                            /* realloc, keeping the contents' head */
            if (local[li] && mc_check(ctx, local[li], "before realloc")) {
                size_t ns = mc_size(&w->rng);
                void *q = tg_mem_realloc(local[li], ns);
                if (!q) { tgs_fail(ctx, "tg_mem_realloc(%zu) returned NULL", ns); break; }
                mc_fill(q, ns);
                local[li] = q;
            }
        } else {                                       /* free a local block */
            if (local[li] && mc_check(ctx, local[li], "local free")) tg_mem_free(local[li]);
            local[li] = NULL;
        }
        tgs_op(w);
        if (tgs_below(&w->rng, 16) == 0) tgs_pause(w);
    }
    /* Leave half of the local blocks in the transfer array for the next wave:
       they outlive this thread's heap. */
    for (unsigned i = 0; i < MC_LOCAL; i++) {
        if (!local[i]) continue;
        if (i % 2) {
            void *old = __atomic_exchange_n(&mc_slots[tgs_below(&w->rng, MC_SLOTS)], local[i], __ATOMIC_ACQ_REL);
            if (old && mc_check(ctx, old, "remote free")) tg_mem_free(old);
        } else if (mc_check(ctx, local[i], "local free")) {
            tg_mem_free(local[i]);
        }
    }
}

static int mc_run(tgs_ctx *ctx)
{
    tg_mem_stats before, after;
    tg_mem_get_stats(&before);
    for (int i = 0; i < MC_SLOTS; i++) mc_slots[i] = NULL;
    for (int wave = 0; wave < MC_WAVES && !tgs_failures(ctx); wave++)
        tgs_run_threads(ctx, ctx->threads, mc_worker, NULL);
    for (int i = 0; i < MC_SLOTS; i++) {
        void *p = mc_slots[i];
        if (p && mc_check(ctx, p, "final free")) tg_mem_free(p);
        mc_slots[i] = NULL;
    }
    tg_mem_get_stats(&after);
    /* Large blocks are returned at once: the large-byte count must be back. */
    TGS_CHECK(ctx, after.large_bytes == before.large_bytes,
              "tg_mem_stats.large_bytes %zu after the round, %zu before (large blocks leaked or double-counted)",
              after.large_bytes, before.large_bytes);
    return tgs_failures(ctx) ? TGS_FAILED : TGS_OK;
}

const tgs_scenario tgs_scen_mem_churn = {
    .name = "mem_churn",
    .description = "tg_mem_alloc/realloc/free of small, medium and large blocks; blocks swapped between threads "
                   "and outliving their thread (3 waves of threads per round)",
    .invariants = "every block intact (header cookie, head and tail bytes) when freed, by any thread; "
                  "no NULL from the allocator; large bytes back to their start",
    .run = mc_run,
};
