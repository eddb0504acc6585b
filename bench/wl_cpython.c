/*
 * bench/wl_cpython.c — the CPython 3.11 baseline through its embedding C API
 * (Debian's python3.11-dev: the PGO/LTO build), doing what wl_tangle.c does
 * with the same shapes, timed with the same clock around the C API calls.
 *
 * Where tangle's API returns a new reference and CPython's a borrowed one
 * (dict lookup, tuple item), the CPython side takes and drops the reference
 * too, as Python code does: the same work, not the cheapest C.
 *
 * The interpreter's own start-up objects are frozen (gc.freeze()) before a
 * collector workload, so a collection scans the benchmark's graph, not the
 * import system; tangle's heap holds nothing else either.
 */
#include <string.h>

#include "bench/bench.h"

#if !TB_HAVE_CPYTHON

int tb_have_cpython(void) { return 0; }

void tb_run_cpython(const tb_workload *w, tb_variant v, const tb_params *p, tb_result *r)
{
    tb_result_set(r, TB_NO_BASELINE,
                  "baseline unavailable: python3.11-dev (python-3.11-embed) missing at configure time");
}

#else

#define PY_SSIZE_T_CLEAN
#include <Python.h>

int tb_have_cpython(void) { return 1; }

#define GRAPH_OBJECTS 1000000L
#define RING 10
#define YOUNG_OBJECTS 1000

static int py_failed(tb_result *r, const char *what)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    const char *msg = "";
    PyObject *s = value ? PyObject_Str(value) : NULL;
    if (s)
        msg = PyUnicode_AsUTF8(s);
    tb_result_set(r, TB_FAILED, "cpython %s failed: %s", what, msg ? msg : "");
    Py_XDECREF(s);
    Py_XDECREF(type); Py_XDECREF(value); Py_XDECREF(tb);
    return -1;
}

static PyObject *gc_module;

static int start_python(tb_result *r)
{
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.site_import = 0;
    config.install_signal_handlers = 0;
    PyStatus st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st))
        return tb_result_set(r, TB_FAILED, "Py_InitializeFromConfig: %s",
                             st.err_msg ? st.err_msg : "error");
    gc_module = PyImport_ImportModule("gc");
    if (!gc_module)
        return py_failed(r, "import gc");
    return 0;
}

static intptr_t gc_collect(int generation)
{
    PyObject *n = generation < 0 ? PyObject_CallMethod(gc_module, "collect", NULL)
                                 : PyObject_CallMethod(gc_module, "collect", "i", generation);
    if (!n)
        return -1;
    intptr_t v = PyLong_AsSsize_t(n);
    Py_DECREF(n);
    return v;
}

static int gc_call(const char *method, tb_result *r)
{
    PyObject *x = PyObject_CallMethod(gc_module, method, NULL);
    if (!x)
        return py_failed(r, method);
    Py_DECREF(x);
    return 0;
}

static double per_op_ns(double t0, double t1, long n) { return (t1 - t0) * 1e9 / (double)n; }

/* ------------------------------------------------------------ allocator */

static void alloc_churn(const tb_params *p, tb_result *r);

/* ------------------------------------------------------------ objects */

static void obj_new_del(const tb_workload *w, const tb_params *p, tb_result *r)
{
    long n = p->quick ? 5000000L : 10000000L;
    PyObject *one = PyLong_FromLong(1), *two = PyLong_FromLong(2);
    int kind = strcmp(w->name, "obj_list_new_del") == 0 ? 0
             : strcmp(w->name, "obj_tuple2_new_del") == 0 ? 1 : 2;
    double t0 = tb_now();
    for (long i = 0; i < n; i++) {
        PyObject *o = kind == 0 ? PyList_New(0) : kind == 1 ? PyTuple_Pack(2, one, two)
                                                           : PyLong_FromLong(100000);
        if (!o) { py_failed(r, w->name); return; }
        Py_DECREF(o);
    }
    double t1 = tb_now();
    tb_result_add(r, "", "ns/op", per_op_ns(t0, t1, n));
}

static PyObject **make_ints(long n, tb_result *r)
{
    PyObject **v = malloc((size_t)n * sizeof *v);
    for (long i = 0; i < n; i++)
        if (!(v[i] = PyLong_FromLong(i))) {
            py_failed(r, "PyLong_FromLong");
            return NULL;
        }
    return v;
}

static void obj_list_append(const tb_params *p, tb_result *r)
{
    const long n = 1000000L;
    int passes = p->quick ? 3 : 10;
    PyObject **ints = make_ints(n, r);
    if (!ints) return;
    double total = 0;
    for (int k = 0; k < passes; k++) {
        PyObject *l = PyList_New(0);
        double t0 = tb_now();
        for (long i = 0; i < n; i++)
            if (PyList_Append(l, ints[i]) < 0) { py_failed(r, "PyList_Append"); return; }
        total += tb_now() - t0;
        Py_DECREF(l);
    }
    tb_result_add(r, "", "ns/op", total * 1e9 / ((double)n * passes));
}

static void obj_dict(const tb_workload *w, const tb_params *p, tb_result *r)
{
    const long n = 1000000L;
    int get = strcmp(w->name, "obj_dict_get") == 0;
    int passes = get ? (p->quick ? 3 : 8) : (p->quick ? 2 : 4);
    PyObject **keys = make_ints(n, r);
    if (!keys) return;
    double total = 0;
    PyObject *d = NULL;
    for (int k = 0; k < passes; k++) {
        if (!get || !d) {
            Py_XDECREF(d);
            d = PyDict_New();
            double t0 = tb_now();
            for (long i = 0; i < n; i++)
                if (PyDict_SetItem(d, keys[i], keys[i]) < 0) { py_failed(r, "PyDict_SetItem"); return; }
            if (!get)
                total += tb_now() - t0;
        }
        if (get) {
            double t0 = tb_now();
            for (long i = 0; i < n; i++) {
                PyObject *v = PyDict_GetItemWithError(d, keys[i]);   /* borrowed */
                if (v != keys[i]) { py_failed(r, "PyDict_GetItemWithError"); return; }
                Py_INCREF(v);                                        /* as d[k] in Python */
                Py_DECREF(v);
            }
            total += tb_now() - t0;
        }
    }
    Py_DECREF(d);
    tb_result_add(r, "", "ns/op", total * 1e9 / ((double)n * passes));
}

/* ------------------------------------------------------------ collector */

static int build_rings(long objects, PyObject *keep, tb_result *r)
{
    for (long k = 0; k < objects / RING; k++) {
        PyObject *node[RING];
        for (int j = 0; j < RING; j++)
            if (!(node[j] = PyList_New(1))) return py_failed(r, "PyList_New");
        for (int j = 0; j < RING; j++) {
            PyObject *next = node[(j + 1) % RING];
            Py_INCREF(next);
            PyList_SET_ITEM(node[j], 0, next);   /* [next]: a 1-element list */
        }
        if (keep && PyList_Append(keep, node[0]) < 0)
            return py_failed(r, "PyList_Append");
        for (int j = 0; j < RING; j++)
            Py_DECREF(node[j]);
    }
    return 0;
}

static int collect_checked(int gen, long expect, double *seconds, tb_result *r)
{
    double t0 = tb_now();
    intptr_t n = gc_collect(gen);
    double t1 = tb_now();
    if (n < 0)
        return py_failed(r, "gc.collect");
    if (expect >= 0 && n != expect)
        return tb_result_set(r, TB_FAILED, "gc.collect(%d) found %ld, expected %ld", gen, (long)n, expect);
    if (seconds)
        *seconds = t1 - t0;
    return 0;
}

static int gc_prepare(tb_result *r)
{
    if (gc_call("disable", r) < 0 || collect_checked(-1, -1, NULL, r) < 0)
        return -1;
    return gc_call("freeze", r);     /* start-up objects out of every generation */
}

static void gc_full(int reachable, tb_result *r)
{
    if (gc_prepare(r) < 0) return;
    PyObject *keep = reachable ? PyList_New(0) : NULL;
    if (build_rings(GRAPH_OBJECTS, keep, r) < 0) return;
    double s;
    if (collect_checked(-1, reachable ? 0 : GRAPH_OBJECTS, &s, r) < 0) return;
    tb_result_add(r, "", "ns/obj", s * 1e9 / (double)GRAPH_OBJECTS);
}

static void gc_young(int old1m, const tb_params *p, tb_result *r)
{
    int iterations = p->quick ? 300 : 1000;
    if (gc_prepare(r) < 0) return;
    if (old1m) {
        PyObject *keep = PyList_New(0);
        if (build_rings(GRAPH_OBJECTS, keep, r) < 0) return;
        if (collect_checked(-1, 0, NULL, r) < 0) return;   /* survivors to generation 2 */
    }
    double total = 0, s;
    for (int i = 0; i < iterations; i++) {
        if (build_rings(YOUNG_OBJECTS, NULL, r) < 0) return;
        if (collect_checked(0, YOUNG_OBJECTS, &s, r) < 0) return;
        total += s;
    }
    tb_result_add(r, "", "us", total * 1e6 / iterations);
}

/* ------------------------------------------------------------ binarytrees */

static PyObject *bt_make(int depth)
{
    if (depth == 0)
        return PyTuple_Pack(2, Py_None, Py_None);
    PyObject *l = bt_make(depth - 1);
    PyObject *rr = l ? bt_make(depth - 1) : NULL;
    PyObject *t = rr ? PyTuple_Pack(2, l, rr) : NULL;
    Py_XDECREF(l);
    Py_XDECREF(rr);
    return t;
}

static long bt_check(PyObject *t)
{
    /* `l, r = node` in Python: both items are referenced while in use */
    PyObject *l = PyTuple_GET_ITEM(t, 0), *rr = PyTuple_GET_ITEM(t, 1);
    Py_INCREF(l);
    Py_INCREF(rr);
    long n = 1;
    if (l != Py_None)
        n += bt_check(l) + bt_check(rr);
    Py_DECREF(l);
    Py_DECREF(rr);
    return n;
}

static void binarytrees(tb_result *r)
{
    const int min_depth = 4, max_depth = TB_BT_DEPTH;
    long checked = 0;
    double t0 = tb_now();
    PyObject *stretch = bt_make(max_depth + 1);
    if (!stretch) { py_failed(r, "PyTuple_Pack"); return; }
    checked += bt_check(stretch);
    Py_DECREF(stretch);
    PyObject *long_lived = bt_make(max_depth);
    for (int d = min_depth; d <= max_depth; d += 2) {
        long iterations = 1L << (max_depth - d + min_depth);
        for (long i = 0; i < iterations; i++) {
            PyObject *t = bt_make(d);
            if (!t) { py_failed(r, "PyTuple_Pack"); return; }
            checked += bt_check(t);
            Py_DECREF(t);
        }
    }
    checked += bt_check(long_lived);
    Py_DECREF(long_lived);
    double t1 = tb_now();
    if (checked != tb_binarytrees_expected(max_depth)) {
        tb_result_set(r, TB_FAILED, "binarytrees checked %ld nodes, expected %ld",
                      checked, tb_binarytrees_expected(max_depth));
        return;
    }
    tb_result_add(r, "", "s", t1 - t0);
}

/* ------------------------------------------------------------ memory_1m */

static void memory_1m(tb_result *r)
{
    const long n = 1000000L;
    PyObject **lists = calloc((size_t)n, sizeof *lists);
    PyObject **dicts = calloc((size_t)n, sizeof *dicts);
    PyObject **ints = calloc((size_t)n, sizeof *ints);
    memset(lists, 1, (size_t)n * sizeof *lists);
    memset(dicts, 1, (size_t)n * sizeof *dicts);
    memset(ints, 1, (size_t)n * sizeof *ints);
    PyObject *k[3] = { PyUnicode_InternFromString("a"), PyUnicode_InternFromString("b"),
                       PyUnicode_InternFromString("c") };
    PyObject *v[3] = { PyLong_FromLong(1), PyLong_FromLong(2), PyLong_FromLong(3) };
    long rss0 = tb_rss_bytes();
    for (long i = 0; i < n; i++)
        if (!(lists[i] = PyList_New(0))) { py_failed(r, "PyList_New"); return; }
    long rss1 = tb_rss_bytes();
    for (long i = 0; i < n; i++) {
        if (!(dicts[i] = PyDict_New())) { py_failed(r, "PyDict_New"); return; }
        for (int j = 0; j < 3; j++)
            if (PyDict_SetItem(dicts[i], k[j], v[j]) < 0) { py_failed(r, "PyDict_SetItem"); return; }
    }
    long rss2 = tb_rss_bytes();
    for (long i = 0; i < n; i++)
        if (!(ints[i] = PyLong_FromLong(1000000 + i))) { py_failed(r, "PyLong_FromLong"); return; }
    long rss3 = tb_rss_bytes();
    tb_result_add(r, "", "B/obj", (double)(rss1 - rss0) / (double)n);
    tb_result_add(r, "dict3", "B/obj", (double)(rss2 - rss1) / (double)n);
    tb_result_add(r, "int", "B/obj", (double)(rss3 - rss2) / (double)n);
}

/* ------------------------------------------------------------ alloc_churn */

#if TB_HAVE_ALLOC_WORKLOADS
#include "bench/alloc_workloads.h"
static void *py_alloc(size_t n) { return PyObject_Malloc(n); }
static void py_free(void *p) { PyObject_Free(p); }
static void noop(void) {}
#endif

static void alloc_churn(const tb_params *p, tb_result *r)
{
#if TB_HAVE_ALLOC_WORKLOADS
    /* pymalloc needs the GIL: the churn runs on this (initialising) thread */
    bench_allocator a = { "cpython", py_alloc, py_free, noop, noop };
    tb_result_add(r, "", "ns/op", bench_alloc_churn(&a, p->quick ? 4000000L : 10000000L));
#else
    tb_result_set(r, TB_NOT_YET, "not available yet: bench/alloc_workloads.c (allocator issue) not present");
#endif
}

/* ------------------------------------------------------------ dispatch */

void tb_run_cpython(const tb_workload *w, tb_variant v, const tb_params *p, tb_result *r)
{
    if (start_python(r) < 0)
        return;
    const char *n = w->name;
    if (!strcmp(n, "alloc_churn")) alloc_churn(p, r);
    else if (!strcmp(n, "obj_list_append")) obj_list_append(p, r);
    else if (!strncmp(n, "obj_dict_", 9)) obj_dict(w, p, r);
    else if (!strncmp(n, "obj_", 4)) obj_new_del(w, p, r);
    else if (!strcmp(n, "gc_full_unreachable")) gc_full(0, r);
    else if (!strcmp(n, "gc_full_reachable")) gc_full(1, r);
    else if (!strcmp(n, "gc_young")) gc_young(0, p, r);
    else if (!strcmp(n, "gc_young_old1m")) gc_young(1, p, r);
    else if (!strcmp(n, "binarytrees")) binarytrees(r);
    else if (!strcmp(n, "memory_1m")) memory_1m(r);
    else tb_result_set(r, TB_FAILED, "no cpython baseline for %s", n);
}

#endif
