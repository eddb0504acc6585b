/*
 * runtime/marshal.c — tg_marshal_dumps / tg_marshal_loads: a byte format for
 * None, bools, ints, floats, str, bytes, tuples, lists and dicts that keeps
 * shared references shared and reproduces cycles.
 *
 * Format (version 1):
 *
 *   stream  := "TGM" 0x01 object            (nothing may follow)
 *   object  := 'N' | 'T' | 'F'                         None, True, False
 *            | 'i' zigzag-varint                       int (64-bit)
 *            | 'g' 8 bytes                             float, IEEE-754 little-endian
 *            | 's' varint(n) n bytes                   str (valid UTF-8)
 *            | 'b' varint(n) n bytes                   bytes
 *            | '(' varint(n) object*n                  tuple
 *            | '[' varint(n) object*n                  list
 *            | '{' varint(n) (object object)*n         dict (key, value)
 *            | 'r' varint(k)                           the k-th numbered object again
 *   varint  := unsigned LEB128, at most 10 bytes, no bits past 64
 *
 * Numbering: every object written in full except None/True/False gets the
 * next number when its tag is written — before its items, so a container's
 * items may refer back to it (cycles). The loader numbers in the same order.
 *
 * What loads checks, so that no input crashes it or makes it allocate more
 * than a constant times the input's size:
 *   - every read is bounds-checked (truncation -> TG_ERR_VALUE);
 *   - a declared count is at most the bytes left (each item takes >= 1 byte,
 *     each dict entry >= 2), a string length at most the bytes left;
 *   - unknown tags, overlong varints, references to numbers not yet given,
 *     trailing bytes, invalid UTF-8 are errors;
 *   - nesting is limited to _TG_MARSHAL_DEPTH;
 *   - a tuple is built in place (its items fill in as they are read), so a
 *     reference to a tuple still being read is possible; such a tuple — and
 *     any tuple containing one — must not be hashed (its items may be
 *     missing), so it is refused as a dict key. Tracked per number with a
 *     "hash-safe" bit.
 *   - a cycle made of tuples only (t = (t,), t = ((t,),)) cannot be built in
 *     Python and cannot be freed by the collector (tuples have no clear):
 *     a reference to a tuple still being read is accepted only if a list or
 *     dict lies between that tuple and the reference.
 * Every error is TG_ERR_VALUE (TG_ERR_NOMEM when memory runs out) with the
 * offset in the message; the partial result is released, including cycles.
 */
#include <inttypes.h>
#include <stdio.h>
#include "runtime/internal.h"
#include "shm/shm.h"      /* declares the _tg_marshal_*_buf helpers */

tg_obj *_tg_tuple_alloc(size_t n);    /* runtime/tuple.c */

/* Nesting limit for both directions: 1000 frames of the recursive reader are
   well under 1 MiB of stack (Python's marshal allows 2000). */
#define _TG_MARSHAL_DEPTH 1000

static const unsigned char MAGIC[4] = { 'T', 'G', 'M', 1 };

/* ================================================================= dumps */

typedef struct {
    unsigned char *buf;
    size_t len, cap;
    _tg_ptrmap memo;            /* object -> its number in the stream */
    size_t next_idx;
} writer;

static int w_reserve(writer *w, size_t n)
{
    if (w->cap - w->len >= n) return 0;
    size_t ncap = w->cap ? w->cap : 64;
    while (ncap - w->len < n) {
        if (ncap > SIZE_MAX / 2) { _tg_err_nomem(); return -1; }
        ncap *= 2;
    }
    unsigned char *nb = realloc(w->buf, ncap);
    if (!nb) { _tg_err_nomem(); return -1; }
    w->buf = nb;
    w->cap = ncap;
    return 0;
}

static int w_bytes(writer *w, const void *p, size_t n)
{
    if (w_reserve(w, n) < 0) return -1;
    memcpy(w->buf + w->len, p, n);
    w->len += n;
    return 0;
}

static int w_byte(writer *w, unsigned char c) { return w_bytes(w, &c, 1); }

static int w_varint(writer *w, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    do {
        tmp[n] = v & 0x7f;
        v >>= 7;
        if (v) tmp[n] |= 0x80;
        n++;
    } while (v);
    return w_bytes(w, tmp, n);
}

/* The number of o if it was written before, else SIZE_MAX after numbering it. */
static int w_number(writer *w, const tg_obj *o, size_t *found)
{
    uintptr_t idx;
    if (_tg_ptrmap_get(&w->memo, o, &idx)) { *found = (size_t)idx; return 0; }
    *found = SIZE_MAX;
    return _tg_ptrmap_put(&w->memo, o, w->next_idx++);
}

static int w_obj(writer *w, tg_obj *o, int depth);

static int w_seq(writer *w, tg_obj *o, bool is_tuple, int depth)
{
    size_t n = is_tuple ? tg_tuple_len(o) : tg_list_len(o);
    if (w_byte(w, is_tuple ? '(' : '[') < 0 || w_varint(w, n) < 0) return -1;
    for (size_t i = 0; i < n; i++) {
        tg_obj *it = is_tuple ? tg_tuple_get(o, (ptrdiff_t)i) : tg_list_get(o, (ptrdiff_t)i);
        if (!it) {
            _tg_err_set(TG_ERR_VALUE, "tg_marshal_dumps: list changed size while being marshalled");
            return -1;
        }
        int r = w_obj(w, it, depth + 1);
        tg_decref(it);
        if (r < 0) return -1;
    }
    return 0;
}

static int w_dict(writer *w, tg_obj *o, int depth)
{
    size_t n = tg_dict_len(o), pos = 0, seen = 0;
    if (w_byte(w, '{') < 0 || w_varint(w, n) < 0) return -1;
    tg_obj *k, *v;
    while (tg_dict_next(o, &pos, &k, &v) == 1) {
        int r = seen++ < n ? w_obj(w, k, depth + 1) : -2;
        if (r == 0) r = w_obj(w, v, depth + 1);
        tg_decref(k);
        tg_decref(v);
        if (r == -1) return -1;
        if (r == -2) break;
    }
    if (seen != n) {
        _tg_err_set(TG_ERR_VALUE, "tg_marshal_dumps: dict changed size while being marshalled");
        return -1;
    }
    return 0;
}

static int w_obj(writer *w, tg_obj *o, int depth)
{
    _tg_kind k = _tg_kind_of(o);
    if (k == _TG_K_NONE) return w_byte(w, 'N');
    if (k == _TG_K_BOOL) return w_byte(w, o == tg_true() ? 'T' : 'F');
    if (k > _TG_K_DICT) {
        _tg_err_set(TG_ERR_TYPE, "tg_marshal_dumps: cannot marshal '%s' objects", o->ob_type->name);
        return -1;
    }
    if (depth > _TG_MARSHAL_DEPTH) {
        _tg_err_set(TG_ERR_VALUE, "tg_marshal_dumps: object nested more than %d levels deep", _TG_MARSHAL_DEPTH);
        return -1;
    }
    size_t idx;
    if (w_number(w, o, &idx) < 0) return -1;
    if (idx != SIZE_MAX) {
        if (w_byte(w, 'r') < 0) return -1;
        return w_varint(w, idx);
    }
    switch (k) {
    case _TG_K_INT: {
        int64_t v = tg_int_value(o);
        if (w_byte(w, 'i') < 0) return -1;
        return w_varint(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));   /* zigzag */
    }
    case _TG_K_FLOAT: {
        double d = tg_float_value(o);
        uint64_t bits;
        memcpy(&bits, &d, 8);
        unsigned char le[9] = { 'g' };
        for (int i = 0; i < 8; i++) le[1 + i] = (unsigned char)(bits >> (8 * i));
        return w_bytes(w, le, 9);
    }
    case _TG_K_STR: case _TG_K_BYTES: {
        size_t n;
        const void *p = k == _TG_K_STR ? (const void *)tg_str_utf8(o, &n) : tg_bytes_data(o, &n);
        if (w_byte(w, k == _TG_K_STR ? 's' : 'b') < 0 || w_varint(w, n) < 0) return -1;
        return w_bytes(w, p, n);
    }
    case _TG_K_TUPLE: return w_seq(w, o, true, depth);
    case _TG_K_LIST:  return w_seq(w, o, false, depth);
    default:          return w_dict(w, o, depth);
    }
}

/* Marshal o into a malloc'd buffer (*out, *len). 0 or -1. */
int _tg_marshal_dump_buf(tg_obj *o, unsigned char **out, size_t *len)
{
    if (!o) { _tg_err_set(TG_ERR_VALUE, "tg_marshal_dumps: NULL object"); return -1; }
    writer w = {0};
    int r = w_bytes(&w, MAGIC, sizeof MAGIC);
    if (r == 0) r = w_obj(&w, o, 0);
    _tg_ptrmap_free(&w.memo);
    if (r < 0) { free(w.buf); return -1; }
    *out = w.buf;
    *len = w.len;
    return 0;
}

TG_API tg_obj *tg_marshal_dumps(tg_obj *o)
{
    unsigned char *buf;
    size_t len;
    if (_tg_marshal_dump_buf(o, &buf, &len) < 0) return NULL;
    tg_obj *b = tg_bytes(buf, len);
    free(buf);
    return b;
}

/* ================================================================= loads */

enum { REF_INCOMPLETE = 1, REF_UNHASHABLE = 2 };   /* per-number flags (tuples) */

typedef struct {
    const unsigned char *start, *p, *end;
    tg_obj **refs;          /* strong references, by number */
    uint8_t *flags;
    uint16_t *depth;        /* nesting depth at which each number was read */
    size_t nrefs, cap;
    /* mutables[d]: lists and dicts among the open containers at depths 0..d */
    int mutables[_TG_MARSHAL_DEPTH + 2];
} reader;

static TG_COLD tg_obj *r_fail(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static tg_obj *r_fail(reader *r, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    _tg_err_set(TG_ERR_VALUE, "tg_marshal_loads: %s at offset %zu", msg, (size_t)(r->p - r->start));
    return NULL;
}

static size_t r_left(const reader *r) { return (size_t)(r->end - r->p); }

static int r_varint(reader *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p == r->end) { r_fail(r, "truncated number"); return -1; }
        unsigned c = *r->p++;
        if (shift == 63 && c > 1) { r_fail(r, "number does not fit in 64 bits"); return -1; }
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) { *out = v; return 0; }
    }
    r_fail(r, "number longer than 10 bytes");
    return -1;
}

/* A count of items, each taking at least min_bytes bytes. */
static int r_count(reader *r, size_t min_bytes, size_t *out)
{
    uint64_t n;
    if (r_varint(r, &n) < 0) return -1;
    if (n > r_left(r) / min_bytes) { r_fail(r, "length %" PRIu64 " exceeds the data left", n); return -1; }
    *out = (size_t)n;
    return 0;
}

/* Give o, read at depth d, the next number (the table takes a reference). */
static int r_register(reader *r, tg_obj *o, uint8_t flags, int d)
{
    if (r->nrefs == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 32;    /* <= 2 * objects <= 2 * input bytes */
        tg_obj **nr = realloc(r->refs, ncap * sizeof *nr);
        if (!nr) { _tg_err_nomem(); return -1; }
        r->refs = nr;
        uint8_t *nf = realloc(r->flags, ncap);
        if (!nf) { _tg_err_nomem(); return -1; }
        r->flags = nf;
        uint16_t *nd = realloc(r->depth, ncap * sizeof *nd);
        if (!nd) { _tg_err_nomem(); return -1; }
        r->depth = nd;
        r->cap = ncap;
    }
    r->refs[r->nrefs] = _tg_newref(o);
    r->flags[r->nrefs] = flags;
    r->depth[r->nrefs] = (uint16_t)d;
    r->nrefs++;
    return 0;
}

static tg_obj *r_obj(reader *r, int depth, bool *hash_safe);

static tg_obj *r_tuple(reader *r, int depth, bool *hash_safe)
{
    size_t n;
    if (r_count(r, 1, &n) < 0) return NULL;
    tg_obj *t = _tg_tuple_alloc(n);
    if (!t) return NULL;
    size_t num = r->nrefs;
    if (r_register(r, t, n ? REF_INCOMPLETE : 0, depth) < 0) { if (n) tg_decref(t); return NULL; }
    r->mutables[depth] = depth ? r->mutables[depth - 1] : 0;
    if (n == 0) { *hash_safe = true; return t; }   /* the immortal empty tuple */
    bool safe = true;
    for (size_t i = 0; i < n; i++) {
        bool s;
        tg_obj *it = r_obj(r, depth + 1, &s);
        if (!it) { tg_decref(t); return NULL; }     /* the table still holds it */
        ((_tg_tuple *)t)->items[i] = it;             /* the reference moves in */
        safe &= s;
    }
    r->flags[num] = safe ? 0 : REF_UNHASHABLE;
    _tg_gc_track(t);
    *hash_safe = safe;
    return t;
}

static tg_obj *r_list(reader *r, int depth)
{
    size_t n;
    if (r_count(r, 1, &n) < 0) return NULL;
    tg_obj *l = tg_list_new(n);
    if (!l) return NULL;
    if (r_register(r, l, 0, depth) < 0) { tg_decref(l); return NULL; }
    r->mutables[depth] = (depth ? r->mutables[depth - 1] : 0) + 1;
    for (size_t i = 0; i < n; i++) {
        bool s;
        tg_obj *it = r_obj(r, depth + 1, &s);
        int rc = it ? tg_list_append(l, it) : -1;
        tg_xdecref(it);
        if (rc < 0) { tg_decref(l); return NULL; }
    }
    return l;
}

static tg_obj *r_dict(reader *r, int depth)
{
    size_t n;
    if (r_count(r, 2, &n) < 0) return NULL;
    tg_obj *d = tg_dict_new();
    if (!d) return NULL;
    if (r_register(r, d, 0, depth) < 0) { tg_decref(d); return NULL; }
    r->mutables[depth] = (depth ? r->mutables[depth - 1] : 0) + 1;
    for (size_t i = 0; i < n; i++) {
        bool safe;
        const unsigned char *at = r->p;
        tg_obj *k = r_obj(r, depth + 1, &safe);
        if (!k) { tg_decref(d); return NULL; }
        if (!safe) {
            r->p = at;
            tg_decref(k); tg_decref(d);
            return r_fail(r, "a tuple that is still being read (a cycle) used as a dict key");
        }
        bool vs;
        tg_obj *v = r_obj(r, depth + 1, &vs);
        int rc = v ? tg_dict_set(d, k, v) : -1;
        if (rc < 0 && v && tg_error() == TG_ERR_TYPE) {
            r->p = at;
            r_fail(r, "unhashable dict key (%s)", k->ob_type->name);
        }
        tg_decref(k);
        tg_xdecref(v);
        if (rc < 0) { tg_decref(d); return NULL; }
    }
    return d;
}

static tg_obj *r_obj(reader *r, int depth, bool *hash_safe)
{
    *hash_safe = true;
    if (depth > _TG_MARSHAL_DEPTH) return r_fail(r, "nested more than %d levels deep", _TG_MARSHAL_DEPTH);
    if (r->p == r->end) return r_fail(r, "truncated (object expected)");
    unsigned char tag = *r->p++;
    switch (tag) {
    case 'N': return tg_none();
    case 'T': return tg_true();
    case 'F': return tg_false();
    case 'i': {
        uint64_t z;
        if (r_varint(r, &z) < 0) return NULL;
        tg_obj *o = tg_int((int64_t)(z >> 1) ^ -(int64_t)(z & 1));
        if (o && r_register(r, o, 0, depth) < 0) { tg_decref(o); return NULL; }
        return o;
    }
    case 'g': {
        if (r_left(r) < 8) return r_fail(r, "truncated float");
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++) bits |= (uint64_t)r->p[i] << (8 * i);
        r->p += 8;
        double d;
        memcpy(&d, &bits, 8);
        tg_obj *o = tg_float(d);
        if (o && r_register(r, o, 0, depth) < 0) { tg_decref(o); return NULL; }
        return o;
    }
    case 's': case 'b': {
        size_t n;
        if (r_count(r, 1, &n) < 0) return NULL;
        const unsigned char *at = r->p;
        r->p += n;
        tg_obj *o = tag == 's' ? tg_str_n((const char *)at, n) : tg_bytes(at, n);
        if (!o) {
            if (tg_error() == TG_ERR_VALUE) { r->p = at; return r_fail(r, "invalid UTF-8 in a str"); }
            return NULL;
        }
        if (r_register(r, o, 0, depth) < 0) { tg_decref(o); return NULL; }
        return o;
    }
    case '(': return r_tuple(r, depth, hash_safe);
    case '[': return r_list(r, depth);
    case '{': return r_dict(r, depth);
    case 'r': {
        uint64_t k;
        if (r_varint(r, &k) < 0) return NULL;
        if (k >= r->nrefs) return r_fail(r, "reference to object %" PRIu64 " of %zu", k, r->nrefs);
        if ((r->flags[k] & REF_INCOMPLETE) && r->mutables[depth - 1] == r->mutables[r->depth[k]])
            return r_fail(r, "a cycle made of tuples only");
        *hash_safe = r->flags[k] == 0;
        return _tg_newref(r->refs[k]);
    }
    default:
        r->p--;
        return r_fail(r, "unknown tag 0x%02x", tag);
    }
}

tg_obj *_tg_marshal_load_buf(const void *data, size_t n)
{
    reader r = { .start = data, .p = data, .end = (const unsigned char *)data + n };
    if (n < sizeof MAGIC || memcmp(data, MAGIC, 3) != 0) {
        _tg_err_set(TG_ERR_VALUE, "tg_marshal_loads: not tangle marshal data (bad magic)");
        return NULL;
    }
    if (r.p[3] != MAGIC[3]) {
        _tg_err_set(TG_ERR_VALUE, "tg_marshal_loads: format version %u, this library reads %u", r.p[3], MAGIC[3]);
        return NULL;
    }
    r.p += sizeof MAGIC;
    bool safe;
    tg_obj *o = r_obj(&r, 0, &safe);
    if (o && r.p != r.end) {
        tg_decref(o);
        o = r_fail(&r, "%zu trailing bytes", r_left(&r));
    }
    for (size_t i = 0; i < r.nrefs; i++) {
        /* After a failure a tuple may be incomplete and in a cycle: let the
           collector see it (its traverse skips the missing items). */
        if (r.flags[i] & REF_INCOMPLETE) _tg_gc_track(r.refs[i]);
        tg_decref(r.refs[i]);
    }
    free(r.refs);
    free(r.flags);
    free(r.depth);
    return o;
}

TG_API tg_obj *tg_marshal_loads(tg_obj *bytes)
{
    size_t n;
    const void *p = tg_bytes_data(bytes, &n);
    if (!p) return NULL;            /* TG_ERR_TYPE: not bytes */
    return _tg_marshal_load_buf(p, n);
}
