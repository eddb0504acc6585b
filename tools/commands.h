/* tools/commands.h — one entry point per subcommand (argv[0] is its name). */
#ifndef TG_TOOLS_COMMANDS_H
#define TG_TOOLS_COMMANDS_H
#include "tangle.h"
int cmd_demo(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_stress(int argc, char **argv);
int cmd_shm(int argc, char **argv);
#endif
