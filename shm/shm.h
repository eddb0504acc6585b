/*
 * shm/shm.h — shared-memory segments, their tracking, and process hooks:
 * the internal interface of shm/ (docs/multiprocessing.md).
 *
 * Glossary
 *   segment     a named POSIX shared-memory object, /dev/shm/tangle.<pid>.<rand>
 *   header      the first 128 bytes of a segment (_tg_shm_header)
 *   holder      a process with an open descriptor of the segment carrying a
 *               shared flock(2) lock: the creator, its forked children, and
 *               every process that opened it and has not closed it
 *   alive       some holder exists. The kernel drops a dead process's flock,
 *               so "no holder" is exact, never a guess from pids.
 *   garbage     a tangle segment with no holder: removed by tg_shm_gc.
 *
 * Invariants
 *   - A tg_shm_array maps exactly hdr->total_size bytes, and total_size ==
 *     data_offset + length * elem_size, checked before mapping.
 *   - Every open tg_shm_array of this process is on the process-local list
 *     (used to re-attach at tg_process_start and detach at child exit).
 */
#ifndef TG_SHM_H
#define TG_SHM_H
#if !defined(TG_BUILDING_LIBRARY) && !defined(TG_INTERNAL_CLIENT)
#error "shm/shm.h is internal to libtangle; include <tangle.h>"
#endif

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "runtime/internal.h"

#define _TG_SHM_MAGIC        "tgSHMseg"      /* 8 bytes, no NUL */
#define _TG_SHM_VERSION      1u              /* layout version */
#define _TG_SHM_DATA_OFFSET  128u            /* header + mutex, then the elements */
#define _TG_SHM_PREFIX       "tangle."       /* every tangle segment name starts so */
#define _TG_SHM_DIR          "/dev/shm"
#define _TG_SHM_NAME_MAX     63              /* without the leading '/' */
#define _TG_SHM_HANDLE_MAX   160             /* longest valid handle, NUL excluded */
#define _TG_SHM_HANDLE_TAG   "tangle-shm:1:"
/* The largest array: 2^40 bytes of elements. Bounds every size computation far
   from overflow and refuses absurd handles before any system call. */
#define _TG_SHM_MAX_BYTES    ((uint64_t)1 << 40)

/* The segment header. Written by the creator before the magic (release);
   read-only afterwards except attach_count and recoveries (atomics) and the
   mutex. */
typedef struct _tg_shm_header {
    char      magic[8];          /*  0 _TG_SHM_MAGIC, stored last at creation */
    uint32_t  version;           /*  8 _TG_SHM_VERSION */
    uint32_t  data_offset;       /* 12 _TG_SHM_DATA_OFFSET */
    uint64_t  length;            /* 16 elements */
    uint64_t  generation;        /* 24 random, also in the handle */
    uint64_t  total_size;        /* 32 bytes of the segment */
    uint32_t  creator_uid;       /* 40 */
    int32_t   creator_pid;       /* 44 */
    char      typecode;          /* 48 */
    uint8_t   elem_size;         /* 49 */
    uint16_t  _pad0;             /* 50 */
    _Atomic uint32_t attach_count; /* 52 tg_shm_array objects attached (advisory: a crash leaves it high) */
    _Atomic uint32_t recoveries;   /* 56 times the lock was recovered from a dead holder */
    uint32_t  _pad1;             /* 60 */
    pthread_mutex_t lock;        /* 64 robust, process-shared */
} _tg_shm_header;

struct tg_shm_array {
    _tg_shm_header *hdr;         /* the mapping (hdr->total_size bytes) */
    void           *data;        /* (char *)hdr + data_offset */
    size_t          map_size;
    int             fd;          /* holds the shared flock: our liveness mark */
    pid_t           pid;         /* process that attached (fork detection) */
    char            typecode;
    uint8_t         elem_size;
    size_t          length;
    char            name[_TG_SHM_NAME_MAX + 2];      /* with the leading '/' */
    char            handle[_TG_SHM_HANDLE_MAX + 1];
    struct tg_shm_array *next, *prev;                /* process-local list */
};

/* ----------------------------------------------------------- shm/handle.c */

typedef struct _tg_shm_handle {
    char     name[_TG_SHM_NAME_MAX + 2];   /* "/tangle...." */
    char     typecode;
    uint64_t length;
    uint64_t generation;
} _tg_shm_handle;
/* Parse a handle string; 0, or -1 with TG_ERR_VALUE and a message. Never reads
   past the first NUL or past _TG_SHM_HANDLE_MAX + 1 bytes. */
TG_INTERNAL int  _tg_shm_handle_parse(const char *s, _tg_shm_handle *out);
TG_INTERNAL void _tg_shm_handle_format(const _tg_shm_handle *h, char *buf, size_t cap);
/* Element size of a typecode, 0 if it is not one. */
TG_INTERNAL size_t _tg_shm_elem_size(char typecode);
TG_INTERNAL bool   _tg_shm_name_valid(const char *name_without_slash);

/* ------------------------------------------------------------ shm/track.c */

typedef struct _tg_shm_info {
    char     name[256];          /* as in /dev/shm (no leading '/') */
    bool     readable;           /* we could open it (same owner) */
    bool     valid;              /* header magic and version check out */
    bool     alive;              /* some process holds it (flock) */
    uid_t    owner_uid;          /* the file's owner */
    pid_t    creator_pid;
    bool     creator_running;    /* kill(creator_pid, 0) succeeds: informational */
    char     typecode;
    uint64_t length, size;
    uint32_t attach_count, recoveries;
} _tg_shm_info;
/* Calls fn for every tangle segment in /dev/shm; stops early if fn returns
   non-zero. Returns the number visited, or -1 (TG_ERR_OS). */
TG_INTERNAL long _tg_shm_scan(int (*fn)(const _tg_shm_info *, void *), void *arg);
/* Once per process, on the first create or open: tg_shm_gc(). */
TG_INTERNAL void _tg_shm_gc_once(void);

/* ------------------------------------------------------------ shm/array.c */

/* After fork, in the child of tg_process_start: count the inherited arrays as
   attached by this process too. */
TG_INTERNAL void _tg_shm_after_fork_child(void);
/* At the exit of such a child: detach what it left attached. */
TG_INTERNAL void _tg_shm_detach_all(void);
/* Around fork: keep the list of open arrays consistent in the child. */
TG_INTERNAL void _tg_shm_fork_prepare(void);
TG_INTERNAL void _tg_shm_fork_parent(void);

/* --------------------------------------------------------- runtime/marshal.c */

/* tg_marshal_dumps into a malloc'd buffer; 0 or -1. */
TG_INTERNAL int     _tg_marshal_dump_buf(tg_obj *o, unsigned char **out, size_t *len);
/* tg_marshal_loads from memory. */
TG_INTERNAL tg_obj *_tg_marshal_load_buf(const void *data, size_t n);

#endif
