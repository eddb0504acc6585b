/*
 * bench/driver.c — `tangle bench`: plans the cells, runs them round-robin in
 * fresh worker processes, keeps every sample, and hands the run to the
 * reports (report.c).
 *
 * Method (BENCH.md):
 *   1. The plan is every selected workload x its variants x its thread counts
 *      (scaling rows: --threads, default 1,2; rc_shared, alloc_prodcons and
 *      gil_handoff: 2; the rest: 1).
 *   2. Round r runs every cell once, in plan order, each in a new process
 *      (fork + exec of this executable with --worker), so no variant's heap
 *      helps or hurts another and drift hits all variants alike.
 *   3. A cell that reports "not available yet", "baseline unavailable" or a
 *      failure keeps that status and is not run again: the reason is the
 *      result, and re-running a crash only costs time.
 *   4. Each metric's median, min and max over the rounds; ratios are ratios
 *      of medians of the same run (report.c).
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tangle.h"
#include "bench/bench.h"

#define ROUNDS_FULL 5
#define ROUNDS_QUICK 3

/* ------------------------------------------------------------ options */

typedef struct options {
    int quick;
    int rounds;                       /* 0: the default for the mode */
    const char *only;
    const char *json, *csv, *svg;
    int threads[TB_MAX_THREAD_COUNTS];
    int nthreads;
    int list;
} options;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: tangle bench [--quick] [--only NAME,...] [--threads 1,2,...]\n"
        "                    [--json FILE] [--csv FILE] [--svg FILE] [--rounds N] [--list]\n"
        "\n"
        "Runs the workloads of BENCH.md on tangle (tangle-gil, tangle-ft,\n"
        "tangle-ft-atomic) and on the baselines (c-plain, c-atomic, glibc, mimalloc,\n"
        "cpython), round-robin, each variant in a fresh process; prints the medians,\n"
        "the ratio to the best baseline and BENCH.md's targets.\n"
        "\n"
        "  --quick         %d rounds and smaller per-op loops (< 3 min); default %d rounds\n"
        "  --only LIST     only these workloads (comma-separated; see --list)\n"
        "  --threads LIST  thread counts of the scaling rows (default 1,2)\n"
        "  --json FILE     results in BENCH.md's JSON schema\n"
        "  --csv FILE      one line per workload, variant, threads and metric\n"
        "  --svg FILE      plot (gnuplot): speedups of the scaling rows, tangle / best baseline\n"
        "  --rounds N      override the number of rounds\n"
        "  --list          list the workloads and exit\n",
        ROUNDS_QUICK, ROUNDS_FULL);
}

static int parse_threads(const char *s, options *o)
{
    o->nthreads = 0;
    char *copy = strdup(s), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *end;
        long n = strtol(t, &end, 10);
        if (*end || n < 1 || n > 64 || o->nthreads == TB_MAX_THREAD_COUNTS) {
            free(copy);
            return -1;
        }
        o->threads[o->nthreads++] = (int)n;
    }
    free(copy);
    return o->nthreads > 0 ? 0 : -1;
}

static int parse_options(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->threads[0] = 1;
    o->threads[1] = 2;
    o->nthreads = 2;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) o->quick = 1;
        else if (!strcmp(a, "--list")) o->list = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); exit(0); }
        else if (!strcmp(a, "--only") && val) { o->only = val; i++; }
        else if (!strcmp(a, "--json") && val) { o->json = val; i++; }
        else if (!strcmp(a, "--csv") && val) { o->csv = val; i++; }
        else if (!strcmp(a, "--svg") && val) { o->svg = val; i++; }
        else if (!strcmp(a, "--rounds") && val) {
            o->rounds = atoi(val);
            i++;
            if (o->rounds < 1 || o->rounds > TB_MAX_ROUNDS) {
                fprintf(stderr, "tangle bench: --rounds must be 1..%d\n", TB_MAX_ROUNDS);
                return -1;
            }
        } else if (!strcmp(a, "--threads") && val) {
            if (parse_threads(val, o) < 0) {
                fprintf(stderr, "tangle bench: --threads wants a list like 1,2,4 (1..64)\n");
                return -1;
            }
            i++;
        } else {
            fprintf(stderr, "tangle bench: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return -1;
        }
    }
    if (!o->rounds)
        o->rounds = o->quick ? ROUNDS_QUICK : ROUNDS_FULL;
    return 0;
}

static int selected(const options *o, const char *name)
{
    if (!o->only)
        return 1;
    size_t n = strlen(name);
    for (const char *p = o->only; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, name, n))
            return 1;
        p += len + (end ? 1 : 0);
    }
    return 0;
}

static int check_only(const options *o)
{
    if (!o->only)
        return 0;
    char *copy = strdup(o->only), *save = NULL;
    int bad = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (!tb_workload_find(t)) {
            fprintf(stderr, "tangle bench: no workload '%s' (tangle bench --list)\n", t);
            bad = 1;
        }
    free(copy);
    return bad ? -1 : 0;
}

/* ------------------------------------------------------------ plan */

static void plan(const options *o, tb_run *run)
{
    int cap = 256;
    run->cells = calloc((size_t)cap, sizeof *run->cells);
    for (int i = 0; i < tb_nworkloads; i++) {
        const tb_workload *w = &tb_workloads[i];
        if (!selected(o, w->name))
            continue;
        int ts[TB_MAX_THREAD_COUNTS], nts = 1;
        ts[0] = (w->flags & TB_WL_FIXED_T2) ? 2 : 1;
        if (w->flags & TB_WL_SCALING) {
            memcpy(ts, o->threads, sizeof ts);
            nts = o->nthreads;
        }
        for (int k = 0; k < nts; k++)
            for (int j = 0; j < w->nvariants; j++) {
                if (run->ncells == cap) {
                    cap *= 2;
                    run->cells = realloc(run->cells, (size_t)cap * sizeof *run->cells);
                }
                tb_cell *c = &run->cells[run->ncells++];
                memset(c, 0, sizeof *c);
                c->w = w;
                c->v = w->variants[j];
                c->threads = ts[k];
                c->st = TB_PENDING;
            }
    }
}

/* ------------------------------------------------------------ workers */

static char self_exe[4096];

/* Runs one sample of c in a fresh process; output collected into buf. */
static int spawn_worker(const tb_cell *c, int quick, char **out, int *wstatus)
{
    int fd[2];
    if (pipe(fd) < 0)
        return -1;
    char threads[16], q[4];
    snprintf(threads, sizeof threads, "%d", c->threads);
    snprintf(q, sizeof q, "%d", quick);
    char *args[] = { self_exe, "bench", "--worker", (char *)c->w->name,
                     (char *)tb_variant_name(c->v), threads, q, NULL };
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        close(fd[0]);
        close(fd[1]);
        execv(self_exe, args);
        fprintf(stderr, "exec %s: %s\n", self_exe, strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    for (;;) {
        if (cap - len < 2048)
            buf = realloc(buf, cap *= 2);
        ssize_t n = read(fd[0], buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = 0;
    close(fd[0]);
    while (waitpid(pid, wstatus, 0) < 0 && errno == EINTR)
        ;
    *out = buf;
    return 0;
}

static void set_status(tb_cell *c, tb_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    c->st = st;
    vsnprintf(c->reason, sizeof c->reason, fmt, ap);
    va_end(ap);
}

static int metric_index(tb_cell *c, const char *name, const char *unit)
{
    for (int i = 0; i < c->nmetrics; i++)
        if (!strcmp(c->mname[i], name))
            return i;
    if (c->nmetrics == TB_MAX_METRICS)
        return -1;
    int i = c->nmetrics++;
    snprintf(c->mname[i], sizeof c->mname[i], "%.23s", name);
    snprintf(c->munit[i], sizeof c->munit[i], "%.15s", unit);
    return i;
}

/* the last line of the worker's output that is not a protocol line */
static void last_line(const char *out, char *dst, size_t n)
{
    dst[0] = 0;
    for (const char *p = out; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len && strncmp(p, "@@tb ", 5)) {
            if (len >= n) len = n - 1;
            memcpy(dst, p, len);
            dst[len] = 0;
        }
        p += len + (e ? 1 : 0);
        if (!e) break;
    }
}

static void run_sample(tb_cell *c, int quick)
{
    char *out = NULL;
    int ws = 0;
    if (spawn_worker(c, quick, &out, &ws) < 0) {
        set_status(c, TB_FAILED, "could not start a worker: %s", strerror(errno));
        return;
    }
    char diag[120];
    last_line(out, diag, sizeof diag);     /* before strtok cuts the buffer */
    int got = 0;
    tb_status st = TB_OK;
    char reason[TB_REASON_MAX] = "";
    double vals[TB_MAX_METRICS];
    char names[TB_MAX_METRICS][24], units[TB_MAX_METRICS][16];
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "@@tb ", 5))
            continue;
        char *rest = line + 5;
        if (!strncmp(rest, "ok ", 3) && got < TB_MAX_METRICS) {
            if (sscanf(rest + 3, "%23s %15s %lf", names[got], units[got], &vals[got]) == 3)
                got++;
        } else {
            st = !strncmp(rest, "na ", 3) ? TB_NOT_YET
               : !strncmp(rest, "nobase ", 7) ? TB_NO_BASELINE : TB_FAILED;
            const char *r = strchr(rest, ' ');
            snprintf(reason, sizeof reason, "%s", r ? r + 1 : "");
        }
    }
    if (st != TB_OK) {
        set_status(c, st, "%s", reason);
    } else if (WIFSIGNALED(ws)) {
        int sig = WTERMSIG(ws);
        if (sig == SIGALRM)
            set_status(c, TB_FAILED, "timed out (worker alarm)");
        else
            set_status(c, TB_FAILED, "worker killed by signal %d (%s)%s%s", sig, strsignal(sig),
                       diag[0] ? ": " : "", diag);
    } else if (got == 0) {
        set_status(c, TB_FAILED, "worker exited with status %d and no result%s%s",
                   WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, diag[0] ? ": " : "", diag);
    } else {
        for (int i = 0; i < got; i++) {
            const char *name = strcmp(names[i], "-") ? names[i] : "";
            int m = metric_index(c, name, units[i]);
            if (m >= 0 && c->nsamples[m] < TB_MAX_ROUNDS)
                c->samples[m][c->nsamples[m]++] = vals[i];
        }
        c->st = TB_OK;
    }
    free(out);
}

/* ------------------------------------------------------------ statistics */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void summarise(tb_run *run)
{
    for (int i = 0; i < run->ncells; i++) {
        tb_cell *c = &run->cells[i];
        for (int m = 0; m < c->nmetrics; m++) {
            int n = c->nsamples[m];
            double s[TB_MAX_ROUNDS];
            memcpy(s, c->samples[m], (size_t)n * sizeof *s);
            qsort(s, (size_t)n, sizeof *s, cmp_double);
            c->min[m] = n ? s[0] : NAN;
            c->max[m] = n ? s[n - 1] : NAN;
            c->median[m] = !n ? NAN : (n % 2) ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
        }
    }
}

/* ------------------------------------------------------------ machine */

static void describe_machine(tb_run *run, int argc, char **argv)
{
    run->nproc = (int)sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(run->cpu, sizeof run->cpu, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "model name", 10)) {
                char *p = strchr(line, ':');
                if (p) {
                    p++;
                    while (*p == ' ') p++;
                    p[strcspn(p, "\n")] = 0;
                    snprintf(run->cpu, sizeof run->cpu, "%s", p);
                }
                break;
            }
        fclose(f);
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(run->date, sizeof run->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    size_t len = (size_t)snprintf(run->command, sizeof run->command, "tangle bench");
    for (int i = 0; i < argc && len < sizeof run->command; i++)
        len += (size_t)snprintf(run->command + len, sizeof run->command - len, " %s", argv[i]);
}

/* ------------------------------------------------------------ progress */

static int progress_tty;

static void progress(const tb_run *run, int round, int done, int todo, const tb_cell *c, double t0)
{
    double el = tb_now() - t0;
    double eta = done > 0 ? el / done * (todo - done) : 0;
    if (progress_tty) {
        fprintf(stderr, "\r\033[K[round %d/%d] %3d%%  %s %s T=%d  elapsed %d:%02d  eta %d:%02d",
                round + 1, run->rounds, todo ? 100 * done / todo : 100, c->w->name,
                tb_variant_name(c->v), c->threads, (int)el / 60, (int)el % 60,
                (int)eta / 60, (int)eta % 60);
        fflush(stderr);
    }
}

/* ------------------------------------------------------------ main */

int tb_main(int argc, char **argv)
{
    /* Called as cmd_bench(argc, argv) with argv[0] the program or "bench";
       skip everything up to and including "bench", then the options. */
    int first = 1;
    for (int i = 0; i < argc && i < 2; i++)
        if (!strcmp(argv[i], "bench"))
            first = i + 1;
    argc -= first;
    argv += first;
    if (argc >= 1 && !strcmp(argv[0], "--worker"))
        return tb_worker_main(argc - 1, argv + 1);

    options o;
    if (parse_options(argc, argv, &o) < 0 || check_only(&o) < 0)
        return 2;
    if (o.list) {
        for (int i = 0; i < tb_nworkloads; i++) {
            const tb_workload *w = &tb_workloads[i];
            printf("%-26s %-6s %s\n", w->name, w->unit, w->what);
        }
        return 0;
    }
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (n <= 0) {
        fprintf(stderr, "tangle bench: cannot find my own executable: %s\n", strerror(errno));
        return 1;
    }
    self_exe[n] = 0;

    tb_run run;
    memset(&run, 0, sizeof run);
    run.rounds = o.rounds;
    run.quick = o.quick;
    memcpy(run.threads, o.threads, sizeof run.threads);
    run.nthreads = o.nthreads;
    describe_machine(&run, argc, argv);
    plan(&o, &run);
    if (run.ncells == 0) {
        fprintf(stderr, "tangle bench: nothing selected\n");
        return 2;
    }

    progress_tty = isatty(2);
    double t0 = tb_now();
    int todo = run.ncells * run.rounds, done = 0;
    fprintf(stderr, "tangle bench: %d cells x %d rounds%s, each in a fresh process\n",
            run.ncells, run.rounds, o.quick ? " (quick)" : "");
    for (int r = 0; r < run.rounds; r++) {
        if (!progress_tty)
            fprintf(stderr, "tangle bench: round %d/%d (%.0f s so far)\n", r + 1, run.rounds, tb_now() - t0);
        for (int i = 0; i < run.ncells; i++) {
            tb_cell *c = &run.cells[i];
            if (c->st != TB_PENDING && c->st != TB_OK) {
                todo--;                      /* settled: not run again */
                continue;
            }
            progress(&run, r, done, todo, c, t0);
            run_sample(c, o.quick);
            done++;
        }
    }
    run.seconds = tb_now() - t0;
    if (progress_tty)
        fprintf(stderr, "\r\033[K");
    fprintf(stderr, "tangle bench: done in %d:%02d\n", (int)run.seconds / 60, (int)run.seconds % 60);
    summarise(&run);

    tb_report_table(&run, stdout);
    int rc = 0;
    if (o.json && tb_report_json(&run, o.json) < 0) rc = 1;
    if (o.csv && tb_report_csv(&run, o.csv) < 0) rc = 1;
    if (o.svg && tb_report_svg(&run, o.svg) < 0) rc = 1;
    free(run.cells);
    return rc;
}
