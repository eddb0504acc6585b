/*
 * runtime/config.h — compile-time knobs, each with its default and why.
 */
#ifndef TG_RUNTIME_CONFIG_H
#define TG_RUNTIME_CONFIG_H

#include <pthread.h>

/* Small ints cached as immortal singletons: CPython's range. */
#define _TG_SMALL_INT_MIN (-5)
#define _TG_SMALL_INT_MAX 256

/* Free lists, as CPython sizes them: lists and dicts 80, floats 100, tuples of
   length 1..20 with 2000 each. Per thread, so no lock in either mode. */
#define _TG_LIST_FREELIST_MAX  80
#define _TG_DICT_FREELIST_MAX  80
#define _TG_FLOAT_FREELIST_MAX 100
#define _TG_TUPLE_FREELIST_SIZES 20
#define _TG_TUPLE_FREELIST_MAX 2000

/* Trashcan: nesting depth of deallocations before further container deaths are
   deferred to an iterative loop. 50 levels of a typical destroy frame is a few
   KiB of stack; CPython uses 50 as well. */
#define _TG_TRASHCAN_DEPTH 50

/* Deepcopy/eq/hash recursion limit (TG_ERR_OVERFLOW past it), like Python's
   recursion limit: deep enough for data, shallow enough for an 8 MiB stack. */
#define _TG_RECURSION_LIMIT 10000

/* Error message buffer per thread. */
#define _TG_ERRMSG_MAX 256

#endif
