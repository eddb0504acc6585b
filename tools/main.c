/*
 * tools/main.c — the `tangle` command: dispatches to one subcommand per file.
 */
#include <stdio.h>
#include <string.h>
#include "tools/commands.h"

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    { "demo", cmd_demo, "the seeds' examples, run on the runtime and explained" },
    { "bench", cmd_bench, "the workloads of BENCH.md in both modes and against the baselines" },
    { "stress", cmd_stress, "scenarios x modes x threads under perturbed schedules; seeds reproduce failures" },
    { "shm", cmd_shm, "list tangle's shared-memory segments (owners, liveness); --gc removes dead ones" },
};

static void usage(FILE *out)
{
    fprintf(out, "usage: tangle <command> [options]   (tangle <command> --help)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("tangle %s\n", TG_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "tangle: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
