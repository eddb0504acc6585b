/*
 * runtime/ptrmap.c — a map from object addresses to words: the memo of
 * tg_deepcopy and of tg_marshal_dumps. Open addressing, linear probing,
 * power-of-two capacity, at most half full; keys are never removed.
 */
#include "runtime/internal.h"

static size_t slot_of(const void *p, size_t mask)
{
    uint64_t x = (uintptr_t)p;
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33;
    return (size_t)x & mask;
}

bool _tg_ptrmap_get(const _tg_ptrmap *m, const void *key, uintptr_t *val)
{
    if (!m->cap) return false;
    for (size_t i = slot_of(key, m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->tab[i].key == key) { *val = m->tab[i].val; return true; }
        if (!m->tab[i].key) return false;
    }
}

static void insert(_tg_ptrmap_slot *tab, size_t cap, const void *key, uintptr_t val)
{
    size_t i = slot_of(key, cap - 1);
    while (tab[i].key) i = (i + 1) & (cap - 1);
    tab[i].key = key;
    tab[i].val = val;
}

int _tg_ptrmap_put(_tg_ptrmap *m, const void *key, uintptr_t val)
{
    if ((m->used + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        _tg_ptrmap_slot *nt = calloc(ncap, sizeof *nt);
        if (!nt) { _tg_err_nomem(); return -1; }
        for (size_t i = 0; i < m->cap; i++)
            if (m->tab[i].key) insert(nt, ncap, m->tab[i].key, m->tab[i].val);
        free(m->tab);
        m->tab = nt;
        m->cap = ncap;
    }
    insert(m->tab, m->cap, key, val);
    m->used++;
    return 0;
}

void _tg_ptrmap_free(_tg_ptrmap *m)
{
    free(m->tab);
    *m = (_tg_ptrmap){0};
}
