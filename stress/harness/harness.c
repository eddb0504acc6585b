/*
 * stress/harness/harness.harness.c — the runner behind `tangle stress` (see harness.h and
 * docs/stress.md): the scenario registry, option parsing, one forked child per
 * run, the live progress line, the summary table and the reproduction lines.
 *
 * Parent/child protocol. Before each fork the parent clears a tgs_shared block
 * in a MAP_SHARED anonymous mapping; the child counts operations and rounds
 * there and appends failure messages (under a spinlock, since its threads
 * report concurrently). The child's stderr goes to a temporary file that the
 * parent shows when the run fails. The parent polls the block for the progress
 * line, kills a child that runs far past its budget (a hang is a failure), and
 * classifies the end: clean exit -> ok / failed / not available; signal ->
 * crashed.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stress/harness/harness.h"
#include "sync/chaos.h"

/* Extra time a child gets past its budget before it is declared hung: its
   last round may start just before the deadline. Seconds. */
#define HANG_GRACE_MIN_S   30.0
/* Failure text kept per run, bytes. */
#define MSG_BYTES          8192
#define MAX_SCENARIOS      64
#define MAX_LIST           16

struct tgs_shared {
    uint64_t ops, rounds, cur_round;
    int      nfail;
    int      unavailable;
    int      finished;          /* the child reached its normal end */
    int      lock;
    size_t           msg_len;
    char             msgs[MSG_BYTES];
    char             unavail_msg[512];
    int              chaos_valid;
    tg_chaos_stats   chaos;
};

/* ------------------------------------------------------------------ registry */

static const tgs_scenario *builtin[] = {
    &tgs_scen_refcount_storm, &tgs_scen_seed_appends, &tgs_scen_list_dict_readers,
    &tgs_scen_handoff, &tgs_scen_owner_exit, &tgs_scen_mem_churn,
    &tgs_scen_gc_mutation, &tgs_scen_fork_threads, &tgs_scen_shm_counters,
    &tgs_scen_ft_append_exact, &tgs_scen_ft_biased_handoff, &tgs_scen_ft_hot_reads, &tgs_scen_ft_bias_revoke,
    &tgs_scen_ft_local_gc, &tgs_scen_ft_aged_gc, &tgs_scen_ft_list_reserve,
};
static const tgs_scenario *registry[MAX_SCENARIOS];
static int nregistry = -1;

static void registry_init(void)
{
    if (nregistry >= 0) return;
    nregistry = 0;
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        registry[nregistry++] = builtin[i];
}

int tgs_register(const tgs_scenario *s)
{
    registry_init();
    if (nregistry >= MAX_SCENARIOS || !s || !s->name || !s->run) return -1;
    registry[nregistry++] = s;
    return 0;
}

static const tgs_scenario *find_scenario(const char *name)
{
    for (int i = 0; i < nregistry; i++)
        if (!strcmp(registry[i]->name, name)) return registry[i];
    return NULL;
}

/* ----------------------------------------------------------------- utilities */

double tgs_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t tgs_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;               /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static const char *mode_name(tg_mode m) { return m == TG_MODE_GIL ? "gil" : "ft"; }

static void shared_lock(tgs_shared *sh)
{
    while (__atomic_exchange_n(&sh->lock, 1, __ATOMIC_ACQUIRE)) sched_yield();
}
static void shared_unlock(tgs_shared *sh) { __atomic_store_n(&sh->lock, 0, __ATOMIC_RELEASE); }

void tgs_ops(tgs_ctx *ctx, uint64_t n)
{
    __atomic_fetch_add(&ctx->shared->ops, n, __ATOMIC_RELAXED);
}

int tgs_failures(tgs_ctx *ctx) { return __atomic_load_n(&ctx->shared->nfail, __ATOMIC_RELAXED); }

static void append_msg(tgs_shared *sh, const char *prefix, const char *fmt, va_list ap)
{
    char line[1024];
    int n = snprintf(line, sizeof line, "%s", prefix);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    shared_lock(sh);
    size_t len = strlen(line);
    if (sh->msg_len + len + 2 < MSG_BYTES) {
        memcpy(sh->msgs + sh->msg_len, line, len);
        sh->msg_len += len;
        sh->msgs[sh->msg_len++] = '\n';
        sh->msgs[sh->msg_len] = '\0';
    }
    shared_unlock(sh);
}

int tgs_fail(tgs_ctx *ctx, const char *fmt, ...)
{
    int k = __atomic_fetch_add(&ctx->shared->nfail, 1, __ATOMIC_RELAXED);
    if (k < 20) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "round %" PRIu64 ": ", ctx->round);
        va_list ap;
        va_start(ap, fmt);
        append_msg(ctx->shared, prefix, fmt, ap);
        va_end(ap);
    }
    return TGS_FAILED;
}

int tgs_unavailable(tgs_ctx *ctx, const char *fmt, ...)
{
    tgs_shared *sh = ctx->shared;
    shared_lock(sh);
    if (!sh->unavailable) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sh->unavail_msg, sizeof sh->unavail_msg, fmt, ap);
        va_end(ap);
        sh->unavailable = 1;
    }
    shared_unlock(sh);
    return TGS_UNAVAILABLE;
}

/* ------------------------------------------------------------------- threads */

typedef struct thread_start {
    tgs_ctx  *ctx;
    int       index, n;
    void    (*fn)(tgs_worker *);
    void     *arg;
    pthread_barrier_t *barrier;
} thread_start;

static void *thread_main(void *p)
{
    thread_start *st = p;
    tgs_ctx *ctx = st->ctx;
    _tg_chaos_thread_seed(ctx->round_seed, (unsigned)st->index + 1);
    if (tg_thread_attach() < 0) {
        tgs_fail(ctx, "thread %d: tg_thread_attach failed: %s", st->index, tg_error_message());
        pthread_barrier_wait(st->barrier);
        return NULL;
    }
    /* Wait for everybody with the GIL released: all start together. */
    TG_BEGIN_ALLOW_THREADS
    pthread_barrier_wait(st->barrier);
    TG_END_ALLOW_THREADS
    tgs_worker w = {
        .ctx = ctx, .index = st->index, .nthreads = st->n, .arg = st->arg,
        .rng = tgs_mix(ctx->round_seed ^ tgs_mix((uint64_t)st->index + 1)) | 1,
    };
    st->fn(&w);
    tgs_ops(ctx, w.ops);
    if (!w.no_detach) tg_thread_detach();
    return NULL;
}

int tgs_run_threads(tgs_ctx *ctx, int n, void (*fn)(tgs_worker *w), void *arg)
{
    if (n < 1) n = 1;
    pthread_t *tids = calloc((size_t)n, sizeof *tids);
    thread_start *st = calloc((size_t)n, sizeof *st);
    pthread_barrier_t barrier;
    if (!tids || !st) { free(tids); free(st); return tgs_fail(ctx, "out of memory starting threads"), -1; }
    pthread_barrier_init(&barrier, NULL, (unsigned)n);
    int rc = 0;
    TG_BEGIN_ALLOW_THREADS
    for (int i = 0; i < n; i++) {
        st[i] = (thread_start){ ctx, i, n, fn, arg, &barrier };
        if (pthread_create(&tids[i], NULL, thread_main, &st[i]) != 0) {
            /* The barrier would never open: give up on the whole child. */
            fprintf(stderr, "tangle stress: pthread_create failed for thread %d: %s\n", i, strerror(errno));
            _exit(3);
        }
    }
    for (int i = 0; i < n; i++) pthread_join(tids[i], NULL);
    TG_END_ALLOW_THREADS
    pthread_barrier_destroy(&barrier);
    free(tids);
    free(st);
    return rc;
}

void tgs_pause(tgs_worker *w)
{
    if (w->ops >= 4096) { tgs_ops(w->ctx, w->ops); w->ops = 0; }
    tg_safepoint();
    TG_CHAOS_POINT(TG_CHAOS_SITE_USER);
    /* Until the GIL hands off at safepoints by itself, this is what makes GIL
       mode interleave; afterwards it adds hand-offs at odd places. */
    if ((++w->pauses & 15) == 0) {
        TG_BEGIN_ALLOW_THREADS
        sched_yield();
        TG_END_ALLOW_THREADS
    }
}

bool tgs_wait_a_little(tgs_ctx *ctx)
{
    TG_BEGIN_ALLOW_THREADS
    TG_CHAOS_POINT(TG_CHAOS_SITE_USER);
    sched_yield();
    TG_END_ALLOW_THREADS
    return tgs_now() < ctx->hard_deadline;
}

/* ------------------------------------------------------------------- options */

typedef struct options {
    tg_mode  modes[2];
    int      nmodes;
    int      threads[MAX_LIST];
    int      nthreads;
    const tgs_scenario *scen[MAX_SCENARIOS];
    int      nscen;
    double   seconds;
    uint64_t seed;
    int      seed_given;
    int      chaos;
    uint64_t rounds;          /* > 0: exactly this many rounds per run */
    int      no_fork;
    int      verbose;
} options;

static void usage(FILE *out)
{
    fprintf(out,
"usage: tangle stress [options]\n"
"\n"
"Runs the stress scenarios x threading modes x thread counts for a time budget,\n"
"checking each scenario's invariants; every run is a fresh child process, so a\n"
"crash or hang is reported, not fatal. Exit status 1 if any run failed.\n"
"\n"
"  --mode LIST       gil, ft or gil,ft (default gil,ft; ft runs are reported\n"
"                    'not available' until free-threaded mode exists)\n"
"  --threads LIST    thread counts, e.g. 1,2,4,8 (default 1,2,4,8)\n"
"  --scenario LIST   scenario names (default: all; see --list)\n"
"  --seconds N       total time budget, shared by all runs (default 10)\n"
"  --seed S          seed for all work and chaos decisions (default: from the clock,\n"
"                    printed); the same seed does the same work\n"
"  --chaos           perturb schedules at synchronisation points (seeded yields,\n"
"                    spins, sleeps; sets tg_config.chaos_seed)\n"
"  --rounds N        run exactly N rounds per run, ignoring the time budget\n"
"  --no-fork         run scenarios in this process (for a debugger; a crash ends all)\n"
"  --verbose         show each run's stderr even when it passed\n"
"  --list            list the scenarios and their invariants\n"
"  --help            this text\n"
"\n"
"A failure prints the command line that reproduces it (docs/stress.md).\n");
}

static int parse_list(const char *arg, char items[][64], int max)
{
    int n = 0;
    const char *p = arg;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len) {
            if (n >= max || len >= 64) return -1;
            memcpy(items[n], p, len);
            items[n][len] = '\0';
            n++;
        }
        if (!e) break;
        p = e + 1;
    }
    return n;
}

static int parse_options(int argc, char **argv, options *o)
{
    registry_init();
    *o = (options){ .modes = { TG_MODE_GIL, TG_MODE_FREE_THREADED }, .nmodes = 2,
                    .threads = { 1, 2, 4, 8 }, .nthreads = 4, .seconds = 10 };
    char items[MAX_SCENARIOS][64];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        /* --opt=value or --opt value */
        const char *eq = strchr(a, '=');
        char name[64];
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        if (nlen >= sizeof name) nlen = sizeof name - 1;
        memcpy(name, a, nlen);
        name[nlen] = '\0';
        int takes = !strcmp(name, "--mode") || !strcmp(name, "--threads") || !strcmp(name, "--scenario")
                 || !strcmp(name, "--seconds") || !strcmp(name, "--seed") || !strcmp(name, "--rounds");
        if (takes) {
            if (eq) v = eq + 1;
            else if (i + 1 < argc) v = argv[++i];
            else { fprintf(stderr, "tangle stress: %s needs a value\n", name); return -1; }
        }
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) { usage(stdout); exit(0); }
        else if (!strcmp(name, "--list")) { o->nscen = -1; }
        else if (!strcmp(name, "--chaos")) o->chaos = 1;
        else if (!strcmp(name, "--no-fork")) o->no_fork = 1;
        else if (!strcmp(name, "--verbose") || !strcmp(name, "-v")) o->verbose = 1;
        else if (!strcmp(name, "--mode")) {
            int n = parse_list(v, items, MAX_LIST);
            o->nmodes = 0;
            for (int k = 0; k < n; k++) {
                tg_mode m;
                if (!strcmp(items[k], "gil")) m = TG_MODE_GIL;
                else if (!strcmp(items[k], "ft") || !strcmp(items[k], "free-threaded")) m = TG_MODE_FREE_THREADED;
                else { fprintf(stderr, "tangle stress: unknown mode '%s' (gil, ft)\n", items[k]); return -1; }
                if (o->nmodes < 2 && !(o->nmodes == 1 && o->modes[0] == m)) o->modes[o->nmodes++] = m;
            }
            if (o->nmodes == 0) { fprintf(stderr, "tangle stress: --mode: empty list\n"); return -1; }
        } else if (!strcmp(name, "--threads")) {
            int n = parse_list(v, items, MAX_LIST);
            if (n <= 0) { fprintf(stderr, "tangle stress: --threads: expected a list like 1,2,4,8\n"); return -1; }
            o->nthreads = n;
            for (int k = 0; k < n; k++) {
                char *end;
                long t = strtol(items[k], &end, 10);
                if (*end || t < 1 || t > 256) {
                    fprintf(stderr, "tangle stress: --threads: '%s' is not a count in 1..256\n", items[k]);
                    return -1;
                }
                o->threads[k] = (int)t;
            }
        } else if (!strcmp(name, "--scenario")) {
            int n = parse_list(v, items, MAX_SCENARIOS);
            if (n <= 0) { fprintf(stderr, "tangle stress: --scenario: expected names (see --list)\n"); return -1; }
            o->nscen = 0;
            for (int k = 0; k < n; k++) {
                const tgs_scenario *s = find_scenario(items[k]);
                if (!s) { fprintf(stderr, "tangle stress: unknown scenario '%s' (see --list)\n", items[k]); return -1; }
                o->scen[o->nscen++] = s;
            }
        } else if (!strcmp(name, "--seconds")) {
            char *end;
            o->seconds = strtod(v, &end);
            if (*end || !(o->seconds > 0)) { fprintf(stderr, "tangle stress: --seconds: '%s' is not a positive number\n", v); return -1; }
        } else if (!strcmp(name, "--seed")) {
            char *end;
            errno = 0;
            o->seed = strtoull(v, &end, 0);
            if (*end || errno) { fprintf(stderr, "tangle stress: --seed: '%s' is not a number\n", v); return -1; }
            o->seed_given = 1;
        } else if (!strcmp(name, "--rounds")) {
            char *end;
            o->rounds = strtoull(v, &end, 10);
            if (*end || o->rounds == 0) { fprintf(stderr, "tangle stress: --rounds: '%s' is not a positive count\n", v); return -1; }
        } else {
            fprintf(stderr, "tangle stress: unknown option '%s'\n", a);
            usage(stderr);
            return -1;
        }
    }
    if (o->nscen == 0)
        for (int k = 0; k < nregistry; k++) o->scen[o->nscen++] = registry[k];
    if (!o->seed_given) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        o->seed = tgs_mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid()) % 1000000000ull;
    }
    return 0;
}

static void list_scenarios(void)
{
    printf("scenarios (tangle stress --scenario NAME,...):\n\n");
    for (int i = 0; i < nregistry; i++) {
        const tgs_scenario *s = registry[i];
        printf("  %-18s %s", s->name, s->description);
        if (s->fixed_threads) printf(" [always %d threads]", s->fixed_threads);
        printf("\n  %-18s checks: %s\n\n", "", s->invariants);
    }
}

/* ---------------------------------------------------------------------- runs */

typedef struct run {
    const tgs_scenario *s;
    tg_mode  mode;
    int      threads;
    /* results */
    enum { RES_PENDING, RES_OK, RES_FAIL, RES_NA } result;
    uint64_t ops, rounds, fail_round;
    double   secs, budget;
    char    *details;      /* failure messages + stderr tail, or the n/a reason */
    tg_chaos_stats chaos;
    int      chaos_valid;
} run;

static uint64_t run_key(const options *o, const run *r)
{
    return tgs_mix(o->seed ^ hash_str(r->s->name) ^ ((uint64_t)r->mode << 40) ^ ((uint64_t)r->threads << 48));
}

/* The child: tg_init, rounds, tg_fini, with the invariants common to every
   scenario (no leak per round, nothing alive after tg_fini). */
static void child_run(const options *o, run *r, tgs_shared *sh, double budget)
{
    uint64_t key = run_key(o, r);
    double start = tgs_now();
    tgs_ctx ctx = {
        .mode = r->mode, .threads = r->threads, .seconds = budget, .seed = o->seed,
        .chaos = o->chaos, .scenario = r->s, .shared = sh,
        .deadline = start + budget,
        .hard_deadline = start + budget + (budget > HANG_GRACE_MIN_S ? budget : HANG_GRACE_MIN_S) - 2,
    };
    if (o->rounds) ctx.hard_deadline = start + 3600;
    tg_config c;
    tg_config_default(&c);
    c.mode = r->mode;
    c.chaos_seed = o->chaos ? ((unsigned)tgs_mix(key ^ 0xc4a05ull) | 1u) : 0;
    if (tg_init(&c) < 0) {
        if (r->mode == TG_MODE_FREE_THREADED && tg_error() == TG_ERR_STATE)
            tgs_unavailable(&ctx, "free-threaded mode not available: %s", tg_error_message());
        else
            tgs_fail(&ctx, "tg_init failed: %s: %s", tg_errcode_name(tg_error()), tg_error_message());
        return;
    }
    for (uint64_t round = 0;; round++) {
        if (o->rounds ? round >= o->rounds : (round > 0 && tgs_now() >= ctx.deadline)) break;
        ctx.round = round;
        ctx.round_seed = tgs_mix(key ^ tgs_mix(round + 1));
        __atomic_store_n(&sh->cur_round, round, __ATOMIC_RELAXED);
        _tg_chaos_thread_seed(ctx.round_seed, 0);
        size_t live0 = tg_live_objects();
        int rc = r->s->run(&ctx);
        if (rc == TGS_UNAVAILABLE || sh->unavailable) break;
        size_t live1 = tg_live_objects();
        if (live1 != live0)
            tgs_fail(&ctx, "tg_live_objects() was %zu before the round and %zu after (%+lld objects leaked)",
                     live0, live1, (long long)live1 - (long long)live0);
        __atomic_store_n(&sh->rounds, round + 1, __ATOMIC_RELAXED);
        if (tgs_failures(&ctx)) break;     /* stop at the first failing round: its seed is the repro */
    }
    _tg_chaos_get_stats(&sh->chaos);
    sh->chaos_valid = 1;
    if (tg_fini() < 0) {
        tgs_fail(&ctx, "tg_fini failed: %s: %s", tg_errcode_name(tg_error()), tg_error_message());
    } else if (tg_live_objects() != 0) {
        tgs_fail(&ctx, "after tg_fini: tg_live_objects() == %zu, expected 0 (leak)", tg_live_objects());
    }
    sh->finished = 1;
}

static char *read_tail(FILE *f, size_t max)
{
    if (!f) return NULL;
    fflush(f);
    long end = ftell(f);
    if (fseek(f, 0, SEEK_END) != 0) return NULL;
    end = ftell(f);
    if (end <= 0) return NULL;
    long from = end > (long)max ? end - (long)max : 0;
    fseek(f, from, SEEK_SET);
    char *buf = malloc((size_t)(end - from) + 1);
    if (!buf) return NULL;
    size_t n = fread(buf, 1, (size_t)(end - from), f);
    buf[n] = '\0';
    return buf;
}

static char *strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *strdupf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

static struct progress {
    int    tty;
    double start, total, last_print;
    uint64_t ops_done;
    int    failures, index, nruns;
} prog;

static void print_progress(const run *r, const tgs_shared *sh, int final)
{
    double now = tgs_now();
    if (!final && now - prog.last_print < (prog.tty ? 0.2 : 5.0)) return;
    prog.last_print = now;
    double el = now - prog.start, left = prog.total - el;
    if (left < 0) left = 0;
    uint64_t ops = prog.ops_done + (sh ? __atomic_load_n(&sh->ops, __ATOMIC_RELAXED) : 0);
    int fails = prog.failures + (sh ? (__atomic_load_n(&sh->nfail, __ATOMIC_RELAXED) > 0) : 0);
    char line[256];
    snprintf(line, sizeof line, "[%5.1fs elapsed, %5.1fs left] run %d/%d %s %s x%d  ops %" PRIu64 "  failures %d",
             el, left, prog.index + 1, prog.nruns, r ? r->s->name : "-", r ? mode_name(r->mode) : "-",
             r ? r->threads : 0, ops, fails);
    if (prog.tty) fprintf(stderr, "\r%-100s", line);
    else fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

static void do_run(const options *o, run *r, tgs_shared *sh, double budget)
{
    memset(sh, 0, sizeof *sh);
    r->budget = budget;
    double t0 = tgs_now();
    if (o->no_fork) {
        child_run(o, r, sh, budget);
    } else {
        FILE *errf = tmpfile();
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
            r->result = RES_FAIL;
            r->details = strdupf("fork failed: %s\n", strerror(errno));
            if (errf) fclose(errf);
            return;
        }
        if (pid == 0) {
            if (errf) dup2(fileno(errf), 2);
            signal(SIGPIPE, SIG_IGN);
            child_run(o, r, sh, budget);
            fflush(NULL);
            _exit(0);
        }
        double limit = budget + (budget > HANG_GRACE_MIN_S ? budget : HANG_GRACE_MIN_S);
        if (o->rounds) limit = 3600;
        int status = 0, killed = 0;
        for (;;) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) break;
            if (w < 0 && errno != EINTR) break;
            if (!killed && tgs_now() - t0 > limit) {
                kill(pid, SIGKILL);
                killed = 1;
            }
            print_progress(r, sh, 0);
            struct timespec ts = { 0, 20 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
        char *tail = read_tail(errf, 3000);
        if (errf) fclose(errf);
        char *extra = NULL;
        if (killed)
            extra = strdupf("hung: killed after %.1f s (budget %.1f s) in round %" PRIu64 " - deadlock or livelock?\n",
                            tgs_now() - t0, budget, (uint64_t)sh->cur_round);
        else if (WIFSIGNALED(status))
            extra = strdupf("crashed: signal %d (%s) in round %" PRIu64 "\n", WTERMSIG(status),
                            strsignal(WTERMSIG(status)), (uint64_t)sh->cur_round);
        else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
            extra = strdupf("child exited with status %d in round %" PRIu64 "\n", WEXITSTATUS(status),
                            (uint64_t)sh->cur_round);
        else if (!sh->finished && !sh->unavailable && !sh->nfail)
            extra = strdupf("child ended without finishing (exit from a scenario?)\n");
        if (extra) {
            sh->nfail++;
            size_t l = strlen(extra);
            if (sh->msg_len + l + 1 < MSG_BYTES) {
                memcpy(sh->msgs + sh->msg_len, extra, l + 1);
                sh->msg_len += l;
            }
            free(extra);
        }
        if (tail && *tail && (sh->nfail || o->verbose)) {
            char *d = strdupf("%s--- child stderr (tail) ---\n%s%s", sh->msgs, tail,
                              tail[strlen(tail) - 1] == '\n' ? "" : "\n");
            r->details = d;
        }
        free(tail);
    }
    r->secs = tgs_now() - t0;
    r->ops = sh->ops;
    r->rounds = sh->rounds;
    r->fail_round = sh->cur_round;
    r->chaos = sh->chaos;
    r->chaos_valid = sh->chaos_valid;
    if (sh->nfail) r->result = RES_FAIL;
    else if (sh->unavailable) r->result = RES_NA;
    else r->result = RES_OK;
    if (!r->details) {
        if (r->result == RES_NA) r->details = strdupf("%s", sh->unavail_msg);
        else if (sh->msg_len) r->details = strdupf("%s", sh->msgs);
    } else if (r->result == RES_NA) {
        free(r->details);
        r->details = strdupf("%s", sh->unavail_msg);
    }
}

static void human(char *buf, size_t n, uint64_t v)
{
    if (v >= 10000000000ull) snprintf(buf, n, "%.1fG", (double)v / 1e9);
    else if (v >= 10000000ull) snprintf(buf, n, "%.1fM", (double)v / 1e6);
    else if (v >= 100000ull) snprintf(buf, n, "%.1fk", (double)v / 1e3);
    else snprintf(buf, n, "%" PRIu64, v);
}

static void repro_line(FILE *out, const options *o, const run *r, int exact)
{
    extern char *program_invocation_name;
    fprintf(out, "%s stress --scenario %s --mode %s --threads %d --seed %" PRIu64 "%s",
            program_invocation_name, r->s->name, mode_name(r->mode), r->threads, o->seed,
            o->chaos ? " --chaos" : "");
    if (exact) fprintf(out, " --rounds %" PRIu64 "\n", r->fail_round + 1);
    else fprintf(out, " --seconds %.3g\n", r->budget < 1 ? 1.0 : r->budget);
}

int tgs_main(int argc, char **argv)
{
    options o;
    int prc = parse_options(argc, argv, &o);
    if (prc < 0) return 2;
    if (o.nscen < 0) { list_scenarios(); return 0; }

    /* The runs: scenarios x modes x thread counts (fixed-thread scenarios once per mode). */
    int cap = o.nscen * o.nmodes * o.nthreads, nruns = 0;
    run *runs = calloc((size_t)cap, sizeof *runs);
    if (!runs) return 2;
    for (int s = 0; s < o.nscen; s++)
        for (int m = 0; m < o.nmodes; m++) {
            if (o.scen[s]->fixed_threads) {
                runs[nruns++] = (run){ .s = o.scen[s], .mode = o.modes[m], .threads = o.scen[s]->fixed_threads };
                continue;
            }
            for (int t = 0; t < o.nthreads; t++)
                runs[nruns++] = (run){ .s = o.scen[s], .mode = o.modes[m], .threads = o.threads[t] };
        }

    tgs_shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) { perror("tangle stress: mmap"); return 2; }

    printf("tangle stress: %d runs (%d scenarios x %d modes x thread counts), %.3g s budget, seed %" PRIu64 "%s\n",
           nruns, o.nscen, o.nmodes, o.seconds, o.seed, o.chaos ? ", chaos on" : "");
    if (o.chaos && !_tg_chaos_compiled())
        printf("note: this build has no chaos points (TANGLE_CHAOS=OFF); --chaos changes nothing\n");
    fflush(stdout);

    prog = (struct progress){ .tty = isatty(2), .start = tgs_now(), .total = o.seconds, .nruns = nruns };
    for (int i = 0; i < nruns; i++) {
        prog.index = i;
        double left = o.seconds - (tgs_now() - prog.start);
        double budget = left / (nruns - i);
        if (budget < 0.05) budget = 0.05;
        do_run(&o, &runs[i], sh, budget);
        prog.ops_done += runs[i].ops;
        if (runs[i].result == RES_FAIL) prog.failures++;
        print_progress(&runs[i], NULL, 1);
    }
    if (prog.tty) fprintf(stderr, "\r%-100s\r", "");
    munmap(sh, sizeof *sh);

    /* Summary table. */
    int nok = 0, nfail = 0, nna = 0;
    uint64_t ops_total = 0;
    tg_chaos_stats cs = {0};
    printf("\n%-20s %-4s %4s %8s %9s %7s  %s\n", "scenario", "mode", "thr", "rounds", "ops", "secs", "result");
    for (int i = 0; i < nruns; i++) {
        run *r = &runs[i];
        char ops[32];
        human(ops, sizeof ops, r->ops);
        const char *res = r->result == RES_OK ? "ok" : r->result == RES_FAIL ? "FAILED" : "not available";
        if (r->result == RES_NA)
            printf("%-20s %-4s %4d %8s %9s %7s  %s\n", r->s->name, mode_name(r->mode), r->threads, "-", "-", "-", res);
        else
            printf("%-20s %-4s %4d %8" PRIu64 " %9s %7.2f  %s\n", r->s->name, mode_name(r->mode), r->threads,
                   r->rounds, ops, r->secs, res);
        nok += r->result == RES_OK;
        nfail += r->result == RES_FAIL;
        nna += r->result == RES_NA;
        ops_total += r->ops;
        if (r->chaos_valid) {
            for (int k = 0; k < TG_CHAOS_NSITES; k++) cs.points[k] += r->chaos.points[k];
            cs.yields += r->chaos.yields; cs.spins += r->chaos.spins; cs.sleeps += r->chaos.sleeps;
        }
    }
    if (nna) {
        printf("\nnot available (not failures; these runs start working when the feature lands):\n");
        /* One line per distinct reason. */
        for (int i = 0; i < nruns; i++) {
            if (runs[i].result != RES_NA) continue;
            int seen = 0;
            for (int j = 0; j < i && !seen; j++)
                seen = runs[j].result == RES_NA && runs[j].details && runs[i].details &&
                       !strcmp(runs[j].details, runs[i].details) &&
                       (runs[j].mode == TG_MODE_FREE_THREADED) == (runs[i].mode == TG_MODE_FREE_THREADED);
            if (seen) continue;
            int count = 0;
            for (int j = i; j < nruns; j++)
                count += runs[j].result == RES_NA && runs[j].details && runs[i].details &&
                         !strcmp(runs[j].details, runs[i].details);
            printf("  %s (%d run%s%s%s): %s\n", runs[i].mode == TG_MODE_FREE_THREADED ? "ft" : runs[i].s->name,
                   count, count == 1 ? "" : "s",
                   runs[i].mode == TG_MODE_FREE_THREADED ? "" : ", ", runs[i].mode == TG_MODE_FREE_THREADED ? "" : mode_name(runs[i].mode),
                   runs[i].details ? runs[i].details : "?");
        }
    }
    if (o.chaos) {
        uint64_t pts = 0;
        for (int k = 0; k < TG_CHAOS_NSITES; k++) pts += cs.points[k];
        printf("\nchaos: %" PRIu64 " points passed, %" PRIu64 " yields, %" PRIu64 " spins, %" PRIu64 " sleeps; by site:",
               pts, cs.yields, cs.spins, cs.sleeps);
        for (int k = 0; k < TG_CHAOS_NSITES; k++)
            if (cs.points[k]) printf(" %s=%" PRIu64, _tg_chaos_site_name((tg_chaos_site)k), cs.points[k]);
        printf("\n");
    }
    if (nfail) {
        printf("\nFAILURES\n");
        for (int i = 0; i < nruns; i++) {
            run *r = &runs[i];
            if (r->result != RES_FAIL) continue;
            printf("\n%s, mode %s, %d threads (round %" PRIu64 "):\n%s", r->s->name, mode_name(r->mode),
                   r->threads, r->fail_round, r->details ? r->details : "(no message)\n");
            printf("reproduce:  ");
            repro_line(stdout, &o, r, 0);
            printf("same work:  ");
            repro_line(stdout, &o, r, 1);
        }
    } else if (o.verbose) {
        for (int i = 0; i < nruns; i++)
            if (runs[i].result == RES_OK && runs[i].details)
                printf("\n%s %s x%d:\n%s", runs[i].s->name, mode_name(runs[i].mode), runs[i].threads, runs[i].details);
    }
    char ops[32];
    human(ops, sizeof ops, ops_total);
    printf("\ntangle stress: %d runs: %d ok, %d failed, %d not available; %s ops in %.1f s; seed %" PRIu64 "%s\n",
           nruns, nok, nfail, nna, ops, tgs_now() - prog.start, o.seed, o.chaos ? " (chaos)" : "");
    for (int i = 0; i < nruns; i++) free(runs[i].details);
    free(runs);
    return nfail ? 1 : 0;
}
