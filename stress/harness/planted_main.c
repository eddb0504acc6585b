/*
 * stress/harness/planted_main.c — tangle-stress-planted: the stress harness
 * linked with a copy of the library built with TG_PLANT_RACE=1, to show that
 * `stress --chaos` catches a real race (stress/harness.cmake). Usage is that of
 * `tangle stress`: tangle-stress-planted stress [options].
 */
#include <string.h>
#include "stress/harness/harness.h"

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "stress")) return tgs_main(argc - 1, argv + 1);
    return tgs_main(argc, argv);
}
