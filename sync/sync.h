/*
 * sync/sync.h — the threading substrate's interface to the runtime: the GIL,
 * safepoints, stop-the-world, critical sections (docs/threads.md).
 */
#ifndef TG_SYNC_H
#define TG_SYNC_H
#if !defined(TG_BUILDING_LIBRARY) && !defined(TG_INTERNAL_CLIENT)
#error "sync/sync.h is internal to libtangle; include <tangle.h>"
#endif
#include "runtime/internal.h"

/* tg_init / tg_fini */
void _tg_sync_runtime_init(void);
void _tg_sync_runtime_fini(void);
/* A thread state has just been registered: take the GIL (GIL mode), go online. */
void _tg_sync_attach(_tg_tstate *ts);
/* A thread state is about to be unregistered: drop the GIL, go offline. */
void _tg_sync_detach(_tg_tstate *ts);
#endif
