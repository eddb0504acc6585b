/*
 * alloc/tests/alloc_uaf.c — a planted use-after-free inside a pool.
 *
 * Built twice by tests/alloc.cmake: against the ASan build of libtangle (the
 * report must say use-after-poison) and from alloc/alloc.c compiled with
 * TG_ALLOC_VALGRIND=1, run under valgrind memcheck (the report must say
 * "Invalid write ... inside a block ... free'd"). Exits 0 if nobody noticed.
 */
#include <stdio.h>
#include <string.h>

#include "tangle.h"

int main(void)
{
    char *keep = tg_mem_alloc(64);              /* the pool stays alive */
    char *p = tg_mem_alloc(64);
    memset(p, 1, 64);
    tg_mem_free(p);
    ((volatile char *)p)[40] = 42;              /* the planted bug */
    printf("use-after-free not detected (%d)\n", ((volatile char *)p)[40]);
    tg_mem_free(keep);
    return 0;
}
