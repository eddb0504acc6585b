/*
 * alloc/alloc.h — the allocator's interface to the rest of the runtime.
 */
#ifndef TG_ALLOC_H
#define TG_ALLOC_H
#if !defined(TG_BUILDING_LIBRARY) && !defined(TG_INTERNAL_CLIENT)
#error "alloc/alloc.h is internal to libtangle; include <tangle.h>"
#endif
#include <stddef.h>

/* The runtime calls these (runtime/init.c, runtime/tstate.c, sync/fork.c). */
void _tg_alloc_thread_detach(void);   /* the calling thread leaves the runtime: abandon its heap */
void _tg_alloc_fini(void);            /* tg_fini: release everything, objects leaked included */
void _tg_alloc_fork_child(void);      /* in the child after fork(): one thread remains */
#endif
