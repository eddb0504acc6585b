/*
 * tangle/process.h — multiprocessing beyond API.md's core: queues carrying
 * marshalled objects between processes, lock-free adds on shared arrays,
 * segment garbage collection and process helpers (docs/multiprocessing.md).
 *
 * Included by <tangle.h>; do not include directly.
 */
#ifndef TANGLE_PROCESS_H
#define TANGLE_PROCESS_H

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ shared arrays */

/* Atomically add delta to element i of an integer array (b B h H i I l L q Q)
   without taking the lock; *old (may be NULL) receives the previous value.
   Wraps like C unsigned arithmetic at the element's width. TG_ERR_TYPE for
   f/d arrays, TG_ERR_INDEX out of range. */
TG_API int tg_shm_array_add_i64(tg_shm_array *a, size_t i, int64_t delta, int64_t *old);

/* How many times this segment's lock was recovered from a holder that died. */
TG_API unsigned tg_shm_array_recoveries(tg_shm_array *a);

/* Remove every tangle segment (of this user) that no living process holds:
   its creator and all processes that opened it have closed it or died.
   Returns how many were removed, or -1. Runs by itself, once per process, at
   the first tg_shm_array_create or tg_shm_array_open. */
TG_API long tg_shm_gc(void);

/* ---------------------------------------------------------------- processes */

/* tg_process_start forks: the child runs fn(arg) on a copy of the calling
   thread's runtime state (the calling thread must be attached) and exits with
   fn's return value & 0xff, without running atexit handlers. Shared arrays
   open in the parent are attached in the child too.

   tg_process_join waits for the child, stores its exit status in *exit_code
   (may be NULL) and frees p: 0..255 when it exited, -N when signal N killed
   it (Python's Process.exitcode convention). Returns 0, or -1 with p still
   valid (TG_ERR_OS). The GIL is released while waiting. */
TG_API int   tg_process_pid(tg_process *p);
/* 1 if the child has not exited yet, 0 if it has (it is then reaped by the
   next join), -1 on error. */
TG_API int   tg_process_is_alive(tg_process *p);
/* Like tg_process_join, but gives up after timeout_s seconds: returns 1 and
   leaves p valid if the child is still running. */
TG_API int   tg_process_join_timeout(tg_process *p, double timeout_s, int *exit_code);

/* ------------------------------------------------------------------- queues
 *
 * A tg_queue is a one-way channel between processes: a Unix stream socket
 * pair plus two robust process-shared locks (one for writers, one for
 * readers) in a small shared mapping. Create it before tg_process_start;
 * every process then holds both ends. Messages are tg_marshal_dumps output,
 * framed with a length; several writers and several readers may share it.
 *
 * Closed-peer detection works on the ends: a process that will only put
 * calls tg_queue_close_reader, one that will only get calls
 * tg_queue_close_writer. Once every process holding the writing end has closed
 * it or died, tg_queue_get fails with TG_ERR_STATE instead of waiting — a dead
 * writer is an error, never a hang. Likewise tg_queue_put fails with
 * TG_ERR_STATE once every reader is gone (no SIGPIPE).
 *
 * Timeouts are in seconds: < 0 waits forever, 0 does not wait. A timeout
 * covers waiting for the lock and for the message to start; a message that
 * has started is transferred whole (or the queue is marked broken).
 *
 * Errors: TG_ERR_NOT_FOUND  timed out (get: queue.Empty; put: no room, queue.Full)
 *         TG_ERR_STATE      the other side closed or died; or this end is closed
 *         TG_ERR_CORRUPT    a process died mid-message: the stream cannot be
 *                           resynchronised, the queue is broken for everyone
 *         TG_ERR_TYPE       put: an object marshal cannot carry
 */
typedef struct tg_queue tg_queue;
TG_API tg_queue *tg_queue_new(void);
TG_API int       tg_queue_put(tg_queue *q, tg_obj *o, double timeout_s);
TG_API tg_obj   *tg_queue_get(tg_queue *q, double timeout_s);
TG_API int       tg_queue_close_reader(tg_queue *q);   /* this process will not get */
TG_API int       tg_queue_close_writer(tg_queue *q);   /* this process will not put */
TG_API void      tg_queue_free(tg_queue *q);           /* close both ends here; free */

#ifdef __cplusplus
}
#endif
#endif
