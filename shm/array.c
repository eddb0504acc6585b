/*
 * shm/array.c — shared typed arrays and values (multiprocessing.Array/Value).
 *
 * A segment is a POSIX shared-memory object laid out as
 *
 *   0    _tg_shm_header: magic, version, geometry, owner, generation, counts
 *   64   pthread_mutex_t, robust and process-shared
 *   128  length * elem_size bytes of elements
 *
 * Creation (tg_shm_array_create):
 *   1. shm_open(O_CREAT|O_EXCL, 0600) under an unpredictable name
 *      (/tangle.<pid>.<96 random bits>); EEXIST: another name.
 *   2. flock(LOCK_SH): this process (and every child it forks) now holds the
 *      segment. If a concurrent tg_shm_gc removed the name between 1 and 2
 *      (it saw no holder), st_nlink is 0: start again.
 *   3. posix_fallocate the whole size, so a full /dev/shm fails here and not
 *      as a SIGBUS on first touch.
 *   4. Fill in the header and the mutex, then store the magic (release).
 *
 * Opening (tg_shm_array_open) checks the handle and then the segment, before
 * mapping anything: owner, size >= header, magic, version, internal
 * consistency, creator uid, handle vs header (typecode, length, generation),
 * exact size. Only then flock(LOCK_SH), re-check that the name was not removed
 * meanwhile, and map exactly total_size bytes.
 *
 * Lock recovery: tg_shm_array_lock returns 1 when pthread_mutex_lock said
 * EOWNERDEAD; the mutex is made consistent and the caller holds it. What that
 * promises and what it does not: docs/multiprocessing.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include "shm/shm.h"

_Static_assert(offsetof(_tg_shm_header, lock) == 64, "header layout");
_Static_assert(sizeof(_tg_shm_header) <= _TG_SHM_DATA_OFFSET, "header must fit before the data");

/* Every open array of this process (see shm.h). */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static tg_shm_array *open_list;

static void list_add(tg_shm_array *a)
{
    pthread_mutex_lock(&open_lock);
    a->prev = NULL;
    a->next = open_list;
    if (open_list) open_list->prev = a;
    open_list = a;
    pthread_mutex_unlock(&open_lock);
}

static void list_remove(tg_shm_array *a)
{
    pthread_mutex_lock(&open_lock);
    if (a->prev) a->prev->next = a->next; else if (open_list == a) open_list = a->next;
    if (a->next) a->next->prev = a->prev;
    a->next = a->prev = NULL;
    pthread_mutex_unlock(&open_lock);
}

/* ------------------------------------------------------------------ helpers */

static TG_COLD void *os_fail(const char *fn, const char *what, int e)
{
    tg_errcode code = e == ENOENT ? TG_ERR_NOT_FOUND
                    : e == EACCES || e == EPERM ? TG_ERR_PERMISSION
                    : e == ENOMEM || e == ENOSPC ? TG_ERR_NOMEM : TG_ERR_OS;
    _tg_err_set(code, "%s: %s: %s", fn, what, strerror(e));
    return NULL;
}

static int random_fill(void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int flock_shared(int fd)
{
    int r;
    TG_BEGIN_ALLOW_THREADS
    while ((r = flock(fd, LOCK_SH)) < 0 && errno == EINTR) {}
    TG_END_ALLOW_THREADS
    return r;
}

static int init_mutex(pthread_mutex_t *m)
{
    pthread_mutexattr_t at;
    int r = pthread_mutexattr_init(&at);
    if (r) return r;
    /* PTHREAD_MUTEX_ROBUST is an enum constant in glibc: no #ifdef here. */
    if (!(r = pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED))
        && !(r = pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST))
        && !(r = pthread_mutexattr_settype(&at, PTHREAD_MUTEX_ERRORCHECK)))
        r = pthread_mutex_init(m, &at);
    pthread_mutexattr_destroy(&at);
    return r;
}

static void finish_attach(tg_shm_array *a, _tg_shm_handle *h)
{
    a->data = (char *)a->hdr + a->hdr->data_offset;
    a->pid = getpid();
    a->typecode = h->typecode;
    a->elem_size = (uint8_t)_tg_shm_elem_size(h->typecode);
    a->length = (size_t)h->length;
    memcpy(a->name, h->name, sizeof a->name);
    _tg_shm_handle_format(h, a->handle, sizeof a->handle);
    list_add(a);
}

/* ----------------------------------------------------------------- create */

TG_API tg_shm_array *tg_shm_array_create(char typecode, size_t length)
{
    static const char fn[] = "tg_shm_array_create";
    size_t esz = _tg_shm_elem_size(typecode);
    if (!esz) {
        _tg_err_set(TG_ERR_VALUE, "%s: unknown typecode '%c' (expected one of b B h H i I l L q Q f d)",
                    fn, typecode >= 32 && typecode < 127 ? typecode : '?');
        return NULL;
    }
    if (length == 0) {
        _tg_err_set(TG_ERR_VALUE, "%s: length must be at least 1", fn);
        return NULL;
    }
    if ((uint64_t)length > _TG_SHM_MAX_BYTES / esz) {
        _tg_err_set(TG_ERR_OVERFLOW, "%s: %zu elements of %zu bytes is too large", fn, length, esz);
        return NULL;
    }
    _tg_shm_gc_once();

    tg_shm_array *a = calloc(1, sizeof *a);
    if (!a) { _tg_err_nomem(); return NULL; }
    _tg_shm_handle h = { .typecode = typecode, .length = length };
    int fd = -1;
    for (int attempt = 0; fd < 0; attempt++) {
        unsigned char rnd[12];
        if (attempt == 16 || random_fill(rnd, sizeof rnd) < 0) {
            free(a);
            return os_fail(fn, attempt == 16 ? "no free segment name" : "getrandom", attempt == 16 ? EEXIST : errno);
        }
        int n = snprintf(h.name, sizeof h.name, "/" _TG_SHM_PREFIX "%ld.", (long)getpid());
        for (size_t i = 0; i < sizeof rnd; i++)
            n += snprintf(h.name + n, sizeof h.name - (size_t)n, "%02x", rnd[i]);
        fd = shm_open(h.name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            if (errno == EEXIST) continue;
            free(a);
            return os_fail(fn, "shm_open", errno);
        }
        struct stat st;
        if (flock_shared(fd) < 0 || fstat(fd, &st) < 0) {
            int e = errno;
            shm_unlink(h.name);
            close(fd);
            free(a);
            return os_fail(fn, "flock", e);
        }
        if (st.st_nlink == 0) { close(fd); fd = -1; }   /* removed by a concurrent gc */
    }
    uint64_t total = _TG_SHM_DATA_OFFSET + (uint64_t)length * esz;
    int e;
    if (fchmod(fd, 0600) < 0) { e = errno; goto fail; }       /* whatever the umask */
    if ((e = posix_fallocate(fd, 0, (off_t)total)) != 0) {
        shm_unlink(h.name);
        close(fd);
        free(a);
        if (e == ENOSPC) {
            _tg_err_set(TG_ERR_NOMEM, "%s: no space in " _TG_SHM_DIR " for %" PRIu64 " bytes", fn, total);
            return NULL;
        }
        return os_fail(fn, "posix_fallocate", e);
    }
    void *map = mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) { e = errno; goto fail; }
    if (random_fill(&h.generation, sizeof h.generation) < 0) { e = errno; munmap(map, (size_t)total); goto fail; }

    _tg_shm_header *hdr = map;
    hdr->version = _TG_SHM_VERSION;
    hdr->data_offset = _TG_SHM_DATA_OFFSET;
    hdr->length = length;
    hdr->generation = h.generation;
    hdr->total_size = total;
    hdr->creator_uid = (uint32_t)geteuid();
    hdr->creator_pid = (int32_t)getpid();
    hdr->typecode = typecode;
    hdr->elem_size = (uint8_t)esz;
    atomic_init(&hdr->attach_count, 1);
    atomic_init(&hdr->recoveries, 0);
    if ((e = init_mutex(&hdr->lock)) != 0) { munmap(map, (size_t)total); goto fail; }
    /* Release: whoever reads the magic sees a complete header. */
    atomic_thread_fence(memory_order_release);
    memcpy(hdr->magic, _TG_SHM_MAGIC, 8);

    a->hdr = hdr;
    a->map_size = (size_t)total;
    a->fd = fd;
    finish_attach(a, &h);
    return a;

fail:
    shm_unlink(h.name);
    close(fd);
    free(a);
    return os_fail(fn, "creating the segment", e);
}

/* ------------------------------------------------------------------- open */

#define OPEN_FAIL(code, ...) do { _tg_err_set(code, "tg_shm_array_open: " __VA_ARGS__); goto fail; } while (0)

TG_API tg_shm_array *tg_shm_array_open(const char *handle)
{
    _tg_shm_handle h;
    if (_tg_shm_handle_parse(handle, &h) < 0) return NULL;
    _tg_shm_gc_once();

    int fd = shm_open(h.name, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
        if (errno == ENOENT) {
            _tg_err_set(TG_ERR_NOT_FOUND, "tg_shm_array_open: no segment %s (unlinked, or every process "
                        "holding it died and it was collected)", h.name + 1);
            return NULL;
        }
        return os_fail("tg_shm_array_open", h.name + 1, errno);
    }
    tg_shm_array *a = NULL;
    struct stat st;
    if (fstat(fd, &st) < 0) OPEN_FAIL(TG_ERR_OS, "fstat: %s", strerror(errno));
    if (st.st_uid != geteuid())
        OPEN_FAIL(TG_ERR_PERMISSION, "segment %s belongs to uid %u, not to this user (uid %u)",
                  h.name + 1, (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_size < (off_t)_TG_SHM_DATA_OFFSET)
        OPEN_FAIL(TG_ERR_CORRUPT, "segment %s is truncated: %lld bytes, smaller than its header",
                  h.name + 1, (long long)st.st_size);

    _tg_shm_header hd;    /* the fields before the mutex, read without mapping */
    if (pread(fd, &hd, offsetof(_tg_shm_header, lock), 0) != (ssize_t)offsetof(_tg_shm_header, lock))
        OPEN_FAIL(TG_ERR_CORRUPT, "segment %s: cannot read its header", h.name + 1);
    if (memcmp(hd.magic, _TG_SHM_MAGIC, 8) != 0)
        OPEN_FAIL(TG_ERR_CORRUPT, "segment %s: bad magic (not a tangle segment, or not initialised)", h.name + 1);
    if (hd.version != _TG_SHM_VERSION)
        OPEN_FAIL(TG_ERR_CORRUPT, "segment %s: layout version %u, this library reads version %u",
                  h.name + 1, hd.version, _TG_SHM_VERSION);
    size_t esz = _tg_shm_elem_size(hd.typecode);
    if (hd.data_offset != _TG_SHM_DATA_OFFSET || esz == 0 || hd.elem_size != esz
        || hd.length == 0 || hd.length > _TG_SHM_MAX_BYTES / esz
        || hd.total_size != _TG_SHM_DATA_OFFSET + hd.length * esz)
        OPEN_FAIL(TG_ERR_CORRUPT, "segment %s: inconsistent header (geometry does not add up)", h.name + 1);
    if (hd.creator_uid != (uint32_t)geteuid())
        OPEN_FAIL(TG_ERR_PERMISSION, "segment %s was created by uid %u, not by this user (uid %u)",
                  h.name + 1, hd.creator_uid, (unsigned)geteuid());
    if (hd.typecode != h.typecode)
        OPEN_FAIL(TG_ERR_VALUE, "typecode mismatch: the handle says '%c', segment %s holds '%c'",
                  h.typecode, h.name + 1, hd.typecode);
    if (hd.length != h.length)
        OPEN_FAIL(TG_ERR_VALUE, "length mismatch: the handle says %" PRIu64 ", segment %s holds %" PRIu64,
                  h.length, h.name + 1, hd.length);
    if (hd.generation != h.generation)
        OPEN_FAIL(TG_ERR_VALUE, "generation mismatch: the handle is for another segment once named %s",
                  h.name + 1);
    if ((uint64_t)st.st_size != hd.total_size)
        OPEN_FAIL(TG_ERR_CORRUPT, "segment %s is %s: %lld bytes, its header says %" PRIu64,
                  h.name + 1, (uint64_t)st.st_size < hd.total_size ? "truncated" : "the wrong size",
                  (long long)st.st_size, hd.total_size);

    if (flock_shared(fd) < 0) OPEN_FAIL(TG_ERR_OS, "flock: %s", strerror(errno));
    if (fstat(fd, &st) < 0) OPEN_FAIL(TG_ERR_OS, "fstat: %s", strerror(errno));
    if (st.st_nlink == 0)
        OPEN_FAIL(TG_ERR_NOT_FOUND, "segment %s was removed while being opened", h.name + 1);
    if ((uint64_t)st.st_size != hd.total_size)
        OPEN_FAIL(TG_ERR_CORRUPT, "segment %s changed size while being opened", h.name + 1);

    if (!(a = calloc(1, sizeof *a))) { _tg_err_nomem(); goto fail; }
    void *map = mmap(NULL, (size_t)hd.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) OPEN_FAIL(TG_ERR_OS, "mmap: %s", strerror(errno));
    a->hdr = map;
    a->map_size = (size_t)hd.total_size;
    a->fd = fd;
    atomic_fetch_add(&a->hdr->attach_count, 1);
    finish_attach(a, &h);
    return a;

fail:
    free(a);
    close(fd);
    return NULL;
}

/* -------------------------------------------------------------- accessors */

static TG_COLD int null_array(const char *fn)
{
    _tg_err_set(TG_ERR_VALUE, "%s: NULL array", fn);
    return -1;
}

TG_API const char *tg_shm_array_handle(tg_shm_array *a)
{
    if (!a) { null_array("tg_shm_array_handle"); return NULL; }
    return a->handle;
}
TG_API size_t tg_shm_array_len(tg_shm_array *a) { return a ? a->length : 0; }
TG_API char tg_shm_array_typecode(tg_shm_array *a) { return a ? a->typecode : '\0'; }
TG_API void *tg_shm_array_data(tg_shm_array *a) { return a ? a->data : NULL; }
TG_API unsigned tg_shm_array_recoveries(tg_shm_array *a)
{
    return a ? atomic_load(&a->hdr->recoveries) : 0;
}

/* ------------------------------------------------------------------- lock */

TG_API int tg_shm_array_lock(tg_shm_array *a)
{
    if (!a) return null_array("tg_shm_array_lock");
    int r = pthread_mutex_trylock(&a->hdr->lock);
    if (r == EBUSY) {
        /* Contended: wait without holding the GIL, so that a thread of this
           process holding the segment lock can run and release it. */
        TG_BEGIN_ALLOW_THREADS
        r = pthread_mutex_lock(&a->hdr->lock);
        TG_END_ALLOW_THREADS
    }
    switch (r) {
    case 0:
        return 0;
    case EOWNERDEAD:
        /* The holder died inside its critical section. We hold the lock now;
           mark it usable again and tell the caller to check the data. */
        pthread_mutex_consistent(&a->hdr->lock);
        atomic_fetch_add(&a->hdr->recoveries, 1);
        return 1;
    case ENOTRECOVERABLE:
        _tg_err_set(TG_ERR_CORRUPT, "tg_shm_array_lock: the lock of %s is unrecoverable "
                    "(a recovering holder unlocked without marking it consistent)", a->name + 1);
        return -1;
    case EDEADLK:
        _tg_err_set(TG_ERR_STATE, "tg_shm_array_lock: this thread already holds the lock of %s", a->name + 1);
        return -1;
    default:
        _tg_err_set(TG_ERR_OS, "tg_shm_array_lock: %s", strerror(r));
        return -1;
    }
}

TG_API int tg_shm_array_unlock(tg_shm_array *a)
{
    if (!a) return null_array("tg_shm_array_unlock");
    int r = pthread_mutex_unlock(&a->hdr->lock);
    if (r == 0) return 0;
    if (r == EPERM)
        _tg_err_set(TG_ERR_STATE, "tg_shm_array_unlock: this thread does not hold the lock of %s", a->name + 1);
    else
        _tg_err_set(TG_ERR_OS, "tg_shm_array_unlock: %s", strerror(r));
    return -1;
}

/* -------------------------------------------------------- typed get / set */

static bool is_float_code(char tc) { return tc == 'f' || tc == 'd'; }

static int check_elem(tg_shm_array *a, size_t i, bool want_float, const char *fn)
{
    if (!a) return null_array(fn);
    if (i >= a->length) {
        _tg_err_set(TG_ERR_INDEX, "%s: index %zu out of range (length %zu)", fn, i, a->length);
        return -1;
    }
    if (is_float_code(a->typecode) != want_float) {
        _tg_err_set(TG_ERR_TYPE, "%s: the array holds '%c' (%s), not %s", fn, a->typecode,
                    want_float ? "integers" : "floats", want_float ? "floats" : "integers");
        return -1;
    }
    return 0;
}

/* Elements are read and written with relaxed atomics of their own width: a
   concurrent reader never sees a torn value, and the race is defined. */
#define LD(T) __atomic_load_n((T *)p, __ATOMIC_RELAXED)
#define ST(T, v) __atomic_store_n((T *)p, (T)(v), __ATOMIC_RELAXED)

TG_API int tg_shm_array_get_i64(tg_shm_array *a, size_t i, int64_t *out)
{
    if (check_elem(a, i, false, "tg_shm_array_get_i64") < 0) return -1;
    void *p = (char *)a->data + i * a->elem_size;
    int64_t v;
    switch (a->typecode) {
    case 'b': v = LD(int8_t); break;
    case 'B': v = LD(uint8_t); break;
    case 'h': v = LD(int16_t); break;
    case 'H': v = LD(uint16_t); break;
    case 'i': v = LD(int32_t); break;
    case 'I': v = LD(uint32_t); break;
    case 'l': case 'q': v = LD(int64_t); break;
    default: {  /* L Q */
        uint64_t u = LD(uint64_t);
        if (u > INT64_MAX) {
            _tg_err_set(TG_ERR_OVERFLOW, "tg_shm_array_get_i64: %" PRIu64 " does not fit in int64_t", u);
            return -1;
        }
        v = (int64_t)u;
    }
    }
    if (out) *out = v;
    return 0;
}

static bool fits(char tc, int64_t v)
{
    switch (tc) {
    case 'b': return v >= INT8_MIN && v <= INT8_MAX;
    case 'B': return v >= 0 && v <= UINT8_MAX;
    case 'h': return v >= INT16_MIN && v <= INT16_MAX;
    case 'H': return v >= 0 && v <= UINT16_MAX;
    case 'i': return v >= INT32_MIN && v <= INT32_MAX;
    case 'I': return v >= 0 && v <= UINT32_MAX;
    case 'L': case 'Q': return v >= 0;
    default: return true;
    }
}

TG_API int tg_shm_array_set_i64(tg_shm_array *a, size_t i, int64_t v)
{
    if (check_elem(a, i, false, "tg_shm_array_set_i64") < 0) return -1;
    if (!fits(a->typecode, v)) {
        _tg_err_set(TG_ERR_OVERFLOW, "tg_shm_array_set_i64: %" PRId64 " is out of range for typecode '%c'",
                    v, a->typecode);
        return -1;
    }
    void *p = (char *)a->data + i * a->elem_size;
    switch (a->elem_size) {
    case 1: ST(uint8_t, v); break;
    case 2: ST(uint16_t, v); break;
    case 4: ST(uint32_t, v); break;
    default: ST(uint64_t, v); break;
    }
    return 0;
}

TG_API int tg_shm_array_add_i64(tg_shm_array *a, size_t i, int64_t delta, int64_t *old)
{
    if (check_elem(a, i, false, "tg_shm_array_add_i64") < 0) return -1;
    void *p = (char *)a->data + i * a->elem_size;
    int64_t o;
    switch (a->typecode) {
    case 'b': o = (int8_t)__atomic_fetch_add((uint8_t *)p, (uint8_t)delta, __ATOMIC_SEQ_CST); break;
    case 'B': o = __atomic_fetch_add((uint8_t *)p, (uint8_t)delta, __ATOMIC_SEQ_CST); break;
    case 'h': o = (int16_t)__atomic_fetch_add((uint16_t *)p, (uint16_t)delta, __ATOMIC_SEQ_CST); break;
    case 'H': o = __atomic_fetch_add((uint16_t *)p, (uint16_t)delta, __ATOMIC_SEQ_CST); break;
    case 'i': o = (int32_t)__atomic_fetch_add((uint32_t *)p, (uint32_t)delta, __ATOMIC_SEQ_CST); break;
    case 'I': o = __atomic_fetch_add((uint32_t *)p, (uint32_t)delta, __ATOMIC_SEQ_CST); break;
    default:  o = (int64_t)__atomic_fetch_add((uint64_t *)p, (uint64_t)delta, __ATOMIC_SEQ_CST); break;
    }
    if (old) *old = o;
    return 0;
}

TG_API int tg_shm_array_get_f64(tg_shm_array *a, size_t i, double *out)
{
    if (check_elem(a, i, true, "tg_shm_array_get_f64") < 0) return -1;
    void *p = (char *)a->data + i * a->elem_size;
    double v;
    if (a->typecode == 'f') { float f; __atomic_load((float *)p, &f, __ATOMIC_RELAXED); v = f; }
    else __atomic_load((double *)p, &v, __ATOMIC_RELAXED);
    if (out) *out = v;
    return 0;
}

TG_API int tg_shm_array_set_f64(tg_shm_array *a, size_t i, double v)
{
    if (check_elem(a, i, true, "tg_shm_array_set_f64") < 0) return -1;
    void *p = (char *)a->data + i * a->elem_size;
    if (a->typecode == 'f') {
        if (isfinite(v) && fabs(v) > FLT_MAX) {
            _tg_err_set(TG_ERR_OVERFLOW, "tg_shm_array_set_f64: %g is too large for typecode 'f'", v);
            return -1;
        }
        float f = (float)v;
        __atomic_store((float *)p, &f, __ATOMIC_RELAXED);
    } else {
        __atomic_store((double *)p, &v, __ATOMIC_RELAXED);
    }
    return 0;
}

/* ------------------------------------------------------- close and unlink */

static void detach(tg_shm_array *a)
{
    /* A plain fork() child never counted itself in: it must not count out. */
    if (a->pid == getpid())
        atomic_fetch_sub(&a->hdr->attach_count, 1);
    munmap(a->hdr, a->map_size);
    close(a->fd);      /* drops our flock once no child shares the descriptor */
}

TG_API int tg_shm_array_close(tg_shm_array *a)
{
    if (!a) return null_array("tg_shm_array_close");
    list_remove(a);
    detach(a);
    free(a);
    return 0;
}

TG_API int tg_shm_array_unlink(tg_shm_array *a)
{
    if (!a) return null_array("tg_shm_array_unlink");
    if (shm_unlink(a->name) < 0) {
        if (errno == ENOENT) {
            _tg_err_set(TG_ERR_NOT_FOUND, "tg_shm_array_unlink: %s is already unlinked", a->name + 1);
            return -1;
        }
        os_fail("tg_shm_array_unlink", a->name + 1, errno);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- fork hooks */

void _tg_shm_fork_prepare(void) { pthread_mutex_lock(&open_lock); }
void _tg_shm_fork_parent(void) { pthread_mutex_unlock(&open_lock); }

void _tg_shm_after_fork_child(void)
{
    pthread_mutex_init(&open_lock, NULL);
    pid_t me = getpid();
    for (tg_shm_array *a = open_list; a; a = a->next) {
        atomic_fetch_add(&a->hdr->attach_count, 1);
        a->pid = me;
    }
}

void _tg_shm_detach_all(void)
{
    pthread_mutex_lock(&open_lock);
    tg_shm_array *a = open_list;
    open_list = NULL;
    pthread_mutex_unlock(&open_lock);
    while (a) {
        tg_shm_array *next = a->next;
        detach(a);          /* the struct belongs to the user's code: not freed */
        a = next;
    }
}
