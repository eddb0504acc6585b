/*
 * runtime/weakref.c — weak references.
 *
 * A weakrefable object (generic objects, embedder instances, capsules) has a
 * weaklist slot: a doubly linked list of the weakrefs to it, which do not
 * count as references. When the object dies, every weakref in the list is
 * cleared (target = NULL) before the object's clear runs, then the callbacks
 * run, each with a reference to its weakref held for the call. A weakref
 * that dies first unlinks itself. The collector clears weakrefs to garbage
 * itself (gc/), calling only the callbacks of weakrefs that survive.
 */
#include "runtime/internal.h"

static inline _tg_weakref *W(tg_obj *o) { return (_tg_weakref *)o; }

static void unlink_ref(_tg_weakref *w)
{
    tg_obj **head = _tg_weaklist_slot(w->target);
    if (w->prev) W(w->prev)->next = w->next; else *head = w->next;
    if (w->next) W(w->next)->prev = w->prev;
    w->next = w->prev = NULL;
    w->target = NULL;
}

static void weakref_destroy(tg_obj *o)
{
    _tg_weakref *w = W(o);
    if (w->target) unlink_ref(w);
}

tg_type _tg_weakref_type = {
    .name = "weakref", .basicsize = sizeof(_tg_weakref), .kind = _TG_K_WEAKREF,
    .flags = _TG_TPF_BUILTIN, .destroy = weakref_destroy,
};

TG_API tg_obj *tg_weakref(tg_obj *target, tg_weakref_cb callback, void *arg)
{
    if (!target) { _tg_err_set(TG_ERR_VALUE, "tg_weakref: NULL target"); return NULL; }
    tg_obj **head = _tg_weaklist_slot(target);
    if (!head) {
        _tg_err_set(TG_ERR_TYPE, "cannot create weak reference to '%s' object", target->ob_type->name);
        return NULL;
    }
    _tg_weakref *w = (_tg_weakref *)_tg_obj_alloc(&_tg_weakref_type, sizeof(_tg_weakref));
    if (!w) return NULL;
    w->target = target;
    w->callback = callback;
    w->arg = arg;
    w->prev = NULL;
    w->next = *head;
    if (*head) W(*head)->prev = &w->base;
    *head = &w->base;
    target->ob_flags |= _TG_OBF_WEAKLIST;
    return &w->base;
}

TG_API tg_obj *tg_weakref_get(tg_obj *ref)
{
    TG_CHECK_KIND(ref, _TG_K_WEAKREF, NULL);
    tg_obj *t = W(ref)->target;
    return _tg_newref(t ? t : tg_none());
}

TG_API size_t tg_weakref_count(tg_obj *target)
{
    if (!target) return 0;
    tg_obj **head = _tg_weaklist_slot(target);
    size_t n = 0;
    for (tg_obj *w = head ? *head : NULL; w; w = W(w)->next) n++;
    return n;
}

void _tg_weakrefs_detach(tg_obj *o, tg_obj **pending)
{
    tg_obj **head = _tg_weaklist_slot(o);
    if (!head) return;
    while (*head) {
        _tg_weakref *w = W(*head);
        unlink_ref(w);
        if (w->callback) {
            tg_incref(&w->base);
            w->next = *pending;             /* reuse the link: w is unlinked */
            *pending = &w->base;
        }
    }
}

/* Clear every weakref to o; with call_callbacks, then run their callbacks. */
void _tg_weakrefs_clear(tg_obj *o, bool call_callbacks)
{
    tg_obj **head = _tg_weaklist_slot(o);
    if (!head) return;
    if (!call_callbacks) {
        while (*head) unlink_ref(W(*head));
        return;
    }
    /* Detach the whole list first, holding a reference to each weakref that
       has a callback, so that callbacks see every weakref to o already dead. */
    tg_obj *pending = NULL;
    _tg_weakrefs_detach(o, &pending);
    while (pending) {
        _tg_weakref *w = W(pending);
        pending = w->next;
        w->next = NULL;
        w->callback(&w->base, w->arg);
        tg_decref(&w->base);
    }
}
