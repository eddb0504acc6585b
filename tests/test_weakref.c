/*
 * tests/test_weakref.c — weak references and the collector, after the
 * collection parts of CPython's test_weakref.py and test_gc.py: callbacks of
 * weakrefs outside the trash run (after the trash is cleared, reading None
 * for every object of it); callbacks of weakrefs that are garbage themselves
 * do not run; weakrefs to reachable objects are untouched.
 */
#include "tg_test.h"

typedef struct { int calls; tg_obj *seen_ref; int others_none; tg_obj *other; } cb_state;

static void record_cb(tg_obj *ref, void *arg)
{
    cb_state *s = arg;
    s->calls++;
    s->seen_ref = ref;
    tg_obj *t = tg_weakref_get(ref);
    cr_assert_eq(t, tg_none(), "the callback's own weakref reads None");
    tg_decref(t);
    if (s->other) {
        t = tg_weakref_get(s->other);
        s->others_none = t == tg_none();
        tg_decref(t);
    }
}

static tg_obj *self_obj(void)
{
    tg_obj *o = OK(tg_object_new(NULL));
    cr_assert_eq(tg_setattr(o, "self", o), 0);
    return o;
}

Test(weakref, callback_outside_the_trash_runs_once)
{
    TG_START();
    tg_gc_collect(-1);
    size_t base = tg_live_objects();
    cb_state st = {0};
    tg_obj *o = self_obj();
    tg_obj *w = OK(tg_weakref(o, record_cb, &st));
    tg_decref(o);
    cr_assert_eq(st.calls, 0);
    cr_assert_eq(tg_gc_collect(-1), 1);
    cr_assert_eq(st.calls, 1);
    cr_assert_eq(st.seen_ref, w, "the callback receives the dead weakref");
    tg_gc_collect(-1);
    cr_assert_eq(st.calls, 1);
    tg_decref(w);
    cr_assert_eq(tg_live_objects(), base);
    TG_END();
}

Test(weakref, callback_of_a_weakref_in_the_trash_does_not_run)
{
    TG_START();
    tg_gc_collect(-1);
    size_t base = tg_live_objects();
    cb_state st = {0};
    tg_obj *a = self_obj(), *b = self_obj();
    tg_obj *w = OK(tg_weakref(b, record_cb, &st));
    cr_assert_eq(tg_setattr(a, "wr", w), 0);       /* only the trash holds w */
    cr_assert_eq(tg_setattr(a, "b", b), 0);
    tg_decref(w); tg_decref(a); tg_decref(b);
    cr_assert_eq(tg_gc_collect(-1), 2);
    cr_assert_eq(st.calls, 0, "a weakref that is garbage itself gets no callback");
    cr_assert_eq(tg_live_objects(), base);
    TG_END();
}

Test(weakref, same_weakref_held_inside_and_outside_the_trash_runs)
{
    TG_START();
    cb_state st = {0};
    tg_obj *a = self_obj();
    tg_obj *w = OK(tg_weakref(a, record_cb, &st));
    cr_assert_eq(tg_setattr(a, "wr", w), 0);       /* the trash holds it, and so do we */
    tg_decref(a);
    cr_assert_eq(tg_gc_collect(-1), 1);
    cr_assert_eq(st.calls, 1);
    tg_decref(w);
    TG_END();
}

Test(weakref, in_callbacks_the_whole_garbage_set_reads_none)
{
    TG_START();
    cb_state s1 = {0}, s2 = {0};
    tg_obj *a = OK(tg_object_new(NULL)), *b = OK(tg_object_new(NULL));
    tg_setattr(a, "b", b);
    tg_setattr(b, "a", a);
    tg_obj *wa = OK(tg_weakref(a, record_cb, &s1));
    tg_obj *wb = OK(tg_weakref(b, record_cb, &s2));
    s1.other = wb;
    s2.other = wa;
    tg_decref(a); tg_decref(b);
    cr_assert_eq(tg_gc_collect(-1), 2);
    cr_assert_eq(s1.calls, 1);
    cr_assert_eq(s2.calls, 1);
    cr_assert_eq(s1.others_none, 1);
    cr_assert_eq(s2.others_none, 1);
    tg_decref(wa); tg_decref(wb);
    TG_END();
}

Test(weakref, weakrefs_to_reachable_objects_are_untouched)
{
    TG_START();
    cb_state st = {0};
    tg_obj *keep = self_obj();
    tg_obj *w = OK(tg_weakref(keep, record_cb, &st));
    tg_obj *g = self_obj();
    cr_assert_eq(tg_setattr(g, "keep", keep), 0);   /* garbage referring to a live object */
    tg_decref(g);
    cr_assert_eq(tg_gc_collect(-1), 1);
    tg_obj *t = OK(tg_weakref_get(w));
    cr_assert_eq(t, keep);
    tg_decref(t);
    cr_assert_eq(st.calls, 0);
    cr_assert_eq(tg_weakref_count(keep), 1);
    tg_delattr(keep, "self");
    tg_decref(keep);                                 /* dies by refcount: the callback runs */
    cr_assert_eq(st.calls, 1);
    tg_decref(w);
    TG_END();
}

/* A callback that makes garbage, creates weakrefs and collects. */
static int reentrant_calls;
static intptr_t reentrant_nested = -99;
static void reentrant_cb(tg_obj *ref, void *arg)
{
    (void)ref; (void)arg;
    reentrant_calls++;
    tg_obj *o = tg_object_new(NULL);
    tg_setattr(o, "self", o);
    tg_obj *w = tg_weakref(o, NULL, NULL);
    tg_decref(o);
    reentrant_nested = tg_gc_collect(-1);   /* the collector is still running: 0 */
    tg_decref(w);
}

Test(weakref, callback_that_allocates_and_collects)
{
    TG_START();
    tg_gc_collect(-1);
    size_t base = tg_live_objects();
    tg_obj *o = self_obj();
    tg_obj *w = OK(tg_weakref(o, reentrant_cb, NULL));
    tg_decref(o);
    cr_assert_eq(tg_gc_collect(-1), 1);
    cr_assert_eq(reentrant_calls, 1);
    cr_assert_eq(reentrant_nested, 0);
    cr_assert_eq(tg_gc_collect(-1), 1, "the callback's own garbage");
    tg_decref(w);
    cr_assert_eq(tg_live_objects(), base);
    TG_END();
}

/* A callback that drops its own weakref (API.md allows it). */
static void drop_self_cb(tg_obj *ref, void *arg) { (void)arg; tg_decref(ref); }

Test(weakref, callback_may_drop_its_own_weakref)
{
    TG_START();
    tg_gc_collect(-1);
    size_t base = tg_live_objects();
    tg_obj *o = self_obj();
    tg_obj *w = OK(tg_weakref(o, drop_self_cb, NULL));
    (void)w;                                        /* ownership passes to the callback */
    tg_decref(o);
    cr_assert_eq(tg_gc_collect(-1), 1);
    cr_assert_eq(tg_live_objects(), base);
    TG_END();
}
