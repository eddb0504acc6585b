/*
 * tools/cmd_stress.c — `tangle stress`: the scenarios of stress/ run under
 * many threads, both modes and perturbed schedules (docs/stress.md). The
 * runner lives in stress/harness.c so that embedders can link it with
 * scenarios of their own.
 */
#include "tools/commands.h"
#include "stress/harness/harness.h"

int cmd_stress(int argc, char **argv) { return tgs_main(argc, argv); }
