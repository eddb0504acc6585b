/*
 * tools/cmd_bench.c — `tangle bench`: the workloads of BENCH.md in both modes
 * and against the baselines (bench/driver.c does the work; `tangle bench
 * --help` lists the options).
 */
#include "bench/bench.h"

int cmd_bench(int argc, char **argv);

int cmd_bench(int argc, char **argv)
{
    return tb_main(argc, argv);
}
