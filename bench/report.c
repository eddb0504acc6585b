/*
 * bench/report.c — what a run says: BENCH.md's targets evaluated on the
 * medians, the table for people, JSON (BENCH.md's schema), CSV, and the SVG
 * plot drawn by gnuplot.
 *
 * Every ratio is a ratio of medians of the same run. A target needing a cell
 * without a figure is "n/a", never met by default.
 *
 * JSON: BENCH.md's fields for every (workload, variant, threads, metric), plus
 *   "status"  ok | not_available_yet | baseline_unavailable | failed
 *   "reason"  why, when the status is not ok (then median/min/max are null and
 *             samples is empty)
 *   "metric"  for a workload's secondary figures (p99, peak_rss, dict3, ...)
 * and at the top level "date", "command", "quick", "seconds", "threads" and
 * "targets" (each target clause with its value and whether it is met).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tangle.h"
#include "bench/bench.h"

/* ------------------------------------------------------------ lookups */

const tb_cell *tb_find_cell(const tb_run *run, const char *workload, tb_variant v, int threads)
{
    for (int i = 0; i < run->ncells; i++) {
        const tb_cell *c = &run->cells[i];
        if (c->v == v && c->threads == threads && !strcmp(c->w->name, workload))
            return c;
    }
    return NULL;
}

double tb_cell_median(const tb_cell *c, const char *metric)
{
    if (!c || c->st != TB_OK)
        return NAN;
    for (int m = 0; m < c->nmetrics; m++)
        if (!strcmp(c->mname[m], metric))
            return c->nsamples[m] ? c->median[m] : NAN;
    return NAN;
}

static double med(const tb_run *run, const char *wl, tb_variant v, int threads, const char *metric)
{
    return tb_cell_median(tb_find_cell(run, wl, v, threads), metric);
}

/* the best (lowest) baseline median of a lower-is-better workload */
static double best_baseline(const tb_run *run, const tb_workload *w, int threads,
                            const char *metric, tb_variant *which)
{
    double best = NAN;
    for (int j = 0; j < w->nvariants; j++) {
        tb_variant v = w->variants[j];
        if (tb_variant_is_tangle(v))
            continue;
        double m = med(run, w->name, v, threads, metric);
        if (isfinite(m) && (!isfinite(best) || m < best)) {
            best = m;
            if (which) *which = v;
        }
    }
    return best;
}

/* ------------------------------------------------------------ targets */

typedef struct clauses {
    tb_clause *out;
    int n, max;
} clauses;

static void add_clause(clauses *cs, const char *wl, double num, double den, double limit,
                       int higher_is_better, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static void add_clause(clauses *cs, const char *wl, double num, double den, double limit,
                       int higher_is_better, const char *fmt, ...)
{
    if (cs->n == cs->max)
        return;
    tb_clause *c = &cs->out[cs->n++];
    memset(c, 0, sizeof *c);
    c->workload = wl;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->text, sizeof c->text, fmt, ap);
    va_end(ap);
    c->limit = limit;
    c->higher_is_better = higher_is_better;
    c->value = num / den;
    c->evaluable = isfinite(num) && isfinite(den) && den > 0;
    if (!c->evaluable)
        c->value = NAN;
    c->met = c->evaluable && (higher_is_better ? c->value >= limit : c->value <= limit);
}

static int selected_wl(const tb_run *run, const char *wl)
{
    for (int i = 0; i < run->ncells; i++)
        if (!strcmp(run->cells[i].w->name, wl))
            return 1;
    return 0;
}

/* "tangle-gil / X <= limit" and the same for tangle-ft */
static void both_modes(clauses *cs, const tb_run *run, const char *wl, int t, const char *metric,
                       tb_variant base, double limit)
{
    double b = med(run, wl, base, t, metric);
    const tb_variant modes[] = { TB_V_TANGLE_GIL, TB_V_TANGLE_FT };
    for (int i = 0; i < 2; i++)
        add_clause(cs, wl, med(run, wl, modes[i], t, metric), b, limit, 0, "%s / %s%s%s <= %.2g",
                   tb_variant_name(modes[i]), tb_variant_name(base),
                   metric[0] ? " " : "", metric, limit);
}

static void speedup_clause(clauses *cs, const tb_run *run, const char *wl, tb_variant v, double limit)
{
    add_clause(cs, wl, med(run, wl, v, 2, ""), med(run, wl, v, 1, ""), limit, 1,
               "%s speedup T=2 / T=1 >= %.2g", tb_variant_name(v), limit);
}

int tb_targets(const tb_run *run, tb_clause *out, int max)
{
    clauses cs = { out, 0, max };
    const tb_variant GIL = TB_V_TANGLE_GIL, FT = TB_V_TANGLE_FT;
    static const struct { const char *wl; double limit; } vs_cpython[] = {
        { "obj_list_new_del", 0.5 }, { "obj_tuple2_new_del", 0.5 }, { "obj_int_new_del", 0.5 },
        { "obj_list_append", 1.0 }, { "obj_dict_set", 0.7 }, { "obj_dict_get", 0.8 },
        { "gc_full_unreachable", 0.5 }, { "gc_full_reachable", 0.5 }, { "gc_young", 0.5 },
        { "gc_young_old1m", 0.5 },
    };

    if (selected_wl(run, "rc_private")) {
        add_clause(&cs, "rc_private", med(run, "rc_private", FT, 1, ""), med(run, "rc_private", GIL, 1, ""),
                   1.2, 0, "tangle-ft / tangle-gil <= 1.2");
        add_clause(&cs, "rc_private", med(run, "rc_private", GIL, 1, ""),
                   med(run, "rc_private", TB_V_C_PLAIN, 1, ""), 1.2, 0, "tangle-gil / c-plain <= 1.2");
    }
    if (selected_wl(run, "rc_shared"))
        both_modes(&cs, run, "rc_shared", 2, "", TB_V_C_ATOMIC, 1.1);
    if (selected_wl(run, "alloc_churn"))
        both_modes(&cs, run, "alloc_churn", 1, "", TB_V_MIMALLOC, 1.0);
    if (selected_wl(run, "alloc_prodcons"))
        both_modes(&cs, run, "alloc_prodcons", 2, "", TB_V_MIMALLOC, 1.0);
    for (size_t i = 0; i < sizeof vs_cpython / sizeof vs_cpython[0]; i++)
        if (selected_wl(run, vs_cpython[i].wl))
            both_modes(&cs, run, vs_cpython[i].wl, 1, "", TB_V_CPYTHON, vs_cpython[i].limit);
    if (selected_wl(run, "gc_young_old1m") && selected_wl(run, "gc_young")) {
        const tb_variant modes[] = { GIL, FT };
        for (int i = 0; i < 2; i++)
            add_clause(&cs, "gc_young_old1m", med(run, "gc_young_old1m", modes[i], 1, ""),
                       med(run, "gc_young", modes[i], 1, ""), 1.2, 0,
                       "%s gc_young_old1m / gc_young <= 1.2", tb_variant_name(modes[i]));
    }
    if (selected_wl(run, "binarytrees"))
        add_clause(&cs, "binarytrees", med(run, "binarytrees", GIL, 1, ""),
                   med(run, "binarytrees", TB_V_GLIBC, 1, ""), 1.0, 0, "tangle-gil / glibc <= 1");

    /* free-threaded single-thread overhead: geometric mean over the
       single-thread rows that have both a tangle-gil and a tangle-ft figure */
    {
        double logsum = 0;
        int n = 0, candidates = 0;
        for (int i = 0; i < tb_nworkloads; i++) {
            const tb_workload *w = &tb_workloads[i];
            if (w->flags || !strcmp(w->name, "memory_1m") || !selected_wl(run, w->name))
                continue;
            candidates++;
            double g = med(run, w->name, GIL, 1, ""), f = med(run, w->name, FT, 1, "");
            if (isfinite(g) && isfinite(f) && g > 0 && f > 0) {
                logsum += log(f / g);
                n++;
            }
        }
        if (candidates)
            add_clause(&cs, "ft_overhead", n ? exp(logsum / n) : NAN, 1.0, 1.05, 0,
                       "geomean tangle-ft / tangle-gil over %d of %d single-thread rows <= 1.05",
                       n, candidates);
    }
    if (selected_wl(run, "scale_private")) speedup_clause(&cs, run, "scale_private", FT, 1.9);
    if (selected_wl(run, "scale_cycles")) speedup_clause(&cs, run, "scale_cycles", FT, 1.9);
    if (selected_wl(run, "scale_dict_read_shared")) speedup_clause(&cs, run, "scale_dict_read_shared", FT, 1.6);
    if (selected_wl(run, "scale_list_append_shared"))
        add_clause(&cs, "scale_list_append_shared", med(run, "scale_list_append_shared", FT, 2, ""),
                   med(run, "scale_list_append_shared", GIL, 2, ""), 0.8, 1,
                   "tangle-ft / tangle-gil throughput at T=2 >= 0.8");
    if (selected_wl(run, "stw_latency")) {
        add_clause(&cs, "stw_latency", med(run, "stw_latency", FT, 2, ""), 1.0, 10, 0,
                   "tangle-ft p50 at T=2 <= 10 us");
        add_clause(&cs, "stw_latency", med(run, "stw_latency", FT, 2, "p99"), 1.0, 100, 0,
                   "tangle-ft p99 at T=2 <= 100 us");
    }
    if (selected_wl(run, "memory_1m")) {
        static const char *const kinds[] = { "", "dict3", "int" };
        for (int i = 0; i < 3; i++) {
            add_clause(&cs, "memory_1m", med(run, "memory_1m", GIL, 1, kinds[i]),
                       med(run, "memory_1m", TB_V_CPYTHON, 1, kinds[i]), 1.0, 0,
                       "tangle-gil / cpython (%s) <= 1", i ? kinds[i] : "list");
            add_clause(&cs, "memory_1m", med(run, "memory_1m", FT, 1, kinds[i]),
                       med(run, "memory_1m", GIL, 1, kinds[i]), 1.1, 0,
                       "tangle-ft / tangle-gil (%s) <= 1.1", i ? kinds[i] : "list");
        }
    }
    return cs.n;
}

/* ------------------------------------------------------------ table */

static const char *fmt_num(char *buf, size_t n, double v)
{
    if (!isfinite(v))
        snprintf(buf, n, "-");
    else if (fabs(v) >= 1e6)
        snprintf(buf, n, "%.3gM", v / 1e6);
    else if (fabs(v) >= 100)
        snprintf(buf, n, "%.0f", v);
    else if (fabs(v) >= 10)
        snprintf(buf, n, "%.1f", v);
    else
        snprintf(buf, n, "%.3g", v);
    return buf;
}

static void print_metric_row(FILE *out, const tb_run *run, const tb_cell *c, int m, const char *label)
{
    char a[32], b[32], d[32], rel[64] = "";
    const tb_workload *w = c->w;
    if (w->flags & TB_WL_SCALING) {
        if (!strcmp(w->unit, "ops/s") && m == 0 && c->threads != 1) {
            double base = med(run, w->name, c->v, 1, "");
            if (isfinite(base) && base > 0)
                snprintf(rel, sizeof rel, "speedup %.2f", c->median[m] / base);
        }
    } else if (tb_variant_is_tangle(c->v)) {
        tb_variant bv = TB_V_COUNT;
        double best = best_baseline(run, w, c->threads, c->mname[m], &bv);
        if (isfinite(best) && best > 0)
            snprintf(rel, sizeof rel, "%.2f x %s", c->median[m] / best, tb_variant_name(bv));
    }
    char range[72];
    snprintf(range, sizeof range, "%s .. %s", fmt_num(b, sizeof b, c->min[m]), fmt_num(d, sizeof d, c->max[m]));
    fprintf(out, "  %-18s %2d %11s  %-21s %-8s %s\n", label, c->threads,
            fmt_num(a, sizeof a, c->median[m]), range, c->munit[m], rel);
}

void tb_report_table(const tb_run *run, FILE *out)
{
    tb_clause cl[128];
    int ncl = tb_targets(run, cl, 128);
    fprintf(out, "\ntangle bench %s  %s  %d x %s  %d round%s%s  (%d:%02d)\n", TG_VERSION, run->date,
            run->nproc, run->cpu, run->rounds, run->rounds == 1 ? "" : "s",
            run->quick ? ", quick" : "", (int)run->seconds / 60, (int)run->seconds % 60);
    fprintf(out, "median over the rounds, min .. max; tangle rows: ratio of medians to the best baseline;\n"
                 "scaling rows: speedup over 1 thread\n\n");
    fprintf(out, "  %-18s %2s %11s  %-21s %-8s %s\n", "variant", "T", "median", "min .. max", "unit",
            "vs best baseline");
    const tb_workload *prev = NULL;
    for (int i = 0; i <= run->ncells; i++) {
        const tb_cell *c = i < run->ncells ? &run->cells[i] : NULL;
        if (prev && (!c || c->w != prev)) {
            for (int k = 0; k < ncl; k++)
                if (!strcmp(cl[k].workload, prev->name)) {
                    char v[32];
                    fprintf(out, "  target: %-52s %8s  %s\n", cl[k].text,
                            cl[k].evaluable ? fmt_num(v, sizeof v, cl[k].value) : "",
                            !cl[k].evaluable ? "n/a" : cl[k].met ? "met" : "NOT MET");
                }
        }
        if (!c)
            break;
        if (c->w != prev) {
            fprintf(out, "\n%s  (%s)\n", c->w->name, c->w->what);
            prev = c->w;
        }
        if (c->st != TB_OK) {
            const char *what = c->st == TB_NOT_YET ? "not available yet"
                             : c->st == TB_NO_BASELINE ? "baseline unavailable" : "FAILED";
            const char *why = c->reason;
            if (!strncmp(why, "not available yet: ", 19)) why += 19;
            if (!strncmp(why, "baseline unavailable: ", 22)) why += 22;
            fprintf(out, "  %-18s %2d  %s: %s\n", tb_variant_name(c->v), c->threads, what, why);
            continue;
        }
        for (int m = 0; m < c->nmetrics; m++) {
            char label[48];
            if (m == 0)
                snprintf(label, sizeof label, "%s", tb_variant_name(c->v));
            else
                snprintf(label, sizeof label, "  %s", c->mname[m]);
            print_metric_row(out, run, c, m, label);
        }
    }
    for (int k = 0; k < ncl; k++)
        if (!strcmp(cl[k].workload, "ft_overhead")) {
            char v[32];
            fprintf(out, "\nfree-threaded single-thread overhead\n  target: %-52s %8s  %s\n", cl[k].text,
                    cl[k].evaluable ? fmt_num(v, sizeof v, cl[k].value) : "",
                    !cl[k].evaluable ? "n/a" : cl[k].met ? "met" : "NOT MET");
        }
    int met = 0, na = 0;
    for (int k = 0; k < ncl; k++) {
        met += cl[k].met;
        na += !cl[k].evaluable;
    }
    fprintf(out, "\ntargets: %d met, %d not met, %d n/a (of %d)\n", met, ncl - met - na, na, ncl);
}

/* ------------------------------------------------------------ JSON */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch == '\n') fputs("\\n", f);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fputs("null", f);
}

int tb_report_json(const tb_run *run, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return -1;
    }
    fprintf(f, "{\"tangle_version\": ");
    json_str(f, TG_VERSION);
    fprintf(f, ", \"machine\": {\"nproc\": %d, \"cpu\": ", run->nproc);
    json_str(f, run->cpu);
    fprintf(f, "},\n \"rounds\": %d, \"quick\": %s, \"date\": ", run->rounds, run->quick ? "true" : "false");
    json_str(f, run->date);
    fprintf(f, ", \"command\": ");
    json_str(f, run->command);
    fprintf(f, ", \"seconds\": %.1f, \"threads\": [", run->seconds);
    for (int i = 0; i < run->nthreads; i++)
        fprintf(f, "%s%d", i ? ", " : "", run->threads[i]);
    fprintf(f, "],\n \"results\": [");
    int first = 1;
    for (int i = 0; i < run->ncells; i++) {
        const tb_cell *c = &run->cells[i];
        int rows = c->st == TB_OK ? c->nmetrics : 1;
        for (int m = 0; m < rows; m++) {
            fprintf(f, "%s\n   {\"workload\": ", first ? "" : ",");
            first = 0;
            json_str(f, c->w->name);
            fprintf(f, ", \"variant\": ");
            json_str(f, tb_variant_name(c->v));
            fprintf(f, ", \"threads\": %d, ", c->threads);
            if (c->st == TB_OK && c->mname[m][0]) {
                fprintf(f, "\"metric\": ");
                json_str(f, c->mname[m]);
                fprintf(f, ", ");
            }
            fprintf(f, "\"unit\": ");
            json_str(f, c->st == TB_OK ? c->munit[m] : c->w->unit);
            fprintf(f, ", \"median\": ");
            json_num(f, c->st == TB_OK ? c->median[m] : NAN);
            fprintf(f, ", \"min\": ");
            json_num(f, c->st == TB_OK ? c->min[m] : NAN);
            fprintf(f, ", \"max\": ");
            json_num(f, c->st == TB_OK ? c->max[m] : NAN);
            fprintf(f, ", \"samples\": [");
            if (c->st == TB_OK)
                for (int k = 0; k < c->nsamples[m]; k++) {
                    if (k) fputs(", ", f);
                    json_num(f, c->samples[m][k]);
                }
            fprintf(f, "], \"status\": ");
            json_str(f, tb_status_name(c->st));
            if (c->st != TB_OK) {
                fprintf(f, ", \"reason\": ");
                json_str(f, c->reason);
            }
            fputc('}', f);
        }
    }
    fprintf(f, "\n ],\n \"targets\": [");
    tb_clause cl[128];
    int ncl = tb_targets(run, cl, 128);
    for (int k = 0; k < ncl; k++) {
        fprintf(f, "%s\n   {\"workload\": ", k ? "," : "");
        json_str(f, cl[k].workload);
        fprintf(f, ", \"target\": ");
        json_str(f, cl[k].text);
        fprintf(f, ", \"value\": ");
        json_num(f, cl[k].value);
        fprintf(f, ", \"limit\": ");
        json_num(f, cl[k].limit);
        fprintf(f, ", \"met\": %s}", !cl[k].evaluable ? "null" : cl[k].met ? "true" : "false");
    }
    fprintf(f, "\n ]}\n");
    if (fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ CSV */

static void csv_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int tb_report_csv(const tb_run *run, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return -1;
    }
    fprintf(f, "workload,variant,threads,metric,unit,status,median,min,max,samples,reason\n");
    for (int i = 0; i < run->ncells; i++) {
        const tb_cell *c = &run->cells[i];
        int rows = c->st == TB_OK ? c->nmetrics : 1;
        for (int m = 0; m < rows; m++) {
            int ok = c->st == TB_OK;
            fprintf(f, "%s,%s,%d,%s,%s,%s,", c->w->name, tb_variant_name(c->v), c->threads,
                    ok && c->mname[m][0] ? c->mname[m] : "", ok ? c->munit[m] : c->w->unit,
                    tb_status_name(c->st));
            if (ok)
                fprintf(f, "%.6g,%.6g,%.6g,", c->median[m], c->min[m], c->max[m]);
            else
                fprintf(f, ",,,");
            fputc('"', f);
            for (int k = 0; ok && k < c->nsamples[m]; k++)
                fprintf(f, "%s%.6g", k ? ";" : "", c->samples[m][k]);
            fputs("\",", f);
            csv_str(f, ok ? "" : c->reason);
            fputc('\n', f);
        }
    }
    if (fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ SVG (gnuplot) */

static int find_in_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path) path = "/usr/bin:/bin";
    char buf[4096];
    for (const char *p = path; *p;) {
        const char *e = strchr(p, ':');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        snprintf(buf, sizeof buf, "%.*s/%s", (int)len, p, prog);
        if (access(buf, X_OK) == 0)
            return 1;
        p += len + (e ? 1 : 0);
    }
    return 0;
}

static void put_val(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, " %.6g", v);
    else fputs(" NaN", f);
}

int tb_report_svg(const tb_run *run, const char *path)
{
    if (!find_in_path("gnuplot")) {
        fprintf(stderr, "tangle bench: --svg needs gnuplot (Debian gnuplot-nox; scripts/setup-bench.sh)\n");
        return -1;
    }
    char dir[] = "/tmp/tangle-bench-svg.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return -1;
    }
    char file[4200];
    snprintf(file, sizeof file, "%s/plot.gp", dir);
    FILE *gp = fopen(file, "w");
    if (!gp) {
        perror(file);
        return -1;
    }
    int maxt = 1;
    for (int i = 0; i < run->nthreads; i++)
        if (run->threads[i] > maxt) maxt = run->threads[i];

    /* scaling panels: ops/s workloads only (stw_latency is a latency) */
    const tb_workload *scal[16];
    int nscal = 0;
    for (int i = 0; i < tb_nworkloads; i++) {
        const tb_workload *w = &tb_workloads[i];
        if ((w->flags & TB_WL_SCALING) && !strcmp(w->unit, "ops/s") && selected_wl(run, w->name) && nscal < 16)
            scal[nscal++] = w;
    }
    /* ratio bars: single-row workloads with a baseline */
    const tb_workload *bars[32];
    int nbars = 0;
    for (int i = 0; i < tb_nworkloads; i++) {
        const tb_workload *w = &tb_workloads[i];
        if ((w->flags & TB_WL_SCALING) || !selected_wl(run, w->name))
            continue;
        int has_base = 0;
        for (int j = 0; j < w->nvariants; j++)
            has_base |= !tb_variant_is_tangle(w->variants[j]);
        if (has_base && nbars < 32)
            bars[nbars++] = w;
    }
    double top = nscal && nbars ? 0.5 : 1.0;

    fprintf(gp, "set terminal svg size 1500,%d dynamic noenhanced font 'sans,12' background '#ffffff'\n",
            nscal && nbars ? 1000 : 560);
    fprintf(gp, "set output '%s'\nset datafile missing 'NaN'\nset multiplot title \"tangle bench %s "
                "- %s - %d x %s - %d rounds%s (medians)\"\n",
            path, TG_VERSION, run->date, run->nproc, run->cpu, run->rounds, run->quick ? ", quick" : "");

    for (int s = 0; s < nscal; s++) {
        const tb_workload *w = scal[s];
        snprintf(file, sizeof file, "%s/scale%d.dat", dir, s);
        FILE *d = fopen(file, "w");
        int have[3] = { 0, 0, 0 };
        /* glibc: the machine's reference (the same allocations, no runtime) */
        const tb_variant modes[3] = { TB_V_TANGLE_GIL, TB_V_TANGLE_FT, TB_V_GLIBC };
        for (int k = 0; k < run->nthreads; k++) {
            int t = run->threads[k];
            fprintf(d, "%d", t);
            for (int m = 0; m < 3; m++) {
                double base = med(run, w->name, modes[m], 1, "");
                double v = med(run, w->name, modes[m], t, "") / base;
                have[m] |= isfinite(v);
                put_val(d, v);
            }
            fputc('\n', d);
        }
        fclose(d);
        double wdt = 1.0 / nscal;
        fprintf(gp, "set size %.4f,%.4f\nset origin %.4f,%.4f\n", wdt, top * 0.92, s * wdt, 1.0 - top);
        fprintf(gp, "set title '%s'\nset xlabel 'threads'\nset ylabel 'speedup over 1 thread'\n"
                    "set xrange [0.8:%d.2]\nset yrange [0:%g]\nset xtics 1\nset key top left\nunset logscale y\n"
                    "set grid ytics\n",
                w->name, maxt, maxt * 1.15 + 0.1);
        fprintf(gp, "plot x with lines dt 2 lc rgb '#888888' title 'ideal'");
        if (have[0])
            fprintf(gp, ", '%s' using 1:2 with linespoints lw 2 pt 7 lc rgb '#d62728' title 'tangle-gil'", file);
        if (have[1])
            fprintf(gp, ", '%s' using 1:3 with linespoints lw 2 pt 5 lc rgb '#1f77b4' title 'tangle-ft'", file);
        if (have[2])
            fprintf(gp, ", '%s' using 1:4 with linespoints lw 1 dt 3 pt 6 lc rgb '#2ca02c' title 'glibc (no runtime)'", file);
        if (!have[0] && !have[1])
            fprintf(gp, ", NaN title 'no tangle figures yet'");
        fputc('\n', gp);
    }

    if (nbars) {
        snprintf(file, sizeof file, "%s/bars.dat", dir);
        FILE *d = fopen(file, "w");
        const tb_variant tv[3] = { TB_V_TANGLE_GIL, TB_V_TANGLE_FT, TB_V_TANGLE_FT_ATOMIC };
        int have[3] = { 0, 0, 0 };
        double lo = 1, hi = 1;
        for (int b = 0; b < nbars; b++) {
            const tb_workload *w = bars[b];
            int t = (w->flags & TB_WL_FIXED_T2) ? 2 : 1;
            tb_variant bv = TB_V_COUNT;
            double best = best_baseline(run, w, t, "", &bv);
            fprintf(d, "\"%s\\n(vs %s)\"", w->name, bv == TB_V_COUNT ? "-" : tb_variant_name(bv));
            for (int m = 0; m < 3; m++) {
                double v = med(run, w->name, tv[m], t, "") / best;
                if (isfinite(v) && v > 0) {
                    have[m] = 1;
                    if (v < lo) lo = v;
                    if (v > hi) hi = v;
                } else {
                    v = NAN;
                }
                put_val(d, v);
            }
            fputc('\n', d);
        }
        fclose(d);
        fprintf(gp, "set size 1,%.4f\nset origin 0,0\nset title 'tangle / best baseline "
                    "(ratio of medians, log scale; below 1 = tangle faster or smaller; no bar = no figure yet, see the table)'\n"
                    "set xlabel ''\nset ylabel 'tangle / best baseline'\nset logscale y\n"
                    "set yrange [%g:%g]\nset xrange [-0.6:%d.6]\n"
                    "set ytics ('0.05' 0.05, '0.1' 0.1, '0.2' 0.2, '0.5' 0.5, '1' 1, '2' 2, '5' 5, '10' 10, '20' 20, '50' 50)\n"
                    "set xtics rotate by -35 font ',10'\n"
                    "set key top left\nset grid ytics\nset style data histogram\n"
                    "set style histogram clustered gap 1\nset style fill solid 0.85 border -1\nset boxwidth 0.9\n",
                top * 0.98, lo / 1.5, hi * 1.5, nbars - 1);
        fprintf(gp, "plot 1 with lines dt 2 lw 2 lc rgb '#000000' title 'parity'");
        static const char *const colors[3] = { "#d62728", "#1f77b4", "#9ecae1" };
        int any = 0;
        for (int m = 0; m < 3; m++)
            if (have[m]) {
                fprintf(gp, ", '%s' using %d:xtic(1) lc rgb '%s' title '%s'", file, m + 2, colors[m],
                        tb_variant_name(tv[m]));
                any = 1;
            }
        if (!any)
            fprintf(gp, ", '%s' using (1):xtic(1) with points pt -1 title 'no tangle figures yet'", file);
        fputc('\n', gp);
    }
    fprintf(gp, "unset multiplot\n");
    fclose(gp);

    snprintf(file, sizeof file, "%s/plot.gp", dir);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execlp("gnuplot", "gnuplot", file, (char *)NULL);
        _exit(127);
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        fprintf(stderr, "tangle bench: gnuplot failed (script kept in %s)\n", dir);
        return -1;
    }
    /* tidy the scratch files */
    char cmd[4300];
    for (int s = 0; s < nscal; s++) {
        snprintf(cmd, sizeof cmd, "%s/scale%d.dat", dir, s);
        unlink(cmd);
    }
    snprintf(cmd, sizeof cmd, "%s/bars.dat", dir);
    unlink(cmd);
    unlink(file);
    rmdir(dir);
    return 0;
}
