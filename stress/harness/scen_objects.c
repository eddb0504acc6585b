/*
 * stress/harness/scen_objects.c — object-core scenarios: refcount storms, the seeds'
 * 5 x 10,000 appends, list/dict mutation with validating readers, cross-thread
 * hand-off, owner-thread exit with outstanding references.
 *
 * GIL-mode-only checks (exact refcounts, consistent multi-call reads) are
 * marked: in GIL mode nothing else runs between two runtime calls unless the
 * thread passes a safepoint or releases the GIL in between.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "stress/harness/harness.h"

#define COOKIE 0x7a6e676c65ull          /* "tangle" */

/* ------------------------------------------------ a counting embedder type */

typedef struct counted {
    uint64_t cookie;
    uint64_t serial;
} counted;

static tgs_ctx *counted_ctx;            /* the round being run (one per child) */
static long counted_deallocs;
static long counted_holders;    /* refcount_storm: threads that still hold */
static tg_type *counted_type;

static void counted_dealloc(tg_obj *self)
{
    counted *c = tg_payload(self);
    if (c->cookie != COOKIE)
        tgs_fail(counted_ctx, "dealloc of object %" PRIu64 ": payload cookie %#" PRIx64 ", expected %#llx (corrupt or double free)",
                 c->serial, c->cookie, COOKIE);
    if (__atomic_load_n(&counted_holders, __ATOMIC_ACQUIRE) > 0)
        tgs_fail(counted_ctx, "object %" PRIu64 " deallocated while %ld thread(s) still hold references (premature free)",
                 c->serial, __atomic_load_n(&counted_holders, __ATOMIC_RELAXED));
    c->cookie = 0xdeadull;
    __atomic_fetch_add(&counted_deallocs, 1, __ATOMIC_RELEASE);
}

static int counted_setup(tgs_ctx *ctx)
{
    counted_ctx = ctx;
    __atomic_store_n(&counted_deallocs, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&counted_holders, 0, __ATOMIC_RELAXED);
    if (ctx->round == 0 || !counted_type) {
        tg_type_spec spec = { .name = "stress.counted", .payload_size = sizeof(counted),
                              .dealloc = counted_dealloc };
        counted_type = tg_type_new(&spec);
        if (!counted_type) return tgs_fail(ctx, "tg_type_new failed: %s", tg_error_message()), -1;
    }
    return 0;
}

static tg_obj *counted_new(uint64_t serial)
{
    tg_obj *o = tg_new(counted_type);
    if (o) { counted *c = tg_payload(o); c->cookie = COOKIE; c->serial = serial; }
    return o;
}

/* ============================================================ refcount_storm */

#define STORM_OPS      20000
#define STORM_MAX_HELD 64

static struct {
    tg_obj *obj;
    long expected;         /* GIL mode: exactly tg_refcount(obj) at safepoints */
} storm;

static void storm_worker(tgs_worker *w)
{
    tgs_ctx *ctx = w->ctx;
    tg_obj *o = storm.obj;         /* one reference handed to us by the main thread */
    int held = 0;
    bool gil = ctx->mode == TG_MODE_GIL;
    for (int i = 0; i < STORM_OPS && !tgs_failures(ctx); i++) {
        uint64_t r = tgs_next(&w->rng);
        switch (r % 8) {
        case 0: case 1: case 2:
            if (held < STORM_MAX_HELD) {
                tg_incref(o); held++;
                __atomic_fetch_add(&storm.expected, 1, __ATOMIC_RELAXED);
            }
            break;
        case 3: case 4: case 5:
            if (held > 0) {
                __atomic_fetch_sub(&storm.expected, 1, __ATOMIC_RELAXED);
                tg_decref(o); held--;
            }
            break;
        case 6: {                  /* references held by a container, dropped with it */
            tg_obj *t = tg_tuple(2, o, o);
            if (!t) { tgs_fail(ctx, "tg_tuple failed: %s", tg_error_message()); break; }
            if (gil) TGS_CHECK(ctx, tg_refcount(o) == __atomic_load_n(&storm.expected, __ATOMIC_RELAXED) + 2,
                               "GIL mode: tg_refcount(shared) == %" PRIdPTR " with a 2-tuple holding it, expected %ld",
                               tg_refcount(o), __atomic_load_n(&storm.expected, __ATOMIC_RELAXED) + 2);
            tg_decref(t);
            break;
        }
        default: {
            counted *c = tg_payload(o);
            TGS_CHECK(ctx, c->cookie == COOKIE, "shared object payload cookie %#" PRIx64 " while referenced (freed too early?)", c->cookie);
            TGS_CHECK(ctx, __atomic_load_n(&counted_deallocs, __ATOMIC_ACQUIRE) == 0,
                      "shared object deallocated while this thread holds %d reference(s)", held + 1);
            if (gil) TGS_CHECK(ctx, tg_refcount(o) == __atomic_load_n(&storm.expected, __ATOMIC_RELAXED),
                               "GIL mode: tg_refcount(shared) == %" PRIdPTR ", expected %ld (lost or extra update)",
                               tg_refcount(o), __atomic_load_n(&storm.expected, __ATOMIC_RELAXED));
            else TGS_CHECK(ctx, tg_refcount(o) >= held + 1, "tg_refcount(shared) == %" PRIdPTR " < %d held by this thread",
                           tg_refcount(o), held + 1);
        }
        }
        tgs_op(w);
        if ((r >> 32) % 8 == 0) tgs_pause(w);
    }
    while (held > 0) { __atomic_fetch_sub(&storm.expected, 1, __ATOMIC_RELAXED); tg_decref(o); held--; }
    /* Drop the last reference: announce first, so a dealloc while someone
       still holds one is caught in counted_dealloc. */
    long left = __atomic_sub_fetch(&counted_holders, 1, __ATOMIC_RELEASE);
    __atomic_fetch_sub(&storm.expected, 1, __ATOMIC_RELAXED);
    tg_decref(o);
    if (gil && left == 0)
        TGS_CHECK(ctx, __atomic_load_n(&counted_deallocs, __ATOMIC_ACQUIRE) == 1,
                  "GIL mode: the last tg_decref returned but dealloc ran %ld times (expected exactly 1, at that moment)",
                  __atomic_load_n(&counted_deallocs, __ATOMIC_RELAXED));
}

static int storm_run(tgs_ctx *ctx)
{
    if (counted_setup(ctx) < 0) return TGS_FAILED;
    storm.obj = counted_new(ctx->round);
    if (!storm.obj) return tgs_fail(ctx, "tg_new failed: %s", tg_error_message());
    for (int i = 0; i < ctx->threads; i++) tg_incref(storm.obj);
    __atomic_store_n(&counted_holders, ctx->threads, __ATOMIC_RELAXED);
    __atomic_store_n(&storm.expected, ctx->threads, __ATOMIC_RELAXED);
    tg_decref(storm.obj);          /* the workers' references keep it alive */
    if (tgs_run_threads(ctx, ctx->threads, storm_worker, NULL) < 0) return TGS_FAILED;
    long d = __atomic_load_n(&counted_deallocs, __ATOMIC_ACQUIRE);
    TGS_CHECK(ctx, d == 1, "dealloc of the shared object ran %ld times after all %d threads dropped their references (expected exactly 1)",
              d, ctx->threads);
    return tgs_failures(ctx) ? TGS_FAILED : TGS_OK;
}

const tgs_scenario tgs_scen_refcount_storm = {
    .name = "refcount_storm",
    .description = "threads incref/decref one shared embedder object at random, directly and through tuples",
    .invariants = "dealloc runs exactly once, only after every thread has dropped its last reference, "
                  "and right at the last tg_decref (GIL); tg_refcount equals the references handed out (GIL); "
                  "payload intact while referenced",
    .run = storm_run,
};

/* ============================================================== seed_appends */

#define APPENDS_PER_THREAD 10000
#define APPENDS_THREADS    5
#define APPEND_BASE        1000000      /* values well above the small-int cache */

static tg_obj *appends_list;

static void appends_worker(tgs_worker *w)
{
    for (int i = 0; i < APPENDS_PER_THREAD; i++) {
        tg_obj *v = tg_int(APPEND_BASE * (int64_t)(w->index + 1) + i);
        if (!v || tg_list_append(appends_list, v) < 0) {
            tgs_fail(w->ctx, "thread %d: append %d failed: %s", w->index, i, tg_error_message());
            tg_xdecref(v);
            return;
        }
        tg_decref(v);
        tgs_op(w);
        if (tgs_below(&w->rng, 16) == 0) tgs_pause(w);
    }
}

static int appends_run(tgs_ctx *ctx)
{
    int nt = ctx->threads;
    appends_list = tg_list_new(0);
    if (!appends_list) return tgs_fail(ctx, "tg_list_new failed");
    if (tgs_run_threads(ctx, nt, appends_worker, NULL) < 0) { tg_decref(appends_list); return TGS_FAILED; }
    size_t n = tg_list_len(appends_list), want = (size_t)nt * APPENDS_PER_THREAD;
    TGS_CHECK(ctx, n == want, "len(list) == %zu after %d threads x %d appends, expected exactly %zu (lost updates)",
              n, nt, APPENDS_PER_THREAD, want);
    int64_t next[256] = {0};
    int bad = 0;
    for (size_t i = 0; i < n && bad < 3; i++) {
        tg_obj *v = tg_list_get(appends_list, (ptrdiff_t)i);
        int64_t x = v ? tg_int_value(v) : -1;
        int t = (int)(x / APPEND_BASE) - 1;
        int64_t k = x % APPEND_BASE;
        if (!v || t < 0 || t >= nt) {
            bad++; tgs_fail(ctx, "list[%zu] is not one of the appended values (%" PRId64 ")", i, x);
        } else if (k != next[t]) {
            bad++; tgs_fail(ctx, "list[%zu]: thread %d's item %" PRId64 " where item %" PRId64 " was expected (reordered, lost or duplicated)",
                            i, t, k, next[t]);
            next[t] = k + 1;
        } else {
            next[t]++;
            if (tg_refcount(v) != 2) {
                bad++; tgs_fail(ctx, "list[%zu]: refcount %" PRIdPTR ", expected 2 (the list's + ours)", i, tg_refcount(v));
            }
        }
        tg_xdecref(v);
    }
    for (int t = 0; t < nt && !bad; t++)
        TGS_CHECK(ctx, next[t] == APPENDS_PER_THREAD, "thread %d: %" PRId64 " of its %d items in the list", t, next[t], APPENDS_PER_THREAD);
    tg_decref(appends_list);
    return tgs_failures(ctx) ? TGS_FAILED : TGS_OK;
}

const tgs_scenario tgs_scen_seed_appends = {
    .name = "seed_appends",
    .description = "the seeds' example: 5 threads x 10,000 appends to one list",
    .invariants = "len == 50,000 exactly; each thread's items present once, in its order; each item's refcount is the list's only",
    .fixed_threads = APPENDS_THREADS,
    .run = appends_run,
};

/* ========================================================= list_dict_readers */

#define LD_WRITER_OPS  6000
#define LD_KEYS        64              /* per writer */
#define LD_TAG         (INT64_C(1) << 40)

static struct {
    tg_obj *list, *dict;
    int     nwriters;
    long net;                  /* appends + inserts - pops */
    int  writers_done;
    uint64_t present[64];              /* per writer: bitmap of its keys in the dict */
} ld;

/* List items: tg_int(LD_TAG * (writer + 1) + seq). Dict: key k -> 7k. */
static bool ld_item_ok(tg_obj *v, int64_t *out)
{
    if (!v || tg_typeof(v) != tg_type_int()) return false;
    int64_t x = tg_int_value(v);
    *out = x;
    return x >= LD_TAG && x / LD_TAG <= ld.nwriters;
}

static void ld_read(tgs_worker *w)
{
    tgs_ctx *ctx = w->ctx;
    bool gil = ctx->mode == TG_MODE_GIL;
    size_t n = tg_list_len(ld.list);
    for (int k = 0; k < 4 && n; k++) {
        ptrdiff_t i = (ptrdiff_t)tgs_below(&w->rng, n);
        tg_obj *v = tg_list_get(ld.list, i);
        int64_t x;
        if (!v) {
            /* GIL mode: nothing ran between tg_list_len and here. */
            TGS_CHECK(ctx, !gil && tg_error() == TG_ERR_INDEX, "list[%td] (len %zu) failed: %s", i, n, tg_error_message());
            tg_error_clear();
        } else {
            TGS_CHECK(ctx, ld_item_ok(v, &x), "list[%td] holds something no writer stored", i);
            tg_decref(v);
        }
        tgs_op(w);
    }
    for (int k = 0; k < 4; k++) {
        int64_t key = (int64_t)tgs_below(&w->rng, (uint64_t)ld.nwriters * LD_KEYS);
        tg_obj *ko = tg_int(key + 1000);
        tg_obj *v = tg_dict_get(ld.dict, ko);
        if (!v) {
            TGS_CHECK(ctx, tg_error() == TG_ERR_KEY, "dict[%" PRId64 "] failed: %s", key + 1000, tg_error_message());
            tg_error_clear();
        } else {
            TGS_CHECK(ctx, tg_int_value(v) == 7 * (key + 1000), "dict[%" PRId64 "] == %" PRId64 ", expected 7*key",
                      key + 1000, tg_int_value(v));
            tg_decref(v);
        }
        tg_decref(ko);
        tgs_op(w);
    }
    if (tgs_below(&w->rng, 8) == 0) {          /* a whole-dict scan */
        size_t pos = 0, count = 0, len = tg_dict_len(ld.dict);
        tg_obj *key, *val;
        int r;
        while ((r = tg_dict_next(ld.dict, &pos, &key, &val)) == 1) {
            TGS_CHECK(ctx, tg_int_value(val) == 7 * tg_int_value(key), "dict scan: %" PRId64 " -> %" PRId64 ", expected 7*key",
                      tg_int_value(key), tg_int_value(val));
            tg_decref(key); tg_decref(val);
            count++;
        }
        if (r < 0) { TGS_CHECK(ctx, !gil, "GIL mode: tg_dict_next failed: %s", tg_error_message()); tg_error_clear(); }
        else if (gil) TGS_CHECK(ctx, count == len, "GIL mode: a dict scan saw %zu entries, tg_dict_len says %zu", count, len);
        tgs_op(w);
    }
}

static void ld_write_one(tgs_worker *w, int wi, uint64_t *seq)
{
    tgs_ctx *ctx = w->ctx;
    uint64_t r = tgs_next(&w->rng);
    switch (r % 8) {
    case 0: case 1: {                            /* append */
        tg_obj *v = tg_int(LD_TAG * (wi + 1) + (int64_t)(*seq)++);
        if (tg_list_append(ld.list, v) == 0) __atomic_fetch_add(&ld.net, 1, __ATOMIC_RELAXED);
        else tgs_fail(ctx, "append failed: %s", tg_error_message());
        tg_decref(v);
        break;
    }
    case 2: {                                    /* insert somewhere */
        size_t n = tg_list_len(ld.list);
        tg_obj *v = tg_int(LD_TAG * (wi + 1) + (int64_t)(*seq)++);
        if (tg_list_insert(ld.list, (ptrdiff_t)tgs_below(&w->rng, n + 1), v) == 0) __atomic_fetch_add(&ld.net, 1, __ATOMIC_RELAXED);
        else tgs_fail(ctx, "insert failed: %s", tg_error_message());
        tg_decref(v);
        break;
    }
    case 3: {                                    /* pop (end or middle) */
        size_t n = tg_list_len(ld.list);
        if (!n) break;
        ptrdiff_t i = (r >> 8) % 2 ? -1 : (ptrdiff_t)tgs_below(&w->rng, n);
        tg_obj *v = tg_list_pop(ld.list, i);
        int64_t x;
        if (v) {
            __atomic_fetch_sub(&ld.net, 1, __ATOMIC_RELAXED);
            TGS_CHECK(ctx, ld_item_ok(v, &x), "popped an item no writer stored");
            tg_decref(v);
        } else {
            TGS_CHECK(ctx, ctx->mode != TG_MODE_GIL, "GIL mode: pop(%td) of a list of %zu failed: %s", i, n, tg_error_message());
            tg_error_clear();
        }
        break;
    }
    case 4: {                                    /* overwrite an item */
        size_t n = tg_list_len(ld.list);
        if (!n) break;
        tg_obj *v = tg_int(LD_TAG * (wi + 1) + (int64_t)(*seq)++);
        if (tg_list_set(ld.list, (ptrdiff_t)tgs_below(&w->rng, n), v) < 0) {
            TGS_CHECK(ctx, ctx->mode != TG_MODE_GIL, "GIL mode: list set failed: %s", tg_error_message());
            tg_error_clear();
        }
        tg_decref(v);
        break;
    }
    default: {                                   /* dict: set or delete one of this writer's keys */
        unsigned j = (unsigned)tgs_below(&w->rng, LD_KEYS);
        int64_t key = (int64_t)wi + (int64_t)ld.nwriters * j + 1000;
        tg_obj *ko = tg_int(key);
        if ((r >> 8) % 3) {
            tg_obj *v = tg_int(7 * key);
            if (tg_dict_set(ld.dict, ko, v) == 0) ld.present[wi] |= 1ull << j;
            else tgs_fail(ctx, "dict set failed: %s", tg_error_message());
            tg_decref(v);
        } else {
            int rc = tg_dict_del(ld.dict, ko);
            bool was = (ld.present[wi] >> j) & 1;
            if (rc == 0) TGS_CHECK(ctx, was, "dict del of key %" PRId64 " succeeded but its writer never stored it", key);
            else { TGS_CHECK(ctx, !was && tg_error() == TG_ERR_KEY, "dict del of present key %" PRId64 " failed: %s", key, tg_error_message()); tg_error_clear(); }
            ld.present[wi] &= ~(1ull << j);
        }
        tg_decref(ko);
    }
    }
    tgs_op(w);
}

static void ld_worker(tgs_worker *w)
{
    /* One thread: writer and reader in turn. Else: the first half write. */
    int nwriters = ld.nwriters;
    bool writer = w->index < nwriters;
    bool also_read = w->nthreads == 1;
    if (writer) {
        uint64_t seq = 0;
        for (int i = 0; i < LD_WRITER_OPS && !tgs_failures(w->ctx); i++) {
            ld_write_one(w, w->index, &seq);
            if (also_read && i % 4 == 0) ld_read(w);
            if (tgs_below(&w->rng, 4) == 0) tgs_pause(w);
        }
        __atomic_fetch_add(&ld.writers_done, 1, __ATOMIC_RELEASE);
    } else {
        while (__atomic_load_n(&ld.writers_done, __ATOMIC_ACQUIRE) < nwriters && !tgs_failures(w->ctx)) {
            ld_read(w);
            tgs_pause(w);
            if (tgs_now() > w->ctx->hard_deadline) { tgs_fail(w->ctx, "readers: writers did not finish in time"); break; }
        }
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int ld_run(tgs_ctx *ctx)
{
    memset(&ld, 0, sizeof ld);
    ld.nwriters = ctx->threads == 1 ? 1 : ctx->threads / 2;
    if (ld.nwriters > 64) ld.nwriters = 64;
    ld.list = tg_list_new(0);
    ld.dict = tg_dict_new();
    if (!ld.list || !ld.dict) return tgs_fail(ctx, "tg_list_new/tg_dict_new failed");
    tgs_run_threads(ctx, ctx->threads, ld_worker, NULL);
    long net = __atomic_load_n(&ld.net, __ATOMIC_RELAXED);
    size_t n = tg_list_len(ld.list);
    TGS_CHECK(ctx, (long)n == net, "len(list) == %zu, expected %ld (appends + inserts - pops)", n, net);
    /* Every item valid, none twice. */
    int64_t *vals = malloc((n + 1) * sizeof *vals);
    for (size_t i = 0; vals && i < n; i++) {
        tg_obj *v = tg_list_get(ld.list, (ptrdiff_t)i);
        if (!ld_item_ok(v, &vals[i])) { tgs_fail(ctx, "list[%zu] holds something no writer stored", i); vals[i] = -(int64_t)i; }
        tg_xdecref(v);
    }
    if (vals) {
        qsort(vals, n, sizeof *vals, cmp_i64);
        for (size_t i = 1; i < n; i++)
            if (vals[i] == vals[i - 1]) { tgs_fail(ctx, "value %" PRId64 " is in the list twice", vals[i]); break; }
        free(vals);
    }
    size_t want = 0;
    for (int wi = 0; wi < ld.nwriters; wi++) want += (size_t)__builtin_popcountll(ld.present[wi]);
    TGS_CHECK(ctx, tg_dict_len(ld.dict) == want, "len(dict) == %zu, expected %zu (keys the writers stored and did not delete)",
              tg_dict_len(ld.dict), want);
    for (int wi = 0; wi < ld.nwriters; wi++)
        for (unsigned j = 0; j < LD_KEYS; j++) {
            int64_t key = (int64_t)wi + (int64_t)ld.nwriters * j + 1000;
            tg_obj *ko = tg_int(key);
            int c = tg_dict_contains(ld.dict, ko);
            tg_decref(ko);
            if (c != (int)((ld.present[wi] >> j) & 1)) {
                tgs_fail(ctx, "dict: key %" PRId64 " %s, but its writer %s it", key, c ? "present" : "absent",
                         c ? "deleted" : "stored");
                break;
            }
        }
    tg_decref(ld.list);
    tg_decref(ld.dict);
    return tgs_failures(ctx) ? TGS_FAILED : TGS_OK;
}


const tgs_scenario tgs_scen_list_dict_readers = {
    .name = "list_dict_readers",
    .description = "half the threads append/insert/pop/set a list and set/del dict keys, the rest read and validate",
    .invariants = "every item read is one a writer stored; dict[k] == 7k; len(list) == appends+inserts-pops; "
                  "dict holds exactly the keys stored and not deleted; no item twice; "
                  "GIL: len/get and whole-dict scans consistent",
    .run = ld_run,
};

/* =================================================================== handoff */

#define HANDOFF_PER_THREAD 400
#define HANDOFF_HOPS       6

typedef struct hnode { struct hnode *next; tg_obj *obj; } hnode;
typedef struct hqueue { pthread_mutex_t m; hnode *head, *tail; } hqueue;

static struct {
    hqueue q[256];
    long freed;
    long total;
} ho;

static void hq_push(hqueue *q, tg_obj *o)
{
    hnode *n = malloc(sizeof *n);
    if (!n) abort();
    n->obj = o; n->next = NULL;
    pthread_mutex_lock(&q->m);
    if (q->tail) q->tail->next = n; else q->head = n;
    q->tail = n;
    pthread_mutex_unlock(&q->m);
}

static tg_obj *hq_pop(hqueue *q)
{
    pthread_mutex_lock(&q->m);
    hnode *n = q->head;
    if (n) { q->head = n->next; if (!q->head) q->tail = NULL; }
    pthread_mutex_unlock(&q->m);
    tg_obj *o = n ? n->obj : NULL;
    free(n);
    return o;
}

/* A message: dict {"origin": int, "seq": int, "hops": int, "trail": list of hop thread ids, "blob": bytes} */
static tg_obj *ho_make(tgs_worker *w, long seq)
{
    tg_obj *d = tg_dict_new(), *trail = tg_list_new(0);
    char blob[48];
    for (size_t i = 0; i < sizeof blob; i++) blob[i] = (char)(seq * 31 + (long)i + w->index);
    tg_obj *k1 = tg_str("origin"), *k2 = tg_str("seq"), *k3 = tg_str("hops"), *k4 = tg_str("trail"), *k5 = tg_str("blob");
    tg_obj *v1 = tg_int(w->index + 5000), *v2 = tg_int(seq + 5000), *v3 = tg_int(0), *v5 = tg_bytes(blob, sizeof blob);
    tg_dict_set(d, k1, v1); tg_dict_set(d, k2, v2); tg_dict_set(d, k3, v3); tg_dict_set(d, k4, trail); tg_dict_set(d, k5, v5);
    tg_obj *all[] = { k1, k2, k3, k4, k5, v1, v2, v3, v5, trail };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tg_decref(all[i]);
    return d;
}

static tg_obj *ho_field(tg_obj *d, const char *name)
{
    tg_obj *k = tg_str(name), *v = tg_dict_get(d, k);
    tg_decref(k);
    return v;
}

/* Validate, add a hop; returns the hop count, or -1 (after tgs_fail). */
static int ho_visit(tgs_worker *w, tg_obj *d)
{
    tgs_ctx *ctx = w->ctx;
    if (ctx->mode == TG_MODE_GIL && tg_refcount(d) != 1)
        return tgs_fail(ctx, "handed-off dict has refcount %" PRIdPTR ", expected 1 (the hand-off's)", tg_refcount(d)), -1;
    tg_obj *o = ho_field(d, "origin"), *s = ho_field(d, "seq"), *h = ho_field(d, "hops"), *t = ho_field(d, "trail"),
           *b = ho_field(d, "blob");
    int rc = -1;
    if (!o || !s || !h || !t || !b) { tgs_fail(ctx, "handed-off dict lost a field (len %zu)", tg_dict_len(d)); goto out; }
    int64_t origin = tg_int_value(o) - 5000, seq = tg_int_value(s) - 5000, hops = tg_int_value(h);
    size_t nb;
    const char *blob = tg_bytes_data(b, &nb);
    for (size_t i = 0; i < nb; i++)
        if (blob[i] != (char)(seq * 31 + (long)i + origin)) { tgs_fail(ctx, "blob of message %" PRId64 "/%" PRId64 " corrupt at %zu", origin, seq, i); goto out; }
    if (tg_list_len(t) != (size_t)hops) { tgs_fail(ctx, "message trail has %zu hops, hop count says %" PRId64, tg_list_len(t), hops); goto out; }
    for (int64_t i = 0; i < hops; i++) {
        tg_obj *x = tg_list_get(t, (ptrdiff_t)i);
        int64_t want = (origin + 1 + i) % w->nthreads;
        if (!x || tg_int_value(x) != want) { tgs_fail(ctx, "message trail[%" PRId64 "] wrong: the message took another route", i); tg_xdecref(x); goto out; }
        tg_decref(x);
    }
    tg_obj *me = tg_int(w->index), *nh = tg_int(hops + 1), *kh = tg_str("hops");
    tg_list_append(t, me);
    tg_dict_set(d, kh, nh);
    tg_decref(me); tg_decref(nh); tg_decref(kh);
    rc = (int)hops + 1;
out:
    tg_xdecref(o); tg_xdecref(s); tg_xdecref(h); tg_xdecref(t); tg_xdecref(b);
    return rc;
}

static void ho_worker(tgs_worker *w)
{
    int n = w->nthreads;
    long made = 0;
    hqueue *mine = &ho.q[w->index], *next = &ho.q[(w->index + 1) % n];
    while (__atomic_load_n(&ho.freed, __ATOMIC_ACQUIRE) < ho.total && !tgs_failures(w->ctx)) {
        bool idle = true;
        if (made < HANDOFF_PER_THREAD && tgs_below(&w->rng, 2) == 0) {
            hq_push(next, ho_make(w, made++));
            idle = false;
        }
        tg_obj *d = hq_pop(mine);
        if (d) {
            idle = false;
            int hops = ho_visit(w, d);
            if (hops < 0 || hops >= HANDOFF_HOPS) {
                tg_decref(d);      /* freed here: created (and touched) by other threads */
                __atomic_fetch_add(&ho.freed, 1, __ATOMIC_RELEASE);
            } else {
                hq_push(next, d);
            }
        }
        tgs_op(w);
        if (idle) {
            if (!tgs_wait_a_little(w->ctx)) { tgs_fail(w->ctx, "hand-off: waited past the deadline (%ld of %ld freed)", (long)ho.freed, ho.total); break; }
        } else if (tgs_below(&w->rng, 4) == 0) tgs_pause(w);
    }
}

static int ho_run(tgs_ctx *ctx)
{
    int n = ctx->threads > 256 ? 256 : ctx->threads;
    for (int i = 0; i < n; i++) { pthread_mutex_init(&ho.q[i].m, NULL); ho.q[i].head = ho.q[i].tail = NULL; }
    ho.freed = 0;
    ho.total = (long)n * HANDOFF_PER_THREAD;
    tgs_run_threads(ctx, n, ho_worker, NULL);
    long left = 0;
    for (int i = 0; i < n; i++) {
        tg_obj *d;
        while ((d = hq_pop(&ho.q[i]))) { left++; tg_decref(d); }
        pthread_mutex_destroy(&ho.q[i].m);
    }
    if (!tgs_failures(ctx)) {
        TGS_CHECK(ctx, ho.freed == ho.total, "hand-off: %ld of %ld messages completed their hops", (long)ho.freed, ho.total);
        TGS_CHECK(ctx, left == 0, "hand-off: %ld messages still queued at the end", left);
    }
    return tgs_failures(ctx) ? TGS_FAILED : TGS_OK;
}

const tgs_scenario tgs_scen_handoff = {
    .name = "handoff",
    .description = "threads in a ring pass dicts (with lists, bytes) to the next thread, which validates, mutates and passes on",
    .invariants = "each message arrives intact with the route it took, refcount 1 on arrival (GIL); "
                  "all messages complete and are freed by a thread other than their creator",
    .run = ho_run,
};

/* ================================================================ owner_exit */

#define OE_OBJECTS 200          /* per creating thread */

static struct {
    tg_obj *shared;             /* list of per-thread lists of objects */
    long counted_made;
} oe;

static void oe_creator(tgs_worker *w)
{
    tg_obj *mine = tg_list_new(0);
    for (int i = 0; i < OE_OBJECTS; i++) {
        tg_obj *o;
        switch (tgs_below(&w->rng, 4)) {
        case 0: o = counted_new((uint64_t)w->index * 100000 + (uint64_t)i);
                __atomic_fetch_add(&oe.counted_made, 1, __ATOMIC_RELAXED); break;
        case 1: { char buf[40]; snprintf(buf, sizeof buf, "thread %d object %d", w->index, i); o = tg_str(buf); break; }
        case 2: { tg_obj *x = tg_int(w->index * 100000 + i); o = tg_list_new(0); tg_list_append(o, x); tg_decref(x); break; }
        default: { tg_obj *x = tg_int(w->index * 100000 + i); o = tg_dict_new(); tg_dict_set(o, x, x); tg_decref(x); break; }
        }
        if (!o) { tgs_fail(w->ctx, "creating object %d failed: %s", i, tg_error_message()); break; }
        tg_list_append(mine, o);
        tg_decref(o);
        tgs_op(w);
        if (tgs_below(&w->rng, 16) == 0) tgs_pause(w);
    }
    tg_list_append(oe.shared, mine);   /* the outstanding references */
    tg_decref(mine);
    /* Half the threads just end, leaving detach to the thread-exit hook. */
    w->no_detach = w->index % 2 == 1;
}

static void oe_user(tgs_worker *w)
{
    /* A second wave: use, mutate and drop objects whose owners have exited. */
    tgs_ctx *ctx = w->ctx;
    size_t n = tg_list_len(oe.shared);
    for (size_t li = (size_t)w->index; li < n; li += (size_t)w->nthreads) {
        tg_obj *objs = tg_list_get(oe.shared, (ptrdiff_t)li);
        size_t m = tg_list_len(objs);
        TGS_CHECK(ctx, m == OE_OBJECTS, "an exited thread's list has %zu objects, expected %d", m, OE_OBJECTS);
        for (size_t i = 0; i < m; i++) {
            tg_obj *o = tg_list_get(objs, (ptrdiff_t)i);
            const tg_type *t = tg_typeof(o);
            if (t == (const tg_type *)counted_type) {
                TGS_CHECK(ctx, ((counted *)tg_payload(o))->cookie == COOKIE, "object of an exited thread corrupt");
            } else if (t == tg_type_list()) {
                tg_obj *x = tg_list_get(o, 0);
                TGS_CHECK(ctx, x && tg_int_value(x) % 100000 == (int64_t)i, "list of an exited thread corrupt");
                tg_xdecref(x);
                tg_list_append(o, tg_none());
            } else if (t == tg_type_dict()) {
                TGS_CHECK(ctx, tg_dict_len(o) == 1, "dict of an exited thread has %zu entries", tg_dict_len(o));
            } else {
                TGS_CHECK(ctx, t == tg_type_str() && tg_str_len(o) > 0, "unexpected object in an exited thread's list");
            }
            for (int k = 0; k < 3; k++) tg_incref(o);
            for (int k = 0; k < 3; k++) tg_decref(o);
            tg_decref(o);
            tgs_op(w);
            if (tgs_below(&w->rng, 16) == 0) tgs_pause(w);
        }
        /* Drop half of them here, on a thread that is not their owner. */
        while (tg_list_len(objs) > m / 2) { tg_obj *o = tg_list_pop(objs, -1); tg_decref(o); }
        tg_decref(objs);
    }
}

static int oe_run(tgs_ctx *ctx)
{
    if (counted_setup(ctx) < 0) return TGS_FAILED;
    oe.shared = tg_list_new(0);
    oe.counted_made = 0;
    tgs_run_threads(ctx, ctx->threads, oe_creator, NULL);
    size_t n = tg_list_len(oe.shared);
    TGS_CHECK(ctx, n == (size_t)ctx->threads, "%zu of %d exited threads left their objects", n, ctx->threads);
    tgs_run_threads(ctx, ctx->threads, oe_user, NULL);
    tg_decref(oe.shared);      /* the main thread drops the rest */
    long made = __atomic_load_n(&oe.counted_made, __ATOMIC_RELAXED);
    long freed = __atomic_load_n(&counted_deallocs, __ATOMIC_ACQUIRE);
    TGS_CHECK(ctx, freed == made, "%ld embedder objects created by exited threads, %ld deallocated (expected all, once each)",
              made, freed);
    return tgs_failures(ctx) ? TGS_FAILED : TGS_OK;
}

const tgs_scenario tgs_scen_owner_exit = {
    .name = "owner_exit",
    .description = "threads create objects and exit (half detach, half leave it to the exit hook); a second wave uses and frees them",
    .invariants = "objects of exited threads stay intact and usable; mutation, incref/decref and freeing them from "
                  "other threads works; the round frees everything (tg_live_objects back to its start)",
    .run = oe_run,
};
