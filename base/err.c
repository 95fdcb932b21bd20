#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int vfill(struct ckt_err *err, enum ckt_errcode code, int errnum, const char *why,
		 const char *fmt, va_list ap)
{
	err->code = code;
	err->errnum = errnum;
	vsnprintf(err->what, sizeof(err->what), fmt, ap);
	snprintf(err->why, sizeof(err->why), "%s", why ? why : "");
	return -(int)code;
}

int ckt_err_fail(struct ckt_err *err, enum ckt_errcode code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vfill(err, code, 0, NULL, fmt, ap);
	va_end(ap);
	return r;
}

int ckt_err_failw(struct ckt_err *err, enum ckt_errcode code, const char *why, const char *fmt,
		  ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vfill(err, code, 0, why, fmt, ap);
	va_end(ap);
	return r;
}

int ckt_err_sys(struct ckt_err *err, enum ckt_errcode code, const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	int r = vfill(err, code, e, strerror(e), fmt, ap);
	va_end(ap);
	return r;
}

int ckt_err_errno(struct ckt_err *err, enum ckt_errcode code, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vfill(err, code, errnum, strerror(errnum), fmt, ap);
	va_end(ap);
	return r;
}

int ckt_err_wrap(struct ckt_err *err, const char *fmt, ...)
{
	char ctx[CKT_ERR_WHAT_MAX], old[CKT_ERR_WHAT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	memcpy(old, err->what, sizeof(old));
	/* Truncation of an over-long chain is acceptable; keep the outermost part. */
	size_t n = strlen(ctx);
	memcpy(err->what, ctx, n + 1);
	if (old[0] && n + 2 < sizeof(err->what)) {
		memcpy(err->what + n, ": ", 3);
		size_t room = sizeof(err->what) - n - 3;
		size_t ol = strnlen(old, room);
		memcpy(err->what + n + 2, old, ol);
		err->what[n + 2 + ol] = '\0';
	}
	if (err->code == CKT_EOK)
		err->code = CKT_EINTERNAL;
	return -(int)err->code;
}

void ckt_err_clear(struct ckt_err *err)
{
	memset(err, 0, sizeof(*err));
}

const char *ckt_err_str(const struct ckt_err *err, char *buf, size_t len)
{
	if (err->why[0])
		snprintf(buf, len, "%s (%s)", err->what, err->why);
	else
		snprintf(buf, len, "%s", err->what);
	return buf;
}

int ckt_err_exit_code(const struct ckt_err *err)
{
	switch (err->code) {
	case CKT_EOK:
		return 0;
	case CKT_EUSAGE:
		return 2;
	case CKT_EVERIFY:
		return 3;
	default:
		return 1;
	}
}
