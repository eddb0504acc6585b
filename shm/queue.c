/*
 * shm/queue.c — queues between processes carrying marshalled objects.
 *
 * A queue is a connected pair of Unix stream sockets (read end, write end)
 * plus a small shared anonymous mapping holding two robust process-shared
 * mutexes, one serialising writers and one serialising readers, and a
 * "broken" flag. It must exist before tg_process_start so that children
 * inherit it.
 *
 * Frames: u32 magic, u32 length (native order: both ends are on this machine),
 * then `length` bytes of tg_marshal_dumps output. A writer sends a whole frame
 * while holding the writers' lock; a reader receives a whole frame while
 * holding the readers' lock. So frames never interleave.
 *
 * Failure detection, all from the kernel:
 *   - every write end closed (writers closed it or died): recv returns 0 at a
 *     frame boundary -> TG_ERR_STATE;
 *   - a writer died mid-frame: either recv returns 0 inside the frame, or the
 *     writers' lock reports EOWNERDEAD (to the next writer, or to a waiting
 *     reader that probes it) -> the stream cannot be resynchronised: the
 *     queue is marked broken for everyone, TG_ERR_CORRUPT;
 *   - a reader died mid-frame: the readers' lock reports EOWNERDEAD -> broken;
 *   - every read end closed: send fails with EPIPE (MSG_NOSIGNAL: no
 *     SIGPIPE) -> TG_ERR_STATE.
 * Waits are poll()s in slices of WAIT_SLICE_MS so that a broken flag set by
 * another process is noticed. The GIL is released while waiting.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "shm/shm.h"

#define FRAME_MAGIC   0x51474d54u            /* "TMGQ" */
#define FRAME_MAX     ((size_t)1 << 30)      /* bytes of one marshalled message */
#define WAIT_SLICE_MS 50                     /* poll slice: latency to notice a broken queue */

typedef struct {
    pthread_mutex_t wlock, rlock;
    _Atomic int broken;
} qshared;

struct tg_queue {
    int      rfd, wfd;       /* -1 once closed in this process */
    qshared *sh;
};

typedef struct { uint32_t magic, len; } frame_hdr;

/* ----------------------------------------------------------------- helpers */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Deadline from a timeout in seconds; INT64_MAX = none. */
static int64_t deadline_of(double timeout_s)
{
    if (timeout_s < 0) return INT64_MAX;
    if (timeout_s > 1e9) return INT64_MAX;
    return now_ns() + (int64_t)(timeout_s * 1e9);
}

static int slice_ms(int64_t deadline)
{
    if (deadline == INT64_MAX) return WAIT_SLICE_MS;
    int64_t left = (deadline - now_ns()) / 1000000;
    return left <= 0 ? 0 : left < WAIT_SLICE_MS ? (int)left + 1 : WAIT_SLICE_MS;
}

static bool is_broken(tg_queue *q) { return atomic_load(&q->sh->broken) != 0; }

static int mark_broken(tg_queue *q, const char *why)
{
    atomic_store(&q->sh->broken, 1);
    _tg_err_set(TG_ERR_CORRUPT, "tg_queue: %s; the queue is broken", why);
    return -1;
}

/* Lock m before the deadline. 0, 1 (timed out), or -1 (error set; a dead
   previous holder marks the queue broken and leaves m unlocked). */
static int lock_until(tg_queue *q, pthread_mutex_t *m, int64_t deadline, const char *who)
{
    int r;
    if (deadline == INT64_MAX) {
        r = pthread_mutex_lock(m);
    } else {
        int64_t d = deadline;
        struct timespec ts = { .tv_sec = d / 1000000000, .tv_nsec = d % 1000000000 };
        r = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts);
    }
    if (r == 0) return 0;
    if (r == ETIMEDOUT) return 1;
    if (r == EOWNERDEAD) {
        pthread_mutex_consistent(m);
        pthread_mutex_unlock(m);
        char why[96];
        snprintf(why, sizeof why, "a %s died in the middle of a message", who);
        return mark_broken(q, why);
    }
    _tg_err_set(TG_ERR_OS, "tg_queue: lock: %s", strerror(r));
    return -1;
}

static int init_shared_mutex(pthread_mutex_t *m)
{
    pthread_mutexattr_t at;
    int r = pthread_mutexattr_init(&at);
    if (r) return r;
    if (!(r = pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED))
        && !(r = pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST)))
        r = pthread_mutex_init(m, &at);
    pthread_mutexattr_destroy(&at);
    return r;
}

/* ------------------------------------------------------------------- new */

TG_API tg_queue *tg_queue_new(void)
{
    tg_queue *q = calloc(1, sizeof *q);
    if (!q) { _tg_err_nomem(); return NULL; }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        _tg_err_set(TG_ERR_OS, "tg_queue_new: socketpair: %s", strerror(errno));
        free(q);
        return NULL;
    }
    q->sh = mmap(NULL, sizeof *q->sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int e = 0;
    if (q->sh == MAP_FAILED) e = errno;
    else if ((e = init_shared_mutex(&q->sh->wlock)) == 0)
        e = init_shared_mutex(&q->sh->rlock);
    if (e) {
        if (q->sh != MAP_FAILED) munmap(q->sh, sizeof *q->sh);
        close(sv[0]);
        close(sv[1]);
        free(q);
        _tg_err_set(TG_ERR_OS, "tg_queue_new: %s", strerror(e));
        return NULL;
    }
    atomic_init(&q->sh->broken, 0);
    q->rfd = sv[0];
    q->wfd = sv[1];
    return q;
}

/* -------------------------------------------------------------------- put */

/* Send all n bytes; once started, wait as long as the reader is there.
   With wait_first, waiting for room for the first byte honours the deadline
   (returns 1 on timeout). */
static int send_all(tg_queue *q, const unsigned char *p, size_t n, int64_t deadline, bool *started)
{
    while (n) {
        ssize_t k = send(q->wfd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) { p += k; n -= (size_t)k; *started = true; continue; }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && errno == EPIPE) {
            if (*started) return mark_broken(q, "every reader went away in the middle of a message");
            _tg_err_set(TG_ERR_STATE, "tg_queue_put: every reader has closed the queue or died");
            return -1;
        }
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            _tg_err_set(TG_ERR_OS, "tg_queue_put: send: %s", strerror(errno));
            return -1;
        }
        if (is_broken(q)) { _tg_err_set(TG_ERR_CORRUPT, "tg_queue_put: the queue is broken"); return -1; }
        int ms = *started ? WAIT_SLICE_MS : slice_ms(deadline);
        if (!*started && ms == 0) return 1;
        struct pollfd pf = { .fd = q->wfd, .events = POLLOUT };
        poll(&pf, 1, ms);
    }
    return 0;
}

TG_API int tg_queue_put(tg_queue *q, tg_obj *o, double timeout_s)
{
    if (!q) { _tg_err_set(TG_ERR_VALUE, "tg_queue_put: NULL queue"); return -1; }
    if (q->wfd < 0) {
        _tg_err_set(TG_ERR_STATE, "tg_queue_put: the writing end is closed in this process");
        return -1;
    }
    if (is_broken(q)) { _tg_err_set(TG_ERR_CORRUPT, "tg_queue_put: the queue is broken"); return -1; }
    int64_t deadline = deadline_of(timeout_s);
    unsigned char *body;
    size_t len;
    if (_tg_marshal_dump_buf(o, &body, &len) < 0) return -1;
    if (len > FRAME_MAX) {
        free(body);
        _tg_err_set(TG_ERR_VALUE, "tg_queue_put: message of %zu bytes exceeds %zu", len, FRAME_MAX);
        return -1;
    }
    frame_hdr fh = { FRAME_MAGIC, (uint32_t)len };
    int r;
    TG_BEGIN_ALLOW_THREADS
    r = lock_until(q, &q->sh->wlock, deadline, "writer");
    if (r == 0) {
        bool started = false;
        r = send_all(q, (const unsigned char *)&fh, sizeof fh, deadline, &started);
        if (r == 0) r = send_all(q, body, len, deadline, &started);
        pthread_mutex_unlock(&q->sh->wlock);
    }
    TG_END_ALLOW_THREADS
    free(body);
    if (r == 1) {
        _tg_err_set(TG_ERR_NOT_FOUND, "tg_queue_put: timed out after %g s (no room)", timeout_s);
        return -1;
    }
    return r;
}

/* -------------------------------------------------------------------- get */

/* While waiting inside a frame: if the writers' lock is free or its holder is
   dead, no writer is sending the rest. Returns -1 (broken) in the dead case. */
static int probe_writer(tg_queue *q)
{
    int r = pthread_mutex_trylock(&q->sh->wlock);
    if (r == EOWNERDEAD) {
        pthread_mutex_consistent(&q->sh->wlock);
        pthread_mutex_unlock(&q->sh->wlock);
        return mark_broken(q, "a writer died in the middle of a message");
    }
    if (r == 0) pthread_mutex_unlock(&q->sh->wlock);
    return 0;
}

/* Receive n bytes. Before the first byte the deadline applies (1: timed out)
   and end-of-stream means "no writers" (-1, TG_ERR_STATE); after it, the
   frame must complete (end-of-stream or a dead writer: broken). */
static int recv_all(tg_queue *q, unsigned char *p, size_t n, int64_t deadline, bool *started)
{
    while (n) {
        ssize_t k = recv(q->rfd, p, n, MSG_DONTWAIT);
        if (k > 0) { p += k; n -= (size_t)k; *started = true; continue; }
        if (k == 0) {
            if (*started) return mark_broken(q, "a writer died in the middle of a message");
            _tg_err_set(TG_ERR_STATE, "tg_queue_get: every writer has closed the queue or died");
            return -1;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            _tg_err_set(TG_ERR_OS, "tg_queue_get: recv: %s", strerror(errno));
            return -1;
        }
        if (is_broken(q)) { _tg_err_set(TG_ERR_CORRUPT, "tg_queue_get: the queue is broken"); return -1; }
        if (*started && probe_writer(q) < 0) return -1;
        int ms = *started ? WAIT_SLICE_MS : slice_ms(deadline);
        if (!*started && ms == 0) return 1;
        struct pollfd pf = { .fd = q->rfd, .events = POLLIN };
        poll(&pf, 1, ms);
    }
    return 0;
}

TG_API tg_obj *tg_queue_get(tg_queue *q, double timeout_s)
{
    if (!q) { _tg_err_set(TG_ERR_VALUE, "tg_queue_get: NULL queue"); return NULL; }
    if (q->rfd < 0) {
        _tg_err_set(TG_ERR_STATE, "tg_queue_get: the reading end is closed in this process");
        return NULL;
    }
    if (is_broken(q)) { _tg_err_set(TG_ERR_CORRUPT, "tg_queue_get: the queue is broken"); return NULL; }
    int64_t deadline = deadline_of(timeout_s);
    unsigned char *body = NULL;
    frame_hdr fh = {0};
    int r;
    TG_BEGIN_ALLOW_THREADS
    r = lock_until(q, &q->sh->rlock, deadline, "reader");
    if (r == 0) {
        bool started = false;
        r = recv_all(q, (unsigned char *)&fh, sizeof fh, deadline, &started);
        if (r == 0 && (fh.magic != FRAME_MAGIC || fh.len > FRAME_MAX))
            r = mark_broken(q, "bad frame header");
        if (r == 0 && !(body = malloc(fh.len ? fh.len : 1))) {
            _tg_err_nomem();
            r = -1;
            /* the body stays in the stream: nobody can find the next frame */
            atomic_store(&q->sh->broken, 1);
        }
        if (r == 0) r = recv_all(q, body, fh.len, deadline, &started);
        pthread_mutex_unlock(&q->sh->rlock);
    }
    TG_END_ALLOW_THREADS
    if (r == 1) {
        _tg_err_set(TG_ERR_NOT_FOUND, "tg_queue_get: timed out after %g s (queue empty)", timeout_s);
        return NULL;
    }
    if (r < 0) { free(body); return NULL; }
    tg_obj *o = _tg_marshal_load_buf(body, fh.len);
    free(body);
    return o;
}

/* ---------------------------------------------------------------- closing */

TG_API int tg_queue_close_reader(tg_queue *q)
{
    if (!q) { _tg_err_set(TG_ERR_VALUE, "tg_queue_close_reader: NULL queue"); return -1; }
    if (q->rfd >= 0) close(q->rfd);
    q->rfd = -1;
    return 0;
}

TG_API int tg_queue_close_writer(tg_queue *q)
{
    if (!q) { _tg_err_set(TG_ERR_VALUE, "tg_queue_close_writer: NULL queue"); return -1; }
    if (q->wfd >= 0) close(q->wfd);
    q->wfd = -1;
    return 0;
}

TG_API void tg_queue_free(tg_queue *q)
{
    if (!q) return;
    tg_queue_close_reader(q);
    tg_queue_close_writer(q);
    munmap(q->sh, sizeof *q->sh);
    free(q);
}
