/*
 * tools/cmd_bench.c — `tangle bench`: the workloads of BENCH.md in both modes
 * and against the baselines (bench/driver.c does the work; `tangle bench
 * --help` lists the options). bench/CMakeLists.txt links tangle_benchlib and
 * defines TANGLE_WITH_BENCH; a build configured with TANGLE_BUILD_BENCH=OFF
 * still has the command, which then says so.
 */
#include <stdio.h>

#if TANGLE_WITH_BENCH
#include "bench/bench.h"
#endif

int cmd_bench(int argc, char **argv);

int cmd_bench(int argc, char **argv)
{
#if TANGLE_WITH_BENCH
    return tb_main(argc, argv);
#else
    (void)argc;
    (void)argv;
    fprintf(stderr, "tangle bench: this build has no benchmarks (configure with -DTANGLE_BUILD_BENCH=ON)\n");
    return 3;
#endif
}
