/*
 * runtime/list.c — lists.
 *
 * The items live in a separately allocated _tg_items block that carries its
 * own capacity; growing replaces the block (never reallocs in place), so a
 * reader holding the old block still sees a consistent (cap, item[]) pair —
 * the property free-threaded mode's lock-free reads rely on.
 *
 * Every mutation is ordered so that a failure changes nothing, and so that
 * references are dropped only after the list is consistent again (a decref
 * can run arbitrary finalizers that look at the list).
 */
#include <pthread.h>
#include "runtime/internal.h"
#include "sync/chaos.h"
#include "sync/sync.h"

static void items_free(_tg_items *it) { tg_mem_free(it); }

static _tg_items *items_alloc(size_t cap)
{
    if (cap > (SIZE_MAX / 2 - sizeof(_tg_items)) / sizeof(tg_obj *)) {
        _tg_err_set(TG_ERR_OVERFLOW, "list too long");
        return NULL;
    }
    _tg_items *it = tg_mem_alloc(sizeof(_tg_items) + cap * sizeof(tg_obj *));
    if (!it) { _tg_err_nomem(); return NULL; }
    it->cap = cap;
    return it;
}

/* defer: a live list (tg_list_clear in free-threaded mode): lock-free
   readers may hold the block or be taking a reference to an item. A dead
   list (deallocation, or garbage the collector clears) has no readers. */
static void list_detach(tg_obj *o, bool defer)
{
    _tg_list *l = (_tg_list *)o;
    _tg_items *it = l->items;
    size_t n = l->len;
    __atomic_store_n(&l->items, NULL, __ATOMIC_RELEASE);
    __atomic_store_n(&l->len, 0, __ATOMIC_RELEASE);
    if (it && defer) {
        for (size_t i = 0; i < n; i++) _tg_qsbr_defer_decref(it->item[i]);
        _tg_qsbr_retire(it);
    } else if (it) {
        for (size_t i = 0; i < n; i++) tg_decref(it->item[i]);
        items_free(it);
    }
}

static void list_destroy(tg_obj *o) { list_detach(o, false); }

static void list_release(tg_obj *o)
{
    if (_tg_ft()) _tg_sticky_on_free(o);     /* a lock held in reserve (sync/bias.c) */
    if (!_tg_obj_recycle(o, &_tg_ts()->fl_list, _TG_LIST_FREELIST_MAX))
        _tg_obj_free(o);
}

static int list_traverse(tg_obj *o, tg_visitproc visit, void *arg)
{
    _tg_list *l = (_tg_list *)o;
    for (size_t i = 0; i < l->len; i++) {
        int r = visit(l->items->item[i], arg);
        if (r) return r;
    }
    return 0;
}

static void list_clear_slot(tg_obj *o) { list_detach(o, false); }   /* the collector: garbage */

static void list_note_reader(tg_obj *o);

static size_t list_sizeof(const tg_obj *co)
{
    tg_obj *o = (tg_obj *)(uintptr_t)co;
    const _tg_list *l = (const _tg_list *)o;
    bool biased = false;
    if (_tg_ft() && !(biased = _tg_bias_enter(o))) {
        _tg_bias_claim(o);
        list_note_reader(o);                 /* the block may be replaced, not moved, under us */
    }
    _tg_items *it = __atomic_load_n(&l->items, __ATOMIC_ACQUIRE);
    size_t n = sizeof(_tg_list) + (it ? sizeof(_tg_items) + __atomic_load_n(&it->cap, __ATOMIC_RELAXED) * sizeof(tg_obj *) : 0);
    if (biased) _tg_bias_exit();
    return n;
}

tg_type _tg_list_type = {
    .name = "list", .basicsize = sizeof(_tg_list), .kind = _TG_K_LIST,
    .flags = _TG_GC_FLAGS | _TG_TPF_BUILTIN,
    .traverse = list_traverse, .clear = list_clear_slot, .destroy = list_destroy,
    .release = list_release, .size_of = list_sizeof,
};

TG_API tg_obj *tg_list_new(size_t capacity_hint)
{
    _tg_items *it = NULL;
    if (capacity_hint && !(it = items_alloc(capacity_hint))) return NULL;
    _tg_list *l = (_tg_list *)_tg_obj_reuse(&_tg_ts()->fl_list);
    if (!l && !(l = (_tg_list *)_tg_obj_alloc(&_tg_list_type, sizeof(_tg_list)))) {
        if (it) items_free(it);
        return NULL;
    }
    l->len = 0;
    l->items = it;
    _tg_gc_track(&l->base);
    _tg_gc_on_alloc();
    return &l->base;
}

/* Make room for `need` items; on failure the list is unchanged. CPython's
   growth pattern: 0, 4, 8, 16, 24, 32, 40, 52, 64, 76, ...
   GIL mode has no lock-free readers, so the block grows in place (realloc:
   large blocks are moved by mremap, not copied). Free-threaded mode does the
   same while no lock-free reader can be in the block, and otherwise
   replaces the block, so that readers holding the old one stay safe. */
static int list_grow_copy(_tg_list *l, size_t ncap, size_t cap);
static int list_reserve(_tg_list *l, size_t need)
{
    size_t cap = l->items ? l->items->cap : 0;
    if (need <= cap) return 0;
    size_t ncap = need + (need >> 3) + 6;
    ncap &= ~(size_t)3;
    if (ncap < need) ncap = need;
    /* In place, as GIL mode does, when no lock-free reader can be in the
       block: inside the owner's biased section (sync/bias.c: a reader
       revokes the bias first and waits for the section to end), or when no
       thread has ever read the list without its lock (list_mark_readers;
       the caller holds the lock, so none can start meanwhile). The free
       slots are not zeroed here: the first lock-free reader zeroes them.
       An operation under a reserved lock announces the list in the same
       slot as a biased section, but the list is SHARED then. */
    if (_tg_ft()) {
        uint8_t lockv = __atomic_load_n(&l->base.ob_mutex.v, __ATOMIC_RELAXED);
        bool biased = _tg_tls_bias == &l->base && !(lockv & _TG_BIAS_SHARED);
        bool unread = (lockv & _TG_BIAS_SHARED) && !(lockv & _TG_LOCK_READERS);
        if (!biased && !unread) return list_grow_copy(l, ncap, cap);
    }
    if (ncap > (SIZE_MAX / 2 - sizeof(_tg_items)) / sizeof(tg_obj *)) {
        _tg_err_set(TG_ERR_OVERFLOW, "list too long");
        return -1;
    }
    _tg_items *grown = tg_mem_realloc(l->items, sizeof(_tg_items) + ncap * sizeof(tg_obj *));
    if (!grown) { _tg_err_nomem(); return -1; }
    grown->cap = ncap;
    __atomic_store_n(&l->items, grown, __ATOMIC_RELEASE);
    return 0;
}

/* Free-threaded growth when lock-free readers may be in the block. */
static int list_grow_copy(_tg_list *l, size_t ncap, size_t cap)
{
    /* Free-threaded mode copies the items into a new block at every growth
       (readers may hold the old one), so it doubles instead of growing by an
       eighth: one item copy per append on average instead of eight, and far
       fewer blocks waiting for a grace period. */
    if (ncap < 2 * cap) ncap = 2 * cap;
    _tg_items *nit = items_alloc(ncap);
    if (!nit) return -1;
    _tg_items *old = l->items;
    if (l->len) memcpy(nit->item, old->item, l->len * sizeof(tg_obj *));
    /* The slots past len are NULL, never stale memory: a lock-free reader
       that loaded this block and then a later, larger len (after an extend
       replaced the block) reads slots this block never filled, and must find
       NULL there (it then takes the lock), not a pointer to try-incref. */
    memset(nit->item + l->len, 0, (ncap - l->len) * sizeof(tg_obj *));
    __atomic_store_n(&l->items, nit, __ATOMIC_RELEASE);   /* published to lock-free readers */
    _tg_qsbr_retire(old);                                  /* freed after a grace period */
    return 0;
}

TG_API size_t tg_list_len(tg_obj *o)
{
    TG_CHECK_KIND(o, _TG_K_LIST, 0);
    return __atomic_load_n(&((_tg_list *)o)->len, __ATOMIC_RELAXED);   /* lock-free in both modes */
}

static int tg_list_append_impl(tg_obj *o, tg_obj *item)
{
    TG_CHECK_KIND(o, _TG_K_LIST, -1);
    if (!item) { _tg_err_set(TG_ERR_VALUE, "tg_list_append: NULL item"); return -1; }
    _tg_list *l = (_tg_list *)o;
    TG_CHAOS_POINT(TG_CHAOS_SITE_LIST);
#if defined(TG_PLANT_RACE) && TG_PLANT_RACE
    /* PLANTED BUG, only in the tangle-stress-planted test build
       (stress/harness.cmake): the GIL is dropped between reading the length
       and storing the item, so two appends can claim the same slot (a lost
       update). `tangle stress --chaos` must catch it. */
    size_t n = l->len;
    { tg_tstate *planted = tg_release(); TG_CHAOS_POINT(TG_CHAOS_SITE_GIL_RELEASE); tg_reacquire(planted); }
    if (list_reserve(l, (n + 1 > l->len ? n + 1 : l->len)) < 0) return -1;
    l->items->item[n] = _tg_newref(item);
    l->len = n + 1;
    return 0;
#endif
    if (TG_UNLIKELY(!l->items || l->len == l->items->cap) && list_reserve(l, l->len + 1) < 0)
        return -1;
    size_t len = l->len;
    __atomic_store_n(&l->items->item[len], _tg_newref(item), __ATOMIC_RELEASE);
    __atomic_store_n(&l->len, len + 1, __ATOMIC_RELEASE);
    return 0;
}

static bool normalize_index(ptrdiff_t *i, size_t len)
{
    if (*i < 0) *i += (ptrdiff_t)len;
    return *i >= 0 && (size_t)*i < len;
}

/* Lock-free readers and the block (free-threaded mode). A writer that
   grows a list replaces its block by a copy and frees the old one after a
   grace period, because a lock-free reader may be reading it — unless no
   thread has ever read the list without its lock: a list whose lock byte
   lacks _TG_LOCK_READERS is grown in place (realloc, no copy: one page
   fault per new page instead of a copy of the whole block, as in GIL mode).
   A lock-free reader sets the bit once per list, under the lock, before
   its first read; the bit never clears. So a writer (who holds the lock)
   that sees it clear knows that no reader is in the block. The owner of a
   biased list reads inside a biased section instead (a writer that revokes
   the bias waits for it to end). */
static void list_open_to_readers(tg_obj *o)
{
    _tg_list *l = (_tg_list *)o;
    if (__atomic_load_n(&o->ob_mutex.v, __ATOMIC_RELAXED) & _TG_LOCK_READERS) return;
    /* The slots past len of a block readers can see are NULL (list_reserve
       says why); a block grown in place, or allocated by tg_list_new, has
       not been zeroed. */
    if (l->items && l->items->cap > l->len)
        memset(l->items->item + l->len, 0, (l->items->cap - l->len) * sizeof(tg_obj *));
    /* release: the zeroed slots before the bit, for a reader that checks
       the bit (acquire) without taking the lock */
    __atomic_fetch_or(&o->ob_mutex.v, (uint8_t)_TG_LOCK_READERS, __ATOMIC_RELEASE);
}
static TG_NOINLINE void list_mark_readers(tg_obj *o)
{
    if (_tg_stw_is_stopped()) {              /* no writer runs; nothing to lock */
        list_open_to_readers(o);
        return;
    }
    /* The only thread (a fork child, typically, where the lock may have been
       left held by a thread that did not come along): no writer can be in
       the block, and one that registers later sees the bit (set under the
       registry lock it takes to register). */
    pthread_mutex_lock(&_tg_rt.registry_lock);
    bool alone = _tg_rt.nthreads == 1;
    if (alone) list_open_to_readers(o);
    pthread_mutex_unlock(&_tg_rt.registry_lock);
    if (alone) return;
    tg_critical_section cs;
    _tg_cs_begin(&cs, o, NULL);
    list_open_to_readers(o);
    _tg_cs_end(&cs);
}
static inline void list_note_reader(tg_obj *o)
{
    if (TG_UNLIKELY(!(__atomic_load_n(&o->ob_mutex.v, __ATOMIC_ACQUIRE) & _TG_LOCK_READERS)))
        list_mark_readers(o);
}

static tg_obj *list_get_locked(tg_obj *o, ptrdiff_t i)
{
    _tg_list *l = (_tg_list *)o;
    tg_critical_section cs;
    if (_tg_ft()) _tg_cs_begin(&cs, o, NULL);
    tg_obj *r = NULL;
    if (!normalize_index(&i, l->len)) _tg_err_set(TG_ERR_INDEX, "list index out of range");
    else r = _tg_newref(l->items->item[i]);
    if (_tg_ft()) _tg_cs_end(&cs);
    return r;
}

/* Free-threaded mode: no lock in the common case (docs/free-threading.md).
   Load the block and the length, read the slot, take a reference with a
   try-incref (the slot's previous owner drops its reference only after a
   grace period, so the item's memory is valid), then check that the slot
   still holds it in the list's current block; otherwise take the lock. */
static tg_obj *list_get_lockfree(tg_obj *o, ptrdiff_t i)
{
    _tg_list *l = (_tg_list *)o;
    _tg_safepoint_check();
    if (_tg_bias_enter(o)) {                 /* the owner, bias standing: a plain read */
        tg_obj *r = NULL;
        if (!normalize_index(&i, l->len)) _tg_err_set(TG_ERR_INDEX, "list index out of range");
        else r = _tg_newref(l->items->item[i]);
        _tg_bias_exit();
        return r;
    }
    _tg_bias_claim(o);                      /* another thread's biased list: revoke first */
    list_note_reader(o);
    _tg_items *it = __atomic_load_n(&l->items, __ATOMIC_ACQUIRE);
    size_t len = __atomic_load_n(&l->len, __ATOMIC_ACQUIRE);
    ptrdiff_t j = i;
    if (it && normalize_index(&j, len) && (size_t)j < it->cap) {
        tg_obj *x = __atomic_load_n(&it->item[j], __ATOMIC_ACQUIRE);
        if (x && _tg_try_incref_fast(x)) {
            if (__atomic_load_n(&l->items, __ATOMIC_ACQUIRE) == it
                && __atomic_load_n(&it->item[j], __ATOMIC_ACQUIRE) == x)
                return x;
            tg_decref(x);
        }
    }
    return list_get_locked(o, i);
}

TG_API tg_obj *tg_list_get(tg_obj *o, ptrdiff_t i)
{
    TG_CHECK_KIND(o, _TG_K_LIST, NULL);
    if (_tg_ft()) return list_get_lockfree(o, i);
    _tg_list *l = (_tg_list *)o;
    if (!normalize_index(&i, l->len)) {
        _tg_err_set(TG_ERR_INDEX, "list index out of range");
        return NULL;
    }
    return _tg_newref(l->items->item[i]);
}

static int tg_list_set_impl(tg_obj *o, ptrdiff_t i, tg_obj *item)
{
    TG_CHECK_KIND(o, _TG_K_LIST, -1);
    if (!item) { _tg_err_set(TG_ERR_VALUE, "tg_list_set: NULL item"); return -1; }
    _tg_list *l = (_tg_list *)o;
    TG_CHAOS_POINT(TG_CHAOS_SITE_LIST);
    if (!normalize_index(&i, l->len)) {
        _tg_err_set(TG_ERR_INDEX, "list assignment index out of range");
        return -1;
    }
    tg_obj *old = l->items->item[i];
    __atomic_store_n(&l->items->item[i], _tg_newref(item), __ATOMIC_RELEASE);
    if (_tg_ft()) _tg_qsbr_defer_decref(old); else tg_decref(old);
    return 0;
}

static int tg_list_insert_impl(tg_obj *o, ptrdiff_t i, tg_obj *item)
{
    TG_CHECK_KIND(o, _TG_K_LIST, -1);
    if (!item) { _tg_err_set(TG_ERR_VALUE, "tg_list_insert: NULL item"); return -1; }
    _tg_list *l = (_tg_list *)o;
    TG_CHAOS_POINT(TG_CHAOS_SITE_LIST);
    ptrdiff_t n = (ptrdiff_t)l->len;
    if (i < 0) { i += n; if (i < 0) i = 0; }
    if (i > n) i = n;
    if (list_reserve(l, l->len + 1) < 0) return -1;
    tg_obj **items = l->items->item;
    /* Slot by slot for lock-free readers, each store a release: a reader
       that acquires an item from the slot it moved to must also see the
       item's initialisation by the thread that created it (a relaxed store
       by this thread would not carry that happens-before edge; TSan
       reported the reader's try-incref racing with the item's init_counts). */
    for (ptrdiff_t k = n; k > i; k--)
        __atomic_store_n(&items[k], items[k - 1], __ATOMIC_RELEASE);
    __atomic_store_n(&items[i], _tg_newref(item), __ATOMIC_RELEASE);
    __atomic_store_n(&l->len, l->len + 1, __ATOMIC_RELEASE);
    return 0;
}

static tg_obj *tg_list_pop_impl(tg_obj *o, ptrdiff_t i)
{
    TG_CHECK_KIND(o, _TG_K_LIST, NULL);
    _tg_list *l = (_tg_list *)o;
    TG_CHAOS_POINT(TG_CHAOS_SITE_LIST);
    if (l->len == 0) {
        _tg_err_set(TG_ERR_INDEX, "pop from empty list");
        return NULL;
    }
    if (!normalize_index(&i, l->len)) {
        _tg_err_set(TG_ERR_INDEX, "pop index out of range");
        return NULL;
    }
    tg_obj **items = l->items->item;
    tg_obj *r = items[i];                       /* the list's reference becomes the caller's */
    size_t n = l->len;
    for (size_t k = (size_t)i; k + 1 < n; k++)   /* slot by slot, release: see insert */
        __atomic_store_n(&items[k], items[k + 1], __ATOMIC_RELEASE);
    __atomic_store_n(&items[n - 1], NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&l->len, n - 1, __ATOMIC_RELEASE);
    if (_tg_ft()) {
        /* a reader may have just read r from its slot: the list's reference
           goes after a grace period, the caller gets a new one */
        tg_incref(r);
        _tg_qsbr_defer_decref(r);
    }
    return r;
}

static int tg_list_extend_impl(tg_obj *o, tg_obj *other)
{
    TG_CHECK_KIND(o, _TG_K_LIST, -1);
    if (!other) { _tg_err_set(TG_ERR_VALUE, "tg_list_extend: NULL argument"); return -1; }
    _tg_list *l = (_tg_list *)o;
    TG_CHAOS_POINT(TG_CHAOS_SITE_LIST);
    tg_obj **src;
    size_t n;
    if (_tg_kind_of(other) == _TG_K_LIST) {
        n = ((_tg_list *)other)->len;
        src = n ? ((_tg_list *)other)->items->item : NULL;
    } else if (_tg_kind_of(other) == _TG_K_TUPLE) {
        n = ((_tg_tuple *)other)->n;
        src = ((_tg_tuple *)other)->items;
    } else {
        _tg_err_set(TG_ERR_TYPE, "tg_list_extend: expected list or tuple, got %s", other->ob_type->name);
        return -1;
    }
    if (n == 0) return 0;
    if (l->len + n < l->len) { _tg_err_set(TG_ERR_OVERFLOW, "list too long"); return -1; }
    if (list_reserve(l, l->len + n) < 0) return -1;
    if (other == o) src = l->items->item;       /* l.extend(l): the (possibly new) array */
    tg_obj **dst = l->items->item + l->len;
    for (size_t k = 0; k < n; k++) __atomic_store_n(&dst[k], _tg_newref(src[k]), __ATOMIC_RELEASE);
    __atomic_store_n(&l->len, l->len + n, __ATOMIC_RELEASE);
    return 0;
}

static int tg_list_clear_impl(tg_obj *o)
{
    TG_CHECK_KIND(o, _TG_K_LIST, -1);
    list_detach(o, _tg_ft());                   /* detaches the items first, then decrefs */
    return 0;
}

/* ------------------------------------------------ free-threaded locking
   Every mutation runs under the list's own lock (ob_mutex) in free-threaded
   mode — or, for the list's owner while its bias stands, in a biased section
   (sync/bias.c: a thread-local store instead of two atomics; the mutations
   below defer their decrefs and never block, as a biased section requires).
   In GIL mode one predictable branch is the only cost. tg_list_extend locks
   both lists in address order. */

#define LOCKED1(o, T, call) do {                                            \
        if (!_tg_ft() || !(o) || _tg_kind_of(o) != _TG_K_LIST) return call;   \
        if (_tg_bias_enter(o)) { T r_ = call; _tg_bias_exit(); return r_; }   \
        if (_tg_sticky_enter(o)) { T r_ = call; _tg_sticky_exit(); return r_; } \
        if (_tg_lock_quick(o)) { T r_ = call; _tg_lock_quick_end(o); return r_; } \
        tg_critical_section cs_; _tg_cs_begin(&cs_, (o), NULL);              \
        T r_ = call; _tg_cs_end(&cs_); return r_; } while (0)

/* The append's locked paths, out of line: the owner's biased path in
   tg_list_append then needs no stack frame for a critical section. */
static TG_NOINLINE int list_append_locked(tg_obj *o, tg_obj *item)
{
    if (_tg_lock_quick(o)) { int r = tg_list_append_impl(o, item); _tg_lock_quick_end(o); return r; }
    tg_critical_section cs;
    _tg_cs_begin(&cs, o, NULL);
    int r = tg_list_append_impl(o, item);
    _tg_cs_end(&cs);
    return r;
}

/* Inside a biased section or under a reserved lock (free-threaded mode):
   the append that tg_list_append's inline path leaves (growth, an item
   another thread owns, errors), then the section's end. A tail call from
   there, so that the inline path needs no stack frame. */
static TG_NOINLINE int list_append_in_section(tg_obj *o, tg_obj *item)
{
    int r = tg_list_append_impl(o, item);
    _tg_bias_exit();                         /* the same slot for both */
    return r;
}

/* The common append, with no call but tail calls: in GIL mode, or in
   free-threaded mode inside the owner's biased section or under a reserved
   lock; room in the block; the item immortal or owned by the calling
   thread (its count a plain increment). Anything else goes out of line:
   tg_list_append_impl (GIL mode, errors), list_append_in_section,
   list_append_locked. Written once, inlined once per mode (ft a constant
   there), so that each mode's path is straight-line code. */
static inline __attribute__((always_inline)) int list_append_fast(tg_obj *o, tg_obj *item, bool ft)
{
    /* the owner while the bias stands, or the holder of a reserved lock */
    if (ft && !_tg_bias_enter(o) && !_tg_sticky_enter(o)) return list_append_locked(o, item);
    _tg_list *l = (_tg_list *)o;
    _tg_items *it = l->items;
    size_t len = l->len;
    uint32_t n = __atomic_load_n(&item->ob_ref_local, __ATOMIC_RELAXED) + 1;   /* 0: immortal */
    if (TG_UNLIKELY(!it || len == it->cap
                    || (n && __atomic_load_n(&item->ob_tid, __ATOMIC_RELAXED) != _tg_tls_tid)))
        return ft ? list_append_in_section(o, item) : tg_list_append_impl(o, item);
    if (n) __atomic_store_n(&item->ob_ref_local, n, __ATOMIC_RELAXED);   /* tg_incref's owner path */
    TG_CHAOS_POINT(TG_CHAOS_SITE_LIST);
    __atomic_store_n(&it->item[len], item, __ATOMIC_RELEASE);
    __atomic_store_n(&l->len, len + 1, __ATOMIC_RELEASE);
    if (ft) _tg_bias_exit();                 /* the same slot for both */
    return 0;
}

TG_API int tg_list_append(tg_obj *o, tg_obj *item)
{
#if defined(TG_PLANT_FT_RACE) && TG_PLANT_FT_RACE
    /* PLANTED BUG (the tangle-stress-ft-planted build only): append without
       the list's lock. The ft_append_exact scenario must catch it. */
    return tg_list_append_impl(o, item);
#endif
    if (TG_UNLIKELY(!o || !item || _tg_kind_of(o) != _TG_K_LIST)) return tg_list_append_impl(o, item);
    if (_tg_ft()) return list_append_fast(o, item, true);
    return list_append_fast(o, item, false);
}
TG_API int tg_list_set(tg_obj *o, ptrdiff_t i, tg_obj *item) { LOCKED1(o, int, tg_list_set_impl(o, i, item)); }
TG_API int tg_list_insert(tg_obj *o, ptrdiff_t i, tg_obj *item) { LOCKED1(o, int, tg_list_insert_impl(o, i, item)); }
TG_API tg_obj *tg_list_pop(tg_obj *o, ptrdiff_t i) { LOCKED1(o, tg_obj *, tg_list_pop_impl(o, i)); }
TG_API int tg_list_clear(tg_obj *o) { LOCKED1(o, int, tg_list_clear_impl(o)); }
TG_API int tg_list_extend(tg_obj *o, tg_obj *other)
{
    if (!_tg_ft() || !o || !other || _tg_kind_of(o) != _TG_K_LIST) return tg_list_extend_impl(o, other);
    tg_critical_section cs;
    _tg_cs_begin(&cs, o, other);           /* both, in address order */
    int r = tg_list_extend_impl(o, other);
    _tg_cs_end(&cs);
    return r;
}
