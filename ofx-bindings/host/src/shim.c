/* C-variadic OFX host entry points for the Rust test host.
 *
 * Rust (stable) can call C-variadic functions but cannot define them, so the parameter value
 * functions and the printf-style message functions live here. Each one unpacks its va_list
 * according to the parameter's type (asked from Rust through a callback) or formats the message
 * with vsnprintf, then hands plain arguments to Rust. Rust installs the callbacks once
 * (ck_shim_install) before any plugin can call these, so C never references Rust symbols. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef int OfxStatus;
#define CK_STAT_FAILED 1
#define CK_STAT_ERR_BAD_HANDLE 9

/* Value kinds, mirrored in params.rs. */
#define CK_KIND_DOUBLE 0
#define CK_KIND_INT 1
#define CK_KIND_STRING 2
#define CK_MAX_DIMS 4

/* Asks the type of a parameter: kind and number of values (1..4). */
typedef OfxStatus (*ck_param_kind_fn)(void *param, int *kind, int *count);
/* Reads the value at a time (has_time 0: the current value). Fills d or i (count values) or *s. */
typedef OfxStatus (*ck_param_read_fn)(void *param, int has_time, double time, double *d, int *i,
                                      const char **s);
/* Writes a value at a time (has_time 0: the current value). */
typedef OfxStatus (*ck_param_write_fn)(void *param, int has_time, double time, const double *d,
                                       const int *i, const char *s);
/* Records a formatted message; persistent 1 for setPersistentMessage. */
typedef OfxStatus (*ck_message_fn)(void *handle, const char *type, const char *id,
                                   const char *text, int persistent);

static ck_param_kind_fn g_kind;
static ck_param_read_fn g_read;
static ck_param_write_fn g_write;
static ck_message_fn g_message;

void ck_shim_install(ck_param_kind_fn kind, ck_param_read_fn read, ck_param_write_fn write,
                     ck_message_fn message) {
    g_kind = kind;
    g_read = read;
    g_write = write;
    g_message = message;
}

static OfxStatus get_common(void *param, int has_time, double time, va_list ap) {
    int kind = 0, count = 0;
    double d[CK_MAX_DIMS] = {0};
    int iv[CK_MAX_DIMS] = {0};
    const char *s = NULL;
    if (!g_kind || !g_read) return CK_STAT_FAILED;
    OfxStatus st = g_kind(param, &kind, &count);
    if (st != 0) return st;
    if (count < 1 || count > CK_MAX_DIMS) return CK_STAT_ERR_BAD_HANDLE;
    st = g_read(param, has_time, time, d, iv, &s);
    if (st != 0) return st;
    for (int k = 0; k < count; ++k) {
        if (kind == CK_KIND_DOUBLE) {
            double *p = va_arg(ap, double *);
            if (p) *p = d[k];
        } else if (kind == CK_KIND_INT) {
            int *p = va_arg(ap, int *);
            if (p) *p = iv[k];
        } else {
            const char **p = va_arg(ap, const char **);
            if (p) *p = s;
            break;
        }
    }
    return 0;
}

static OfxStatus set_common(void *param, int has_time, double time, va_list ap) {
    int kind = 0, count = 0;
    double d[CK_MAX_DIMS] = {0};
    int iv[CK_MAX_DIMS] = {0};
    const char *s = NULL;
    if (!g_kind || !g_write) return CK_STAT_FAILED;
    OfxStatus st = g_kind(param, &kind, &count);
    if (st != 0) return st;
    if (count < 1 || count > CK_MAX_DIMS) return CK_STAT_ERR_BAD_HANDLE;
    for (int k = 0; k < count; ++k) {
        if (kind == CK_KIND_DOUBLE) {
            d[k] = va_arg(ap, double);
        } else if (kind == CK_KIND_INT) {
            iv[k] = va_arg(ap, int);
        } else {
            s = va_arg(ap, const char *);
            break;
        }
    }
    return g_write(param, has_time, time, d, iv, s);
}

OfxStatus ck_param_get_value(void *param, ...) {
    va_list ap;
    va_start(ap, param);
    OfxStatus st = get_common(param, 0, 0.0, ap);
    va_end(ap);
    return st;
}

OfxStatus ck_param_get_value_at_time(void *param, double time, ...) {
    va_list ap;
    va_start(ap, time);
    OfxStatus st = get_common(param, 1, time, ap);
    va_end(ap);
    return st;
}

/* No animation in the test host: derivatives are zero, integrals are value * duration. */
static OfxStatus calc_common(void *param, double time, double scale, va_list ap) {
    int kind = 0, count = 0;
    double d[CK_MAX_DIMS] = {0};
    int iv[CK_MAX_DIMS] = {0};
    const char *s = NULL;
    if (!g_kind || !g_read) return CK_STAT_FAILED;
    OfxStatus st = g_kind(param, &kind, &count);
    if (st != 0) return st;
    if (kind != CK_KIND_DOUBLE || count < 1 || count > CK_MAX_DIMS) return CK_STAT_ERR_BAD_HANDLE;
    st = g_read(param, 1, time, d, iv, &s);
    if (st != 0) return st;
    for (int k = 0; k < count; ++k) {
        double *p = va_arg(ap, double *);
        if (p) *p = d[k] * scale;
    }
    return 0;
}

OfxStatus ck_param_get_derivative(void *param, double time, ...) {
    va_list ap;
    va_start(ap, time);
    OfxStatus st = calc_common(param, time, 0.0, ap);
    va_end(ap);
    return st;
}

OfxStatus ck_param_get_integral(void *param, double time1, double time2, ...) {
    va_list ap;
    va_start(ap, time2);
    OfxStatus st = calc_common(param, time1, time2 - time1, ap);
    va_end(ap);
    return st;
}

OfxStatus ck_param_set_value(void *param, ...) {
    va_list ap;
    va_start(ap, param);
    OfxStatus st = set_common(param, 0, 0.0, ap);
    va_end(ap);
    return st;
}

OfxStatus ck_param_set_value_at_time(void *param, double time, ...) {
    va_list ap;
    va_start(ap, time);
    OfxStatus st = set_common(param, 1, time, ap);
    va_end(ap);
    return st;
}

static OfxStatus message_common(void *handle, const char *type, const char *id, const char *format,
                                int persistent, va_list ap) {
    if (!g_message) return CK_STAT_FAILED;
    if (!format) return g_message(handle, type, id, "", persistent);
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, format, copy);
    va_end(copy);
    if (n < 0) return CK_STAT_FAILED;
    char *text = (char *)malloc((size_t)n + 1);
    if (!text) return CK_STAT_FAILED;
    vsnprintf(text, (size_t)n + 1, format, ap);
    OfxStatus st = g_message(handle, type, id, text, persistent);
    free(text);
    return st;
}

OfxStatus ck_message(void *handle, const char *type, const char *id, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    OfxStatus st = message_common(handle, type, id, format, 0, ap);
    va_end(ap);
    return st;
}

OfxStatus ck_set_persistent_message(void *handle, const char *type, const char *id,
                                    const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    OfxStatus st = message_common(handle, type, id, format, 1, ap);
    va_end(ap);
    return st;
}
