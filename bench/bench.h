/*
 * bench/bench.h — the benchmark's internal interface (`tangle bench`).
 *
 * Glossary
 *   workload   one named measurement of BENCH.md ("alloc_churn"); names are fixed.
 *   variant    who does the work: tangle-gil, tangle-ft, tangle-ft-atomic, or a
 *              baseline (c-plain, c-atomic, glibc, mimalloc, cpython).
 *   cell       one (workload, variant, threads) combination; one row per metric.
 *   sample     one run of a cell in a fresh worker process; a cell has one
 *              sample per round.
 *   metric     what a sample reports; the first is the workload's primary
 *              figure, the rest (p99, peak RSS, ...) ride along.
 *
 * Process model: the driver (driver.c) never runs a workload itself. For every
 * round it runs every cell once, round-robin, each in a fresh process: the same
 * executable re-executed as `tangle bench --worker WORKLOAD VARIANT THREADS
 * QUICK`. The worker (worker.c) prints one protocol line per metric on stdout
 * ("@@tb ok METRIC UNIT VALUE") or one status line ("@@tb na REASON" for a
 * subsystem that has not landed, "@@tb nobase REASON" for a baseline that was
 * compiled out, "@@tb fail REASON"). Scaling rows run their threads inside
 * the one worker process.
 *
 * The workloads are written once per backend: wl_tangle.c (the public API
 * only), wl_c.c (plain C, glibc, mimalloc), wl_cpython.c (CPython 3.11's
 * embedding API). Each backend fills a tb_result and never fakes a figure: a
 * call that fails with TG_ERR_STATE marks the cell "not available yet".
 */
#ifndef TB_BENCH_H
#define TB_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* ------------------------------------------------------------ statuses */

typedef enum {
    TB_OK = 0,
    TB_NOT_YET,        /* the tangle subsystem has not landed (TG_ERR_STATE) */
    TB_NO_BASELINE,    /* the baseline's package was missing at configure time */
    TB_FAILED,         /* crashed, timed out, or a result check failed */
    TB_PENDING         /* driver only: no sample yet */
} tb_status;

const char *tb_status_name(tb_status st);   /* "ok", "not_available_yet", ... */

/* ------------------------------------------------------------ variants */

typedef enum {
    TB_V_TANGLE_GIL, TB_V_TANGLE_FT, TB_V_TANGLE_FT_ATOMIC,
    TB_V_C_PLAIN, TB_V_C_ATOMIC, TB_V_GLIBC, TB_V_MIMALLOC, TB_V_CPYTHON,
    TB_V_COUNT
} tb_variant;

const char *tb_variant_name(tb_variant v);
int         tb_variant_parse(const char *name);   /* -1 if unknown */
int         tb_variant_is_tangle(tb_variant v);

/* ------------------------------------------------------------ results */

#define TB_MAX_METRICS 4
#define TB_REASON_MAX 200

typedef struct tb_metric {
    char   name[24];      /* "" for the primary metric */
    char   unit[16];
    double value;
} tb_metric;

typedef struct tb_result {
    tb_status st;
    char      reason[TB_REASON_MAX];
    int       nmetrics;
    tb_metric m[TB_MAX_METRICS];
} tb_result;

void tb_result_add(tb_result *r, const char *metric, const char *unit, double value);
/* Set a non-ok status with a printf-style reason; returns -1 for `return tb_...` */
int  tb_result_set(tb_result *r, tb_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------ workloads */

enum { TB_WL_SCALING = 1u << 0,    /* run at every --threads count, speedup vs T=1 */
       TB_WL_FIXED_T2 = 1u << 1,   /* always 2 threads (rc_shared, gil_handoff) */
       TB_WL_HIGHER_IS_BETTER = 1u << 2 };

typedef struct tb_workload {
    const char *name;
    const char *unit;              /* of the primary metric */
    unsigned    flags;
    const char *what;              /* one line: what one op is */
    const char *target;            /* BENCH.md's target, as text */
    tb_variant  variants[TB_V_COUNT];
    int         nvariants;
} tb_workload;

extern const tb_workload tb_workloads[];
extern const int tb_nworkloads;
const tb_workload *tb_workload_find(const char *name);

/* Work sizes: a scale of 1.0 is the full run; --quick uses less where the
   figure is per op (never for shapes BENCH.md fixes: 1M objects, depth 18). */
typedef struct tb_params {
    int    threads;
    int    quick;
} tb_params;

/* The backends: each runs one (workload, variant) in the calling process. */
void tb_run_tangle(const tb_workload *w, tb_variant v, const tb_params *p, tb_result *r);
/* One operation of scale_private (a 3-list of 2-lists of fresh ints, built
   and dropped) and of scale_cycles (two lists that refer to each other,
   dropped); 0, or -1 with the thread's error set. The calling thread is
   attached. */
int  tb_private_graph(void);
int  tb_cycle_pair(void);
void tb_run_c(const tb_workload *w, tb_variant v, const tb_params *p, tb_result *r);
void tb_run_cpython(const tb_workload *w, tb_variant v, const tb_params *p, tb_result *r);
int  tb_have_cpython(void);
int  tb_have_mimalloc(void);          /* compiled in (mimalloc.h found) */
int  tb_have_alloc_workloads(void);   /* bench/alloc_workloads.c present */

/* ------------------------------------------------------------ helpers */

static inline double tb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64: the fixed-seed generator every workload uses */
static inline uint64_t tb_xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return *s = x;
}

/* Keep the compiler from eliding or merging the memory operations on p. */
#define TB_CLOBBER(p) __asm__ volatile("" : : "r"(p) : "memory")

long   tb_rss_bytes(void);            /* resident set size now (/proc/self/statm) */
long   tb_peak_rss_bytes(void);       /* getrusage ru_maxrss */
double tb_percentile(double *v, size_t n, double q);   /* sorts v */

/* binary-trees: the number of nodes a full run checks, for verification */
long   tb_binarytrees_expected(int max_depth);
#define TB_BT_DEPTH 18

/* ------------------------------------------------------------ the driver's records */

#define TB_MAX_ROUNDS 64
#define TB_MAX_THREAD_COUNTS 16

typedef struct tb_cell {
    const tb_workload *w;
    tb_variant v;
    int        threads;
    tb_status  st;                       /* TB_PENDING until its first sample */
    char       reason[TB_REASON_MAX];
    int        nmetrics;
    char       mname[TB_MAX_METRICS][24];
    char       munit[TB_MAX_METRICS][16];
    int        nsamples[TB_MAX_METRICS];
    double     samples[TB_MAX_METRICS][TB_MAX_ROUNDS];
    double     median[TB_MAX_METRICS], min[TB_MAX_METRICS], max[TB_MAX_METRICS];
} tb_cell;

typedef struct tb_run {
    tb_cell *cells;
    int      ncells;
    int      rounds;
    int      quick;
    int      threads[TB_MAX_THREAD_COUNTS];
    int      nthreads;
    int      nproc;
    char     cpu[128];
    char     date[40];                   /* UTC, ISO 8601 */
    char     command[512];
    double   seconds;                    /* the whole run */
} tb_run;

/* A target of BENCH.md evaluated on a run: value (a ratio or a figure) <= or
   >= limit. evaluable is 0 when a cell it needs has no figure. */
typedef struct tb_clause {
    const char *workload;
    char        text[96];
    double      value;
    double      limit;
    int         higher_is_better;
    int         evaluable;
    int         met;
} tb_clause;

int  tb_targets(const tb_run *run, tb_clause *out, int max);
const tb_cell *tb_find_cell(const tb_run *run, const char *workload, tb_variant v, int threads);
double tb_cell_median(const tb_cell *c, const char *metric);   /* NAN if none */

void tb_report_table(const tb_run *run, FILE *out);
int  tb_report_json(const tb_run *run, const char *path);
int  tb_report_csv(const tb_run *run, const char *path);
int  tb_report_svg(const tb_run *run, const char *path);

/* ------------------------------------------------------------ entry points */

int tb_worker_main(int argc, char **argv);   /* `--worker W V T Q` */
int tb_main(int argc, char **argv);          /* `tangle bench ...` */

#endif
