/*
 * runtime/errors.c — the calling thread's error (code + message), fatal errors.
 *
 * The error lives in plain thread-local storage rather than in the thread state
 * so that it can be read after tg_fini and set before an attach completes.
 */
#include <stdarg.h>
#include <stdio.h>
#include "runtime/internal.h"

static _Thread_local tg_errcode err_code;
static _Thread_local char err_msg[_TG_ERRMSG_MAX];

static const char *const code_names[] = {
    [TG_OK] = "TG_OK", [TG_ERR_NOMEM] = "TG_ERR_NOMEM", [TG_ERR_TYPE] = "TG_ERR_TYPE",
    [TG_ERR_VALUE] = "TG_ERR_VALUE", [TG_ERR_INDEX] = "TG_ERR_INDEX", [TG_ERR_KEY] = "TG_ERR_KEY",
    [TG_ERR_OVERFLOW] = "TG_ERR_OVERFLOW", [TG_ERR_STATE] = "TG_ERR_STATE", [TG_ERR_OS] = "TG_ERR_OS",
    [TG_ERR_NOT_FOUND] = "TG_ERR_NOT_FOUND", [TG_ERR_PERMISSION] = "TG_ERR_PERMISSION",
    [TG_ERR_CORRUPT] = "TG_ERR_CORRUPT",
};

TG_API tg_errcode tg_error(void) { return err_code; }
TG_API const char *tg_error_message(void) { return err_code == TG_OK ? "" : err_msg; }
TG_API void tg_error_clear(void) { err_code = TG_OK; err_msg[0] = '\0'; }

TG_API const char *tg_errcode_name(tg_errcode code)
{
    if ((unsigned)code < sizeof code_names / sizeof code_names[0])
        return code_names[code];
    return "TG_ERR_?";
}

static void vset(tg_errcode code, const char *fmt, va_list ap)
{
    err_code = code;
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
}

void _tg_err_set(tg_errcode code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(code, fmt, ap);
    va_end(ap);
}

TG_API void tg_error_set(tg_errcode code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(code, fmt, ap);
    va_end(ap);
}

void _tg_err_nomem(void) { _tg_err_set(TG_ERR_NOMEM, "out of memory"); }

void _tg_err_wrong_type(const tg_obj *o, const char *expected)
{
    /* expected is the kind macro's spelling, e.g. "_TG_K_LIST": show "list". */
    const char *e = expected;
    if (strncmp(e, "_TG_K_", 6) == 0) e += 6;
    char lower[32];
    size_t i = 0;
    for (; e[i] && i < sizeof lower - 1; i++) lower[i] = (char)(e[i] | 0x20);
    lower[i] = '\0';
    if (o == NULL)
        _tg_err_set(TG_ERR_TYPE, "expected %s, got NULL", lower);
    else
        _tg_err_set(TG_ERR_TYPE, "expected %s, got %s", lower, o->ob_type->name);
}

void _tg_fatal(const char *fmt, ...)
{
    va_list ap;
    fputs("tangle: fatal: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

void _tg_fatal_obj(const tg_obj *o, const char *what)
{
    const char *tname = "?";
    if (o && !(o->ob_flags & _TG_OBF_DEAD) && o->ob_type)
        tname = o->ob_type->name;
    else if (o && (o->ob_flags & _TG_OBF_DEAD))
        tname = "<freed object>";
    _tg_fatal("%s: object %p of type %s", what, (const void *)o, tname);
}
