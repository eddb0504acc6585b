/*
 * stress/harness/scen_gc.c — collections during mutation: threads build reference
 * cycles of an embedder GC type with a PEP 442 finalizer that allocates, hang
 * weakrefs with allocating callbacks on them, mutate shared lists, and collect
 * now and then. Runs once tg_gc_collect works; until then "not available".
 */
#include <inttypes.h>
#include "stress/harness/harness.h"

#define GCM_CYCLES 300          /* per thread */

typedef struct node { tg_obj *peer; tg_obj *extra; uint64_t cookie; } node;

static tgs_ctx *gcm_ctx;
static tg_type *node_type;
static long gcm_made, gcm_finalized, gcm_freed, gcm_callbacks;
static tg_obj *gcm_shared;      /* a list threads mutate while collections run */

static int node_traverse(tg_obj *self, tg_visitproc visit, void *arg)
{
    node *n = tg_payload(self);
    int r;
    if (n->peer && (r = visit(n->peer, arg))) return r;
    if (n->extra && (r = visit(n->extra, arg))) return r;
    return 0;
}

static void node_clear(tg_obj *self)
{
    node *n = tg_payload(self);
    tg_obj *p = n->peer, *e = n->extra;
    n->peer = n->extra = NULL;
    tg_xdecref(p);
    tg_xdecref(e);
}

static void node_finalize(tg_obj *self)
{
    node *n = tg_payload(self);
    if (n->cookie != 0x6e6f6465ull) tgs_fail(gcm_ctx, "finalizer: node payload corrupt");
    /* Allocate in the finalizer: a list and a string, dropped at once. */
    tg_obj *l = tg_list_new(0), *s = tg_str("finalized");
    if (l && s) tg_list_append(l, s);
    tg_xdecref(s);
    tg_xdecref(l);
    __atomic_fetch_add(&gcm_finalized, 1, __ATOMIC_RELAXED);
}

static void node_dealloc(tg_obj *self)
{
    __atomic_fetch_add(&gcm_freed, 1, __ATOMIC_RELAXED);
}

static void gcm_callback(tg_obj *ref, void *arg)
{
    tg_obj *t = tg_tuple(1, ref);      /* allocate in the callback */
    tg_xdecref(t);
    __atomic_fetch_add(&gcm_callbacks, 1, __ATOMIC_RELAXED);
}

static void gcm_worker(tgs_worker *w)
{
    tgs_ctx *ctx = w->ctx;
    tg_obj *refs = tg_list_new(0);     /* our weakrefs: alive until the end */
    for (int i = 0; i < GCM_CYCLES && !tgs_failures(ctx); i++) {
        tg_obj *a = tg_new(node_type), *b = tg_new(node_type);
        if (!a || !b) { tgs_fail(ctx, "tg_new failed: %s", tg_error_message()); tg_xdecref(a); tg_xdecref(b); break; }
        __atomic_fetch_add(&gcm_made, 2, __ATOMIC_RELAXED);
        node *na = tg_payload(a), *nb = tg_payload(b);
        na->cookie = nb->cookie = 0x6e6f6465ull;
        na->peer = b; tg_incref(b);
        nb->peer = a; tg_incref(a);
        na->extra = tg_list_new(0);
        tg_obj *ref = tg_weakref(a, gcm_callback, NULL);
        if (ref) { tg_list_append(refs, ref); tg_decref(ref); }
        else tgs_fail(ctx, "tg_weakref on a GC embedder object failed: %s", tg_error_message());
        if (tgs_below(&w->rng, 4) == 0) tg_list_append(gcm_shared, a);   /* some stay reachable a while */
        if (tgs_below(&w->rng, 4) == 0) { tg_obj *x = tg_list_pop(gcm_shared, 0); tg_xdecref(x); tg_error_clear(); }
        tg_decref(a);
        tg_decref(b);
        if (tgs_below(&w->rng, 64) == 0 && tg_gc_collect((int)tgs_below(&w->rng, 3)) < 0)
            tgs_fail(ctx, "tg_gc_collect failed during mutation: %s", tg_error_message());
        tgs_op(w);
        if (tgs_below(&w->rng, 8) == 0) tgs_pause(w);
    }
    tg_decref(refs);
}

static int gcm_run(tgs_ctx *ctx)
{
    if (tg_gc_collect(0) < 0) {
        if (tg_error() == TG_ERR_STATE)
            return tgs_unavailable(ctx, "%s", tg_error_message());
        return tgs_fail(ctx, "tg_gc_collect(0) failed: %s", tg_error_message());
    }
    gcm_ctx = ctx;
    if (ctx->round == 0 || !node_type) {
        tg_type_spec spec = { .name = "stress.node", .payload_size = sizeof(node), .flags = TG_TYPE_GC,
                              .traverse = node_traverse, .clear = node_clear, .finalize = node_finalize,
                              .dealloc = node_dealloc };
        node_type = tg_type_new(&spec);
        if (!node_type) return tgs_fail(ctx, "tg_type_new failed: %s", tg_error_message());
    }
    gcm_made = gcm_finalized = gcm_freed = gcm_callbacks = 0;
    gcm_shared = tg_list_new(0);
    tgs_run_threads(ctx, ctx->threads, gcm_worker, NULL);
    tg_decref(gcm_shared);
    tg_gc_collect(-1);
    tg_gc_collect(-1);
    long made = gcm_made, fin = gcm_finalized, freed = gcm_freed;
    TGS_CHECK(ctx, fin == made, "%ld cycle nodes made, %ld finalized (expected each exactly once)", made, fin);
    TGS_CHECK(ctx, freed == made, "%ld cycle nodes made, %ld deallocated after full collections", made, freed);
    /* Weakref callbacks: the weakrefs died with their thread's list, before or
       after their targets; a callback may run only for a weakref that was alive. */
    TGS_CHECK(ctx, gcm_callbacks <= made / 2, "%ld weakref callbacks for %ld weakrefs", (long)gcm_callbacks, made / 2);
    return tgs_failures(ctx) ? TGS_FAILED : TGS_OK;
}

const tgs_scenario tgs_scen_gc_mutation = {
    .name = "gc_mutation",
    .description = "threads build cycles with allocating finalizers and weakref callbacks while collections run",
    .invariants = "every cycle node finalized exactly once and freed after full collections; callbacks at most once per weakref; "
                  "no crash when finalizers and callbacks allocate mid-collection",
    .run = gcm_run,
};
