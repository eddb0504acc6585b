/*
 * stress/harness/scen_ft.c — scenarios aimed at free-threaded mode (issue 7,
 * "Correctness"); like every scenario they run in both modes.
 *
 *   ft_append_exact   all threads append to one list with no user lock while
 *                     others read it lock-free: the exact count, every item
 *                     once. The planted-race build (TG_PLANT_FT_RACE: append
 *                     without the list's lock) must fail here.
 *   ft_biased_handoff objects of a counting embedder type made by one thread,
 *                     increfed/decrefed/dropped by others through a shared
 *                     exchange array (biased counts: queueing, merges at the
 *                     owner's safepoints, owners exiting between waves).
 *   ft_hot_reads      every thread reads the same few values out of a shared
 *                     dict and list (lock-free reads: contended objects go to
 *                     per-thread counts) while a writer replaces them.
 *   ft_bias_revoke    an owner mutates its new list and dict on the biased
 *                     path while other threads start appending, setting and
 *                     reading them (revocation mid-stream).
 *   ft_local_gc       private cycles collected by their thread alone (local
 *                     young collections, world running) while young lists
 *                     are handed between threads, read and mutated.
 *   ft_aged_gc        kept cycles age into per-thread aged lists and are
 *                     collected there by local generation-1 collections.
 *   ft_list_reserve   threads work one list in bursts: reserved locks taken
 *                     over mid-stream, lists grown in place until first
 *                     read, critical sections, a list dropped while
 *                     reserved.
 *
 * The embedder objects carry a cookie checked on every use and at dealloc
 * (a use after free or a double free breaks it) and a dealloc counter
 * (each object freed exactly once, none left at the end of a round).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "stress/harness/harness.h"
#include "runtime/internal.h"
#include "sync/sync.h"

#define FT_COOKIE 0x66742d636f6f6b69ull     /* "ft-cooki" */

typedef struct { uint64_t cookie; uint64_t serial; } ftc_payload;

static tgs_ctx *ftc_ctx;
static long ftc_made, ftc_deallocs;          /* __atomic accesses */
static tg_type *ftc_type;

static void ftc_dealloc(tg_obj *self)
{
    ftc_payload *p = tg_payload(self);
    if (p->cookie != FT_COOKIE)
        tgs_fail(ftc_ctx, "dealloc of object %" PRIu64 ": cookie %#" PRIx64 " (double free or corruption)",
                 p->serial, p->cookie);
    p->cookie = 0xdead;
    __atomic_fetch_add(&ftc_deallocs, 1, __ATOMIC_RELAXED);
}

static int ftc_setup(tgs_ctx *ctx)
{
    ftc_ctx = ctx;
    __atomic_store_n(&ftc_made, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&ftc_deallocs, 0, __ATOMIC_RELAXED);
    if (ctx->round == 0 || !ftc_type) {
        tg_type_spec spec = { .name = "stress.ft_counted", .payload_size = sizeof(ftc_payload),
                              .dealloc = ftc_dealloc };
        ftc_type = tg_type_new(&spec);
        if (!ftc_type) return tgs_fail(ctx, "tg_type_new failed: %s", tg_error_message()), -1;
    }
    return 0;
}

static tg_obj *ftc_new(uint64_t serial)
{
    tg_obj *o = tg_new(ftc_type);
    if (!o) return NULL;
    ftc_payload *p = tg_payload(o);
    p->cookie = FT_COOKIE;
    p->serial = serial;
    __atomic_fetch_add(&ftc_made, 1, __ATOMIC_RELAXED);
    return o;
}

static bool ftc_ok(tg_obj *o) { return ((ftc_payload *)tg_payload(o))->cookie == FT_COOKIE; }

/* Every object made this round was freed exactly once (call after the
   threads are done and the last references are dropped). */
static void ftc_check_all_freed(tgs_ctx *ctx)
{
    tg_safepoint();                      /* merge what was queued to this thread */
    tg_gc_collect(-1);                   /* hot objects are freed by a collection */
    long made = __atomic_load_n(&ftc_made, __ATOMIC_RELAXED);
    long freed = __atomic_load_n(&ftc_deallocs, __ATOMIC_RELAXED);
    TGS_CHECK(ctx, made == freed, "%ld objects made, %ld deallocated (expected each exactly once)", made, freed);
}

/* ============================================================ ft_append_exact */

#define FA_APPENDS 5000
#define FA_BASE    (INT64_C(1) << 33)

static tg_obj *fa_list;
static int fa_appenders;

static void fa_worker(tgs_worker *w)
{
    tgs_ctx *ctx = w->ctx;
    if (w->index < fa_appenders) {
        for (int i = 0; i < FA_APPENDS && !tgs_failures(ctx); i++) {
            tg_obj *v = tg_int(FA_BASE * (w->index + 1) + i);
            if (!v || tg_list_append(fa_list, v) < 0) {
                tgs_fail(ctx, "thread %d: append %d failed: %s", w->index, i, tg_error_message());
                tg_xdecref(v);
                return;
            }
            tg_decref(v);
            tgs_op(w);
            if (tgs_below(&w->rng, 32) == 0) tgs_pause(w);
        }
        return;
    }
    /* readers: lock-free gets of whatever is there */
    for (int i = 0; i < FA_APPENDS && !tgs_failures(ctx); i++) {
        size_t n = tg_list_len(fa_list);
        if (n) {
            ptrdiff_t j = (ptrdiff_t)tgs_below(&w->rng, n);
            tg_obj *v = tg_list_get(fa_list, j);
            if (!TGS_CHECK(ctx, v != NULL, "list[%td] of %zu (append-only) failed: %s", j, n, tg_error_message()))
                return;
            int64_t x = tg_int_value(v);
            TGS_CHECK(ctx, x >= FA_BASE && x / FA_BASE <= fa_appenders && x % FA_BASE < FA_APPENDS,
                      "list[%td] == %" PRId64 ": no thread appended that", j, x);
            tg_decref(v);
        }
        tgs_op(w);
        if (tgs_below(&w->rng, 32) == 0) tgs_pause(w);
    }
}

static int fa_run(tgs_ctx *ctx)
{
    int nt = ctx->threads < 2 ? 2 : ctx->threads;
    fa_appenders = nt > 2 ? nt - 1 : nt;          /* one reader from 3 threads up */
    fa_list = tg_list_new(0);
    if (!fa_list) return tgs_fail(ctx, "tg_list_new failed");
    tgs_run_threads(ctx, nt, fa_worker, NULL);
    size_t n = tg_list_len(fa_list), want = (size_t)fa_appenders * FA_APPENDS;
    TGS_CHECK(ctx, n == want, "len(list) == %zu after %d threads x %d appends with no user lock, expected exactly %zu",
              n, fa_appenders, FA_APPENDS, want);
    uint32_t *seen = calloc((size_t)fa_appenders * FA_APPENDS, sizeof *seen);
    int bad = 0;
    for (size_t i = 0; seen && i < n && bad < 3; i++) {
        tg_obj *v = tg_list_get(fa_list, (ptrdiff_t)i);
        int64_t x = v ? tg_int_value(v) : -1;
        int64_t t = x / FA_BASE - 1, k = x % FA_BASE;
        if (!v || t < 0 || t >= fa_appenders || k >= FA_APPENDS) {
            bad++; tgs_fail(ctx, "list[%zu] == %" PRId64 " is not an appended value", i, x);
        } else if (seen[t * FA_APPENDS + k]++) {
            bad++; tgs_fail(ctx, "list[%zu]: thread %" PRId64 "'s item %" PRId64 " appears twice", i, t, k);
        } else if (tg_refcount(v) != 2) {
            bad++; tgs_fail(ctx, "list[%zu]: refcount %" PRIdPTR ", expected 2 (the list's + ours)", i, tg_refcount(v));
        }
        tg_xdecref(v);
    }
    free(seen);
    tg_decref(fa_list);
    return tgs_failures(ctx) ? TGS_FAILED : TGS_OK;
}

const tgs_scenario tgs_scen_ft_append_exact = {
    .name = "ft_append_exact",
    .description = "threads append to one list with no user lock while a reader gets items lock-free",
    .invariants = "len == appenders x 5,000 exactly; every item once; refcount 2 with our reference; "
                  "readers only ever see appended values",
    .run = fa_run,
};

/* ========================================================= ft_biased_handoff */

#define BH_SLOTS 64
#define BH_OPS   4000

static tg_obj *bh_slot[BH_SLOTS];       /* __atomic exchange only; each holds one reference */

static void bh_worker(tgs_worker *w)
{
    tgs_ctx *ctx = w->ctx;
    tg_obj *mine[8] = { 0 };            /* references this thread holds */
    uint64_t serial = (uint64_t)w->index << 40 | ctx->round << 20;
    for (int i = 0; i < BH_OPS && !tgs_failures(ctx); i++) {
        uint64_t r = tgs_next(&w->rng);
        int s = (int)(r % BH_SLOTS), m = (int)((r >> 8) % 8);
        switch ((r >> 16) % 6) {
        case 0: {                       /* make one, keep a reference, publish one */
            tg_obj *o = ftc_new(serial++);
            if (!o) { tgs_fail(ctx, "tg_new failed: %s", tg_error_message()); return; }
            tg_incref(o);
            tg_obj *old = __atomic_exchange_n(&bh_slot[s], o, __ATOMIC_ACQ_REL);
            if (old) tg_decref(old);
            if (mine[m]) tg_decref(mine[m]);
            mine[m] = o;
            break;
        }
        case 1: case 2: {               /* take one from a slot: another thread's, usually */
            tg_obj *o = __atomic_exchange_n(&bh_slot[s], NULL, __ATOMIC_ACQ_REL);
            if (!o) break;
            TGS_CHECK(ctx, ftc_ok(o), "object taken from slot %d: cookie broken (freed while referenced)", s);
            tg_incref(o);               /* a non-owner's incref/decref pair */
            tg_decref(o);
            if (mine[m]) tg_decref(mine[m]);
            mine[m] = o;
            break;
        }
        case 3: {                       /* put one of ours back (a second reference) */
            if (!mine[m]) break;
            tg_incref(mine[m]);
            tg_obj *old = __atomic_exchange_n(&bh_slot[s], mine[m], __ATOMIC_ACQ_REL);
            if (old) tg_decref(old);
            break;
        }
        case 4:                         /* drop ours */
            if (mine[m]) {
                TGS_CHECK(ctx, ftc_ok(mine[m]), "held object's cookie broken (freed while referenced)");
                tg_decref(mine[m]);
                mine[m] = NULL;
            }
            break;
        default: {                      /* a container holding it, dropped by us */
            if (!mine[m]) break;
            tg_obj *t = tg_tuple(2, mine[m], mine[m]);
            if (t) tg_decref(t); else tgs_fail(ctx, "tg_tuple failed: %s", tg_error_message());
        }
        }
        tgs_op(w);
        if ((r >> 32) % 16 == 0) tgs_pause(w);
    }
    for (int m = 0; m < 8; m++) tg_xdecref(mine[m]);
    /* Half the threads exit with references they made still in the slots
       (their owner gone): the next wave, or the main thread, drops them. */
    if (w->index % 2 == 0) w->no_detach = (tgs_next(&w->rng) & 1) != 0;
}

static int bh_run(tgs_ctx *ctx)
{
    if (ftc_setup(ctx) < 0) return TGS_FAILED;
    memset(bh_slot, 0, sizeof bh_slot);
    int nt = ctx->threads < 2 ? 2 : ctx->threads;
    for (int wave = 0; wave < 2 && !tgs_failures(ctx); wave++)
        tgs_run_threads(ctx, nt, bh_worker, NULL);
    for (int s = 0; s < BH_SLOTS; s++) {
        tg_obj *o = __atomic_exchange_n(&bh_slot[s], NULL, __ATOMIC_ACQ_REL);
        if (o) { TGS_CHECK(ctx, ftc_ok(o), "slot %d: cookie broken at the end", s); tg_decref(o); }
    }
    ftc_check_all_freed(ctx);
    return tgs_failures(ctx) ? TGS_FAILED : TGS_OK;
}

const tgs_scenario tgs_scen_ft_biased_handoff = {
    .name = "ft_biased_handoff",
    .description = "embedder objects made by one thread are taken, increfed/decrefed and dropped by others "
                   "through a shared exchange array; two waves, owners exiting with references outstanding",
    .invariants = "cookie intact whenever referenced; every object deallocated exactly once by the end of the round",
    .run = bh_run,
};

/* ============================================================== ft_hot_reads */

#define HR_KEYS 4
#define HR_OPS  6000

static tg_obj *hr_dict, *hr_list;

static void hr_worker(tgs_worker *w)
{
    tgs_ctx *ctx = w->ctx;
    bool writer = w->index == 0;
    for (int i = 0; i < HR_OPS && !tgs_failures(ctx); i++) {
        uint64_t r = tgs_next(&w->rng);
        int k = (int)(r % HR_KEYS);
        if (writer && (r >> 8) % 16 == 0) {     /* replace a value in both containers */
            tg_obj *v = ftc_new((uint64_t)i);
            tg_obj *key = tg_int(k + 100);
            if (!v || tg_dict_set(hr_dict, key, v) < 0 || tg_list_set(hr_list, k, v) < 0)
                tgs_fail(ctx, "replace failed: %s", tg_error_message());
            tg_xdecref(v);
            tg_decref(key);
        } else {
            tg_obj *key = tg_int(k + 100);
            tg_obj *a = tg_dict_get(hr_dict, key);
            tg_obj *b = tg_list_get(hr_list, k);
            TGS_CHECK(ctx, a && b, "dict/list read of key %d failed: %s", k, tg_error_message());
            if (a) { TGS_CHECK(ctx, ftc_ok(a), "dict value's cookie broken (freed while referenced)"); tg_decref(a); }
            if (b) { TGS_CHECK(ctx, ftc_ok(b), "list item's cookie broken (freed while referenced)"); tg_decref(b); }
            tg_decref(key);
        }
        tgs_op(w);
        if ((r >> 32) % 64 == 0) tgs_pause(w);
    }
}

static int hr_run(tgs_ctx *ctx)
{
    if (ftc_setup(ctx) < 0) return TGS_FAILED;
    hr_dict = tg_dict_new();
    hr_list = tg_list_new(0);
    if (!hr_dict || !hr_list) return tgs_fail(ctx, "container allocation failed");
    for (int k = 0; k < HR_KEYS; k++) {
        tg_obj *v = ftc_new(1000 + (uint64_t)k), *key = tg_int(k + 100);
        tg_dict_set(hr_dict, key, v);
        tg_list_append(hr_list, v);
        tg_decref(v);
        tg_decref(key);
    }
    tgs_run_threads(ctx, ctx->threads, hr_worker, NULL);
    tg_decref(hr_dict);
    tg_decref(hr_list);
    ftc_check_all_freed(ctx);
    return tgs_failures(ctx) ? TGS_FAILED : TGS_OK;
}

const tgs_scenario tgs_scen_ft_hot_reads = {
    .name = "ft_hot_reads",
    .description = "all threads read the same few values out of one dict and one list while a writer replaces them",
    .invariants = "every read returns a live value (cookie intact); every value deallocated exactly once "
                  "after the containers are dropped and a collection (per-thread counts folded)",
    .run = hr_run,
};

/* ============================================================ ft_bias_revoke
   Owner-biased locks (sync/bias.c). Thread 0 makes a fresh list and dict
   every wave and keeps mutating them through its biased path; halfway it
   publishes them, and the other threads append, set, delete and read them
   lock-free — each first touch revokes the bias while the owner may be in
   the middle of an append that is growing the list in place, or a dict
   insert that is resizing the table. Checked: nothing lost or duplicated,
   every value read is one somebody stored. */

#define BR_WAVES   120
#define BR_OWNER   200       /* owner's appends/inserts per wave, half before publishing */
#define BR_OTHER   60        /* each other thread's, per wave */
#define BR_BASE    (INT64_C(1) << 34)

static tg_obj *br_list, *br_dict;        /* the wave's objects; thread 0 holds the references */
static int br_wave;                      /* __atomic: published wave, 1-based */
static int br_done;                      /* __atomic: other threads finished with the wave */
static int br_exited;                    /* __atomic: other threads that returned */

/* The other threads: wait for wave `want` to be published, or a failure. */
static void br_wait_wave(tgs_worker *w, int want)
{
    while (__atomic_load_n(&br_wave, __ATOMIC_ACQUIRE) < want && !tgs_failures(w->ctx))
        if (!tgs_wait_a_little(w->ctx)) { tgs_fail(w->ctx, "thread %d: wave wait timed out", w->index); return; }
}

/* Thread 0: wait until every other thread is done with this wave's objects
   (finished it, or returned) — even after a failure, since they may still be
   using them. False past the hard deadline: then the objects are leaked
   rather than freed under someone. */
static bool br_wait_done(tgs_worker *w, int want)
{
    while (__atomic_load_n(&br_done, __ATOMIC_ACQUIRE) < want
           && __atomic_load_n(&br_exited, __ATOMIC_ACQUIRE) < w->nthreads - 1)
        if (!tgs_wait_a_little(w->ctx)) { tgs_fail(w->ctx, "thread 0: wave wait timed out"); return false; }
    return true;
}

static bool br_store(tgs_worker *w, int64_t x)
{
    tg_obj *v = tg_int(x);
    /* the dict first: a reader that finds v in the list looks it up there */
    bool ok = v && tg_dict_set(br_dict, v, v) == 0 && tg_list_append(br_list, v) == 0;
    if (!ok) tgs_fail(w->ctx, "thread %d: append/set of %" PRId64 " failed: %s", w->index, x, tg_error_message());
    tg_xdecref(v);
    tgs_op(w);
    return ok;
}

static void br_read(tgs_worker *w, int nthreads)
{
    size_t n = tg_list_len(br_list);
    if (!n) return;
    tg_obj *v = tg_list_get(br_list, (ptrdiff_t)tgs_below(&w->rng, n));
    if (!TGS_CHECK(w->ctx, v != NULL, "thread %d: list get failed: %s", w->index, tg_error_message())) return;
    int64_t x = tg_int_value(v);
    TGS_CHECK(w->ctx, x >= BR_BASE && x / BR_BASE <= nthreads, "thread %d: read %" PRId64 ", never stored", w->index, x);
    tg_obj *d = tg_dict_get(br_dict, v);     /* every list item is a dict key, stored first */
    TGS_CHECK(w->ctx, d == v, "thread %d: dict[%" PRId64 "] is %p, expected the key itself", w->index, x, (void *)d);
    tg_xdecref(d);
    tg_decref(v);
}

static void br_worker(tgs_worker *w)
{
    int nt = w->nthreads;
    for (int wave = 1; wave <= BR_WAVES && !tgs_failures(w->ctx); wave++) {
        if (w->index == 0) {
            br_list = tg_list_new(0);
            br_dict = tg_dict_new();
            if (!br_list || !br_dict) { tgs_fail(w->ctx, "tg_list_new/tg_dict_new failed"); return; }
            int64_t base = BR_BASE * 1 + (int64_t)wave * 100000;
            for (int i = 0; i < BR_OWNER / 2; i++) if (!br_store(w, base + i)) return;
            __atomic_store_n(&br_wave, wave, __ATOMIC_RELEASE);      /* publish */
            for (int i = BR_OWNER / 2; i < BR_OWNER; i++) {
                if (!br_store(w, base + i)) return;
                if (tgs_below(&w->rng, 16) == 0) tgs_pause(w);
            }
            if (!br_wait_done(w, (nt - 1) * wave)) return;
            size_t want = BR_OWNER + (size_t)(nt - 1) * BR_OTHER;
            TGS_CHECK(w->ctx, tg_list_len(br_list) == want && tg_dict_len(br_dict) == want,
                      "wave %d: len(list) %zu, len(dict) %zu, expected %zu each", wave,
                      tg_list_len(br_list), tg_dict_len(br_dict), want);
            tg_obj *seen = tg_dict_new();
            for (size_t i = 0; seen && i < tg_list_len(br_list); i++) {
                tg_obj *v = tg_list_get(br_list, (ptrdiff_t)i);
                if (!v) { tgs_fail(w->ctx, "wave %d: list[%zu] unreadable", wave, i); break; }
                if (tg_dict_contains(seen, v) == 1)
                    tgs_fail(w->ctx, "wave %d: %" PRId64 " appended twice", wave, tg_int_value(v));
                tg_dict_set(seen, v, v);
                tg_decref(v);
            }
            tg_xdecref(seen);
            tg_decref(br_list);
            tg_decref(br_dict);
        } else {
            br_wait_wave(w, wave);
            if (tgs_failures(w->ctx)) break;
            int64_t base = BR_BASE * (w->index + 1) + (int64_t)wave * 100000;
            for (int i = 0; i < BR_OTHER && !tgs_failures(w->ctx); i++) {
                /* first touch at a random point: a read, an append or a set */
                if (tgs_below(&w->rng, 2)) br_read(w, nt);
                if (!br_store(w, base + i)) break;
                if (tgs_below(&w->rng, 16) == 0) tgs_pause(w);
            }
            __atomic_fetch_add(&br_done, 1, __ATOMIC_RELEASE);   /* done with thread 0's objects */
        }
    }
    if (w->index) __atomic_fetch_add(&br_exited, 1, __ATOMIC_RELEASE);
}

static int br_run(tgs_ctx *ctx)
{
    int nt = ctx->threads < 2 ? 2 : ctx->threads;
    __atomic_store_n(&br_wave, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&br_done, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&br_exited, 0, __ATOMIC_RELAXED);
    tgs_run_threads(ctx, nt, br_worker, NULL);
    return tgs_failures(ctx) ? TGS_FAILED : TGS_OK;
}

const tgs_scenario tgs_scen_ft_bias_revoke = {
    .name = "ft_bias_revoke",
    .description = "an owner mutates its new list and dict without locks while other threads start using them",
    .invariants = "each wave: len(list) == len(dict) == every append made, no value twice, reads see stored values "
                  "and the dict maps every listed int to itself",
    .run = br_run,
};

/* ================================================================ ft_local_gc */
/* Local young collections (free-threaded mode: a thread collects its own
   young list with the world running, when nothing on it can be reached by
   another thread without revoking a bias; gc/collect.c). Every thread makes
   private cyclic garbage — lists, dicts, tuples, plain objects, each cycle
   holding a counted object — while the threads also hand young lists to
   each other through a shared exchange array, reading and mutating what
   they take (the first touch revokes the maker's bias, possibly while the
   maker is examining its young list) and hanging their own young lists,
   sometimes cyclically, on other threads' ones (in phases: a young list
   another thread touched makes its maker fall back to stopping the world
   until its next collection). Low thresholds: automatic
   collections, local or (on fallback) stopping the world, run all the time;
   now and then a thread collects the generations explicitly.
   A unit is X = [counted s, int s, M, extras...] with M = [X]; an extra is
   a counted object, or a list [counted, (maybe) another unit]. */

#define LG_SLOTS 16
#define LG_OPS   3000

static tg_obj *lg_slot[LG_SLOTS];        /* __atomic exchange only; each holds one reference */
void _tg_gc_local_counts(uint64_t *runs, uint64_t *runs1, uint64_t *fallbacks);   /* gc/gc_internal.h */
static uint64_t lg_runs(void) { uint64_t r; _tg_gc_local_counts(&r, NULL, NULL); return r; }
static uint64_t lg_runs1(void) { uint64_t r; _tg_gc_local_counts(NULL, &r, NULL); return r; }

static tg_obj *lg_unit(uint64_t serial)
{
    tg_obj *x = tg_list_new(0), *m = tg_list_new(0), *c = ftc_new(serial), *n = tg_int((int64_t)serial);
    bool ok = x && m && c && n && tg_list_append(x, c) == 0 && tg_list_append(x, n) == 0
              && tg_list_append(x, m) == 0 && tg_list_append(m, x) == 0;
    tg_xdecref(c);
    tg_xdecref(n);
    tg_xdecref(m);
    if (!ok) { tg_xdecref(x); return NULL; }
    return x;
}

static bool lg_counted_ok(tgs_worker *w, tg_obj *c, const char *what)
{
    return TGS_CHECK(w->ctx, c && tg_typeof(c) == ftc_type && ftc_ok(c),
                     "thread %d: %s is not an intact counted object (freed while reachable?)", w->index, what);
}

/* A tree of tuples of atoms (ints), which local collections untrack, children
   first: root = (node, leaf1, v[, other]), node = (leaf1, leaf2), leaf1 =
   (v, v + 1), leaf2 = (v + 2, None). other: a tree found in a held unit
   (another thread's, often), which keeps root tracked. */
static tg_obj *lg_tree(int64_t v, tg_obj *other)
{
    tg_obj *a = tg_int(v), *b = tg_int(v + 1), *c = tg_int(v + 2);
    tg_obj *leaf1 = a && b ? tg_tuple(2, a, b) : NULL;
    tg_obj *leaf2 = c ? tg_tuple(2, c, tg_none()) : NULL;
    tg_obj *node = leaf1 && leaf2 ? tg_tuple(2, leaf1, leaf2) : NULL;
    tg_obj *root = !node ? NULL : other ? tg_tuple(4, node, leaf1, a, other) : tg_tuple(3, node, leaf1, a);
    tg_xdecref(a); tg_xdecref(b); tg_xdecref(c);
    tg_xdecref(leaf1); tg_xdecref(leaf2); tg_xdecref(node);
    return root;
}

static int64_t lg_int_at(tg_obj *t, ptrdiff_t i)
{
    tg_obj *x = tg_tuple_get(t, i);
    int64_t v = x && tg_typeof(x) == tg_type_int() ? tg_int_value(x) : INT64_MIN;
    tg_xdecref(x);
    return v;
}

/* Read all of a tree of lg_tree (another thread's, often, its owner's local
   collections untracking it meanwhile). */
static void lg_check_tree(tgs_worker *w, tg_obj *t, int depth)
{
    tgs_ctx *ctx = w->ctx;
    size_t n = tg_tuple_len(t);
    if (!TGS_CHECK(ctx, n == 3 || n == 4, "thread %d: tree of %zu items", w->index, n)) return;
    tg_obj *node = tg_tuple_get(t, 0), *leaf1 = tg_tuple_get(t, 1);
    int64_t v = lg_int_at(t, 2);
    if (TGS_CHECK(ctx, node && leaf1 && tg_typeof(node) == tg_type_tuple() && tg_tuple_len(node) == 2,
                  "thread %d: tree[0] is not a pair", w->index)) {
        tg_obj *l1 = tg_tuple_get(node, 0), *l2 = tg_tuple_get(node, 1);
        TGS_CHECK(ctx, l1 == leaf1, "thread %d: tree[0][0] is not tree[1]", w->index);
        TGS_CHECK(ctx, lg_int_at(leaf1, 0) == v && lg_int_at(leaf1, 1) == v + 1,
                  "thread %d: a leaf of tree %" PRId64 " holds the wrong ints", w->index, v);
        TGS_CHECK(ctx, l2 && lg_int_at(l2, 0) == v + 2, "thread %d: the other leaf of tree %" PRId64 " is wrong", w->index, v);
        tg_xdecref(l1);
        tg_xdecref(l2);
    }
    tg_xdecref(node);
    tg_xdecref(leaf1);
    if (n == 4 && depth < 3) {
        tg_obj *o = tg_tuple_get(t, 3);
        if (TGS_CHECK(ctx, o && tg_typeof(o) == tg_type_tuple(), "thread %d: tree[3] is not a tree", w->index))
            lg_check_tree(w, o, depth + 1);
        tg_xdecref(o);
    }
}

/* Read all of x (another thread's, usually: the reads revoke its biases). */
static void lg_check_unit(tgs_worker *w, tg_obj *x, int depth)
{
    tgs_ctx *ctx = w->ctx;
    size_t n = tg_list_len(x);
    if (!TGS_CHECK(ctx, n >= 3, "thread %d: unit has %zu items, at least 3 expected", w->index, n)) return;
    tg_obj *c = tg_list_get(x, 0), *s = tg_list_get(x, 1), *m = tg_list_get(x, 2);
    if (lg_counted_ok(w, c, "unit[0]") && TGS_CHECK(ctx, s && tg_typeof(s) == tg_type_int(), "thread %d: unit[1] not an int", w->index))
        TGS_CHECK(ctx, ((ftc_payload *)tg_payload(c))->serial == (uint64_t)tg_int_value(s),
                  "thread %d: unit serial %" PRIu64 " vs %" PRId64, w->index, ((ftc_payload *)tg_payload(c))->serial, tg_int_value(s));
    if (TGS_CHECK(ctx, m && tg_typeof(m) == tg_type_list() && tg_list_len(m) == 1, "thread %d: unit[2] is not [unit]", w->index)) {
        tg_obj *back = tg_list_get(m, 0);
        TGS_CHECK(ctx, back == x, "thread %d: unit[2][0] is %p, not the unit %p", w->index, (void *)back, (void *)x);
        tg_xdecref(back);
    }
    tg_xdecref(c);
    tg_xdecref(s);
    tg_xdecref(m);
    for (size_t i = 3; i < n; i++) {
        tg_obj *e = tg_list_get(x, (ptrdiff_t)i);
        if (!e) { tg_error_clear(); break; }          /* popped meanwhile by a holder */
        if (tg_typeof(e) == tg_type_list()) {
            size_t k = tg_list_len(e);
            tg_obj *e0 = k ? tg_list_get(e, 0) : NULL;
            lg_counted_ok(w, e0, "extra[0]");
            tg_xdecref(e0);
            if (k > 1 && depth < 2) {
                tg_obj *u = tg_list_get(e, 1);
                if (u) lg_check_unit(w, u, depth + 1); else tg_error_clear();
                tg_xdecref(u);
            }
        } else if (tg_typeof(e) == tg_type_tuple()) {
            lg_check_tree(w, e, 0);
        } else {
            lg_counted_ok(w, e, "extra");
        }
        tg_decref(e);
    }
}

/* Private cyclic garbage of one of four shapes, holding a counted object.
   no_tuple: not the shape through a tuple (a tuple on a thread's lists
   makes its local collection of generation 1 fall back: without tuples
   for a while, local collections of generation 1 run too). */
static void lg_private(tgs_worker *w, uint64_t serial, bool no_tuple)
{
    tg_obj *c = ftc_new(serial), *a = NULL, *b = NULL, *k = NULL;
    bool ok = c != NULL;
    unsigned shape = (unsigned)tgs_below(&w->rng, 4);
    if (no_tuple && shape == 2) shape = 0;
    switch (shape) {
    case 0:                                            /* a <-> b, a holds c */
        ok = ok && (a = tg_list_new(0)) && (b = tg_list_new(0)) && tg_list_append(a, b) == 0
             && tg_list_append(b, a) == 0 && tg_list_append(a, c) == 0;
        break;
    case 1:                                            /* d = {k: l}, l = [d, c] */
        ok = ok && (a = tg_dict_new()) && (b = tg_list_new(0)) && (k = tg_int((int64_t)serial))
             && tg_dict_set(a, k, b) == 0 && tg_list_append(b, a) == 0 && tg_list_append(b, c) == 0;
        break;
    case 2:                                            /* l = [(l, c)]: through a tuple */
        ok = ok && (a = tg_list_new(0)) && (b = tg_tuple(2, a, c)) && tg_list_append(a, b) == 0;
        break;
    default:                                           /* o.self = o, o.c = c */
        ok = ok && (a = tg_object_new(NULL)) && tg_setattr(a, "self", a) == 0 && tg_setattr(a, "c", c) == 0;
    }
    if (!ok) tgs_fail(w->ctx, "thread %d: building private garbage failed: %s", w->index, tg_error_message());
    tg_xdecref(k);
    tg_xdecref(a);
    tg_xdecref(b);
    tg_xdecref(c);
}

static void lg_worker(tgs_worker *w)
{
    tgs_ctx *ctx = w->ctx;
    tg_obj *mine[4] = { 0 };            /* units this thread holds (its own or taken) */
    uint64_t serial = (uint64_t)(w->index + 1) << 40 | ctx->round << 24;
    for (int i = 0; i < LG_OPS && !tgs_failures(ctx); i++) {
        uint64_t r = tgs_next(&w->rng);
        int s = (int)(r % LG_SLOTS), m = (int)((r >> 8) % 4);
        /* phases: 200 ops of private garbage only (local collections can
           run; every other time without tuples, so that local collections
           of generation 1 can too), then 100 that also share */
        unsigned op = i % 300 < 200 ? 0 : (unsigned)((r >> 16) % 32);
        if (op < 20) {                                 /* private garbage */
            lg_private(w, serial++, op == 0 && (i / 300) % 2 == 1);
        } else if (op < 22) {                          /* publish a new unit of ours */
            tg_obj *u = lg_unit(serial++);
            if (!u) { tgs_fail(ctx, "thread %d: lg_unit failed: %s", w->index, tg_error_message()); break; }
            tg_obj *old = __atomic_exchange_n(&lg_slot[s], u, __ATOMIC_ACQ_REL);
            if (old) { lg_check_unit(w, old, 0); tg_xdecref(mine[m]); mine[m] = old; }
        } else if (op < 25) {                          /* take one: another thread's, usually */
            tg_obj *u = __atomic_exchange_n(&lg_slot[s], NULL, __ATOMIC_ACQ_REL);
            if (u) { lg_check_unit(w, u, 0); tg_xdecref(mine[m]); mine[m] = u; }
        } else if (op < 28 && mine[m]) {              /* mutate a held unit */
            tg_obj *e;
            unsigned kind = (unsigned)tgs_below(&w->rng, 3);
            if (kind == 0) {
                e = ftc_new(serial++);
            } else if (kind == 1) {                    /* a tuple tree, maybe holding one the unit holds */
                tg_obj *other = NULL;
                size_t k = tg_list_len(mine[m]);
                if (k > 3) {
                    other = tg_list_get(mine[m], (ptrdiff_t)(3 + tgs_below(&w->rng, k - 3)));
                    if (!other) tg_error_clear();
                    else if (tg_typeof(other) != tg_type_tuple()) { tg_decref(other); other = NULL; }
                }
                e = lg_tree((int64_t)(serial++ & 0xffffffffff), other);
                tg_xdecref(other);
            } else {                                   /* a young list of ours, maybe back to a unit */
                e = tg_list_new(0);
                tg_obj *c = ftc_new(serial++);
                if (!e || !c || tg_list_append(e, c) < 0) tgs_fail(ctx, "thread %d: extra list failed", w->index);
                tg_xdecref(c);
                tg_obj *u = __atomic_load_n(&lg_slot[(s + 1) % LG_SLOTS], __ATOMIC_ACQUIRE) ? NULL : mine[(m + 1) % 4];
                if (e && u && tg_list_append(e, u) < 0) tgs_fail(ctx, "thread %d: append unit failed", w->index);
            }
            if (!e || tg_list_append(mine[m], e) < 0) tgs_fail(ctx, "thread %d: append extra failed: %s", w->index, tg_error_message());
            tg_xdecref(e);
            if (tg_list_len(mine[m]) > 6) {
                tg_obj *p = tg_list_pop(mine[m], 3);
                if (p) tg_decref(p); else tg_error_clear();
            }
            lg_check_unit(w, mine[m], 0);
        } else if (op < 30 && mine[m]) {              /* put a held unit back (a second reference) */
            tg_incref(mine[m]);
            tg_obj *old = __atomic_exchange_n(&lg_slot[s], mine[m], __ATOMIC_ACQ_REL);
            if (old) { lg_check_unit(w, old, 0); tg_decref(old); }
        } else if (op < 31) {                          /* drop a held unit */
            tg_xdecref(mine[m]);
            mine[m] = NULL;
        } else if (tgs_below(&w->rng, 16) == 0) {     /* the generations, world stopped */
            if (tg_gc_collect((int)tgs_below(&w->rng, 3)) < 0)
                tgs_fail(ctx, "thread %d: tg_gc_collect failed: %s", w->index, tg_error_message());
        }
        tgs_op(w);
        if ((r >> 40) % 16 == 0) tgs_pause(w);
    }
    for (int m = 0; m < 4; m++) tg_xdecref(mine[m]);
}

static int lg_run(tgs_ctx *ctx)
{
    if (ftc_setup(ctx) < 0) return TGS_FAILED;
    memset(lg_slot, 0, sizeof lg_slot);
    long th[3];
    tg_gc_get_threshold(th);
    tg_gc_set_threshold(200, 3, 10);   /* generation 1 often: local rounds and fallbacks */
    uint64_t runs = lg_runs();
    int nt = ctx->threads < 2 ? 2 : ctx->threads;
    tgs_run_threads(ctx, nt, lg_worker, NULL);
    for (int s = 0; s < LG_SLOTS; s++) {
        tg_obj *o = __atomic_exchange_n(&lg_slot[s], NULL, __ATOMIC_ACQ_REL);
        if (o) tg_decref(o);
    }
    if (tg_current_mode() == TG_MODE_FREE_THREADED && !tgs_failures(ctx))
        TGS_CHECK(ctx, lg_runs() > runs || (_tg_rt.obj_lock_birth & _TG_BIAS_SHARED),
                  "no local young collection ran (free-threaded mode)");
    tg_gc_set_threshold(th[0], th[1], th[2]);
    tg_gc_collect(-1);                  /* what the slots held, and the drops QSBR deferred */
    ftc_check_all_freed(ctx);           /* (one more collection) */
    return tgs_failures(ctx) ? TGS_FAILED : TGS_OK;
}

const tgs_scenario tgs_scen_ft_local_gc = {
    .name = "ft_local_gc",
    .description = "threads make private cycles (lists, dicts, tuples, objects) while handing young lists to each "
                   "other through a shared array, reading and mutating them; low thresholds, so local young "
                   "collections and local collections of generation 1 (aged lists) run beside it all; units "
                   "also hold trees of tuples of ints (some holding another thread's tree), which local "
                   "collections untrack while others read them",
    .invariants = "every counted object read through a reachable container is intact (nothing freed while "
                  "reachable), units keep their shape, tuple trees their shape and ints; every counted object deallocated exactly once by the "
                  "end of the round (all garbage freed); local collections ran (free-threaded mode)",
    .run = lg_run,
};

/* ================================================================ ft_aged_gc */

/* Local collections of generation 1 (docs/free-threading.md, "Aged
   lists"): each thread keeps a few private units (a <-> b, a holding a
   counted object) that survive its local young collections into its aged
   list, replaces them now and then (the old unit is then cyclic garbage on
   the aged list), and makes private cyclic garbage without tuples. Rarely
   it hands a unit to the others through a shared array; the taker reads it
   (revoking the owner's biases, possibly during the owner's examination)
   and drops it (possibly the last reference: a zombie on the owner's young
   or aged list). Low thresholds: a round of generation 1 every 3 young
   collections; now and then a collection of the generations. */

#define AG_SLOTS 8
#define AG_KEEP  8
#define AG_OPS   3000

static tg_obj *ag_slot[AG_SLOTS];        /* __atomic exchange only; each holds one reference */

static tg_obj *ag_unit(uint64_t serial)
{
    tg_obj *a = tg_list_new(0), *b = tg_list_new(0), *c = ftc_new(serial);
    bool ok = a && b && c && tg_list_append(a, c) == 0 && tg_list_append(a, b) == 0 && tg_list_append(b, a) == 0;
    tg_xdecref(b);
    tg_xdecref(c);
    if (!ok) { tg_xdecref(a); return NULL; }
    return a;
}

static void ag_check(tgs_worker *w, tg_obj *a)
{
    tgs_ctx *ctx = w->ctx;
    if (!TGS_CHECK(ctx, tg_list_len(a) == 2, "thread %d: unit has %zu items, 2 expected", w->index, tg_list_len(a)))
        return;
    tg_obj *c = tg_list_get(a, 0), *b = tg_list_get(a, 1);
    TGS_CHECK(ctx, c && tg_typeof(c) == ftc_type && ftc_ok(c),
              "thread %d: unit[0] is not an intact counted object (freed while reachable?)", w->index);
    if (TGS_CHECK(ctx, b && tg_typeof(b) == tg_type_list() && tg_list_len(b) == 1, "thread %d: unit[1] is not [unit]",
                  w->index)) {
        tg_obj *back = tg_list_get(b, 0);
        TGS_CHECK(ctx, back == a, "thread %d: unit[1][0] is %p, not the unit %p", w->index, (void *)back, (void *)a);
        tg_xdecref(back);
    }
    tg_xdecref(c);
    tg_xdecref(b);
}

static void ag_worker(tgs_worker *w)
{
    tgs_ctx *ctx = w->ctx;
    tg_obj *keep[AG_KEEP] = { 0 };
    uint64_t serial = (uint64_t)(w->index + 1) << 40 | ctx->round << 24 | 1u << 23;
    for (int i = 0; i < AG_OPS && !tgs_failures(ctx); i++) {
        uint64_t r = tgs_next(&w->rng);
        int k = (int)(r % AG_KEEP), s = (int)((r >> 8) % AG_SLOTS);
        /* (hand-overs, takes and collections of the generations rare
           enough that most rounds of generation 1 find every thread's
           lists eligible: a unit another thread has read keeps its owner's
           lists from being eligible until it dies or reaches generation 2) */
        unsigned op = (unsigned)((r >> 16) % 10000);
        if (op < 7000) {                               /* private garbage, no tuple */
            lg_private(w, serial++, true);
        } else if (op < 9955) {                        /* replace a kept unit: the old one is garbage */
            tg_obj *u = ag_unit(serial++);
            if (!u) { tgs_fail(ctx, "thread %d: ag_unit failed: %s", w->index, tg_error_message()); break; }
            if (keep[k]) { ag_check(w, keep[k]); tg_decref(keep[k]); }
            keep[k] = u;
        } else if (op < 9975) {                        /* hand one over */
            if (keep[k]) {
                tg_obj *old = __atomic_exchange_n(&ag_slot[s], keep[k], __ATOMIC_ACQ_REL);
                keep[k] = NULL;
                if (old) { ag_check(w, old); tg_decref(old); }
            }
        } else if (op < 9995) {                        /* take one: another thread's, usually */
            tg_obj *u = __atomic_exchange_n(&ag_slot[s], NULL, __ATOMIC_ACQ_REL);
            if (u) { ag_check(w, u); tg_decref(u); }
        } else if (tg_gc_collect((int)tgs_below(&w->rng, 3)) < 0) {   /* the generations, world stopped */
            tgs_fail(ctx, "thread %d: tg_gc_collect failed: %s", w->index, tg_error_message());
        }
        tgs_op(w);
        if ((r >> 40) % 16 == 0) tgs_pause(w);
    }
    for (int k = 0; k < AG_KEEP; k++) if (keep[k]) { ag_check(w, keep[k]); tg_decref(keep[k]); }
}

static int ag_run(tgs_ctx *ctx)
{
    if (ftc_setup(ctx) < 0) return TGS_FAILED;
    memset(ag_slot, 0, sizeof ag_slot);
    long th[3];
    tg_gc_get_threshold(th);
    tg_gc_set_threshold(100, 2, 10);
    uint64_t runs1 = lg_runs1();
    int nt = ctx->threads < 2 ? 2 : ctx->threads;
    tgs_run_threads(ctx, nt, ag_worker, NULL);
    for (int s = 0; s < AG_SLOTS; s++) {
        tg_obj *o = __atomic_exchange_n(&ag_slot[s], NULL, __ATOMIC_ACQ_REL);
        if (o) tg_decref(o);
    }
    /* Local collections of generation 1 must happen — but a round is
       short, and under chaos with more threads than CPUs a round can pass
       with every attempt ineligible (ASan, chaos, 4 threads: one round in a
       90-second run had none). So: not three rounds in a row. The unit
       tests (tests/test_gc_ft.c) check them deterministically. */
    static int dry_rounds;
    if (ctx->round == 0) dry_rounds = 0;
    if (tg_current_mode() == TG_MODE_FREE_THREADED && !tgs_failures(ctx)
        && !(_tg_rt.obj_lock_birth & _TG_BIAS_SHARED)) {
        dry_rounds = lg_runs1() > runs1 ? 0 : dry_rounds + 1;
        TGS_CHECK(ctx, dry_rounds < 3, "no local collection of generation 1 ran in %d rounds in a row "
                  "(free-threaded mode)", dry_rounds);
    }
    tg_gc_set_threshold(th[0], th[1], th[2]);
    tg_gc_collect(-1);
    ftc_check_all_freed(ctx);
    return tgs_failures(ctx) ? TGS_FAILED : TGS_OK;
}

const tgs_scenario tgs_scen_ft_aged_gc = {
    .name = "ft_aged_gc",
    .description = "threads keep private cycles that age into their aged lists and drop them later, make private "
                   "cyclic garbage, and now and then hand a cycle to another thread, which reads and drops it; "
                   "low thresholds, so local collections of generation 1 run beside it all",
    .invariants = "every counted object read through a reachable unit is intact, units keep their shape; every "
                  "counted object deallocated exactly once by the end of the round; local collections of "
                  "generation 1 ran (free-threaded mode; in one of any three rounds in a row)",
    .run = ag_run,
};

/* ======================================================== ft_list_reserve
   Reserved locks (sync/bias.c): a thread that runs many operations in a
   row on a list whose bias is gone keeps its lock between them, and other
   threads take it over — after a time slice, or at once from a critical
   section. And lists no thread has read without the lock grow in place
   (runtime/list.c, list_mark_readers). Every thread works one shared list
   per wave in bursts: appends, pops, reads, tg_sizeof, and critical
   sections that check they are atomic (two appends that land side by
   side, read back by two pops and put back). Thread 0 makes a fresh list
   every wave and drops it at the end while reservations on it may remain, so the next
   wave's list, often at the same address, meets stale sticky slots.
   Checked: the final length is appends - pops, no value twice, every value
   read is one somebody appended. */

#define LR_WAVES  60
#define LR_OPS    1500       /* each thread's operations per wave */
#define LR_BASE   (INT64_C(1) << 35)

static tg_obj *lr_list;                  /* the wave's list; thread 0 holds the reference */
static int lr_wave, lr_done, lr_exited;  /* __atomic */
static long lr_appended, lr_popped;      /* __atomic, per wave */

static bool lr_valid(int64_t x, int nthreads)
{
    return x >= LR_BASE && x / LR_BASE <= nthreads;
}

static bool lr_append(tgs_worker *w, int64_t x)
{
    tg_obj *v = tg_int(x);
    bool ok = v && tg_list_append(lr_list, v) == 0;
    if (!ok) tgs_fail(w->ctx, "thread %d: append failed: %s", w->index, tg_error_message());
    tg_xdecref(v);
    return ok;
}

/* The critical section: two appends that must land side by side, and the
   length moving only by our own doing. Nothing inside allocates an object
   or reads with tg_list_get: both are safepoints, where a stop-the-world
   suspends critical sections (docs/free-threading.md, lock ordering), and
   then the section is not atomic by design. */
static bool lr_section(tgs_worker *w, int64_t *next)
{
    int64_t xa = (*next)++, xb = (*next)++;
    tg_obj *a = tg_int(xa), *b = tg_int(xb), *pa = NULL, *pb = NULL;
    if (!a || !b) { tgs_fail(w->ctx, "thread %d: tg_int failed", w->index); tg_xdecref(a); tg_xdecref(b); return false; }
    bool ok;
    size_t n, m = 0;
    TG_BEGIN_CRITICAL_SECTION(lr_list)
    n = tg_list_len(lr_list);
    ok = tg_list_append(lr_list, a) == 0 && tg_list_append(lr_list, b) == 0;
    if (ok) {
        m = tg_list_len(lr_list);
        pb = tg_list_pop(lr_list, -1);      /* back off the end, in reverse order: side by side? */
        pa = tg_list_pop(lr_list, -1);
        ok = pa == a && pb == b && tg_list_append(lr_list, a) == 0 && tg_list_append(lr_list, b) == 0;
    }
    TG_END_CRITICAL_SECTION()
    ok = TGS_CHECK(w->ctx, ok, "thread %d: a section's two appends were not side by side at the end (%p %p)",
                   w->index, (void *)pa, (void *)pb)
         && TGS_CHECK(w->ctx, m == n + 2, "thread %d: len %zu after two appends inside a section, expected %zu",
                      w->index, m, n + 2);
    tg_xdecref(pa);
    tg_xdecref(pb);
    tg_decref(a);
    tg_decref(b);
    if (ok) __atomic_fetch_add(&lr_appended, 2, __ATOMIC_RELAXED);
    return ok;
}

static void lr_burst(tgs_worker *w, int64_t *next, int nthreads)
{
    unsigned kind = (unsigned)tgs_below(&w->rng, 16), len = 1 + (unsigned)tgs_below(&w->rng, 48);
    if (kind < 8) {                                  /* appends */
        for (unsigned k = 0; k < len; k++) {
            if (!lr_append(w, (*next)++)) return;
            __atomic_fetch_add(&lr_appended, 1, __ATOMIC_RELAXED);
        }
    } else if (kind < 11) {                          /* pops from the end */
        for (unsigned k = 0; k < len / 2; k++) {
            tg_obj *v = tg_list_pop(lr_list, -1);
            if (!v) {
                if (!TGS_CHECK(w->ctx, tg_error() == TG_ERR_INDEX, "thread %d: pop failed: %s", w->index,
                               tg_error_message()))
                    return;
                tg_error_clear();
                break;
            }
            TGS_CHECK(w->ctx, lr_valid(tg_int_value(v), nthreads), "thread %d: popped %" PRId64 ", never appended",
                      w->index, tg_int_value(v));
            __atomic_fetch_add(&lr_popped, 1, __ATOMIC_RELAXED);
            tg_decref(v);
        }
    } else if (kind < 15) {                          /* lock-free reads, tg_sizeof */
        for (unsigned k = 0; k < len; k++) {
            size_t n = tg_list_len(lr_list);
            if (!n) break;
            tg_obj *v = tg_list_get(lr_list, (ptrdiff_t)tgs_below(&w->rng, n));
            if (!v) {                                /* popped meanwhile */
                TGS_CHECK(w->ctx, tg_error() == TG_ERR_INDEX, "thread %d: get failed: %s", w->index, tg_error_message());
                tg_error_clear();
                continue;
            }
            TGS_CHECK(w->ctx, lr_valid(tg_int_value(v), nthreads), "thread %d: read %" PRId64 ", never appended",
                      w->index, tg_int_value(v));
            tg_decref(v);
        }
        TGS_CHECK(w->ctx, tg_sizeof(lr_list) >= sizeof(tg_obj), "thread %d: tg_sizeof too small", w->index);
    } else {
        lr_section(w, next);
    }
    tgs_op(w);
}

static void lr_worker(tgs_worker *w)
{
    int nt = w->nthreads;
    for (int wave = 1; wave <= LR_WAVES && !tgs_failures(w->ctx); wave++) {
        int64_t next = LR_BASE * (w->index + 1) + (int64_t)wave * 1000000;
        if (w->index == 0) {
            __atomic_store_n(&lr_appended, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&lr_popped, 0, __ATOMIC_RELAXED);
            if (!(lr_list = tg_list_new(0))) { tgs_fail(w->ctx, "tg_list_new failed"); return; }
            __atomic_store_n(&lr_wave, wave, __ATOMIC_RELEASE);      /* publish */
        } else {
            while (__atomic_load_n(&lr_wave, __ATOMIC_ACQUIRE) < wave && !tgs_failures(w->ctx))
                if (!tgs_wait_a_little(w->ctx)) { tgs_fail(w->ctx, "thread %d: wave wait timed out", w->index); break; }
            if (tgs_failures(w->ctx)) break;
        }
        for (int i = 0; i < LR_OPS / 16 && !tgs_failures(w->ctx); i++) {
            lr_burst(w, &next, nt);
            if (tgs_below(&w->rng, 4) == 0) tgs_pause(w);
        }
        if (w->index) {
            __atomic_fetch_add(&lr_done, 1, __ATOMIC_RELEASE);   /* done with thread 0's list */
            continue;
        }
        while (__atomic_load_n(&lr_done, __ATOMIC_ACQUIRE) < (nt - 1) * wave
               && __atomic_load_n(&lr_exited, __ATOMIC_ACQUIRE) < nt - 1)
            if (!tgs_wait_a_little(w->ctx)) { tgs_fail(w->ctx, "thread 0: wave wait timed out"); return; }
        long want = __atomic_load_n(&lr_appended, __ATOMIC_RELAXED) - __atomic_load_n(&lr_popped, __ATOMIC_RELAXED);
        TGS_CHECK(w->ctx, (long)tg_list_len(lr_list) == want, "wave %d: len %zu, expected %ld (appends - pops)",
                  wave, tg_list_len(lr_list), want);
        tg_obj *seen = tg_dict_new();
        for (size_t i = 0; seen && i < tg_list_len(lr_list) && !tgs_failures(w->ctx); i++) {
            tg_obj *v = tg_list_get(lr_list, (ptrdiff_t)i);
            if (!v) { tgs_fail(w->ctx, "wave %d: list[%zu] unreadable", wave, i); break; }
            TGS_CHECK(w->ctx, lr_valid(tg_int_value(v), nt), "wave %d: list[%zu] == %" PRId64 ", never appended",
                      wave, i, tg_int_value(v));
            if (tg_dict_contains(seen, v) == 1)
                tgs_fail(w->ctx, "wave %d: %" PRId64 " in the list twice", wave, tg_int_value(v));
            tg_dict_set(seen, v, v);
            tg_decref(v);
        }
        tg_xdecref(seen);
        tg_decref(lr_list);                     /* reservations on it may remain */
        lr_list = NULL;
    }
    if (w->index) __atomic_fetch_add(&lr_exited, 1, __ATOMIC_RELEASE);
}

static int lr_run(tgs_ctx *ctx)
{
    int nt = ctx->threads < 2 ? 2 : ctx->threads;
    __atomic_store_n(&lr_wave, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&lr_done, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&lr_exited, 0, __ATOMIC_RELAXED);
    uint64_t takeovers = _tg_sticky_takeovers();
    tgs_run_threads(ctx, nt, lr_worker, NULL);
    /* The point of the scenario: reserved locks changed hands (when objects
       can be biased at all: not without membarrier(), e.g. under valgrind). */
    if (_tg_ft() && _tg_rt.obj_lock_birth == 0 && !tgs_failures(ctx))
        TGS_CHECK(ctx, _tg_sticky_takeovers() > takeovers, "no reserved lock was taken over in %d waves", LR_WAVES);
    return tgs_failures(ctx) ? TGS_FAILED : TGS_OK;
}

const tgs_scenario tgs_scen_ft_list_reserve = {
    .name = "ft_list_reserve",
    .description = "threads work one list in bursts (reserved locks taken over mid-stream, lists grown in place "
                   "until read) with critical sections; the list is dropped while reserved",
    .invariants = "each wave: len == appends - pops, no value twice, every value read or popped was appended, "
                  "a critical section's two appends land side by side, and reservations changed hands",
    .run = lr_run,
};
