/*
 * tests/test_bench.c — `tangle bench` runs, and its JSON matches BENCH.md's
 * schema (tests/bench_schema_check.py, a strict checker). Timings are never
 * asserted: only that every planned variant is reported, with a figure or
 * with the reason it has none.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char tangle_bin[4096];
static char tmpdir[] = "/tmp/tangle-test-bench.XXXXXX";

static void setup(void)
{
    const char *bin = getenv("TANGLE_TEST_BIN");
    cr_assert(bin, "TANGLE_TEST_BIN is not set (run through ctest)");
    snprintf(tangle_bin, sizeof tangle_bin, "%s/tangle", bin);
    cr_assert(access(tangle_bin, X_OK) == 0, "no executable %s", tangle_bin);
    cr_assert(mkdtemp(tmpdir), "mkdtemp");
}

static void teardown(void)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    (void)system(cmd);
}

/* exit status of a shell command, -1 if it did not exit */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int ws = system(cmd);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

static void dump(const char *path)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "cat '%s' >&2", path);
    (void)system(cmd);
}

/* this file's directory (CMake compiles with absolute paths) */
static const char *script_path(void)
{
    static char p[4096];
    snprintf(p, sizeof p, "%s", __FILE__);
    char *slash = strrchr(p, '/');
    snprintf(slash ? slash + 1 : p, sizeof p - (size_t)(slash ? slash + 1 - p : 0), "bench_schema_check.py");
    return p;
}

static int bench_built(void)
{
    return run("'%s' bench --list >/dev/null 2>&1", tangle_bin) == 0;
}

TestSuite(bench, .init = setup, .fini = teardown, .timeout = 280);

Test(bench, lists_every_workload_of_bench_md)
{
    if (!bench_built())
        cr_skip_test("this build was configured with TANGLE_BUILD_BENCH=OFF");
    char out[4200];
    snprintf(out, sizeof out, "%s/list.txt", tmpdir);
    cr_assert_eq(run("'%s' bench --list > '%s'", tangle_bin, out), 0);
    static const char *const names[] = {
        "rc_private", "rc_shared", "alloc_churn", "alloc_prodcons", "obj_list_new_del",
        "obj_tuple2_new_del", "obj_int_new_del", "obj_list_append", "obj_dict_set",
        "obj_dict_get", "gc_full_unreachable", "gc_full_reachable", "gc_young",
        "gc_young_old1m", "binarytrees", "scale_private", "scale_list_append_shared",
        "scale_dict_read_shared", "scale_dict_mixed", "scale_cycles", "stw_latency",
        "gil_handoff", "memory_1m",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        cr_expect_eq(run("grep -q '^%s ' '%s'", names[i], out), 0, "workload %s not listed", names[i]);
}

Test(bench, rejects_unknown_workloads_and_options)
{
    if (!bench_built())
        cr_skip_test("this build was configured with TANGLE_BUILD_BENCH=OFF");
    cr_expect_eq(run("'%s' bench --only no_such_workload >/dev/null 2>&1", tangle_bin), 2);
    cr_expect_eq(run("'%s' bench --no-such-option >/dev/null 2>&1", tangle_bin), 2);
    cr_expect_eq(run("'%s' bench --threads 0 >/dev/null 2>&1", tangle_bin), 2);
}

Test(bench, worker_reports_a_figure_or_a_reason)
{
    if (!bench_built())
        cr_skip_test("this build was configured with TANGLE_BUILD_BENCH=OFF");
    char out[4200];
    snprintf(out, sizeof out, "%s/worker.txt", tmpdir);
    cr_assert_eq(run("'%s' bench --worker rc_private c-plain 1 1 > '%s' 2>&1", tangle_bin, out), 0);
    cr_expect_eq(run("grep -Eq '^@@tb ok - ns/op [0-9.e+-]+$' '%s'", out), 0, "c-plain gave no figure");
    cr_assert_eq(run("'%s' bench --worker rc_private tangle-gil 1 1 > '%s' 2>&1", tangle_bin, out), 0);
    cr_expect_eq(run("grep -Eq '^@@tb (ok - ns/op [0-9.e+-]+|na .+|fail .+)$' '%s'", out), 0,
                 "tangle-gil gave neither a figure nor a reason");
    /* the scaling rows' machine reference: plain C on 2 threads */
    cr_assert_eq(run("'%s' bench --worker scale_cycles glibc 2 1 > '%s' 2>&1", tangle_bin, out), 0);
    cr_expect_eq(run("grep -Eq '^@@tb ok - ops/s [0-9.e+-]+$' '%s'", out), 0, "glibc scale_cycles gave no figure");
    cr_assert_eq(run("'%s' bench --worker scale_private glibc 2 1 > '%s' 2>&1", tangle_bin, out), 0);
    cr_expect_eq(run("grep -Eq '^@@tb ok - ops/s [0-9.e+-]+$' '%s'", out), 0, "glibc scale_private gave no figure");
}

Test(bench, quick_json_matches_the_schema)
{
    if (!bench_built())
        cr_skip_test("this build was configured with TANGLE_BUILD_BENCH=OFF");
    char json[4200], csv[4200], log[4200];
    snprintf(json, sizeof json, "%s/out.json", tmpdir);
    snprintf(csv, sizeof csv, "%s/out.csv", tmpdir);
    snprintf(log, sizeof log, "%s/out.txt", tmpdir);
    int rc = run("'%s' bench --quick --only rc_private --json '%s' --csv '%s' > '%s' 2>&1",
                 tangle_bin, json, csv, log);
    if (rc != 0)
        dump(log);
    cr_assert_eq(rc, 0, "tangle bench --quick --only rc_private exited %d", rc);
    cr_expect_eq(run("grep -q 'rc_private' '%s'", log), 0, "no table printed");
    cr_expect_eq(run("grep -q '^target\\|target:' '%s'", log), 0, "no targets in the table");
    rc = run("python3 '%s' '%s' --workloads rc_private "
             "--variants tangle-gil,tangle-ft,tangle-ft-atomic,c-plain,c-atomic",
             script_path(), json);
    if (rc != 0)
        dump(json);
    cr_assert_eq(rc, 0, "the JSON does not match BENCH.md's schema");
    /* CSV: a header and one line per variant at least */
    cr_expect_eq(run("head -1 '%s' | grep -q '^workload,variant,threads,metric,unit,status,median,min,max,samples,reason$'",
                     csv), 0, "CSV header");
    cr_expect_eq(run("test $(grep -c '^rc_private,' '%s') -ge 5", csv), 0, "CSV rows");
}
