/*
 * runtime/dict.c — insertion-ordered compact hash tables: dicts, and the
 * attribute storage of generic objects (both use the _tg_dk_* core).
 *
 * A table (_tg_dkeys) is one block: an index array of 2^k slots of 1..8
 * bytes, then an entry array in insertion order. An index slot holds EMPTY
 * (-1), DUMMY (-2, a deleted entry: probing continues past it) or the
 * position of an entry. Probing is CPython's perturbed scheme, which visits
 * every slot. Deleted entries keep their place (key NULL) until a resize
 * compacts the table. usable = 2/3 of the slots, so the index is at most 2/3
 * full and a probe always finds EMPTY.
 *
 * Invariant: used (live entries) ≤ nentries (entries written) ≤ usable.
 *
 * Comparisons can call an embedder's eq, which might change the table: a
 * lookup that sees its table replaced after a comparison starts over.
 */
#include "runtime/internal.h"
#include "sync/chaos.h"
#include "sync/sync.h"

#define DKIX_EMPTY (-1)
#define DKIX_DUMMY (-2)
#define PERTURB_SHIFT 5
#define MIN_LOG2 3

static inline size_t dk_size(const _tg_dkeys *k) { return (size_t)1 << k->log2_size; }

/* tg_hash with the common keys inline: ints and bools hash to their value
   (-1 becomes -2, as tg_hash does), strings use their cached hash;
   key_hash_inline says false for the rest (and an unhashed str). */
static inline bool key_hash_inline(tg_obj *key, int64_t *h)
{
    _tg_kind k = _tg_kind_of(key);
    if (k == _TG_K_INT || k == _TG_K_BOOL) {
        int64_t v = ((_tg_int *)key)->value;
        *h = v == -1 ? -2 : v;
        return true;
    }
    if (k == _TG_K_STR) {
        *h = __atomic_load_n(&((_tg_str *)key)->hash, __ATOMIC_RELAXED);
        return *h != -1;
    }
    return false;
}
static inline int64_t key_hash(tg_obj *key)
{
    int64_t h;
    return key_hash_inline(key, &h) ? h : tg_hash(key);
}

_tg_dentry *_tg_dk_entries(_tg_dkeys *k)
{
    return (_tg_dentry *)(k->indices + ((size_t)k->ixbytes << k->log2_size));
}

static inline int64_t ix_get(const _tg_dkeys *k, size_t i)
{
    /* acquire: a lock-free reader (free-threaded mode) that sees an entry's
       position sees the entry; free on x86 */
    switch (k->ixbytes) {
    case 1: return __atomic_load_n(&((const int8_t *)k->indices)[i], __ATOMIC_ACQUIRE);
    case 2: return __atomic_load_n(&((const int16_t *)k->indices)[i], __ATOMIC_ACQUIRE);
    case 4: return __atomic_load_n(&((const int32_t *)k->indices)[i], __ATOMIC_ACQUIRE);
    default: return __atomic_load_n(&((const int64_t *)k->indices)[i], __ATOMIC_ACQUIRE);
    }
}

static inline void ix_set(_tg_dkeys *k, size_t i, int64_t ix)
{
    switch (k->ixbytes) {
    case 1: __atomic_store_n(&((int8_t *)k->indices)[i], (int8_t)ix, __ATOMIC_RELEASE); break;
    case 2: __atomic_store_n(&((int16_t *)k->indices)[i], (int16_t)ix, __ATOMIC_RELEASE); break;
    case 4: __atomic_store_n(&((int32_t *)k->indices)[i], (int32_t)ix, __ATOMIC_RELEASE); break;
    default: __atomic_store_n(&((int64_t *)k->indices)[i], ix, __ATOMIC_RELEASE); break;
    }
}

static size_t usable_for(uint8_t log2) { return ((size_t)2 << log2) / 3; }

static size_t dk_bytes(uint8_t log2, uint8_t ixbytes)
{
    return sizeof(_tg_dkeys) + ((size_t)ixbytes << log2) + usable_for(log2) * sizeof(_tg_dentry);
}

size_t _tg_dk_sizeof(const _tg_dkeys *k) { return k ? dk_bytes(k->log2_size, k->ixbytes) : 0; }

static _tg_dkeys *dk_new(uint8_t log2)
{
    if (log2 > 40) { _tg_err_set(TG_ERR_OVERFLOW, "dict too large"); return NULL; }
    uint8_t ixb = log2 < 8 ? 1 : log2 < 16 ? 2 : log2 < 32 ? 4 : 8;
    _tg_dkeys *k = tg_mem_alloc(dk_bytes(log2, ixb));
    if (!k) { _tg_err_nomem(); return NULL; }
    k->log2_size = log2;
    k->ixbytes = ixb;
    k->usable = usable_for(log2);
    k->nentries = 0;
    memset(k->indices, 0xff, (size_t)ixb << log2);     /* every slot DKIX_EMPTY */
    return k;
}

/* Inside an owner-biased section (sync/bias.c) nothing may run that could
   block or reach a safepoint: only comparisons that are plain data compares
   (numbers, strings, bytes, or types without an embedder `eq`, which compare
   unequal) are made there; any other needs the lock (DK_NEEDS_LOCK). */
#define DK_NEEDS_LOCK (-4)
static bool eq_is_plain(const tg_obj *a, const tg_obj *b)
{
    _tg_kind ka = _tg_kind_of(a), kb = _tg_kind_of(b);
    bool na = ka == _TG_K_INT || ka == _TG_K_BOOL || ka == _TG_K_FLOAT;
    bool nb = kb == _TG_K_INT || kb == _TG_K_BOOL || kb == _TG_K_FLOAT;
    if (na && nb) return true;
    if (a->ob_type == b->ob_type) return ka == _TG_K_STR || ka == _TG_K_BYTES;
    bool ea = a->ob_type->eq && !(a->ob_type->flags & _TG_TPF_BUILTIN);
    bool eb = b->ob_type->eq && !(b->ob_type->flags & _TG_TPF_BUILTIN);
    return !ea && !eb;
}

/* Find key: the entry's position, or DKIX_EMPTY; *slot gets the index slot.
   -2 + *err on a failing comparison; -3 if the table changed under it;
   DK_NEEDS_LOCK inside a biased section when a comparison could run code. */
static inline __attribute__((always_inline)) int64_t dk_lookup(_tg_dkeys **kp, tg_obj *key, int64_t hash, size_t *slot, int *err)
{
    _tg_dkeys *k = *kp;
    _tg_dentry *e = _tg_dk_entries(k);
    size_t mask = dk_size(k) - 1, i = (size_t)hash & mask;
    uint64_t perturb = (uint64_t)hash;
    for (;;) {
        int64_t ix = ix_get(k, i);
        if (ix == DKIX_EMPTY) { *slot = i; return DKIX_EMPTY; }
        if (ix >= 0) {
            tg_obj *ek = e[ix].key;
            if (ek == key) { *slot = i; return ix; }
            if (e[ix].hash == hash) {
                if (_tg_tls_bias && !eq_is_plain(ek, key)) return DK_NEEDS_LOCK;
                /* Hold the key: the comparison may drop the entry. */
                tg_incref(ek);
                int r = tg_eq(ek, key);
                tg_decref(ek);
                if (*kp != k || e[ix].key != ek) return -3;
                if (r < 0) { *err = 1; return -2; }
                if (r) { *slot = i; return ix; }
            }
        }
        perturb >>= PERTURB_SHIFT;
        i = (i * 5 + perturb + 1) & mask;
    }
}

static inline int64_t dk_lookup_stable(_tg_dkeys **kp, tg_obj *key, int64_t hash, size_t *slot, int *err)
{
    int64_t ix;
    while ((ix = dk_lookup(kp, key, hash, slot, err)) == -3) {}
    return ix;
}

/* An EMPTY slot for hash (the key is known to be absent; no DUMMY reuse,
   so that lookups of other keys stay correct). */
static inline __attribute__((always_inline)) size_t dk_empty_slot(_tg_dkeys *k, int64_t hash)
{
    size_t mask = dk_size(k) - 1, i = (size_t)hash & mask;
    uint64_t perturb = (uint64_t)hash;
    while (ix_get(k, i) != DKIX_EMPTY) {
        perturb >>= PERTURB_SHIFT;
        i = (i * 5 + perturb + 1) & mask;
    }
    return i;
}

/* Rebuild *kp with room for at least `need` live entries, compacting. */
static inline __attribute__((always_inline)) int dk_resize(_tg_dkeys **kp, size_t used, size_t need)
{
    uint8_t log2 = MIN_LOG2;
    while (usable_for(log2) < need) log2++;
    _tg_dkeys *nk = dk_new(log2);
    if (!nk) return -1;
    _tg_dkeys *old = *kp;
    if (old) {
        _tg_dentry *src = _tg_dk_entries(old), *dst = _tg_dk_entries(nk);
        size_t j = 0;
        for (size_t i = 0; i < old->nentries; i++) {
            if (!src[i].key) continue;
            dst[j] = src[i];
            ix_set(nk, dk_empty_slot(nk, src[i].hash), (int64_t)j);
            j++;
        }
        nk->nentries = j;
        TG_ASSERT2(j == used);
    }
    (void)used;
    __atomic_store_n(kp, nk, __ATOMIC_RELEASE);     /* published to lock-free readers */
    /* Lock-free readers may hold the old table — except inside its owner's
       biased section (sync/bias.c: readers revoke the bias first). */
    if (old && _tg_ft() && !(_tg_tls_bias && &((_tg_dict *)_tg_tls_bias)->keys == kp)) _tg_qsbr_retire(old);
    else if (old) tg_mem_free(old);
    return 0;
}

tg_obj *_tg_dk_get(_tg_dkeys *const *kp, tg_obj *key, int64_t hash, int *err)
{
    if (!*kp) return NULL;
    size_t slot;
    _tg_dkeys **kk = (_tg_dkeys **)kp;          /* dk_lookup only reads through it */
    int64_t ix = dk_lookup_stable(kk, key, hash, &slot, err);
    return ix >= 0 ? _tg_dk_entries(*kk)[ix].value : NULL;
}

/* Written once, inlined twice: _tg_dk_set, and the owner's biased section
   of tg_dict_set (dict_set_biased), which then makes no call. */
static inline __attribute__((always_inline))
int dk_set_impl(_tg_dkeys **kp, size_t *used, tg_obj *key, int64_t hash, tg_obj *value)
{
    size_t slot = 0;
    int err = 0;
    _tg_dkeys *probed = NULL;       /* the table whose empty slot the lookup found */
    if (*kp) {
        int64_t ix = dk_lookup_stable(kp, key, hash, &slot, &err);
        if (ix == DK_NEEDS_LOCK) return -2;
        if (err) return -1;
        probed = *kp;
        if (ix >= 0) {
            _tg_dentry *e = &_tg_dk_entries(*kp)[ix];
            tg_obj *old = e->value;
            __atomic_store_n(&e->value, _tg_newref(value), __ATOMIC_RELEASE);
            if (_tg_ft()) _tg_qsbr_defer_decref(old); else tg_decref(old);
            return 0;
        }
    }
    if (!*kp || (*kp)->nentries == (*kp)->usable) {
        /* Room for twice the live entries (CPython's GROWTH_RATE of 3x the
           slots): a table full of deleted entries is compacted instead. */
        size_t need = *used * 2 < 5 ? 5 : *used * 2;
        if (dk_resize(kp, *used, need) < 0) return -1;
        probed = NULL;
    }
    _tg_dkeys *k = *kp;
    size_t pos = k->nentries++;
    _tg_dentry *e = &_tg_dk_entries(k)[pos];
    __atomic_store_n(&e->hash, hash, __ATOMIC_RELAXED);
    __atomic_store_n(&e->key, _tg_newref(key), __ATOMIC_RELAXED);
    __atomic_store_n(&e->value, _tg_newref(value), __ATOMIC_RELAXED);
    /* The lookup stopped at the first empty slot of the key's probe
       sequence: the one dk_empty_slot would find, unless the table was
       rebuilt since. release: publishes the entry. */
    ix_set(k, probed == k ? slot : dk_empty_slot(k, hash), (int64_t)pos);
    __atomic_store_n(used, *used + 1, __ATOMIC_RELAXED);
    return 0;
}

int _tg_dk_set(_tg_dkeys **kp, size_t *used, tg_obj *key, int64_t hash, tg_obj *value)
{
    return dk_set_impl(kp, used, key, hash, value);
}

int _tg_dk_del(_tg_dkeys **kp, size_t *used, tg_obj *key, int64_t hash)
{
    if (!*kp) return 0;
    size_t slot;
    int err = 0;
    int64_t ix = dk_lookup_stable(kp, key, hash, &slot, &err);
    if (ix == DK_NEEDS_LOCK) return -2;
    if (err) return -1;
    if (ix < 0) return 0;
    _tg_dentry *e = &_tg_dk_entries(*kp)[ix];
    tg_obj *k = e->key, *v = e->value;
    __atomic_store_n(&e->key, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&e->value, NULL, __ATOMIC_RELAXED);
    ix_set(*kp, slot, DKIX_DUMMY);
    __atomic_store_n(used, *used - 1, __ATOMIC_RELAXED);
    if (_tg_ft()) { _tg_qsbr_defer_decref(k); _tg_qsbr_defer_decref(v); }
    else { tg_decref(k); tg_decref(v); }
    return 1;
}

void _tg_dk_free(_tg_dkeys *k)
{
    if (!k) return;
    _tg_dentry *e = _tg_dk_entries(k);
    for (size_t i = 0; i < k->nentries; i++) {
        if (e[i].key) { tg_decref(e[i].key); tg_decref(e[i].value); }
    }
    tg_mem_free(k);
}

int _tg_dk_traverse(_tg_dkeys *k, tg_visitproc visit, void *arg)
{
    if (!k) return 0;
    _tg_dentry *e = _tg_dk_entries(k);
    for (size_t i = 0; i < k->nentries; i++) {
        if (!e[i].key) continue;
        int r = visit(e[i].key, arg);
        if (!r) r = visit(e[i].value, arg);
        if (r) return r;
    }
    return 0;
}

/* ------------------------------------------------------------------- dict */

static void dict_destroy(tg_obj *o)
{
    _tg_dict *d = (_tg_dict *)o;
    _tg_dkeys *k = d->keys;
    d->keys = NULL;
    d->used = 0;
    _tg_dk_free(k);
}

static void dict_release(tg_obj *o)
{
    if (!_tg_obj_recycle(o, &_tg_ts()->fl_dict, _TG_DICT_FREELIST_MAX))
        _tg_obj_free(o);
}

static int dict_traverse(tg_obj *o, tg_visitproc visit, void *arg)
{
    return _tg_dk_traverse(((_tg_dict *)o)->keys, visit, arg);
}

static size_t dict_sizeof(const tg_obj *o)
{
    return sizeof(_tg_dict) + _tg_dk_sizeof(((const _tg_dict *)o)->keys);
}

tg_type _tg_dict_type = {
    .name = "dict", .basicsize = sizeof(_tg_dict), .kind = _TG_K_DICT,
    .flags = _TG_GC_FLAGS | _TG_TPF_BUILTIN,
    .traverse = dict_traverse, .clear = dict_destroy, .destroy = dict_destroy,
    .release = dict_release, .size_of = dict_sizeof,
};

TG_API tg_obj *tg_dict_new(void)
{
    _tg_dict *d = (_tg_dict *)_tg_obj_reuse(&_tg_ts()->fl_dict);
    if (!d && !(d = (_tg_dict *)_tg_obj_alloc(&_tg_dict_type, sizeof(_tg_dict))))
        return NULL;
    d->used = 0;
    d->keys = NULL;
    _tg_gc_track(&d->base);
    _tg_gc_on_alloc();
    return &d->base;
}

TG_API size_t tg_dict_len(tg_obj *o)
{
    TG_CHECK_KIND(o, _TG_K_DICT, 0);
    return __atomic_load_n(&((_tg_dict *)o)->used, __ATOMIC_RELAXED);   /* lock-free */
}

/* Free-threaded mode: look key up without the lock (docs/free-threading.md).
   Only comparisons that cannot run user code are done here (identity, str,
   int); anything else, a deleted or moving entry, or a failed re-validation
   returns *retry = 1 for the locked path. The table and the entries' keys and
   values stay valid until a grace period after a writer replaced them. */
static tg_obj *dict_get_lockfree(_tg_dict *d, tg_obj *key, int64_t hash, int *retry)
{
    _tg_safepoint_check();
    _tg_bias_claim((tg_obj *)d);            /* another thread's biased dict: revoke first */
    _tg_dkeys *k = __atomic_load_n(&d->keys, __ATOMIC_ACQUIRE);
    *retry = 0;
    if (!k) return NULL;
    _tg_dentry *e = _tg_dk_entries(k);
    size_t mask = dk_size(k) - 1, i = (size_t)hash & mask;
    uint64_t perturb = (uint64_t)hash;
    _tg_kind kk = _tg_kind_of(key);
    for (;;) {
        int64_t ix = ix_get(k, i);
        if (ix == DKIX_EMPTY) return NULL;
        if (ix >= 0) {
            tg_obj *ek = __atomic_load_n(&e[ix].key, __ATOMIC_ACQUIRE);
            bool match = ek == key;
            if (!match && ek && __atomic_load_n(&e[ix].hash, __ATOMIC_RELAXED) == hash) {
                if (kk == _TG_K_STR && _tg_kind_of(ek) == _TG_K_STR) {
                    const _tg_str *a = (const _tg_str *)ek, *b = (const _tg_str *)key;
                    match = a->nbytes == b->nbytes && memcmp(a->data, b->data, a->nbytes) == 0;
                } else if (kk == _TG_K_INT && _tg_kind_of(ek) == _TG_K_INT) {
                    match = ((const _tg_int *)ek)->value == ((const _tg_int *)key)->value;
                } else { *retry = 1; return NULL; }
            }
            if (match) {
                tg_obj *v = __atomic_load_n(&e[ix].value, __ATOMIC_ACQUIRE);
                if (!v || !_tg_try_incref_fast(v)) { *retry = 1; return NULL; }
                if (__atomic_load_n(&d->keys, __ATOMIC_ACQUIRE) == k
                    && __atomic_load_n(&e[ix].value, __ATOMIC_ACQUIRE) == v
                    && __atomic_load_n(&e[ix].key, __ATOMIC_ACQUIRE) == ek)
                    return v;
                tg_decref(v);
                *retry = 1;
                return NULL;
            }
        }
        perturb >>= PERTURB_SHIFT;
        i = (i * 5 + perturb + 1) & mask;
    }
}

/* tg_dict_set in parts, so that its common paths — GIL mode, and the
   owner's biased section in free-threaded mode, with an int, bool or
   hashed str key — have no stack frame: the checks and the hash inline,
   then a tail call. */
static TG_NOINLINE int dict_set_locked(tg_obj *o, tg_obj *key, int64_t h, tg_obj *value)
{
    _tg_dict *d = (_tg_dict *)o;
    tg_critical_section cs;
    _tg_cs_begin(&cs, o, NULL);
    int r = _tg_dk_set(&d->keys, &d->used, key, h, value);
    _tg_cs_end(&cs);
    return r;
}

/* Called inside the owner's biased section; ends it. */
static TG_NOINLINE int dict_set_biased(tg_obj *o, tg_obj *key, int64_t h, tg_obj *value)
{
    _tg_dict *d = (_tg_dict *)o;
    int r = dk_set_impl(&d->keys, &d->used, key, h, value);
    _tg_bias_exit();
    if (r != -2) return r;                   /* -2: a comparison needs the lock */
    return dict_set_locked(o, key, h, value);
}

static inline int dict_set_hashed(tg_obj *o, tg_obj *key, int64_t h, tg_obj *value)
{
    _tg_dict *d = (_tg_dict *)o;
    if (!_tg_ft()) return _tg_dk_set(&d->keys, &d->used, key, h, value);
    if (_tg_bias_enter(o)) return dict_set_biased(o, key, h, value);   /* the owner, bias standing */
    return dict_set_locked(o, key, h, value);
}

/* Everything but the common case: wrong arguments, a key hashed by tg_hash,
   chaos points. */
static TG_NOINLINE int dict_set_slow(tg_obj *o, tg_obj *key, tg_obj *value)
{
    TG_CHECK_KIND(o, _TG_K_DICT, -1);
    if (!key || !value) { _tg_err_set(TG_ERR_VALUE, "tg_dict_set: NULL key or value"); return -1; }
    int64_t h = key_hash(key);
    if (h == -1) return -1;
    TG_CHAOS_POINT(TG_CHAOS_SITE_DICT);
    return dict_set_hashed(o, key, h, value);
}

TG_API int tg_dict_set(tg_obj *o, tg_obj *key, tg_obj *value)
{
    if (TG_UNLIKELY(!o || !key || !value || _tg_kind_of(o) != _TG_K_DICT
                    || (TG_CHAOS && __atomic_load_n(&_tg_chaos_on, __ATOMIC_RELAXED))))
        return dict_set_slow(o, key, value);
    int64_t h;
    if (!key_hash_inline(key, &h)) return dict_set_slow(o, key, value);
    return dict_set_hashed(o, key, h, value);
}

TG_API tg_obj *tg_dict_get(tg_obj *o, tg_obj *key)
{
    TG_CHECK_KIND(o, _TG_K_DICT, NULL);
    if (!key) { _tg_err_set(TG_ERR_VALUE, "tg_dict_get: NULL key"); return NULL; }
    int64_t h = key_hash(key);
    if (h == -1) return NULL;
    int err = 0;
    tg_obj *v;
    if (_tg_ft()) {
        int retry;
        v = dict_get_lockfree((_tg_dict *)o, key, h, &retry);
        if (v) return v;
        if (retry) {
            tg_critical_section cs;
            _tg_cs_begin(&cs, o, NULL);
            v = _tg_dk_get(&((_tg_dict *)o)->keys, key, h, &err);
            if (v) tg_incref(v);
            _tg_cs_end(&cs);
            if (v) return v;
        }
    } else {
        v = _tg_dk_get(&((_tg_dict *)o)->keys, key, h, &err);
        if (v) return _tg_newref(v);
    }
    if (!err) _tg_err_set(TG_ERR_KEY, "key not found");
    return NULL;
}

TG_API int tg_dict_contains(tg_obj *o, tg_obj *key)
{
    TG_CHECK_KIND(o, _TG_K_DICT, -1);
    if (!key) { _tg_err_set(TG_ERR_VALUE, "tg_dict_contains: NULL key"); return -1; }
    int64_t h = key_hash(key);
    if (h == -1) return -1;
    int err = 0;
    tg_critical_section cs;
    if (_tg_ft()) _tg_cs_begin(&cs, o, NULL);
    tg_obj *v = _tg_dk_get(&((_tg_dict *)o)->keys, key, h, &err);
    if (_tg_ft()) _tg_cs_end(&cs);
    return err ? -1 : v != NULL;
}

TG_API int tg_dict_del(tg_obj *o, tg_obj *key)
{
    TG_CHECK_KIND(o, _TG_K_DICT, -1);
    if (!key) { _tg_err_set(TG_ERR_VALUE, "tg_dict_del: NULL key"); return -1; }
    int64_t h = key_hash(key);
    if (h == -1) return -1;
    _tg_dict *d = (_tg_dict *)o;
    TG_CHAOS_POINT(TG_CHAOS_SITE_DICT);
    int r = -2;
    if (_tg_ft() && _tg_bias_enter(o)) {     /* the owner, bias standing: no lock */
        r = _tg_dk_del(&d->keys, &d->used, key, h);
        _tg_bias_exit();
    }
    if (r == -2) {                           /* -2: not tried, or a comparison needs the lock */
        tg_critical_section cs;
        if (_tg_ft()) _tg_cs_begin(&cs, o, NULL);
        r = _tg_dk_del(&d->keys, &d->used, key, h);
        if (_tg_ft()) _tg_cs_end(&cs);
    }
    if (r == 0) { _tg_err_set(TG_ERR_KEY, "key not found"); return -1; }
    return r < 0 ? -1 : 0;
}

TG_API int tg_dict_next(tg_obj *o, size_t *pos, tg_obj **key, tg_obj **value)
{
    TG_CHECK_KIND(o, _TG_K_DICT, -1);
    if (!pos) { _tg_err_set(TG_ERR_VALUE, "tg_dict_next: NULL pos"); return -1; }
    tg_critical_section cs;
    if (_tg_ft()) _tg_cs_begin(&cs, o, NULL);
    int r = 0;
    _tg_dkeys *k = ((_tg_dict *)o)->keys;
    _tg_dentry *e = k ? _tg_dk_entries(k) : NULL;
    while (k && *pos < k->nentries) {
        size_t i = (*pos)++;
        if (!e[i].key) continue;
        if (key) *key = _tg_newref(e[i].key);
        if (value) *value = _tg_newref(e[i].value);
        r = 1;
        break;
    }
    if (_tg_ft()) _tg_cs_end(&cs);
    return r;
}
