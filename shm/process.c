/*
 * shm/process.c — processes: fork, join with exit codes, kill.
 *
 * The child of tg_process_start is a fork of the calling thread: it has that
 * thread's runtime state (attached, holding the GIL in GIL mode) and copies of
 * every object; the fork handling of sync/ (pthread_atfork) reinitialises the
 * runtime's locks and drops the other threads' states. Shared arrays open in
 * the parent stay attached in the child (their attach counts go up by one),
 * and are detached when fn returns. The child leaves with _exit: no atexit
 * handlers, no stdio buffers of the parent flushed twice (they are flushed
 * before the fork), no test-harness teardown.
 *
 * Exit status: tg_process_join reports 0..255 for a normal exit and -N for
 * death by signal N, like Python's Process.exitcode.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "shm/shm.h"

struct tg_process {
    pid_t pid;
    bool  reaped;
    int   status;        /* waitpid status once reaped */
};

TG_API tg_process *tg_process_start(int (*fn)(void *arg), void *arg)
{
    if (!fn) {
        _tg_err_set(TG_ERR_VALUE, "tg_process_start: NULL function");
        return NULL;
    }
    tg_process *p = calloc(1, sizeof *p);
    if (!p) { _tg_err_nomem(); return NULL; }
    fflush(NULL);
    _tg_shm_fork_prepare();
    pid_t pid = fork();
    if (pid == 0) {
        _tg_shm_after_fork_child();
        free(p);
        int rc = fn(arg);
        _tg_shm_detach_all();
        fflush(NULL);
        _exit(rc & 0xff);
    }
    int e = errno;
    _tg_shm_fork_parent();
    if (pid < 0) {
        free(p);
        _tg_err_set(e == EAGAIN || e == ENOMEM ? TG_ERR_NOMEM : TG_ERR_OS,
                    "tg_process_start: fork: %s", strerror(e));
        return NULL;
    }
    p->pid = pid;
    return p;
}

TG_API int tg_process_pid(tg_process *p) { return p ? (int)p->pid : -1; }

static int status_code(int st)
{
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return -WTERMSIG(st);
    return -1;
}

/* waitpid with flags; 1 reaped, 0 still running (WNOHANG), -1 error. */
static int reap(tg_process *p, int flags)
{
    if (p->reaped) return 1;
    int st;
    pid_t r;
    while ((r = waitpid(p->pid, &st, flags)) < 0 && errno == EINTR) {}
    if (r < 0) {
        _tg_err_set(TG_ERR_OS, "waitpid(%d): %s", (int)p->pid, strerror(errno));
        return -1;
    }
    if (r == 0) return 0;
    p->reaped = true;
    p->status = st;
    return 1;
}

TG_API int tg_process_is_alive(tg_process *p)
{
    if (!p) { _tg_err_set(TG_ERR_VALUE, "tg_process_is_alive: NULL process"); return -1; }
    int r = reap(p, WNOHANG);
    return r < 0 ? -1 : !r;
}

static int finish(tg_process *p, int *exit_code)
{
    if (exit_code) *exit_code = status_code(p->status);
    free(p);
    return 0;
}

TG_API int tg_process_join(tg_process *p, int *exit_code)
{
    if (!p) { _tg_err_set(TG_ERR_VALUE, "tg_process_join: NULL process"); return -1; }
    int r;
    TG_BEGIN_ALLOW_THREADS
    r = reap(p, 0);
    TG_END_ALLOW_THREADS
    if (r < 0) return -1;
    return finish(p, exit_code);
}

TG_API int tg_process_join_timeout(tg_process *p, double timeout_s, int *exit_code)
{
    if (!p) { _tg_err_set(TG_ERR_VALUE, "tg_process_join_timeout: NULL process"); return -1; }
    if (timeout_s < 0) return tg_process_join(p, exit_code);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long nap_us = 100;
    int r;
    TG_BEGIN_ALLOW_THREADS
    for (;;) {
        r = reap(p, WNOHANG);
        if (r != 0) break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double waited = (double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) * 1e-9;
        if (waited >= timeout_s) break;
        usleep((useconds_t)nap_us);
        if (nap_us < 10000) nap_us *= 2;      /* back off to 10 ms polls */
    }
    TG_END_ALLOW_THREADS
    if (r < 0) return -1;
    if (r == 0) return 1;
    return finish(p, exit_code);
}

TG_API int tg_process_kill(tg_process *p, int sig)
{
    if (!p) { _tg_err_set(TG_ERR_VALUE, "tg_process_kill: NULL process"); return -1; }
    if (p->reaped) {
        _tg_err_set(TG_ERR_STATE, "tg_process_kill: process %d has already exited", (int)p->pid);
        return -1;
    }
    /* Not reaped: the pid cannot have been reused (a zombie keeps it). */
    if (kill(p->pid, sig) < 0) {
        _tg_err_set(errno == EINVAL ? TG_ERR_VALUE : TG_ERR_OS, "tg_process_kill(%d, %d): %s",
                    (int)p->pid, sig, strerror(errno));
        return -1;
    }
    return 0;
}
