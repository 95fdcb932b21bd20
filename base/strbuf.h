#pragma once
/* Growable byte/string buffer (git's strbuf).  buf is always NUL-terminated
 * once anything was added; ckt_buf_init() allocates nothing. */
#include <stdarg.h>
#include <stddef.h>

struct ckt_buf {
	char *buf;
	size_t len;
	size_t alloc;
};

#define CKT_BUF_INIT { NULL, 0, 0 }

void ckt_buf_init(struct ckt_buf *b);
/* Free the contents; the buffer is empty and reusable afterwards. */
void ckt_buf_release(struct ckt_buf *b);
/* Make room for `extra` more bytes plus a NUL. */
void ckt_buf_grow(struct ckt_buf *b, size_t extra);
void ckt_buf_add(struct ckt_buf *b, const void *data, size_t len);
void ckt_buf_adds(struct ckt_buf *b, const char *s);
void ckt_buf_addch(struct ckt_buf *b, char c);
void ckt_buf_addf(struct ckt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ckt_buf_reset(struct ckt_buf *b);
/* Return the string (never NULL; "" when empty) and hand ownership to the caller. */
char *ckt_buf_detach(struct ckt_buf *b, size_t *len);
/* The contents as a C string (never NULL). */
const char *ckt_buf_str(const struct ckt_buf *b);

static inline void ckt_buf_releasep(struct ckt_buf *b)
{
	ckt_buf_release(b);
}
#define _cleanup_buf_ __attribute__((cleanup(ckt_buf_releasep)))
