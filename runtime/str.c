/*
 * runtime/str.c — str (validated UTF-8, cached hash, interning) and bytes.
 *
 * Singletons: the empty string and every one-character string below U+0100
 * are created at tg_init, immortal, and interned. The intern table holds
 * immortal strings until tg_fini; tg_str_const interns identifier-like text
 * ([A-Za-z0-9_]*) the way CPython interns such literals in source code.
 */
#include <pthread.h>
#include "runtime/internal.h"

static size_t str_sizeof(const tg_obj *o) { return sizeof(_tg_str) + ((const _tg_str *)o)->nbytes + 1; }

tg_type _tg_str_type = {
    .name = "str", .basicsize = sizeof(_tg_str), .kind = _TG_K_STR,
    .flags = _TG_TPF_BUILTIN | _TG_TPF_IMMUTABLE, .size_of = str_sizeof,
};
tg_type _tg_bytes_type = {
    .name = "bytes", .basicsize = sizeof(_tg_bytes), .kind = _TG_K_BYTES,
    .flags = _TG_TPF_BUILTIN | _TG_TPF_IMMUTABLE, .size_of = str_sizeof,
};

/* ------------------------------------------------------------------- hash */

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* 8 bytes per step, then murmur3's finaliser: fast for keys, well mixed. */
int64_t _tg_hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0x243f6a8885a308d3ULL ^ (n * 0x9e3779b97f4a7c15ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = rotl(h ^ (w * 0x87c37b91114253d5ULL), 31) * 0x4cf5ad432745937fULL;
        s += 8; n -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++) w |= (uint64_t)s[i] << (8 * i);
    h = rotl(h ^ (w * 0x87c37b91114253d5ULL), 31) * 0x4cf5ad432745937fULL;
    h ^= h >> 33; h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33; h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return (int64_t)(h >> 1);            /* never negative, so never -1 */
}

/* ------------------------------------------------------------------- UTF-8 */

bool _tg_utf8_check(const char *str, size_t n, size_t *nchars)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, count = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) { i++; count++; continue; }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; min = 0x80; }
        else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; min = 0x800; }
        else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return false;
        if (n - i < len) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += len;
        count++;
    }
    *nchars = count;
    return true;
}

/* ------------------------------------------------------------- singletons */

static tg_obj *empty_str;
static tg_obj *latin1[256];

/* The code point of a one-character string, or -1. */
static int32_t single_char(const char *s, size_t nbytes, size_t nchars)
{
    if (nchars != 1) return -1;
    const unsigned char *u = (const unsigned char *)s;
    if (nbytes == 1) return u[0];
    if (nbytes == 2) return ((u[0] & 0x1f) << 6) | (u[1] & 0x3f);
    return -1;
}

static tg_obj *str_alloc(const tg_type *t, const char *data, size_t nbytes, size_t nchars)
{
    if (nbytes > SIZE_MAX / 2) { _tg_err_set(TG_ERR_OVERFLOW, "string too long"); return NULL; }
    _tg_str *s = (_tg_str *)_tg_obj_alloc(t, sizeof(_tg_str) + nbytes + 1);
    if (!s) return NULL;
    s->hash = -1;
    s->nbytes = nbytes;
    s->nchars = nchars;
    if (nbytes) memcpy(s->data, data, nbytes);
    s->data[nbytes] = '\0';
    return &s->base;
}

tg_obj *_tg_str_from_valid(const char *utf8, size_t nbytes, size_t nchars)
{
    if (nbytes == 0) return empty_str;
    int32_t c = single_char(utf8, nbytes, nchars);
    if (c >= 0 && c < 256) return latin1[c];
    return str_alloc(&_tg_str_type, utf8, nbytes, nchars);
}

TG_API tg_obj *tg_str_n(const char *utf8, size_t nbytes)
{
    if (!utf8 && nbytes) { _tg_err_set(TG_ERR_VALUE, "tg_str_n: NULL text"); return NULL; }
    size_t nchars;
    if (!_tg_utf8_check(utf8, nbytes, &nchars)) {
        _tg_err_set(TG_ERR_VALUE, "tg_str: invalid UTF-8");
        return NULL;
    }
    return _tg_str_from_valid(utf8, nbytes, nchars);
}

TG_API tg_obj *tg_str(const char *utf8)
{
    if (!utf8) { _tg_err_set(TG_ERR_VALUE, "tg_str: NULL text"); return NULL; }
    return tg_str_n(utf8, strlen(utf8));
}

TG_API const char *tg_str_utf8(tg_obj *s, size_t *nbytes)
{
    TG_CHECK_KIND(s, _TG_K_STR, NULL);
    if (nbytes) *nbytes = ((_tg_str *)s)->nbytes;
    return ((_tg_str *)s)->data;
}

TG_API size_t tg_str_len(tg_obj *s)
{
    TG_CHECK_KIND(s, _TG_K_STR, 0);
    return ((_tg_str *)s)->nchars;
}

TG_API tg_obj *tg_bytes(const void *data, size_t n)
{
    if (!data && n) { _tg_err_set(TG_ERR_VALUE, "tg_bytes: NULL data"); return NULL; }
    return str_alloc(&_tg_bytes_type, data, n, n);
}

TG_API const void *tg_bytes_data(tg_obj *b, size_t *nbytes)
{
    TG_CHECK_KIND(b, _TG_K_BYTES, NULL);
    if (nbytes) *nbytes = ((_tg_bytes *)b)->nbytes;
    return ((_tg_bytes *)b)->data;
}

/* -------------------------------------------------------------- interning */

/* Open addressing, linear probing, power-of-two capacity, load ≤ 1/2. */
static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;
static _tg_str **intern_tab;
static size_t intern_cap, intern_used;

static int64_t str_hash(_tg_str *s)
{
    int64_t h = __atomic_load_n(&s->hash, __ATOMIC_RELAXED);
    if (h == -1) {
        h = _tg_hash_bytes(s->data, s->nbytes);
        __atomic_store_n(&s->hash, h, __ATOMIC_RELAXED);
    }
    return h;
}

static _tg_str **intern_slot(const char *data, size_t n, int64_t h)
{
    size_t mask = intern_cap - 1, i = (size_t)h & mask;
    for (;;) {
        _tg_str *s = intern_tab[i];
        if (!s || (s->nbytes == n && str_hash(s) == h && memcmp(s->data, data, n) == 0))
            return &intern_tab[i];
        i = (i + 1) & mask;
    }
}

static int intern_grow(void)
{
    size_t ncap = intern_cap ? intern_cap * 2 : 1024;
    _tg_str **nt = calloc(ncap, sizeof *nt);
    if (!nt) return -1;
    _tg_str **old = intern_tab;
    size_t ocap = intern_cap;
    intern_tab = nt;
    intern_cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i]) *intern_slot(old[i]->data, old[i]->nbytes, str_hash(old[i])) = old[i];
    free(old);
    return 0;
}

void _tg_obj_make_immortal(tg_obj *o);   /* runtime/object.c */

/* Interns valid UTF-8 text; returns the (immortal) interned string. */
static tg_obj *intern_text(const char *data, size_t n, size_t nchars, tg_obj *candidate)
{
    int64_t h = _tg_hash_bytes(data, n);
    pthread_mutex_lock(&intern_lock);
    if ((intern_used + 1) * 2 > intern_cap && intern_grow() < 0) {
        pthread_mutex_unlock(&intern_lock);
        _tg_err_nomem();
        return NULL;
    }
    _tg_str **slot = intern_slot(data, n, h);
    tg_obj *r;
    if (*slot) {
        r = &(*slot)->base;
    } else {
        r = candidate ? candidate : str_alloc(&_tg_str_type, data, n, nchars);
        if (r) {
            _tg_str *s = (_tg_str *)r;
            s->hash = h;
            s->base.ob_flags |= _TG_OBF_INTERNED;
            if (!candidate) _tg_obj_make_immortal(r);
            *slot = s;
            intern_used++;
        }
    }
    pthread_mutex_unlock(&intern_lock);
    return r;
}

TG_API tg_obj *tg_str_intern(const char *utf8)
{
    if (!utf8) { _tg_err_set(TG_ERR_VALUE, "tg_str_intern: NULL text"); return NULL; }
    size_t n = strlen(utf8), nchars;
    if (!_tg_utf8_check(utf8, n, &nchars)) {
        _tg_err_set(TG_ERR_VALUE, "tg_str_intern: invalid UTF-8");
        return NULL;
    }
    return intern_text(utf8, n, nchars, NULL);
}

static bool identifier_like(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

TG_API tg_obj *tg_str_const(const char *utf8)
{
    if (!utf8) { _tg_err_set(TG_ERR_VALUE, "tg_str_const: NULL text"); return NULL; }
    size_t n = strlen(utf8);
    if (identifier_like(utf8, n)) return intern_text(utf8, n, n, NULL);
    return tg_str_n(utf8, n);
}

TG_API int tg_str_is_interned(tg_obj *s)
{
    TG_CHECK_KIND(s, _TG_K_STR, -1);
    return (s->ob_flags & _TG_OBF_INTERNED) != 0;
}

/* ------------------------------------------------------------ life cycle */

void _tg_str_fini(void);

int _tg_str_init(void)
{
    empty_str = str_alloc(&_tg_str_type, "", 0, 0);
    if (!empty_str) return -1;
    _tg_obj_make_immortal(empty_str);
    if (!intern_text("", 0, 0, empty_str)) return -1;
    for (int c = 0; c < 256; c++) {
        char buf[2];
        size_t n;
        if (c < 0x80) { buf[0] = (char)c; n = 1; }
        else { buf[0] = (char)(0xc0 | (c >> 6)); buf[1] = (char)(0x80 | (c & 0x3f)); n = 2; }
        latin1[c] = str_alloc(&_tg_str_type, buf, n, 1);
        if (!latin1[c]) { _tg_str_fini(); return -1; }
        _tg_obj_make_immortal(latin1[c]);
        if (!intern_text(buf, n, 1, latin1[c])) { _tg_str_fini(); return -1; }
    }
    return 0;
}

void _tg_str_fini(void)
{
    /* Singletons that did not make it into the table (a failed init) first,
       then everything in the table. */
    for (int c = 0; c < 256; c++) {
        if (latin1[c] && !(latin1[c]->ob_flags & _TG_OBF_INTERNED)) _tg_obj_free(latin1[c]);
        latin1[c] = NULL;
    }
    if (empty_str && !(empty_str->ob_flags & _TG_OBF_INTERNED)) _tg_obj_free(empty_str);
    empty_str = NULL;
    for (size_t i = 0; i < intern_cap; i++)
        if (intern_tab[i]) _tg_obj_free(&intern_tab[i]->base);
    free(intern_tab);
    intern_tab = NULL;
    intern_cap = intern_used = 0;
}
