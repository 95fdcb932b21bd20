/* Registry client: OCI distribution spec v1 (spec.md "Pull", "Push",
 * "Content Discovery") and docker's token authentication
 * (distribution/docs/spec/auth/token.md), on libcurl. */
#include "libimg/registry.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "libimg/auth.h"
#include "libimg/json.h"
#include "libimg/lazy_curl.h"
#include "libimg/manifest.h"
#include "libimg/registry_int.h"

const char img_registry_manifest_accept[] =
	"Accept: " IMG_MT_OCI_MANIFEST ", " IMG_MT_OCI_INDEX ", " IMG_MT_DOCKER_MANIFEST
	", " IMG_MT_DOCKER_LIST ", " IMG_MT_DOCKER_SCHEMA1_SIGNED ", " IMG_MT_DOCKER_SCHEMA1;

/* ---- the curl error adaptor (STYLE.md: one per library) ------------------- */

int reg_curl_fail(struct ckt_err *err, CURLcode c, const char *errbuf, const char *fmt, ...)
{
	char what[CKT_ERR_WHAT_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* errbuf is curl's specific text; curl_easy_strerror the generic one. */
	const char *why = errbuf && *errbuf ? errbuf : curl_easy_strerror(c);
	return ckt_err_failw(err, CKT_ENET, why, "%s", what);
}

/* ---- WWW-Authenticate (RFC 7235 section 4.1) ----------------------------- */

static bool is_tchar(char c)
{
	return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

void img_auth_challenges_free(struct img_auth_challenge *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].scheme);
		free(c[i].realm);
		free(c[i].service);
		free(c[i].scope);
		free(c[i].error);
	}
	free(c);
}

int img_auth_challenges_parse(const char *value, struct img_auth_challenge **out, size_t *n,
			      struct ckt_err *err)
{
	struct img_auth_challenge *v = NULL;
	size_t nr = 0, alloc = 0;
	const char *p = skip_ows(value);

	while (*p) {
		if (*p == ',') {
			p = skip_ows(p + 1);
			continue;
		}
		const char *t = p;
		while (is_tchar(*p))
			p++;
		if (p == t)
			goto bad;
		size_t tlen = (size_t)(p - t);
		const char *after = skip_ows(p);
		if (*after == '=' && nr > 0) {
			/* auth-param of the current challenge */
			_cleanup_free_ char *key = xstrndup(t, tlen);
			struct ckt_buf val = CKT_BUF_INIT;
			p = skip_ows(after + 1);
			if (*p == '"') {
				p++;
				while (*p && *p != '"') {
					if (*p == '\\' && p[1])
						p++;
					ckt_buf_addch(&val, *p++);
				}
				if (*p != '"') {
					ckt_buf_release(&val);
					goto bad;
				}
				p++;
			} else {
				const char *s = p;
				while (is_tchar(*p) || *p == '/' || *p == ':')
					p++;
				ckt_buf_add(&val, s, (size_t)(p - s));
			}
			char *sv = ckt_buf_detach(&val, NULL);
			struct img_auth_challenge *c = &v[nr - 1];
			char **slot = !strcasecmp(key, "realm")     ? &c->realm
				      : !strcasecmp(key, "service") ? &c->service
				      : !strcasecmp(key, "scope")   ? &c->scope
				      : !strcasecmp(key, "error")   ? &c->error
								    : NULL;
			if (slot) {
				free(*slot);
				*slot = sv;
			} else {
				free(sv);
			}
			p = skip_ows(p);
			if (*p && *p != ',')
				goto bad;
			continue;
		}
		/* a new challenge: scheme [token68 | auth-params] */
		ALLOC_GROW(v, nr + 1, alloc);
		memset(&v[nr], 0, sizeof(v[nr]));
		v[nr++].scheme = xstrndup(t, tlen);
		p = after;
		if (*p == '=')
			goto bad;
	}
	if (nr == 0)
		goto bad;
	*out = v;
	*n = nr;
	return 0;
bad:
	img_auth_challenges_free(v, nr);
	return ckt_err_failw(err, CKT_EFORMAT, value, "malformed WWW-Authenticate header");
}

long img_registry_retry_after(const char *value, long now)
{
	if (!value)
		return -1;
	const char *p = skip_ows(value);
	if (isdigit((unsigned char)*p)) {
		char *end;
		long v = strtol(p, &end, 10);
		return *skip_ows(end) || v < 0 ? -1 : v;
	}
	time_t t = curl_getdate(p, NULL);
	if (t < 0)
		return -1;
	return t > now ? (long)(t - now) : 0;
}

/* ---- client ------------------------------------------------------------ */

static bool host_is_loopback(const char *host)
{
	size_t n = strcspn(host, ":");
	if (host[0] == '[')
		return !strncmp(host, "[::1]", 5);
	return (n == 9 && !strncmp(host, "localhost", 9)) || !strncmp(host, "127.", 4);
}

/* CA and client certificates of a certs.d directory (containers-certs.d(5)):
 * *.crt are CAs added to the system's, *.cert and *.key client pairs. */
static int load_certs(struct img_registry *r, const char *dir, bool explicit_dir,
		      struct ckt_err *err)
{
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		if (explicit_dir)
			return ckt_err_sys(err, CKT_EIO, "certificate directory '%s'", dir);
		return 0;
	}
	r->tls_dir = true;
	_cleanup_free_ char *pat = xasprintf("%s/*.crt", dir);
	glob_t g;
	if (glob(pat, 0, NULL, &g) == 0) {
		if (!r->ca.len && !r->capath) {
			/* Keep the system CAs: a blob replaces curl's default bundle
			 * (the hashed directory, when there is one, stays in use). */
			curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
			const char *sys = vi->cainfo ? vi->cainfo : "/etc/ssl/certs/ca-certificates.crt";
			_cleanup_free_ char *data = NULL;
			size_t len;
			struct ckt_err ignored = CKT_ERR_INIT;
			if (ckt_read_file(sys, 16u << 20, &data, &len, &ignored) == 0) {
				ckt_buf_add(&r->ca, data, len);
				ckt_buf_addch(&r->ca, '\n');
			}
		}
		for (size_t i = 0; i < g.gl_pathc; i++) {
			_cleanup_free_ char *data = NULL;
			size_t len;
			if (ckt_read_file(g.gl_pathv[i], 1u << 20, &data, &len, err) < 0) {
				globfree(&g);
				return -err->code;
			}
			ckt_buf_add(&r->ca, data, len);
			ckt_buf_addch(&r->ca, '\n');
		}
		globfree(&g);
	}
	free(pat);
	pat = xasprintf("%s/*.cert", dir);
	if (glob(pat, 0, NULL, &g) == 0) {
		const char *cert = g.gl_pathv[0];
		size_t n = strlen(cert);
		_cleanup_free_ char *key = xasprintf("%.*s.key", (int)(n - 5), cert);
		if (access(key, R_OK) < 0) {
			ckt_err_sys(err, CKT_EIO, "client key '%s' for '%s'", key, cert);
			globfree(&g);
			return -err->code;
		}
		free(r->client_cert);
		free(r->client_key);
		r->client_cert = xstrdup(cert);
		r->client_key = TAKE_PTR(key);
		globfree(&g);
	}
	return 0;
}

struct img_registry *img_registry_new(const char *domain, const struct img_registry_opts *o,
				      struct ckt_err *err)
{
	struct img_registry *r = xcalloc(1, sizeof(*r));
	if (o)
		r->o = *o;
	if (!r->o.max_parallel)
		r->o.max_parallel = 4;
	if (!r->o.max_retries)
		r->o.max_retries = 4;
	r->domain = xstrdup(domain);
	r->host = xstrdup(strcmp(domain, "docker.io") ? domain : "registry-1.docker.io");
	ckt_buf_init(&r->ca);
	r->share = curl_share_init();
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	r->easy = curl_easy_init();
	/* OpenSSL parses a whole CA bundle file on every handshake set-up
	 * (~80 ms for Debian's); a hashed directory is looked up lazily. */
	curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
	struct stat st;
	if (vi->capath && stat(vi->capath, &st) == 0 && S_ISDIR(st.st_mode))
		r->capath = vi->capath;
	if (!r->share || !r->easy) {
		ckt_err_fail(err, CKT_ENOMEM, "initialise libcurl");
		goto fail;
	}
	if (r->o.cert_dir) {
		if (load_certs(r, r->o.cert_dir, true, err) < 0)
			goto fail;
	} else {
		_cleanup_strv_ char **dirs = img_certs_dirs(r->host);
		for (char **d = dirs; *d; d++)
			if (load_certs(r, *d, false, err) < 0)
				goto fail;
	}
	return r;
fail:
	img_registry_free(r);
	return NULL;
}

void img_registry_free(struct img_registry *r)
{
	if (!r)
		return;
	if (r->easy)
		curl_easy_cleanup(r->easy);
	if (r->share)
		curl_share_cleanup(r->share);
	for (size_t i = 0; i < r->n_tokens; i++) {
		free(r->tokens[i].scope);
		free(r->tokens[i].header);
	}
	free(r->tokens);
	img_creds_release(&r->creds);
	ckt_buf_release(&r->ca);
	free(r->client_cert);
	free(r->client_key);
	free(r->realm);
	free(r->service);
	free(r->base);
	free(r->domain);
	free(r->host);
	free(r);
}

/* Response headers we look at; reset at each status line (redirects,
 * 100 Continue). */
static void hdrs_release(struct reg_hdrs *h)
{
	free(h->content_type);
	free(h->digest);
	free(h->location);
	free(h->www_auth);
	free(h->retry_after);
	free(h->content_range);
	memset(h, 0, sizeof(*h));
}

void reg_hdrs_free(struct reg_hdrs *h)
{
	hdrs_release(h);
}

size_t reg_header_cb(char *buf, size_t size, size_t nitems, void *data)
{
	struct reg_hdrs *h = data;
	size_t len = size * nitems;
	if (len >= 5 && !strncmp(buf, "HTTP/", 5)) {
		hdrs_release(h);
		return len;
	}
	const char *colon = memchr(buf, ':', len);
	if (!colon)
		return len;
	size_t klen = (size_t)(colon - buf);
	const char *v = colon + 1;
	while (v < buf + len && (*v == ' ' || *v == '\t'))
		v++;
	size_t vlen = (size_t)(buf + len - v);
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	static const struct {
		const char *name;
		size_t off;
	} known[] = {
		{ "content-type", offsetof(struct reg_hdrs, content_type) },
		{ "docker-content-digest", offsetof(struct reg_hdrs, digest) },
		{ "location", offsetof(struct reg_hdrs, location) },
		{ "www-authenticate", offsetof(struct reg_hdrs, www_auth) },
		{ "retry-after", offsetof(struct reg_hdrs, retry_after) },
		{ "content-range", offsetof(struct reg_hdrs, content_range) },
	};
	for (size_t i = 0; i < ARRAY_SIZE(known); i++) {
		if (strlen(known[i].name) == klen && !strncasecmp(buf, known[i].name, klen)) {
			char **slot = (char **)((char *)h + known[i].off);
			if (*slot && !strcmp(known[i].name, "www-authenticate")) {
				/* several headers: one list of challenges */
				char *joined = xasprintf("%s, %.*s", *slot, (int)vlen, v);
				free(*slot);
				*slot = joined;
			} else {
				free(*slot);
				*slot = xstrndup(v, vlen);
			}
		}
	}
	return len;
}

/* Options every handle gets: TLS policy, certificates, timeouts, redirects. */
void reg_setup_handle(struct img_registry *r, CURL *h, char *errbuf)
{
	curl_easy_setopt(h, CURLOPT_SHARE, r->share);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "ckt/" CKT_VERSION);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	/* A stalled transfer is an error to retry, not a hang. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
	/* Never send our Authorization to a redirect target (blob hosts get
	 * signed URLs); this is libcurl's default, stated here on purpose. */
	curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
	if (r->o.insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (r->capath) {
		curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(h, CURLOPT_CAPATH, r->capath);
	}
	if (r->ca.len) {
		struct curl_blob blob = { .data = r->ca.buf, .len = r->ca.len,
					  .flags = CURL_BLOB_NOCOPY };
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (r->client_cert) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, r->client_cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, r->client_key);
	}
}

int reg_ping(struct img_registry *r, struct ckt_err *err);

/* How long to wait before attempt number `attempt` (1-based retry). */
long reg_backoff_ms(unsigned attempt, const struct reg_hdrs *h)
{
	long ra = h ? img_registry_retry_after(h->retry_after, (long)time(NULL)) : -1;
	if (ra >= 0)
		return (ra > 60 ? 60 : ra) * 1000;
	long ms = 200L << (attempt > 6 ? 6 : attempt - 1);
	return ms > 10000 ? 10000 : ms;
}

bool reg_curl_unreachable(CURLcode c)
{
	return c == CURLE_COULDNT_CONNECT || c == CURLE_COULDNT_RESOLVE_HOST ||
	       c == CURLE_COULDNT_RESOLVE_PROXY || c == CURLE_OPERATION_TIMEDOUT;
}

bool reg_curl_retryable(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

void reg_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The registry's error document (spec.md "Error Codes"), for messages. */
void reg_error_text(const char *body, size_t len, char *out, size_t outlen)
{
	out[0] = '\0';
	if (!body || !len)
		return;
	struct ckt_err ignored = CKT_ERR_INIT;
	_cleanup_json_ json_t *j = img_json_parse(body, len, "error", &ignored);
	json_t *errs = j ? json_object_get(j, "errors") : NULL;
	json_t *e0 = json_is_array(errs) ? json_array_get(errs, 0) : NULL;
	const char *code = json_string_value(json_object_get(e0, "code"));
	const char *msg = json_string_value(json_object_get(e0, "message"));
	if (code || msg)
		snprintf(out, outlen, "%s%s%s", code ? code : "", code && msg ? ": " : "",
			 msg ? msg : "");
}

/* Map an HTTP status that ended a request to an error. */
int reg_status_fail(struct ckt_err *err, long status, const char *body, size_t len,
		    const char *fmt, ...)
{
	char what[CKT_ERR_WHAT_MAX], why[CKT_ERR_WHY_MAX], detail[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	reg_error_text(body, len, detail, sizeof(detail));
	const char *gist = status == 401   ? "authentication required"
			   : status == 403 ? "access denied"
			   : status == 404 ? "not found"
			   : status == 429 ? "too many requests"
					   : "unexpected status";
	snprintf(why, sizeof(why), "HTTP %ld, %s%s%s", status, gist, detail[0] ? ": " : "",
		 detail);
	return ckt_err_failw(err, status == 404 ? CKT_ENOTFOUND : CKT_ENET, why, "%s", what);
}

/* ---- one request with auth and retries ---------------------------------- */

static size_t body_cb(char *buf, size_t size, size_t nitems, void *data)
{
	struct reg_req *q = data;
	size_t len = size * nitems;
	if (q->resp.len + len > q->max) {
		q->too_big = true;
		return 0;
	}
	ckt_buf_add(&q->resp, buf, len);
	return len;
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *data)
{
	struct reg_req *q = data;
	size_t want = size * nitems;
	if (q->body_fd >= 0) {
		uint64_t left = q->body_len - q->body_pos;
		if (want > left)
			want = (size_t)left;
		ssize_t n = pread(q->body_fd, buf, want, (off_t)(q->body_off + q->body_pos));
		if (n < 0)
			return CURL_READFUNC_ABORT;
		q->body_pos += (uint64_t)n;
		return (size_t)n;
	}
	uint64_t left = q->body_len - q->body_pos;
	if (want > left)
		want = (size_t)left;
	memcpy(buf, q->body + q->body_pos, want);
	q->body_pos += want;
	return want;
}

void reg_req_release(struct reg_req *q)
{
	ckt_buf_release(&q->resp);
	hdrs_release(&q->h);
}

/* Perform q once on r->easy; *cc gets curl's result. */
static void perform_once(struct img_registry *r, struct reg_req *q, const char *auth,
			 CURLcode *cc, char *errbuf)
{
	CURL *h = r->easy;
	struct curl_slist *hdrs = NULL;

	curl_easy_reset(h);
	reg_setup_handle(r, h, errbuf);
	curl_easy_setopt(h, CURLOPT_URL, q->url);
	ckt_buf_reset(&q->resp);
	hdrs_release(&q->h);
	q->too_big = false;
	q->body_pos = 0;
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, reg_header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &q->h);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, q->follow ? 1L : 0L);
	if (auth)
		hdrs = curl_slist_append(hdrs, auth);
	for (size_t i = 0; i < ARRAY_SIZE(q->headers) && q->headers[i]; i++)
		hdrs = curl_slist_append(hdrs, q->headers[i]);
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (!strcmp(q->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(q->method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(h, CURLOPT_READDATA, q);
	} else if (strcmp(q->method, "GET")) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(h, CURLOPT_READDATA, q);
		if (strcmp(q->method, "PUT"))
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
	}
	*cc = curl_easy_perform(h);
	q->status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &q->status);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
}

int reg_request(struct img_registry *r, struct reg_req *q, struct ckt_err *err)
{
	char errbuf[CURL_ERROR_SIZE];
	bool reauthed = false;

	if (!q->no_ping && reg_ping(r, err) < 0)
		return -err->code;
	if (!q->max)
		q->max = 64u << 10;
	for (unsigned attempt = 0;; attempt++) {
		_cleanup_free_ char *auth = NULL;
		CURLcode cc;
		if (q->scope && reg_auth_header(r, q->scope, &auth, err) < 0)
			return -err->code;
		perform_once(r, q, auth, &cc, errbuf);
		q->cc = cc;
		bool last = attempt >= r->o.max_retries;
		if (cc != CURLE_OK) {
			if (cc == CURLE_WRITE_ERROR && q->too_big)
				return ckt_err_fail(err, CKT_EFORMAT,
						    "%s %s: response larger than %zu bytes", q->method,
						    q->url, q->max);
			if (!last && reg_curl_retryable(cc) && (!q->probe || reg_curl_unreachable(cc))) {
				ckt_debug("%s %s: %s; retrying", q->method, q->url, errbuf);
				reg_sleep_ms(reg_backoff_ms(attempt + 1, NULL));
				continue;
			}
			return reg_curl_fail(err, cc, errbuf, "%s %s", q->method, q->url);
		}
		if (q->status == 401 && q->scope && !reauthed && q->h.www_auth) {
			/* An expired token, or a challenge for a wider scope. */
			reauthed = true;
			if (reg_auth_challenged(r, q->scope, q->h.www_auth, err) < 0)
				return -err->code;
			continue;
		}
		if ((q->status == 429 || q->status >= 500) && !last && !q->no_retry) {
			ckt_debug("%s %s: HTTP %ld; retrying", q->method, q->url, q->status);
			reg_sleep_ms(reg_backoff_ms(attempt + 1, &q->h));
			continue;
		}
		return 0;
	}
}

/* ---- ping and scheme ------------------------------------------------------ */

/* The schemes to try, in order: https only, unless plain http is allowed
 * (--tls-verify=false, or a loopback host, as docker does).  A loopback
 * host without a certs.d directory is most likely a plain development
 * registry: http first, sparing a TLS handshake bound to fail. */
static size_t reg_schemes(const struct img_registry *r, const char *v[2])
{
	bool loop = host_is_loopback(r->host);
	if (!r->o.insecure && !loop) {
		v[0] = "https";
		return 1;
	}
	bool http_first = loop && !r->tls_dir && !r->o.cert_dir;
	v[0] = http_first ? "http" : "https";
	v[1] = http_first ? "https" : "http";
	return 2;
}

/* Did an attempt over the first scheme fail in a way that says the server
 * speaks the other one? */
static bool other_scheme(const struct img_registry *r, bool plain, const struct reg_req *q,
			 int rc, const struct ckt_err *e)
{
	if (rc == 0)
		/* a TLS server answering plain HTTP (Go's: "Client sent an HTTP
		 * request to an HTTPS server") */
		return plain && q->status == 400;
	if (plain)
		return !reg_curl_unreachable(q->cc);
	/* Never after a certificate was refused. */
	return strstr(e->why, "wrong version number") || r->o.insecure;
}

int reg_request_at(struct img_registry *r, struct reg_req *q, const char *path, char **url,
		   struct ckt_err *err)
{
	if (r->base) {
		free(*url);
		*url = xasprintf("%s%s", r->base, path);
		q->url = *url;
		return reg_request(r, q, err);
	}
	const char *schemes[2];
	size_t n = reg_schemes(r, schemes);
	/* Every scheme but the last gives way to the next on a sign that the
	 * server speaks the other one; the last one's answer is the answer. */
	for (size_t i = 0;; i++) {
		bool last = i + 1 == n, plain = !strcmp(schemes[i], "http");
		struct ckt_err e = CKT_ERR_INIT;
		free(*url);
		*url = xasprintf("%s://%s%s", schemes[i], r->host, path);
		q->url = *url;
		q->no_ping = true;
		q->probe = !last;
		int rc = reg_request(r, q, &e);
		q->probe = false;
		if (!last && other_scheme(r, plain, q, rc, &e)) {
			ckt_debug("registry %s: no answer over %s; trying %s", r->domain, schemes[i],
				  schemes[i + 1]);
			reg_req_release(q);
			q->status = 0;
			continue;
		}
		if (rc < 0) {
			*err = e;
			return -err->code;
		}
		r->base = xasprintf("%s://%s", schemes[i], r->host);
		return 0;
	}
}

int reg_ping(struct img_registry *r, struct ckt_err *err)
{
	if (r->base)
		return 0;
	struct reg_req q = { .method = "GET", .body_fd = -1 };
	_cleanup_free_ char *url = NULL;
	if (reg_request_at(r, &q, "/v2/", &url, err) < 0) {
		reg_req_release(&q);
		return ckt_err_wrap(err, "registry '%s'", r->domain);
	}
	if (q.status == 200) {
		r->scheme = REG_AUTH_NONE;
	} else if (q.status == 401 && q.h.www_auth) {
		struct img_auth_challenge *c;
		size_t n;
		if (img_auth_challenges_parse(q.h.www_auth, &c, &n, err) < 0) {
			reg_req_release(&q);
			goto fail;
		}
		r->scheme = REG_AUTH_UNKNOWN;
		for (size_t k = 0; k < n; k++) {
			if (!strcasecmp(c[k].scheme, "Bearer") && c[k].realm) {
				r->scheme = REG_AUTH_BEARER;
				free(r->realm);
				free(r->service);
				r->realm = xstrdup(c[k].realm);
				r->service = c[k].service ? xstrdup(c[k].service) : NULL;
				break;
			}
			if (!strcasecmp(c[k].scheme, "Basic"))
				r->scheme = REG_AUTH_BASIC;
		}
		img_auth_challenges_free(c, n);
		if (r->scheme == REG_AUTH_UNKNOWN) {
			ckt_err_failw(err, CKT_ENET, q.h.www_auth,
				      "registry '%s': unsupported authentication scheme", r->domain);
			reg_req_release(&q);
			goto fail;
		}
	} else {
		reg_status_fail(err, q.status, q.resp.buf, q.resp.len,
				"registry '%s': no registry API at %s", r->domain, url);
		reg_req_release(&q);
		goto fail;
	}
	reg_req_release(&q);
	ckt_debug("registry %s at %s (auth: %s)", r->domain, r->base,
		  r->scheme == REG_AUTH_BEARER ? "bearer"
		  : r->scheme == REG_AUTH_BASIC ? "basic"
						: "none");
	return 0;
fail:
	/* The next call asks again. */
	free(r->base);
	r->base = NULL;
	return -err->code;
}

int img_registry_ping(struct img_registry *r, struct ckt_err *err)
{
	return reg_ping(r, err);
}

/* ---- manifests ------------------------------------------------------------ */

char *reg_url(struct img_registry *r, const char *repo, const char *kind, const char *ref)
{
	return xasprintf("%s/v2/%s/%s/%s", r->base, repo, kind, ref);
}

char *reg_scope(const char *repo, const char *actions)
{
	return xasprintf("repository:%s:%s", repo, actions);
}

/* Check body against the digest asked for, or the one the registry sent,
 * and fill the descriptor. */
static int check_manifest(const char *ref, const struct reg_hdrs *h, const char *data, size_t len,
			  struct store_desc *out, struct ckt_err *err)
{
	const char *want = store_digest_valid(ref) ? ref : h->digest;
	enum store_digest_alg alg = STORE_DIGEST_SHA256;
	const char *hex;
	char got[STORE_DIGEST_MAX];

	if (want && store_digest_parse(want, &alg, &hex, err) < 0)
		return ckt_err_wrap(err, "Docker-Content-Digest");
	store_digest_buf(alg, data, len, got);
	if (want && strcmp(want, got))
		return ckt_err_failw(err, CKT_EVERIFY, "content hashes to another digest",
				     "manifest %s does not match its digest %s", ref, want);
	memset(out, 0, sizeof(*out));
	snprintf(out->digest, sizeof(out->digest), "%s", got);
	out->size = (int64_t)len;
	if (h->content_type && *h->content_type) {
		size_t n = strcspn(h->content_type, "; ");
		out->media_type = xstrndup(h->content_type, n);
	}
	return 0;
}

int img_registry_get_manifest(struct img_registry *r, const char *repo, const char *ref,
			      char **data, size_t *len, struct store_desc *out,
			      struct ckt_err *err)
{
	/* The first request of a pull: it finds the scheme itself, sparing
	 * the ping's round trip (a 401 brings the challenge the ping would). */
	bool first = !r->base;
	_cleanup_free_ char *url = NULL;
	_cleanup_free_ char *path = xasprintf("/v2/%s/manifests/%s", repo, ref);
	_cleanup_free_ char *scope = reg_scope(repo, "pull");
	struct reg_req q = { .method = "GET", .scope = scope, .follow = true,
			     .max = IMG_MANIFEST_MAX, .body_fd = -1 };
	q.headers[0] = img_registry_manifest_accept;
	int rc = -1;
	if (reg_request_at(r, &q, path, &url, err) < 0) {
		ckt_err_wrap(err, "registry '%s'", r->domain);
		goto out;
	}
	if (q.status != 200) {
		/* Is it a registry at all?  The ping says so when not. */
		if (first && q.status != 401) {
			free(r->base);
			r->base = NULL;
			if (reg_ping(r, err) < 0)
				goto out;
		}
		reg_status_fail(err, q.status, q.resp.buf, q.resp.len, "manifest %s:%s", repo, ref);
		goto out;
	}
	if (check_manifest(ref, &q.h, ckt_buf_str(&q.resp), q.resp.len, out, err) < 0)
		goto out;
	*len = q.resp.len;
	*data = ckt_buf_detach(&q.resp, NULL);
	rc = 0;
out:
	reg_req_release(&q);
	return rc < 0 ? -err->code : 0;
}

int img_registry_head_manifest(struct img_registry *r, const char *repo, const char *ref,
			       struct store_desc *out, struct ckt_err *err)
{
	if (reg_ping(r, err) < 0)
		return -err->code;
	_cleanup_free_ char *url = reg_url(r, repo, "manifests", ref);
	_cleanup_free_ char *scope = reg_scope(repo, "pull");
	struct reg_req q = { .method = "HEAD", .url = url, .scope = scope, .follow = true,
			     .body_fd = -1 };
	q.headers[0] = img_registry_manifest_accept;
	int rc = -1;
	if (reg_request(r, &q, err) < 0)
		goto out;
	if (q.status == 404) {
		rc = 0;
		goto out;
	}
	if (q.status != 200) {
		reg_status_fail(err, q.status, NULL, 0, "manifest %s:%s", repo, ref);
		goto out;
	}
	if (out) {
		memset(out, 0, sizeof(*out));
		out->size = -1;
		if (q.h.digest && store_digest_valid(q.h.digest))
			snprintf(out->digest, sizeof(out->digest), "%s", q.h.digest);
		if (q.h.content_type)
			out->media_type = xstrndup(q.h.content_type, strcspn(q.h.content_type, "; "));
	}
	rc = 1;
out:
	reg_req_release(&q);
	return rc < 0 ? -(int)err->code : rc;
}

int img_registry_put_manifest(struct img_registry *r, const char *repo, const char *ref,
			      const char *media_type, const void *data, size_t len,
			      struct ckt_err *err)
{
	if (reg_ping(r, err) < 0)
		return -err->code;
	_cleanup_free_ char *url = reg_url(r, repo, "manifests", ref);
	_cleanup_free_ char *scope = reg_scope(repo, "pull,push");
	_cleanup_free_ char *ct = xasprintf("Content-Type: %s", media_type);
	struct reg_req q = { .method = "PUT", .url = url, .scope = scope, .body = data,
			     .body_len = len, .body_fd = -1 };
	q.headers[0] = ct;
	int rc = -1;
	if (reg_request(r, &q, err) < 0)
		goto out;
	if (q.status != 201 && q.status != 200) {
		reg_status_fail(err, q.status, q.resp.buf, q.resp.len, "put manifest %s:%s", repo,
				ref);
		goto out;
	}
	if (q.h.digest) {
		struct store_desc got;
		if (check_manifest(q.h.digest, &q.h, data, len, &got, err) < 0) {
			ckt_err_wrap(err, "put manifest %s:%s", repo, ref);
			goto out;
		}
		store_desc_release(&got);
	}
	rc = 0;
out:
	reg_req_release(&q);
	return rc < 0 ? -err->code : 0;
}

/* ---- small blobs ---------------------------------------------------------- */

int img_registry_blob_exists(struct img_registry *r, const char *repo,
			     const struct store_desc *d, struct ckt_err *err)
{
	if (reg_ping(r, err) < 0)
		return -err->code;
	_cleanup_free_ char *url = reg_url(r, repo, "blobs", d->digest);
	_cleanup_free_ char *scope = reg_scope(repo, "pull");
	struct reg_req q = { .method = "HEAD", .url = url, .scope = scope, .follow = true,
			     .body_fd = -1 };
	int rc = -1;
	if (reg_request(r, &q, err) < 0)
		goto out;
	if (q.status == 404) {
		rc = 0;
	} else if (q.status == 200) {
		rc = 1;
	} else {
		reg_status_fail(err, q.status, NULL, 0, "blob %s in %s", d->digest, repo);
	}
out:
	reg_req_release(&q);
	return rc;
}

int img_registry_get_blob_mem(struct img_registry *r, const char *repo,
			      const struct store_desc *d, size_t max, char **data, size_t *len,
			      struct ckt_err *err)
{
	if (reg_ping(r, err) < 0)
		return -err->code;
	_cleanup_free_ char *url = reg_url(r, repo, "blobs", d->digest);
	_cleanup_free_ char *scope = reg_scope(repo, "pull");
	struct reg_req q = { .method = "GET", .url = url, .scope = scope, .follow = true,
			     .max = max, .body_fd = -1 };
	int rc = -1;
	if (reg_request(r, &q, err) < 0)
		goto out;
	if (q.status != 200) {
		reg_status_fail(err, q.status, q.resp.buf, q.resp.len, "blob %s in %s", d->digest,
				repo);
		goto out;
	}
	char got[STORE_DIGEST_MAX];
	enum store_digest_alg alg;
	const char *hex;
	if (store_digest_parse(d->digest, &alg, &hex, err) < 0)
		goto out;
	store_digest_buf(alg, ckt_buf_str(&q.resp), q.resp.len, got);
	if (strcmp(got, d->digest) || (d->size >= 0 && (uint64_t)d->size != q.resp.len)) {
		ckt_err_failw(err, CKT_EVERIFY, "content hashes to another digest",
			      "blob %s does not match its digest", d->digest);
		goto out;
	}
	*len = q.resp.len;
	*data = ckt_buf_detach(&q.resp, NULL);
	rc = 0;
out:
	reg_req_release(&q);
	return rc < 0 ? -err->code : 0;
}
