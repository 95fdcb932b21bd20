#include "libimg/http_get.h"

#include <string.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "libimg/lazy_curl.h"

struct sink {
	int fd;
	size_t max;
	struct ckt_buf buf;
	struct ckt_err *err;
	bool failed;
};

static size_t write_cb(char *p, size_t size, size_t n, void *data)
{
	struct sink *s = data;
	size_t len = size * n;
	if (s->fd >= 0) {
		if (ckt_write_all(s->fd, p, len, s->err) < 0) {
			s->failed = true;
			return 0;
		}
		return len;
	}
	if (s->buf.len + len > s->max) {
		ckt_err_fail(s->err, CKT_EFORMAT, "response larger than %zu bytes", s->max);
		s->failed = true;
		return 0;
	}
	ckt_buf_add(&s->buf, p, len);
	return len;
}

int img_http_get(const char *url, const struct img_http_opts *o, int fd, size_t max,
		 char **body, size_t *len, long *status, struct ckt_err *err)
{
	static const struct img_http_opts defaults = { 0 };
	struct sink s = { .fd = fd, .max = max, .buf = CKT_BUF_INIT, .err = err };
	char errbuf[CURL_ERROR_SIZE] = "";
	const char *protos;
	int ret = -1;

	if (!o)
		o = &defaults;
	protos = o->allow_http ? "https,http" : "https";
	if (!strncmp(url, "http://", 7) && !o->allow_http)
		return ckt_err_failw(err, CKT_EUSAGE, "allow it with --insecure-options=http",
				     "plain http URL '%s'", url);
	CURL *c = curl_easy_init();
	if (!c)
		return ckt_err_fail(err, CKT_EINTERNAL, "curl_easy_init");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protos);
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, protos);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ckt/" CKT_VERSION);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (o->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
	if (o->insecure_tls) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	CURLcode cr = curl_easy_perform(c);
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (status)
		*status = code;
	if (s.failed) {
		ckt_err_wrap(err, "GET %s", url);
		goto out;
	}
	if (cr != CURLE_OK) {
		ckt_err_failw(err, CKT_ENET, *errbuf ? errbuf : curl_easy_strerror(cr), "GET %s", url);
		goto out;
	}
	if (code < 200 || code > 299) {
		char why[32];
		snprintf(why, sizeof(why), "HTTP %ld", code);
		ckt_err_failw(err, code == 404 || code == 410 ? CKT_ENOTFOUND : CKT_ENET, why,
			      "GET %s", url);
		goto out;
	}
	if (fd < 0) {
		*body = ckt_buf_detach(&s.buf, len);
	}
	ret = 0;
out:
	ckt_buf_release(&s.buf);
	curl_easy_cleanup(c);
	return ret < 0 ? -err->code : 0;
}
