/*
 * tests/test_shm.c — shared arrays: the seeds' example, locked and atomic
 * increments across processes, lock recovery after SIGKILL, every bad-handle
 * case, typed access, lifecycle and garbage collection of segments.
 *
 * After every test nothing of this test's processes is left in /dev/shm
 * (segment names carry the creator's pid: tangle.<pid>.<random>).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tangle.h"

/* ---------------------------------------------------------------- helpers */

static int segments_of(pid_t pid)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "tangle.%ld.", (long)pid);
    DIR *d = opendir("/dev/shm");
    cr_assert(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
    closedir(d);
    return n;
}

#define ASSERT_NO_SEGMENTS(pid) \
    cr_assert_eq(segments_of(pid), 0, "segments of pid %ld left in /dev/shm", (long)(pid))

static void start(void) { cr_assert_eq(tg_init(NULL), 0, "%s", tg_error_message()); }
static void finish(void)
{
    cr_assert_eq(tg_fini(), 0);
    ASSERT_NO_SEGMENTS(getpid());
}

/* /dev/shm path of an array, from its handle ("tangle-shm:1:<name>:..."). */
static void path_of(tg_shm_array *a, char *buf, size_t cap)
{
    const char *h = tg_shm_array_handle(a);
    const char *name = strchr(strchr(h, ':') + 1, ':') + 1;
    size_t n = (size_t)(strchr(name, ':') - name);
    snprintf(buf, cap, "/dev/shm/%.*s", (int)n, name);
}

static void expect_open_fails(const char *handle, tg_errcode code, const char *needle)
{
    tg_error_clear();
    tg_shm_array *a = tg_shm_array_open(handle);
    cr_assert_null(a, "open('%s') should fail", handle ? handle : "(null)");
    cr_assert_eq(tg_error(), code, "open('%s'): expected %s, got %s: %s", handle ? handle : "(null)",
                 tg_errcode_name(code), tg_errcode_name(tg_error()), tg_error_message());
    if (needle)
        cr_assert(strstr(tg_error_message(), needle), "message '%s' lacks '%s'", tg_error_message(), needle);
}

static int join(tg_process *p)
{
    int code = 12345;
    cr_assert_eq(tg_process_join(p, &code), 0, "%s", tg_error_message());
    return code;
}

/* ------------------------------------------------------ the seeds' example */

static int squares_child(void *arg)
{
    tg_shm_array *a = tg_shm_array_open(arg);
    if (!a) return 10;
    for (size_t i = 0; i < tg_shm_array_len(a); i++)
        if (tg_shm_array_set_i64(a, i, (int64_t)(i * i)) < 0) return 11;
    return tg_shm_array_close(a) == 0 ? 0 : 12;
}

Test(shm, seeds_example_child_writes_squares)
{
    start();
    tg_shm_array *a = tg_shm_array_create('i', 10);
    cr_assert_not_null(a, "%s", tg_error_message());
    cr_assert_eq(tg_shm_array_typecode(a), 'i');
    cr_assert_eq(tg_shm_array_len(a), 10);
    char handle[200];
    snprintf(handle, sizeof handle, "%s", tg_shm_array_handle(a));
    tg_process *p = tg_process_start(squares_child, handle);
    cr_assert_not_null(p);
    pid_t child = tg_process_pid(p);
    cr_assert_eq(join(p), 0);
    const int32_t *data = tg_shm_array_data(a);
    for (int i = 0; i < 10; i++) {
        int64_t v;
        cr_assert_eq(tg_shm_array_get_i64(a, (size_t)i, &v), 0);
        cr_assert_eq(v, i * i);
        cr_assert_eq(data[i], i * i);
    }
    cr_assert_eq(tg_shm_array_unlink(a), 0);
    cr_assert_eq(tg_shm_array_close(a), 0);
    ASSERT_NO_SEGMENTS(child);
    finish();
}

/* ------------------------------------------------------------- increments */

static int locked_incs(void *arg)
{
    tg_shm_array *a = arg;             /* inherited across the fork */
    for (int i = 0; i < 10000; i++) {
        if (tg_shm_array_lock(a) != 0) return 1;
        int64_t v;
        tg_shm_array_get_i64(a, 0, &v);
        tg_shm_array_set_i64(a, 0, v + 1);
        tg_shm_array_unlock(a);
    }
    return 0;
}

static int atomic_incs(void *arg)
{
    for (int i = 0; i < 10000; i++)
        if (tg_shm_array_add_i64(arg, 0, 1, NULL) < 0) return 1;
    return 0;
}

static void four_processes(int (*fn)(void *), char tc)
{
    start();
    tg_shm_array *a = tg_shm_array_create(tc, 1);
    cr_assert_not_null(a);
    tg_process *p[4];
    for (int i = 0; i < 4; i++) cr_assert_not_null(p[i] = tg_process_start(fn, a));
    for (int i = 0; i < 4; i++) cr_assert_eq(join(p[i]), 0);
    int64_t v;
    cr_assert_eq(tg_shm_array_get_i64(a, 0, &v), 0);
    cr_assert_eq(v, 40000);
    cr_assert_eq(tg_shm_array_recoveries(a), 0);
    tg_shm_array_unlink(a);
    tg_shm_array_close(a);
    finish();
}

Test(shm, four_processes_locked_increments) { four_processes(locked_incs, 'q'); }
Test(shm, four_processes_atomic_adds) { four_processes(atomic_incs, 'i'); }

/* ----------------------------------------------------------- lock recovery */

struct holder { tg_shm_array *a; int fd; };

static int die_holding_lock(void *arg)
{
    struct holder *h = arg;
    if (tg_shm_array_lock(h->a) != 0) return 1;
    tg_shm_array_set_i64(h->a, 0, 7);
    if (write(h->fd, "x", 1) != 1) return 2;
    for (;;) pause();        /* SIGKILLed here, lock held */
}

Test(shm, lock_recovers_after_holder_is_killed)
{
    start();
    tg_shm_array *a = tg_shm_array_create('l', 4);
    cr_assert_not_null(a);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    struct holder h = { a, fds[1] };
    tg_process *p = tg_process_start(die_holding_lock, &h);
    char c;
    cr_assert_eq(read(fds[0], &c, 1), 1);        /* the child holds the lock */
    cr_assert_eq(tg_process_kill(p, SIGKILL), 0);
    cr_assert_eq(join(p), -SIGKILL);
    cr_assert_eq(tg_shm_array_lock(a), 1, "the lock must report the dead holder");
    int64_t v;
    cr_assert_eq(tg_shm_array_get_i64(a, 0, &v), 0);
    cr_assert_eq(v, 7);                            /* what the holder wrote is there */
    cr_assert_eq(tg_shm_array_set_i64(a, 0, 8), 0);
    cr_assert_eq(tg_shm_array_unlock(a), 0);
    cr_assert_eq(tg_shm_array_lock(a), 0, "recovered lock is normal again");
    cr_assert_eq(tg_shm_array_unlock(a), 0);
    cr_assert_eq(tg_shm_array_recoveries(a), 1);
    close(fds[0]); close(fds[1]);
    tg_shm_array_unlink(a);
    tg_shm_array_close(a);
    finish();
}

Test(shm, lock_misuse_is_an_error)
{
    start();
    tg_shm_array *a = tg_shm_array_create('d', 1);
    cr_assert_eq(tg_shm_array_unlock(a), -1);
    cr_assert_eq(tg_error(), TG_ERR_STATE);
    cr_assert_eq(tg_shm_array_lock(a), 0);
    cr_assert_eq(tg_shm_array_lock(a), -1);       /* same thread again */
    cr_assert_eq(tg_error(), TG_ERR_STATE);
    cr_assert_eq(tg_shm_array_unlock(a), 0);
    tg_shm_array_unlink(a);
    tg_shm_array_close(a);
    finish();
}

/* ------------------------------------------------------------- bad handles */

Test(shm, malformed_handles_are_value_errors)
{
    start();
    const char *bad[] = {
        "", "garbage", "tangle-shm:", "tangle-shm:1:", "tangle-shm:2:tangle.1.ab:i:10:0123456789abcdef",
        "tangle-shm:1:tangle.1.ab:i:10", "tangle-shm:1:tangle.1.ab:i:10:0123456789abcde",
        "tangle-shm:1:tangle.1.ab:i:10:0123456789abcdefa", "tangle-shm:1:tangle.1.ab:i:10:0123456789ABCDEF",
        "tangle-shm:1:tangle.1.ab:x:10:0123456789abcdef", "tangle-shm:1:tangle.1.ab:ii:10:0123456789abcdef",
        "tangle-shm:1:tangle.1.ab::10:0123456789abcdef", "tangle-shm:1:tangle.1.ab:i:0:0123456789abcdef",
        "tangle-shm:1:tangle.1.ab:i:010:0123456789abcdef", "tangle-shm:1:tangle.1.ab:i:-1:0123456789abcdef",
        "tangle-shm:1:tangle.1.ab:i:1x:0123456789abcdef", "tangle-shm:1:tangle.1.ab:i:99999999999999:0123456789abcdef",
        "tangle-shm:1:tangle.1.ab:d:999999999999:0123456789abcdef",
        "tangle-shm:1:other.1.ab:i:10:0123456789abcdef", "tangle-shm:1:tangle.1/../x:i:10:0123456789abcdef",
        "tangle-shm:1:tangle..x:i:10:0123456789abcdef", "tangle-shm:1::i:10:0123456789abcdef",
        "tangle-shm:1:tangle.1.ab:i:10:0123456789abcdef ", " tangle-shm:1:tangle.1.ab:i:10:0123456789abcdef",
        "tangle-shm:1:tangle.1.ab:i:10:0123456789abcdef:", "tangle-shm:1:tangle.1 ab:i:10:0123456789abcdef",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_open_fails(bad[i], TG_ERR_VALUE, "malformed handle");
    expect_open_fails(NULL, TG_ERR_VALUE, NULL);
    char longh[400];
    memset(longh, 'a', sizeof longh - 1);
    longh[sizeof longh - 1] = '\0';
    expect_open_fails(longh, TG_ERR_VALUE, "too long");
    finish();
}

/* Replace field `idx` (0-based after the "tangle-shm:1:" tag) of a handle. */
static void edit_handle(const char *h, int idx, const char *val, char *out, size_t cap)
{
    char copy[256];
    snprintf(copy, sizeof copy, "%s", h + strlen("tangle-shm:1:"));
    char *fields[4], *save = NULL;
    int n = 0;
    for (char *t = strtok_r(copy, ":", &save); t && n < 4; t = strtok_r(NULL, ":", &save)) fields[n++] = t;
    cr_assert_eq(n, 4);
    fields[idx] = (char *)val;
    snprintf(out, cap, "tangle-shm:1:%s:%s:%s:%s", fields[0], fields[1], fields[2], fields[3]);
}

/* Map a segment's header directly, to damage it. */
static void *raw_map(const char *path, size_t n)
{
    int fd = open(path, O_RDWR);
    cr_assert(fd >= 0);
    void *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    cr_assert(m != MAP_FAILED);
    return m;
}

Test(shm, handle_segment_mismatches)
{
    start();
    tg_shm_array *a = tg_shm_array_create('i', 10);
    cr_assert_not_null(a);
    const char *h = tg_shm_array_handle(a);
    char e[256], path[300];
    path_of(a, path, sizeof path);

    edit_handle(h, 1, "I", e, sizeof e);
    expect_open_fails(e, TG_ERR_VALUE, "typecode mismatch");
    edit_handle(h, 2, "11", e, sizeof e);
    expect_open_fails(e, TG_ERR_VALUE, "length mismatch");
    edit_handle(h, 3, "00000000000000ff", e, sizeof e);
    expect_open_fails(e, TG_ERR_VALUE, "generation mismatch");
    edit_handle(h, 0, "tangle.1.00000000000000000000dead", e, sizeof e);
    expect_open_fails(e, TG_ERR_NOT_FOUND, "no segment");

    tg_shm_array *b = tg_shm_array_open(h);          /* the good one still opens */
    cr_assert_not_null(b, "%s", tg_error_message());
    tg_shm_array_close(b);

    unsigned char *hdr = raw_map(path, 128);
    hdr[0] ^= 0xff;                                   /* magic */
    expect_open_fails(h, TG_ERR_CORRUPT, "bad magic");
    hdr[0] ^= 0xff;
    hdr[8] = 99;                                      /* version */
    expect_open_fails(h, TG_ERR_CORRUPT, "layout version");
    hdr[8] = 1;
    hdr[49] = 3;                                      /* element size */
    expect_open_fails(h, TG_ERR_CORRUPT, "inconsistent header");
    hdr[49] = 4;
    uint32_t uid;
    memcpy(&uid, hdr + 40, 4);
    uint32_t other = uid + 1;
    memcpy(hdr + 40, &other, 4);                      /* creator uid */
    expect_open_fails(h, TG_ERR_PERMISSION, "created by uid");
    memcpy(hdr + 40, &uid, 4);
    munmap(hdr, 128);

    if (geteuid() == 0) {                             /* a foreign owner of the file */
        cr_assert_eq(chown(path, 65534, 65534), 0);
        expect_open_fails(h, TG_ERR_PERMISSION, "belongs to uid");
        cr_assert_eq(chown(path, 0, 0), 0);
    }

    cr_assert_eq(truncate(path, 128 + 10 * 4 - 1), 0);
    expect_open_fails(h, TG_ERR_CORRUPT, "truncated");
    cr_assert_eq(truncate(path, 100), 0);
    expect_open_fails(h, TG_ERR_CORRUPT, "smaller than its header");
    cr_assert_eq(truncate(path, 4096), 0);
    expect_open_fails(h, TG_ERR_CORRUPT, "wrong size");

    cr_assert_eq(tg_shm_array_unlink(a), 0);
    expect_open_fails(h, TG_ERR_NOT_FOUND, "no segment");
    cr_assert_eq(tg_shm_array_unlink(a), -1);
    cr_assert_eq(tg_error(), TG_ERR_NOT_FOUND);
    tg_shm_array_close(a);                            /* mapping of 4096? no: we mapped before */
    finish();
}

/* -------------------------------------------------------------- typed access */

Test(shm, typed_access_checks_ranges_and_types)
{
    start();
    const char *codes = "bBhHiIlLqQ";
    const int64_t lo[] = { -128, 0, -32768, 0, INT32_MIN, 0, INT64_MIN, 0, INT64_MIN, 0 };
    const int64_t hi[] = { 127, 255, 32767, 65535, INT32_MAX, UINT32_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX };
    for (int k = 0; codes[k]; k++) {
        tg_shm_array *a = tg_shm_array_create(codes[k], 3);
        cr_assert_not_null(a, "%c: %s", codes[k], tg_error_message());
        int64_t v;
        cr_assert_eq(tg_shm_array_get_i64(a, 2, &v), 0);
        cr_assert_eq(v, 0, "zero-filled");
        cr_assert_eq(tg_shm_array_set_i64(a, 0, lo[k]), 0);
        cr_assert_eq(tg_shm_array_set_i64(a, 1, hi[k]), 0);
        cr_assert_eq(tg_shm_array_get_i64(a, 0, &v), 0); cr_assert_eq(v, lo[k], "%c", codes[k]);
        cr_assert_eq(tg_shm_array_get_i64(a, 1, &v), 0); cr_assert_eq(v, hi[k], "%c", codes[k]);
        if (hi[k] != INT64_MAX) {
            cr_assert_eq(tg_shm_array_set_i64(a, 0, hi[k] + 1), -1);
            cr_assert_eq(tg_error(), TG_ERR_OVERFLOW);
        }
        if (lo[k] != INT64_MIN) {
            cr_assert_eq(tg_shm_array_set_i64(a, 0, lo[k] - 1), -1);
            cr_assert_eq(tg_error(), TG_ERR_OVERFLOW);
        }
        cr_assert_eq(tg_shm_array_get_i64(a, 3, &v), -1);
        cr_assert_eq(tg_error(), TG_ERR_INDEX);
        cr_assert_eq(tg_shm_array_set_i64(a, 3, 1), -1);
        cr_assert_eq(tg_error(), TG_ERR_INDEX);
        double d;
        cr_assert_eq(tg_shm_array_get_f64(a, 0, &d), -1);
        cr_assert_eq(tg_error(), TG_ERR_TYPE);
        cr_assert_eq(tg_shm_array_set_f64(a, 0, 1.0), -1);
        cr_assert_eq(tg_error(), TG_ERR_TYPE);
        tg_shm_array_unlink(a);
        tg_shm_array_close(a);
    }
    /* unsigned 64-bit values above INT64_MAX: visible through data, refused by get_i64 */
    tg_shm_array *q = tg_shm_array_create('Q', 1);
    ((uint64_t *)tg_shm_array_data(q))[0] = UINT64_MAX;
    int64_t v;
    cr_assert_eq(tg_shm_array_get_i64(q, 0, &v), -1);
    cr_assert_eq(tg_error(), TG_ERR_OVERFLOW);
    cr_assert_eq(tg_shm_array_add_i64(q, 0, 1, &v), 0);   /* wraps like C unsigned */
    cr_assert_eq(((uint64_t *)tg_shm_array_data(q))[0], 0);
    tg_shm_array_unlink(q);
    tg_shm_array_close(q);

    tg_shm_array *f = tg_shm_array_create('f', 2), *d = tg_shm_array_create('d', 2);
    double x;
    cr_assert_eq(tg_shm_array_set_f64(f, 1, 0.5), 0);
    cr_assert_eq(tg_shm_array_get_f64(f, 1, &x), 0); cr_assert_eq(x, 0.5);
    cr_assert_eq(tg_shm_array_set_f64(f, 0, 1e39), -1);
    cr_assert_eq(tg_error(), TG_ERR_OVERFLOW);
    cr_assert_eq(tg_shm_array_set_f64(d, 1, 1e300), 0);
    cr_assert_eq(tg_shm_array_get_f64(d, 1, &x), 0); cr_assert_eq(x, 1e300);
    cr_assert_eq(tg_shm_array_get_i64(d, 0, &v), -1);
    cr_assert_eq(tg_error(), TG_ERR_TYPE);
    cr_assert_eq(tg_shm_array_add_i64(d, 0, 1, NULL), -1);
    cr_assert_eq(tg_error(), TG_ERR_TYPE);
    cr_assert_eq(tg_shm_array_get_f64(d, 2, &x), -1);
    cr_assert_eq(tg_error(), TG_ERR_INDEX);
    tg_shm_array_unlink(f); tg_shm_array_close(f);
    tg_shm_array_unlink(d); tg_shm_array_close(d);

    cr_assert_null(tg_shm_array_create('x', 1));
    cr_assert_eq(tg_error(), TG_ERR_VALUE);
    cr_assert_null(tg_shm_array_create('i', 0));
    cr_assert_eq(tg_error(), TG_ERR_VALUE);
    cr_assert_null(tg_shm_array_create('q', (size_t)1 << 60));
    cr_assert_eq(tg_error(), TG_ERR_OVERFLOW);
    finish();
}

/* --------------------------------------------------------------- lifecycle */

static uint32_t attach_count(tg_shm_array *a)
{
    char path[300];
    path_of(a, path, sizeof path);
    unsigned char *h = raw_map(path, 128);
    uint32_t n;
    memcpy(&n, h + 52, 4);
    munmap(h, 128);
    return n;
}

Test(shm, segment_is_private_and_counts_attachments)
{
    start();
    tg_shm_array *a = tg_shm_array_create('B', 100);
    char path[300];
    path_of(a, path, sizeof path);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(st.st_size, 128 + 100);
    cr_assert_eq(attach_count(a), 1);
    tg_shm_array *b = tg_shm_array_open(tg_shm_array_handle(a));
    cr_assert_not_null(b);
    cr_assert_eq(attach_count(a), 2);
    cr_assert_eq(tg_shm_array_set_i64(b, 99, 200), 0);
    int64_t v;
    tg_shm_array_get_i64(a, 99, &v);
    cr_assert_eq(v, 200);                              /* the same memory */
    cr_assert_eq(tg_shm_array_close(b), 0);
    cr_assert_eq(attach_count(a), 1);
    cr_assert_eq(tg_shm_array_unlink(a), 0);           /* name gone, memory still ours */
    cr_assert_eq(access(path, F_OK), -1);
    tg_shm_array_set_i64(a, 0, 5);
    tg_shm_array_get_i64(a, 0, &v);
    cr_assert_eq(v, 5);
    tg_shm_array_close(a);
    finish();
}

/* ------------------------------------------------------ garbage collection */

struct publish { int fd; int unlink_it; };

static int create_and_crash(void *arg)
{
    struct publish *pb = arg;
    tg_shm_array *a = tg_shm_array_create('d', 1000);
    if (!a) return 1;
    char h[200];
    snprintf(h, sizeof h, "%s", tg_shm_array_handle(a));
    if (write(pb->fd, h, sizeof h) != (ssize_t)sizeof h) return 2;
    if (pb->unlink_it) return 0;            /* exits normally, segment neither closed nor unlinked */
    raise(SIGKILL);
    return 3;
}

Test(shm, segments_of_dead_processes_are_collected)
{
    start();
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    struct publish pb = { fds[1], 0 };
    tg_process *p = tg_process_start(create_and_crash, &pb);
    pid_t child = tg_process_pid(p);
    char h[200];
    cr_assert_eq(read(fds[0], h, sizeof h), (ssize_t)sizeof h);
    cr_assert_eq(join(p), -SIGKILL);
    cr_assert_eq(segments_of(child), 1, "the crashed child's segment is still there");

    cr_assert_geq(tg_shm_gc(), 1);
    ASSERT_NO_SEGMENTS(child);

    /* a segment held by a living process is never collected */
    tg_shm_array *mine = tg_shm_array_create('i', 1);
    cr_assert_eq(segments_of(getpid()), 1);
    cr_assert_eq(tg_shm_gc(), 0);
    cr_assert_eq(segments_of(getpid()), 1);

    /* the creator exits, another process still has it open: kept */
    pb.unlink_it = 1;
    p = tg_process_start(create_and_crash, &pb);
    child = tg_process_pid(p);
    cr_assert_eq(read(fds[0], h, sizeof h), (ssize_t)sizeof h);
    tg_shm_array *theirs = tg_shm_array_open(h);
    cr_assert_not_null(theirs, "%s", tg_error_message());
    cr_assert_eq(join(p), 0);
    cr_assert_eq(tg_shm_gc(), 0);
    cr_assert_eq(segments_of(child), 1);
    tg_shm_array_close(theirs);                        /* last holder gone: garbage */
    cr_assert_eq(tg_shm_gc(), 1);
    ASSERT_NO_SEGMENTS(child);

    close(fds[0]); close(fds[1]);
    tg_shm_array_unlink(mine);
    tg_shm_array_close(mine);
    finish();
}

static int child_leaves_inherited_open(void *arg)
{
    (void)arg;
    return 0;          /* inherited arrays are detached at exit */
}

Test(shm, forked_children_count_as_attached)
{
    start();
    tg_shm_array *a = tg_shm_array_create('h', 1);
    tg_process *p = tg_process_start(child_leaves_inherited_open, NULL);
    cr_assert_eq(join(p), 0);
    cr_assert_eq(attach_count(a), 1);
    tg_shm_array_unlink(a);
    tg_shm_array_close(a);
    finish();
}

Test(shm, first_create_of_a_process_collects_garbage)
{
    start();
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    struct publish pb = { fds[1], 0 };
    tg_process *p = tg_process_start(create_and_crash, &pb);
    pid_t child = tg_process_pid(p);
    char h[200];
    cr_assert_eq(read(fds[0], h, sizeof h), (ssize_t)sizeof h);
    cr_assert_eq(join(p), -SIGKILL);
    cr_assert_eq(segments_of(child), 1);
    tg_shm_array *a = tg_shm_array_create('b', 1);      /* this process's first look */
    ASSERT_NO_SEGMENTS(child);
    close(fds[0]); close(fds[1]);
    tg_shm_array_unlink(a);
    tg_shm_array_close(a);
    finish();
}
