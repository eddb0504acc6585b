/*
 * tests/fuzz/fuzz_marshal.c — libFuzzer target for tg_marshal_loads.
 *
 * Invariants checked: loads never crashes, never reads out of bounds, fails
 * only with TG_ERR_VALUE (or TG_ERR_NOMEM); whatever it accepts dumps again
 * and loads back. Cyclic garbage is collected every 4096 inputs.
 */
#include <stdint.h>
#include <stdlib.h>
#include "tangle.h"

static int initialised;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!initialised) {
        if (tg_init(NULL) < 0) abort();
        initialised = 1;
    }
    tg_obj *b = tg_bytes(data, size);
    if (!b) abort();
    tg_obj *o = tg_marshal_loads(b);
    tg_decref(b);
    if (!o) {
        if (tg_error() != TG_ERR_VALUE && tg_error() != TG_ERR_NOMEM) abort();
        tg_error_clear();
        return 0;
    }
    tg_obj *again = tg_marshal_dumps(o);
    if (!again) abort();                  /* everything loads produces can be dumped */
    tg_obj *o2 = tg_marshal_loads(again);
    if (!o2) abort();
    tg_decref(again);
    tg_decref(o2);
    tg_decref(o);
    static unsigned n;
    if (++n % 4096 == 0) tg_gc_collect(-1);
    return 0;
}
