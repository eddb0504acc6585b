/*
 * tests/tg_test.h — helpers shared by the object-core tests (tests/test_*.c).
 *
 * Every test runs in its own process (criterion) and does its own tg_init /
 * tg_fini. TG_START/TG_END wrap both and check that nothing leaked.
 */
#ifndef TG_TEST_H
#define TG_TEST_H

#include <criterion/criterion.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tangle.h"

#ifndef TG_DEBUG
#define TG_DEBUG 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define TG_TEST_ASAN 1
#else
#define TG_TEST_ASAN 0
#endif

#define TG_START()                                                               \
    do {                                                                         \
        cr_assert_eq(tg_init(NULL), 0, "tg_init failed: %s %s",                  \
                     tg_errcode_name(tg_error()), tg_error_message());           \
    } while (0)

/* tg_fini, then nothing may be left alive. */
#define TG_END()                                                                 \
    do {                                                                         \
        cr_assert_eq(tg_fini(), 0, "tg_fini failed: %s", tg_error_message());    \
        cr_assert_eq(tg_live_objects(), 0, "%zu object(s) leaked",               \
                     tg_live_objects());                                         \
    } while (0)

/* The calling thread's error is exactly `code`. */
#define ASSERT_ERR(code)                                                         \
    cr_assert_eq(tg_error(), (code), "expected %s, got %s (%s)",                 \
                 tg_errcode_name(code), tg_errcode_name(tg_error()),             \
                 tg_error_message())

#define ASSERT_NO_ERR() ASSERT_ERR(TG_OK)

/* A fresh reference that must not be NULL. */
static inline tg_obj *tgt_ok(tg_obj *o, const char *what)
{
    cr_assert_not_null(o, "%s returned NULL: %s %s", what,
                       tg_errcode_name(tg_error()), tg_error_message());
    return o;
}
#define OK(expr) tgt_ok((expr), #expr)

/* Debug-check tests: expect SIGABRT when the checks are compiled in. */
#if TG_DEBUG >= 1
#define DEBUG_ABORT .signal = SIGABRT
#define SKIP_UNLESS_DEBUG() ((void)0)
#else
#define DEBUG_ABORT .disabled = 0
#define SKIP_UNLESS_DEBUG() \
    cr_skip_test("TG_DEBUG == 0: the runtime's debug checks are compiled out")
#endif

/* The same, for a test that ASan builds skip (criterion counts a skipped test
   that expected a signal as failed). */
#if TG_DEBUG >= 1 && !TG_TEST_ASAN
#define DEBUG_ABORT_UNLESS_ASAN .signal = SIGABRT
#else
#define DEBUG_ABORT_UNLESS_ASAN .disabled = 0
#endif

/*
 * Run fn(arg) in a forked child whose stderr goes to a pipe. Returns the
 * child's wait status; the first bytes of what it wrote land in msg.
 */
static inline int tgt_run_in_child(void (*fn)(void *), void *arg, char *msg, size_t msgsize)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < msgsize && (r = read(fds[0], msg + got, msgsize - 1 - got)) > 0)
        got += (size_t)r;
    msg[got] = '\0';
    close(fds[0]);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

#endif
