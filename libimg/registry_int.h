#pragma once
/* Internal to libimg/registry*.c: the client's state and the helpers its
 * files share.  Includes curl; never include it from a public header. */
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "base/strbuf.h"
#include "libimg/auth.h"
#include "libimg/lazy_curl.h"
#include "libimg/registry.h"

enum reg_auth_scheme { REG_AUTH_NONE = 0, REG_AUTH_BASIC, REG_AUTH_BEARER, REG_AUTH_UNKNOWN };

/* A bearer token for one scope set, until it expires. */
struct reg_token {
	char *scope;	/* space-separated scopes it was asked for */
	char *header;	/* "Authorization: Bearer …" */
	time_t expires;
};

struct img_registry {
	struct img_registry_opts o;
	char *domain;		/* as in references: "docker.io" */
	char *host;		/* what is contacted: "registry-1.docker.io" */
	char *base;		/* "https://host" once pinged, else NULL */
	bool tls_dir;		/* a certs.d directory exists for the host */
	enum reg_auth_scheme scheme;
	char *realm, *service;	/* the bearer challenge */
	bool creds_loaded;
	bool have_creds;
	struct img_creds creds;
	struct reg_token *tokens;
	size_t n_tokens, alloc_tokens;
	CURLSH *share;		/* DNS, TLS sessions, connections between handles */
	CURL *easy;		/* for one-at-a-time requests */
	struct ckt_buf ca;	/* certs.d *.crt (plus the system bundle when there is
				 * no hashed CA directory), or empty */
	const char *capath;	/* the system's hashed CA directory, or NULL */
	char *client_cert, *client_key;
};

struct reg_hdrs {
	char *content_type, *digest, *location, *www_auth, *retry_after, *content_range;
};
size_t reg_header_cb(char *buf, size_t size, size_t nitems, void *data);
void reg_hdrs_free(struct reg_hdrs *h);

/* One request through reg_request(). */
struct reg_req {
	const char *method;	/* GET HEAD PUT POST PATCH */
	const char *url;
	const char *scope;	/* auth scope(s), NULL: no Authorization */
	const char *headers[4];	/* extra "Name: value" lines, NULL-terminated */
	bool follow;		/* follow redirects (without Authorization) */
	bool no_ping;
	bool no_retry;		/* do not retry 429/5xx (non-idempotent bodies) */
	bool probe;		/* trying a scheme: a protocol error is an answer, not retried */
	const char *body;	/* request body from memory … */
	int body_fd;		/* … or from this fd (-1 when unused) at body_off */
	uint64_t body_off, body_len, body_pos;
	size_t max;		/* response body limit (0: 64 KiB) */
	/* response */
	long status;
	CURLcode cc;		/* libcurl's result of the last attempt */
	struct ckt_buf resp;
	bool too_big;
	struct reg_hdrs h;
};
/* Ping if needed, then perform q with the Authorization for q->scope,
 * re-authenticating once on 401 and retrying connection errors, 429 and
 * 5xx with backoff.  Returns 0 when a response arrived (any status). */
int reg_request(struct img_registry *r, struct reg_req *q, struct ckt_err *err);
void reg_req_release(struct reg_req *q);
int reg_ping(struct img_registry *r, struct ckt_err *err);
/* Perform q on path ("/v2/...") of r: when r's scheme is not known yet,
 * the request itself finds it (as the ping would, without its round trip)
 * and sets r->base.  *url receives the URL q->url points to. */
int reg_request_at(struct img_registry *r, struct reg_req *q, const char *path, char **url,
		   struct ckt_err *err);

void reg_setup_handle(struct img_registry *r, CURL *h, char *errbuf);
int reg_curl_fail(struct ckt_err *err, CURLcode c, const char *errbuf, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int reg_status_fail(struct ckt_err *err, long status, const char *body, size_t len,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void reg_error_text(const char *body, size_t len, char *out, size_t outlen);
bool reg_curl_retryable(CURLcode c);
/* Nothing answered at all (no connection, no name, a timeout). */
bool reg_curl_unreachable(CURLcode c);
long reg_backoff_ms(unsigned attempt, const struct reg_hdrs *h);
void reg_sleep_ms(long ms);
char *reg_url(struct img_registry *r, const char *repo, const char *kind, const char *ref);
char *reg_scope(const char *repo, const char *actions);

/* registry_auth.c: the Authorization header line for scope (newly
 * allocated, NULL when none is needed or known). */
int reg_auth_header(struct img_registry *r, const char *scope, char **out, struct ckt_err *err);
/* A 401 arrived for scope: drop its token and get a new one (for the
 * challenge's scope when it names one). */
int reg_auth_challenged(struct img_registry *r, const char *scope, const char *www_auth,
			struct ckt_err *err);
