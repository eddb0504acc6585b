/*
 * shm/track.c — which tangle segments exist, who holds them, and removing the
 * ones nobody holds (tg_shm_gc, `tangle shm --list/--gc`).
 *
 * Liveness is a kernel fact, not a guess from pids: every process that has a
 * segment open (its creator, children forked while it was open, processes
 * that opened it by handle) keeps a descriptor with a shared flock(2) lock on
 * it. The kernel drops the lock when the last descriptor of that open file
 * goes — at close or at death, SIGKILL included. A probe that gets an
 * exclusive lock without waiting therefore proves that nobody holds the
 * segment: it is garbage, and tg_shm_gc unlinks it while still holding the
 * exclusive lock (a process opening it concurrently waits for that lock and
 * then sees st_nlink == 0: "removed while being opened").
 *
 * Nothing else is tracked: no resource-tracker process, no list of "leaked"
 * names, no unlinking of segments other processes still use.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "shm/shm.h"

/* Probe one entry. With remove_garbage, unlink it if nobody holds it and it
   is ours. Returns 1 if it was removed. */
static int probe(int dirfd, const char *name, _tg_shm_info *info, bool remove_garbage)
{
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%s", name);
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    if (fd < 0) {
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) info->owner_uid = st.st_uid;
        return 0;
    }
    info->readable = true;
    int removed = 0;
    if (fstat(fd, &st) == 0) {
        info->owner_uid = st.st_uid;
        info->size = (uint64_t)st.st_size;
    }
    _tg_shm_header hd;
    if (info->size >= _TG_SHM_DATA_OFFSET
        && pread(fd, &hd, offsetof(_tg_shm_header, lock), 0) == (ssize_t)offsetof(_tg_shm_header, lock)
        && memcmp(hd.magic, _TG_SHM_MAGIC, 8) == 0 && hd.version == _TG_SHM_VERSION) {
        info->valid = true;
        info->creator_pid = hd.creator_pid;
        info->typecode = hd.typecode;
        info->length = hd.length;
        info->attach_count = hd.attach_count;
        info->recoveries = hd.recoveries;
        info->creator_running = hd.creator_pid > 0 && (kill(hd.creator_pid, 0) == 0 || errno == EPERM);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
        info->alive = false;
        struct stat now;
        if (remove_garbage && info->owner_uid == geteuid()
            && fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0
            && now.st_ino == st.st_ino && now.st_dev == st.st_dev
            && unlinkat(dirfd, name, 0) == 0)
            removed = 1;
    } else {
        info->alive = true;
    }
    close(fd);      /* drops the probe's lock */
    return removed;
}

static bool is_tangle_name(const char *n)
{
    return strncmp(n, _TG_SHM_PREFIX, sizeof _TG_SHM_PREFIX - 1) == 0 && _tg_shm_name_valid(n);
}

static long walk(int (*fn)(const _tg_shm_info *, void *), void *arg, bool remove_garbage)
{
    DIR *d = opendir(_TG_SHM_DIR);
    if (!d) {
        _tg_err_set(TG_ERR_OS, "cannot read " _TG_SHM_DIR ": %s", strerror(errno));
        return -1;
    }
    long count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_tangle_name(e->d_name)) continue;
        _tg_shm_info info;
        int removed = probe(dirfd(d), e->d_name, &info, remove_garbage);
        if (remove_garbage) count += removed;
        else {
            count++;
            if (fn && fn(&info, arg)) break;
        }
    }
    closedir(d);
    return count;
}

long _tg_shm_scan(int (*fn)(const _tg_shm_info *, void *), void *arg)
{
    return walk(fn, arg, false);
}

TG_API long tg_shm_gc(void)
{
    return walk(NULL, NULL, true);
}

static pthread_once_t gc_once = PTHREAD_ONCE_INIT;
static void gc_quietly(void)
{
    if (getenv("TANGLE_SHM_NO_GC")) return;
    walk(NULL, NULL, true);
}

void _tg_shm_gc_once(void)
{
    pthread_once(&gc_once, gc_quietly);
    tg_error_clear();
}
