/*
 * tools/cmd_shm.c — `tangle shm`: list tangle's shared-memory segments with
 * their owners and liveness, and remove the ones no living process holds.
 */
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "tools/commands.h"
#include "shm/shm.h"

static void usage(FILE *out)
{
    fprintf(out,
        "usage: tangle shm [--list | --gc] \n"
        "\n"
        "  --list   show tangle's segments in " _TG_SHM_DIR " (the default): name, owner,\n"
        "           creator pid and whether it still runs, typecode, length, size,\n"
        "           attach count, lock recoveries, and liveness. A segment is alive\n"
        "           while some process holds it open (kernel file locks: exact,\n"
        "           also after crashes); a dead one is garbage.\n"
        "  --gc     remove every dead segment of this user and say how many.\n"
        "  --help   this text.\n");
}

static const char *user_name(uid_t uid, char *buf, size_t cap)
{
    struct passwd *pw = getpwuid(uid);
    if (pw) snprintf(buf, cap, "%s", pw->pw_name);
    else snprintf(buf, cap, "%u", (unsigned)uid);
    return buf;
}

static int print_one(const _tg_shm_info *in, void *arg)
{
    int *dead = arg;
    char owner[64];
    user_name(in->owner_uid, owner, sizeof owner);
    if (!in->readable) {
        printf("%-40s %-10s %8s %-7s %2s %12s %10s %6s %5s  %s\n", in->name, owner, "?", "?", "?", "?", "?", "?", "?",
               "unknown (not readable by this user)");
        return 0;
    }
    const char *state = in->alive ? "alive" : "DEAD (garbage)";
    if (!in->alive) ++*dead;
    if (!in->valid) {
        printf("%-40s %-10s %8s %-7s %2s %12s %10llu %6s %5s  %s, no valid header\n", in->name, owner, "?", "?", "?",
               "?", (unsigned long long)in->size, "?", "?", state);
        return 0;
    }
    printf("%-40s %-10s %8d %-7s %2c %12llu %10llu %6u %5u  %s\n", in->name, owner, (int)in->creator_pid,
           in->creator_running ? "running" : "exited", in->typecode, (unsigned long long)in->length,
           (unsigned long long)in->size, in->attach_count, in->recoveries, state);
    return 0;
}

int cmd_shm(int argc, char **argv)
{
    int gc = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        else if (!strcmp(argv[i], "--gc")) gc = 1;
        else if (!strcmp(argv[i], "--list")) gc = 0;
        else {
            fprintf(stderr, "tangle shm: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (gc) {
        long n = tg_shm_gc();
        if (n < 0) { fprintf(stderr, "tangle shm: %s\n", tg_error_message()); return 1; }
        printf("removed %ld dead segment%s\n", n, n == 1 ? "" : "s");
        return 0;
    }
    printf("%-40s %-10s %8s %-7s %2s %12s %10s %6s %5s  %s\n", "NAME", "OWNER", "CREATOR", "", "TC", "LENGTH",
           "BYTES", "ATTACH", "RECOV", "STATE");
    int dead = 0;
    long n = _tg_shm_scan(print_one, &dead);
    if (n < 0) { fprintf(stderr, "tangle shm: %s\n", tg_error_message()); return 1; }
    printf("%ld segment%s, %d dead%s\n", n, n == 1 ? "" : "s", dead, dead ? " (tangle shm --gc removes them)" : "");
    return 0;
}
