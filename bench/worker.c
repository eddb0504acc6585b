/*
 * bench/worker.c — one sample of one cell, in a fresh process:
 *
 *     tangle bench --worker WORKLOAD VARIANT THREADS QUICK
 *
 * prints the protocol lines of bench.h on stdout and exits. It can be run by
 * hand to look at one cell. An alarm bounds it: a deadlocked runtime becomes
 * a "timed out" cell instead of a hung benchmark.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"

#define WORKER_TIMEOUT_S 150        /* binarytrees took up to 46 s on a loaded machine; a hang never ends */

static void print_reason(const char *tag, const char *reason)
{
    printf("@@tb %s ", tag);
    for (const char *c = reason; *c; c++)
        putchar(*c == '\n' ? ' ' : *c);
    putchar('\n');
}

int tb_worker_main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: tangle bench --worker WORKLOAD VARIANT THREADS QUICK\n");
        return 2;
    }
    const tb_workload *w = tb_workload_find(argv[0]);
    int v = tb_variant_parse(argv[1]);
    tb_params p = { .threads = atoi(argv[2]), .quick = atoi(argv[3]) };
    if (!w || v < 0 || p.threads < 1) {
        fprintf(stderr, "tangle bench --worker: unknown workload or variant\n");
        return 2;
    }
    alarm(WORKER_TIMEOUT_S);

    tb_result r = { .st = TB_OK };
    if (tb_variant_is_tangle((tb_variant)v))
        tb_run_tangle(w, (tb_variant)v, &p, &r);
    else if (v == TB_V_CPYTHON)
        tb_run_cpython(w, (tb_variant)v, &p, &r);
    else
        tb_run_c(w, (tb_variant)v, &p, &r);
    if (r.st == TB_OK && r.nmetrics == 0)
        tb_result_set(&r, TB_FAILED, "the workload reported no figure");

    switch (r.st) {
    case TB_OK:
        for (int i = 0; i < r.nmetrics; i++)
            printf("@@tb ok %s %s %.17g\n", r.m[i].name[0] ? r.m[i].name : "-", r.m[i].unit, r.m[i].value);
        break;
    case TB_NOT_YET: print_reason("na", r.reason); break;
    case TB_NO_BASELINE: print_reason("nobase", r.reason); break;
    default: print_reason("fail", r.reason); break;
    }
    fflush(stdout);
    fflush(stderr);
    /* No teardown: the runtimes' fini is not what is measured, and a worker
       whose runtime is half-built should still report what it found. */
    _exit(0);
}
