/*
 * tests/fuzz/fuzz_handle.c — libFuzzer target for the shared-array handle
 * parser (shm/handle.c) and for tg_shm_array_open on whatever parses.
 *
 * Invariants checked: parsing never crashes or reads out of bounds; a handle
 * that parses formats back to exactly the same string; open never succeeds
 * on a segment that does not match, and fails with one of the documented
 * error codes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "shm/shm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* exactly `size` bytes on the heap, no terminator if it has none: ASan
       catches a parser that reads past the first NUL or the buffer */
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    _tg_shm_handle h;
    if (_tg_shm_handle_parse(s, &h) == 0) {
        char back[_TG_SHM_HANDLE_MAX + 8];
        _tg_shm_handle_format(&h, back, sizeof back);
        if (strcmp(back, s) != 0) abort();          /* canonical form only */
        tg_shm_array *a = tg_shm_array_open(s);
        if (a) {
            /* only possible if it names a real, matching segment */
            if (tg_shm_array_len(a) != h.length || tg_shm_array_typecode(a) != h.typecode) abort();
            tg_shm_array_close(a);
        } else {
            tg_errcode e = tg_error();
            if (e != TG_ERR_VALUE && e != TG_ERR_NOT_FOUND && e != TG_ERR_CORRUPT && e != TG_ERR_PERMISSION
                && e != TG_ERR_OS)
                abort();
        }
    } else if (tg_error() != TG_ERR_VALUE) {
        abort();
    }
    free(s);
    return 0;
}
