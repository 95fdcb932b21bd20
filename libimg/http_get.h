#pragma once
/* Plain HTTP(S) GETs for appc images, signatures and discovery pages
 * (issue 6).  Registry traffic has its own client (libimg/registry.h); this
 * one is deliberately small: one GET, redirects followed (at most 10, never
 * from https to http unless plain http is allowed), TLS verified unless
 * insecure_tls, plain http refused unless allow_http. */
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct img_http_opts {
	bool allow_http;	/* --insecure-options=http */
	bool insecure_tls;	/* --insecure-options=tls: no certificate checks */
	const char *ca_file;	/* extra CA bundle (PEM), or NULL: the system's */
};

/* GET url.  With fd >= 0 the body is written there (any size); else it is
 * returned in *body (NUL-terminated, at most max bytes, else CKT_EFORMAT).
 * *status receives the final HTTP status; a status other than 2xx is
 * CKT_ENOTFOUND for 404/410, CKT_ENET otherwise (err names the URL and the
 * status).  Connection and TLS failures are CKT_ENET. */
int img_http_get(const char *url, const struct img_http_opts *o, int fd, size_t max,
		 char **body, size_t *len, long *status, struct ckt_err *err);
