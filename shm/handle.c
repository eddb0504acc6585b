/*
 * shm/handle.c — the printable handle of a shared array, and its parser.
 *
 *   tangle-shm:1:<name>:<typecode>:<length>:<generation>
 *
 *   name        tangle.<creator pid>.<24 hex digits>, [A-Za-z0-9._-], <= 63 chars
 *   typecode    one of b B h H i I l L q Q f d
 *   length      decimal, no sign, no leading zero (except "0"), 1 .. 2^40/size
 *   generation  exactly 16 lower-case hex digits
 *
 * The parser is strict (no whitespace, nothing trailing) and bounded: it never
 * reads past the first NUL or past _TG_SHM_HANDLE_MAX + 1 bytes, so a
 * non-terminated buffer of that size is safe. It is fuzzed
 * (tests/fuzz/fuzz_handle.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include "shm/shm.h"

size_t _tg_shm_elem_size(char tc)
{
    switch (tc) {
    case 'b': case 'B': return 1;
    case 'h': case 'H': return 2;
    case 'i': case 'I': case 'f': return 4;
    case 'l': case 'L': case 'q': case 'Q': case 'd': return 8;   /* LP64: long is 8 */
    default: return 0;
    }
}

bool _tg_shm_name_valid(const char *n)
{
    size_t len = strnlen(n, _TG_SHM_NAME_MAX + 1);
    if (len > _TG_SHM_NAME_MAX || len <= sizeof _TG_SHM_PREFIX - 1) return false;
    if (strncmp(n, _TG_SHM_PREFIX, sizeof _TG_SHM_PREFIX - 1) != 0) return false;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return strstr(n, "..") == NULL;
}

static TG_COLD int bad(const char *what)
{
    _tg_err_set(TG_ERR_VALUE, "tg_shm_array_open: malformed handle: %s", what);
    return -1;
}

/* The field starting at s, up to the next ':' or the end; *end points there. */
static size_t field(const char *s, const char *limit, const char **end)
{
    const char *p = s;
    while (p < limit && *p && *p != ':') p++;
    *end = p;
    return (size_t)(p - s);
}

int _tg_shm_handle_parse(const char *s, _tg_shm_handle *out)
{
    if (!s) return bad("NULL");
    size_t len = strnlen(s, _TG_SHM_HANDLE_MAX + 1);
    if (len > _TG_SHM_HANDLE_MAX) return bad("too long");
    const char *limit = s + len, *p = s, *e;
    size_t taglen = sizeof _TG_SHM_HANDLE_TAG - 1;
    if (len < taglen || memcmp(s, _TG_SHM_HANDLE_TAG, taglen) != 0)
        return bad("does not start with '" _TG_SHM_HANDLE_TAG "' (not a tangle handle, or another version)");
    p += taglen;

    size_t n = field(p, limit, &e);
    if (*e != ':') return bad("missing fields after the name");
    if (n == 0 || n > _TG_SHM_NAME_MAX) return bad("segment name empty or too long");
    out->name[0] = '/';
    memcpy(out->name + 1, p, n);
    out->name[n + 1] = '\0';
    if (!_tg_shm_name_valid(out->name + 1)) return bad("segment name is not a tangle segment name");
    p = e + 1;

    n = field(p, limit, &e);
    if (n != 1 || *e != ':') return bad("typecode must be one character");
    out->typecode = *p;
    size_t esz = _tg_shm_elem_size(out->typecode);
    if (!esz) return bad("unknown typecode");
    p = e + 1;

    n = field(p, limit, &e);
    if (*e != ':') return bad("missing generation");
    if (n == 0 || n > 13) return bad("length is empty or too long");
    if (n > 1 && *p == '0') return bad("length has a leading zero");
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return bad("length is not a decimal number");
        v = v * 10 + (uint64_t)(p[i] - '0');          /* <= 13 digits: no overflow */
    }
    if (v == 0) return bad("length is zero");
    if (v > _TG_SHM_MAX_BYTES / esz) return bad("length too large");
    out->length = v;
    p = e + 1;

    n = field(p, limit, &e);
    if (*e != '\0') return bad("trailing characters after the generation");
    if (n != 16) return bad("generation must be 16 hex digits");
    v = 0;
    for (size_t i = 0; i < 16; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return bad("generation is not lower-case hex");
        v = v << 4 | (uint64_t)d;
    }
    out->generation = v;
    return 0;
}

void _tg_shm_handle_format(const _tg_shm_handle *h, char *buf, size_t cap)
{
    snprintf(buf, cap, _TG_SHM_HANDLE_TAG "%s:%c:%" PRIu64 ":%016" PRIx64,
             h->name + 1, h->typecode, h->length, h->generation);
}
