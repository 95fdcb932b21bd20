#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void ckt_buf_init(struct ckt_buf *b)
{
	b->buf = NULL;
	b->len = b->alloc = 0;
}

void ckt_buf_release(struct ckt_buf *b)
{
	free(b->buf);
	ckt_buf_init(b);
}

void ckt_buf_grow(struct ckt_buf *b, size_t extra)
{
	size_t need;
	if (__builtin_add_overflow(b->len, extra, &need) || __builtin_add_overflow(need, 1, &need))
		abort();
	if (need <= b->alloc)
		return;
	size_t n = b->alloc < 64 ? 64 : b->alloc;
	while (n < need)
		n *= 2;
	b->buf = xrealloc(b->buf, n);
	b->alloc = n;
}

void ckt_buf_add(struct ckt_buf *b, const void *data, size_t len)
{
	ckt_buf_grow(b, len);
	if (len)
		memcpy(b->buf + b->len, data, len);
	b->len += len;
	b->buf[b->len] = '\0';
}

void ckt_buf_adds(struct ckt_buf *b, const char *s)
{
	ckt_buf_add(b, s, strlen(s));
}

void ckt_buf_addch(struct ckt_buf *b, char c)
{
	ckt_buf_add(b, &c, 1);
}

void ckt_buf_addf(struct ckt_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	ckt_buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void ckt_buf_reset(struct ckt_buf *b)
{
	b->len = 0;
	if (b->buf)
		b->buf[0] = '\0';
}

char *ckt_buf_detach(struct ckt_buf *b, size_t *len)
{
	if (!b->buf)
		ckt_buf_grow(b, 0), b->buf[0] = '\0';
	char *s = b->buf;
	if (len)
		*len = b->len;
	ckt_buf_init(b);
	return s;
}

const char *ckt_buf_str(const struct ckt_buf *b)
{
	return b->buf ? b->buf : "";
}
