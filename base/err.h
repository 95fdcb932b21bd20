#pragma once
/* One error convention for the whole project (STYLE.md, "One error convention").
 *
 * A fallible function takes `struct ckt_err *err` last.  On success it returns
 * >= 0 (or non-NULL) and leaves err alone; on failure it returns a negative
 * code (or NULL) after the innermost failure filled err once.  Callers only
 * prepend context with ckt_err_wrap(). */
#include <stdarg.h>
#include <stddef.h>

enum ckt_errcode {
	CKT_EOK = 0,
	CKT_EIO,	/* local I/O */
	CKT_ENET,	/* network */
	CKT_ENOTFOUND,	/* image, blob, ref or file not found */
	CKT_EFORMAT,	/* malformed input */
	CKT_EUSAGE,	/* bad arguments */
	CKT_EVERIFY,	/* signature refused or content not matching its digest */
	CKT_ENOMEM,
	CKT_EINTERNAL,
};

#define CKT_ERR_WHAT_MAX 1024
#define CKT_ERR_WHY_MAX 512

struct ckt_err {
	enum ckt_errcode code;
	int errnum;			/* errno of the root cause, or 0 */
	char what[CKT_ERR_WHAT_MAX];	/* context chain, outermost first */
	char why[CKT_ERR_WHY_MAX];	/* root cause */
};

#define CKT_ERR_INIT { 0 }

/* Fill err with code and a printf-style `what`; `why` is left empty.
 * Returns -code, so callers may `return ckt_err_fail(...)`. */
int ckt_err_fail(struct ckt_err *err, enum ckt_errcode code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* As ckt_err_fail() with `why` set to the plain string why (may be NULL). */
int ckt_err_failw(struct ckt_err *err, enum ckt_errcode code, const char *why,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* As ckt_err_fail() with errnum = errno and `why` = strerror(errno). */
int ckt_err_sys(struct ckt_err *err, enum ckt_errcode code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* As ckt_err_sys() for an explicit errno value. */
int ckt_err_errno(struct ckt_err *err, enum ckt_errcode code, int errnum,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Prepend "<context>: " to err->what.  Returns -err->code. */
int ckt_err_wrap(struct ckt_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Clear err so it can be reused. */
void ckt_err_clear(struct ckt_err *err);

/* Format "what (why)" or "what" into buf. */
const char *ckt_err_str(const struct ckt_err *err, char *buf, size_t len);

/* Exit status for a failed tool (DESIGN.md): usage 2, verification 3, else 1. */
int ckt_err_exit_code(const struct ckt_err *err);
