/*
 * alloc/alloc.c — temporary seam: the system allocator behind tg_mem_*, with
 * fault injection. Replaced by the pool allocator (issue: allocator).
 */
#include <stdlib.h>
#include "tangle.h"
#include "alloc/alloc.h"

static _Thread_local long fail_countdown = -1;

static int should_fail(void)
{
    if (fail_countdown < 0) return 0;
    if (fail_countdown-- == 0) return 1;
    return 0;
}

TG_API void *tg_mem_alloc(size_t n) { return should_fail() ? NULL : malloc(n ? n : 1); }
TG_API void *tg_mem_realloc(void *p, size_t n) { return should_fail() ? NULL : realloc(p, n ? n : 1); }
TG_API void  tg_mem_free(void *p) { free(p); }
TG_API void  tg_mem_fail_after(long n) { fail_countdown = n < 0 ? -1 : n; }
TG_API void  tg_mem_get_stats(tg_mem_stats *out) { *out = (tg_mem_stats){0}; }
TG_API void  tg_mem_dump(FILE *out) { fprintf(out, "system allocator\n"); }
void _tg_alloc_thread_detach(void) {}
void _tg_alloc_fini(void) {}
void _tg_alloc_fork_child(void) {}
