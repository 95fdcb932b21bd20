/* Blob transfers: parallel verified downloads on a curl multi handle, with
 * retries and Range resume (spec.md "Pulling blobs"), and uploads
 * (spec.md "Pushing blobs": mount, monolithic PUT, chunked PATCH). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "libimg/registry_int.h"

/* Bytes kept from an error response body, for its message. */
#define ERRBODY_MAX 8192
/* curl hands over at most 16 KiB a call: the receiving thread gathers them
 * into buffers of this size, which two more threads take in order, one
 * hashing and one writing (the store writer's two halves), so receiving,
 * hashing and writing overlap: on a fast link hashing alone keeps a core
 * busy.  A buffer is reused once both are done with it. */
#define XFER_BUF (512u << 10)
#define XFER_NBUF 4
/* Blobs up to this size are fetched whole and committed last. */
#define DEFERRED_MAX (256u << 10)

struct pipeline;

struct xfer {
	struct img_registry *r;
	struct pipeline *pl;
	const char *repo;
	const struct store_desc *d;
	struct store_writer *w;	/* touched by the worker threads while jobs are pending */
	CURL *h;
	struct curl_slist *hdrs;
	struct reg_hdrs rh;
	char errbuf[CURL_ERROR_SIZE];
	struct ckt_buf errbody;	/* body of a non-2xx answer */
	int body_state;		/* 0 unknown, 1 into the writer, 2 error body */
	char *bufs[XFER_NBUF];	/* allocated while the transfer runs */
	unsigned refs[XFER_NBUF];	/* workers yet to finish with a buffer, under pl->mu */
	int cur;		/* the buffer being filled by the receiving thread, or -1 */
	size_t blen;
	unsigned pending;	/* jobs queued or running, under pl->mu */
	bool wfailed;		/* the writing thread failed, under pl->mu */
	struct ckt_err err;	/* a failure of either side (never both at once) */
	bool failed;
	int64_t have;		/* bytes of the blob received so far (progress) */
	unsigned attempts;
	bool reauthed;
	int64_t start;		/* offset asked for with Range */
	int64_t not_before_ms;	/* retry no earlier than this (monotonic) */
	bool active, done;
	bool deferred;		/* small: committed once the whole batch is in */
};

struct job {
	struct xfer *x;
	int buf;
	size_t len;
};

/* One hashing and one writing thread per batch, each fed in order through
 * a ring of jobs of its own. */
struct worker {
	struct pipeline *pl;
	pthread_t th;
	bool started, hashes;
	pthread_cond_t more;
	struct job *ring;
	size_t head, n;
};

struct pipeline {
	pthread_mutex_t mu;
	pthread_cond_t less;
	bool stop;
	size_t cap;
	struct worker wk[2];	/* [0] writes, [1] hashes */
};

static void *worker_main(void *data)
{
	struct worker *wk = data;
	struct pipeline *pl = wk->pl;
	pthread_mutex_lock(&pl->mu);
	for (;;) {
		while (!wk->n && !pl->stop)
			pthread_cond_wait(&wk->more, &pl->mu);
		if (!wk->n)
			break;
		struct job j = wk->ring[wk->head];
		wk->head = (wk->head + 1) % pl->cap;
		wk->n--;
		bool skip = j.x->wfailed;
		pthread_mutex_unlock(&pl->mu);
		int r = 0;
		if (skip)
			;
		else if (wk->hashes)
			store_writer_hash(j.x->w, j.x->bufs[j.buf], j.len);
		else
			r = store_writer_write_data(j.x->w, j.x->bufs[j.buf], j.len, &j.x->err);
		pthread_mutex_lock(&pl->mu);
		if (r < 0)
			j.x->wfailed = true;
		j.x->refs[j.buf]--;
		j.x->pending--;
		pthread_cond_broadcast(&pl->less);
	}
	pthread_mutex_unlock(&pl->mu);
	return NULL;
}

static int pipeline_init(struct pipeline *pl, size_t n_xfers, struct ckt_err *err)
{
	memset(pl, 0, sizeof(*pl));
	pl->cap = n_xfers * XFER_NBUF + 1;
	pthread_mutex_init(&pl->mu, NULL);
	pthread_cond_init(&pl->less, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(pl->wk); i++) {
		struct worker *wk = &pl->wk[i];
		wk->pl = pl;
		wk->hashes = i == 1;
		wk->ring = xcalloc(pl->cap, sizeof(*wk->ring));
		pthread_cond_init(&wk->more, NULL);
	}
	for (size_t i = 0; i < ARRAY_SIZE(pl->wk); i++) {
		int e = pthread_create(&pl->wk[i].th, NULL, worker_main, &pl->wk[i]);
		if (e)
			return ckt_err_errno(err, CKT_EIO, e, "start a blob worker thread");
		pl->wk[i].started = true;
	}
	return 0;
}

static void pipeline_release(struct pipeline *pl)
{
	pthread_mutex_lock(&pl->mu);
	pl->stop = true;
	for (size_t i = 0; i < ARRAY_SIZE(pl->wk); i++)
		pthread_cond_signal(&pl->wk[i].more);
	pthread_mutex_unlock(&pl->mu);
	for (size_t i = 0; i < ARRAY_SIZE(pl->wk); i++) {
		if (pl->wk[i].started)
			pthread_join(pl->wk[i].th, NULL);
		pthread_cond_destroy(&pl->wk[i].more);
		free(pl->wk[i].ring);
	}
	pthread_cond_destroy(&pl->less);
	pthread_mutex_destroy(&pl->mu);
}

/* Queue the filled buffer to both workers and take a free one (waiting
 * while all are in flight).  -1 when the writing thread failed. */
static int xfer_flush(struct xfer *x)
{
	struct pipeline *pl = x->pl;
	int r = 0;
	pthread_mutex_lock(&pl->mu);
	if (x->cur >= 0 && x->blen && !x->wfailed) {
		for (size_t i = 0; i < ARRAY_SIZE(pl->wk); i++) {
			struct worker *wk = &pl->wk[i];
			wk->ring[(wk->head + wk->n) % pl->cap] = (struct job){ x, x->cur, x->blen };
			wk->n++;
			pthread_cond_signal(&wk->more);
		}
		x->refs[x->cur] = ARRAY_SIZE(pl->wk);
		x->pending += ARRAY_SIZE(pl->wk);
		x->cur = -1;
	}
	x->blen = 0;
	while (x->cur < 0) {
		for (int i = 0; i < XFER_NBUF && x->cur < 0; i++)
			if (!x->refs[i])
				x->cur = i;
		if (x->cur < 0)
			pthread_cond_wait(&pl->less, &pl->mu);
	}
	if (x->wfailed)
		r = -1;
	pthread_mutex_unlock(&pl->mu);
	return r;
}

/* Flush and wait until the workers have everything: only then may the
 * receiving thread look at or change the store writer. */
static void xfer_sync(struct xfer *x)
{
	struct pipeline *pl = x->pl;
	if (!x->w)
		return;
	xfer_flush(x);
	pthread_mutex_lock(&pl->mu);
	while (x->pending)
		pthread_cond_wait(&pl->less, &pl->mu);
	if (x->wfailed)
		x->failed = true;
	pthread_mutex_unlock(&pl->mu);
}

/* Buffers live while the transfer does (nothing may be pending). */
static void xfer_alloc_bufs(struct xfer *x)
{
	if (x->bufs[0])
		return;
	for (size_t i = 0; i < XFER_NBUF; i++)
		x->bufs[i] = xmalloc(XFER_BUF);
	x->cur = 0;
	x->blen = 0;
}

static void xfer_free_bufs(struct xfer *x)
{
	for (size_t i = 0; i < XFER_NBUF; i++) {
		free(x->bufs[i]);
		x->bufs[i] = NULL;
	}
	x->cur = -1;
	x->blen = 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* First body bytes of an attempt (nothing is pending: xfer_finish synced):
 * are they the blob (200/206 from the offset we asked for) or an error
 * document? */
static int classify(struct xfer *x)
{
	long status = 0;
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	if (status == 206) {
		long long from = -1;
		if (!x->rh.content_range ||
		    sscanf(x->rh.content_range, "bytes %lld-", &from) != 1 || from != x->start) {
			ckt_err_failw(&x->err, CKT_ENET, x->rh.content_range,
				      "blob %s: partial content from the wrong offset", x->d->digest);
			return -1;
		}
		return 1;
	}
	if (status == 200) {
		/* The whole blob: the server ignored Range (or we asked none). */
		if (store_writer_size(x->w) > 0 && store_writer_restart(x->w, &x->err) < 0)
			return -1;
		x->start = 0;
		x->have = 0;
		return 1;
	}
	return 2;
}

static size_t xfer_write(char *buf, size_t size, size_t nitems, void *data)
{
	struct xfer *x = data;
	size_t len = size * nitems;
	if (!x->body_state) {
		x->body_state = classify(x);
		if (x->body_state < 0) {
			x->failed = true;
			return 0;
		}
	}
	if (x->body_state == 2) {
		if (x->errbody.len < ERRBODY_MAX)
			ckt_buf_add(&x->errbody, buf, len);
		return len;
	}
	for (size_t off = 0; off < len;) {
		if ((x->cur < 0 || x->blen == XFER_BUF) && xfer_flush(x) < 0)
			return 0;
		size_t n = len - off < XFER_BUF - x->blen ? len - off : XFER_BUF - x->blen;
		memcpy(x->bufs[x->cur] + x->blen, buf + off, n);
		x->blen += n;
		off += n;
	}
	x->have += (int64_t)len;
	return len;
}

static int xfer_start(struct xfer *x, const char *repo, CURLM *m, struct ckt_err *err)
{
	struct img_registry *r = x->r;
	_cleanup_free_ char *url = reg_url(r, repo, "blobs", x->d->digest);
	_cleanup_free_ char *scope = reg_scope(repo, "pull");
	_cleanup_free_ char *auth = NULL;

	if (reg_auth_header(r, scope, &auth, err) < 0)
		return -err->code;
	if (!x->h)
		x->h = curl_easy_init();
	else
		curl_easy_reset(x->h);
	if (!x->h)
		return ckt_err_fail(err, CKT_ENOMEM, "initialise libcurl");
	reg_setup_handle(r, x->h, x->errbuf);
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	if (auth)
		x->hdrs = curl_slist_append(x->hdrs, auth);
	xfer_alloc_bufs(x);
	x->start = store_writer_size(x->w);
	x->have = x->start;
	if (x->start > 0) {
		char range[64];
		snprintf(range, sizeof(range), "Range: bytes=%" PRId64 "-", x->start);
		x->hdrs = curl_slist_append(x->hdrs, range);
		ckt_debug("blob %s: resuming at byte %" PRId64, x->d->digest, x->start);
	}
	curl_easy_setopt(x->h, CURLOPT_URL, url);
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(x->h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, reg_header_cb);
	curl_easy_setopt(x->h, CURLOPT_HEADERDATA, &x->rh);
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, xfer_write);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
	x->body_state = 0;
	ckt_buf_reset(&x->errbody);
	reg_hdrs_free(&x->rh);
	x->attempts++;
	curl_multi_add_handle(m, x->h);
	x->active = true;
	return 0;
}

/* A transfer ended: 0 done (committed), 1 to be retried, <0 failed. */
static int xfer_finish(struct xfer *x, CURLcode cc, struct ckt_err *err)
{
	struct img_registry *r = x->r;
	long status = 0;
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	bool can_retry = x->attempts <= r->o.max_retries;

	xfer_sync(x);
	if (x->failed) {
		*err = x->err;
		return -err->code;
	}
	if (cc != CURLE_OK) {
		if (can_retry && reg_curl_retryable(cc)) {
			ckt_debug("blob %s: %s; retrying", x->d->digest, x->errbuf);
			x->not_before_ms = now_ms() + reg_backoff_ms(x->attempts, NULL);
			return 1;
		}
		return reg_curl_fail(err, cc, x->errbuf, "blob %s", x->d->digest);
	}
	if (status == 401 && !x->reauthed && x->rh.www_auth) {
		_cleanup_free_ char *scope = reg_scope(x->repo, "pull");
		x->reauthed = true;
		if (reg_auth_challenged(r, scope, x->rh.www_auth, err) < 0)
			return -err->code;
		return 1;
	}
	if ((status == 429 || status >= 500) && can_retry) {
		ckt_debug("blob %s: HTTP %ld; retrying", x->d->digest, status);
		x->not_before_ms = now_ms() + reg_backoff_ms(x->attempts, &x->rh);
		return 1;
	}
	if (status != 200 && status != 206)
		return reg_status_fail(err, status, x->errbody.buf, x->errbody.len, "blob %s",
				       x->d->digest);
	if (x->d->size >= 0 && store_writer_size(x->w) < x->d->size) {
		/* The connection closed cleanly but early. */
		if (can_retry) {
			x->not_before_ms = now_ms() + reg_backoff_ms(x->attempts, NULL);
			return 1;
		}
		return ckt_err_fail(err, CKT_ENET, "blob %s: connection closed after %lld of %lld bytes",
				    x->d->digest, (long long)store_writer_size(x->w),
				    (long long)x->d->size);
	}
	if (!x->deferred && store_writer_commit(x->w, NULL, err) < 0)
		return -err->code;
	return 0;
}

static void xfer_release(struct xfer *x, CURLM *m)
{
	if (x->h) {
		if (x->active)
			curl_multi_remove_handle(m, x->h);
		curl_easy_cleanup(x->h);
	}
	curl_slist_free_all(x->hdrs);
	reg_hdrs_free(&x->rh);
	ckt_buf_release(&x->errbody);
	xfer_free_bufs(x);
	store_writer_free(x->w);
}

static void report_progress(struct img_registry *r, struct xfer *v, size_t n, uint64_t base,
			    uint64_t total)
{
	if (!r->o.progress)
		return;
	uint64_t done = base;
	size_t left = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].w && !v[i].done)
			done += (uint64_t)v[i].have;
		left += !v[i].done;
	}
	char label[STORE_DIGEST_MAX + 16];
	if (n == 1)
		snprintf(label, sizeof(label), "%s", v[0].d->digest);
	else
		snprintf(label, sizeof(label), "%zu/%zu blobs", n - left, n);
	r->o.progress(r->o.progress_data, label, done, total);
}

int img_registry_get_blobs(struct img_registry *r, const char *repo, struct store *s,
			   const struct store_desc *d, size_t n, size_t *fetched, uint64_t *bytes,
			   struct ckt_err *err)
{
	if (fetched)
		*fetched = 0;
	if (bytes)
		*bytes = 0;
	if (reg_ping(r, err) < 0)
		return -err->code;
	CURLM *m = curl_multi_init();
	if (!m)
		return ckt_err_fail(err, CKT_ENOMEM, "initialise libcurl");
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)r->o.max_parallel);
	struct xfer *v = xcalloc(n ? n : 1, sizeof(*v));
	struct pipeline pl;
	uint64_t total = 0, done_bytes = 0;
	size_t remaining = 0, active = 0;
	int rc = -1;

	if (pipeline_init(&pl, n ? n : 1, err) < 0) {
		pipeline_release(&pl);
		free(v);
		curl_multi_cleanup(m);
		return -err->code;
	}

	for (size_t i = 0; i < n; i++) {
		v[i].r = r;
		v[i].pl = &pl;
		v[i].repo = repo;
		v[i].d = &d[i];
		if (store_blob_exists(s, d[i].digest)) {
			v[i].done = true;
			continue;
		}
		/* Small blobs (configs) gain nothing from resuming: they get a
		 * private temporary and appear in the store only when every blob
		 * of the batch arrived, so a failed pull leaves no stray config. */
		v[i].deferred = d[i].size >= 0 && d[i].size <= DEFERRED_MAX;
		v[i].w = v[i].deferred ? store_writer_new(s, d[i].digest, d[i].size, err)
				       : store_writer_resume(s, d[i].digest, d[i].size, err);
		if (!v[i].w)
			goto out;
		total += d[i].size > 0 ? (uint64_t)d[i].size : 0;
		remaining++;
	}
	/* Largest first: it takes the connection already open (a new one costs
	 * a round trip) and the longest transfer starts soonest. */
	_cleanup_free_ size_t *order = xcalloc(n ? n : 1, sizeof(*order));
	for (size_t i = 0; i < n; i++) {
		size_t k = i;
		for (; k > 0 && d[order[k - 1]].size < d[i].size; k--)
			order[k] = order[k - 1];
		order[k] = i;
	}
	while (remaining) {
		int64_t now = now_ms(), wait = 100;
		for (size_t j = 0; j < n && active < r->o.max_parallel; j++) {
			size_t i = order[j];
			if (v[i].done || v[i].active)
				continue;
			if (v[i].not_before_ms > now) {
				if (v[i].not_before_ms - now < wait)
					wait = v[i].not_before_ms - now;
				continue;
			}
			if (xfer_start(&v[i], repo, m, err) < 0)
				goto out;
			active++;
		}
		int running;
		CURLMcode mc = curl_multi_perform(m, &running);
		if (mc == CURLM_OK && running)
			mc = curl_multi_poll(m, NULL, 0, (int)wait, NULL);
		else if (mc == CURLM_OK && !active)
			reg_sleep_ms(wait);
		if (mc != CURLM_OK) {
			ckt_err_failw(err, CKT_ENET, curl_multi_strerror(mc), "download blobs");
			goto out;
		}
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct xfer *x;
			CURLcode cc = msg->data.result;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			curl_multi_remove_handle(m, x->h);
			x->active = false;
			active--;
			int fr = xfer_finish(x, cc, err);
			if (fr < 0)
				goto out;
			if (fr == 0) {
				done_bytes += (uint64_t)store_writer_size(x->w);
				if (fetched)
					(*fetched)++;
				if (bytes)
					*bytes += (uint64_t)store_writer_size(x->w);
				if (!x->deferred) {
					store_writer_free(x->w);
					x->w = NULL;
				}
				xfer_free_bufs(x);
				x->done = true;
				remaining--;
			}
		}
		report_progress(r, v, n, done_bytes, total);
	}
	for (size_t i = 0; i < n; i++) {
		if (!v[i].deferred || !v[i].w)
			continue;
		if (store_writer_commit(v[i].w, NULL, err) < 0)
			goto out;
		store_writer_free(v[i].w);
		v[i].w = NULL;
	}
	rc = 0;
out:
	/* No callback runs outside curl_multi_perform: once the writer
	 * thread has drained its queue, every writer is ours again. */
	pipeline_release(&pl);
	for (size_t i = 0; i < n; i++)
		xfer_release(&v[i], m);
	free(v);
	curl_multi_cleanup(m);
	if (rc < 0)
		ckt_err_wrap(err, "registry '%s'", r->domain);
	return rc < 0 ? -err->code : 0;
}

/* ---- uploads --------------------------------------------------------------- */

/* An absolute URL for a Location header (it may be relative). */
static char *abs_location(struct img_registry *r, const char *loc)
{
	if (!strncmp(loc, "http://", 7) || !strncmp(loc, "https://", 8))
		return xstrdup(loc);
	if (loc[0] == '/')
		return xasprintf("%s%s", r->base, loc);
	return xasprintf("%s/%s", r->base, loc);
}

static char *with_digest(struct img_registry *r, const char *loc, const char *digest)
{
	_cleanup_free_ char *u = abs_location(r, loc);
	return xasprintf("%s%cdigest=%s", u, strchr(u, '?') ? '&' : '?', digest);
}

/* Send the blob's bytes to the upload session at loc, then close it. */
static int upload(struct img_registry *r, const char *repo, struct store *s,
		  const struct store_desc *d, const char *scope, const char *loc0,
		  size_t chunk_size, struct ckt_err *err)
{
	_cleanup_close_ int fd = store_blob_open(s, d->digest, err);
	_cleanup_free_ char *loc = xstrdup(loc0);
	if (fd < 0)
		return -err->code;
	uint64_t size = (uint64_t)d->size;
	if (d->size < 0) {
		off_t end = lseek(fd, 0, SEEK_END);
		size = end > 0 ? (uint64_t)end : 0;
	}
	if (chunk_size && size > chunk_size) {
		for (uint64_t off = 0; off < size;) {
			uint64_t n = size - off < chunk_size ? size - off : chunk_size;
			_cleanup_free_ char *u = abs_location(r, loc);
			char cr[96];
			snprintf(cr, sizeof(cr), "Content-Range: %" PRIu64 "-%" PRIu64, off, off + n - 1);
			struct reg_req p = { .method = "PATCH", .url = u, .scope = scope, .body_fd = fd,
					     .body_off = off, .body_len = n, .no_retry = true };
			p.headers[0] = "Content-Type: application/octet-stream";
			p.headers[1] = cr;
			if (reg_request(r, &p, err) < 0) {
				reg_req_release(&p);
				return -err->code;
			}
			if (p.status != 202 || !p.h.location) {
				reg_status_fail(err, p.status, p.resp.buf, p.resp.len,
						"upload chunk of %s to %s", d->digest, repo);
				reg_req_release(&p);
				return -err->code;
			}
			free(loc);
			loc = xstrdup(p.h.location);
			reg_req_release(&p);
			off += n;
			if (r->o.progress)
				r->o.progress(r->o.progress_data, d->digest, off, size);
		}
		size = 0; /* the closing PUT carries no body */
	}
	_cleanup_free_ char *put = with_digest(r, loc, d->digest);
	struct reg_req p = { .method = "PUT", .url = put, .scope = scope, .body_fd = fd,
			     .body_len = size, .no_retry = true };
	p.headers[0] = "Content-Type: application/octet-stream";
	if (reg_request(r, &p, err) < 0) {
		reg_req_release(&p);
		return -err->code;
	}
	if (p.status != 201) {
		reg_status_fail(err, p.status, p.resp.buf, p.resp.len, "upload %s to %s", d->digest,
				repo);
		reg_req_release(&p);
		return -err->code;
	}
	reg_req_release(&p);
	return 0;
}

int img_registry_put_blob(struct img_registry *r, const char *repo, struct store *s,
			  const struct store_desc *d, const char *mount_from, size_t chunk_size,
			  const char **how, struct ckt_err *err)
{
	int e = img_registry_blob_exists(r, repo, d, err);
	if (e < 0)
		return -err->code;
	if (e) {
		if (how)
			*how = "exists";
		return 0;
	}
	_cleanup_free_ char *scope =
		mount_from ? xasprintf("repository:%s:pull,push repository:%s:pull", repo, mount_from)
			   : reg_scope(repo, "pull,push");
	_cleanup_free_ char *url = NULL;
	if (mount_from)
		url = xasprintf("%s/v2/%s/blobs/uploads/?mount=%s&from=%s", r->base, repo, d->digest,
				mount_from);
	else
		url = xasprintf("%s/v2/%s/blobs/uploads/", r->base, repo);
	struct reg_req q = { .method = "POST", .url = url, .scope = scope, .body_fd = -1 };
	q.headers[0] = "Content-Length: 0";
	_cleanup_free_ char *loc = NULL;
	int rc = -1;

	if (reg_request(r, &q, err) < 0)
		goto out;
	if (q.status == 201 && mount_from) {
		if (how)
			*how = "mounted";
		rc = 0;
		goto out;
	}
	if (q.status != 202 || !q.h.location) {
		reg_status_fail(err, q.status, q.resp.buf, q.resp.len, "start upload of %s to %s",
				d->digest, repo);
		goto out;
	}
	loc = xstrdup(q.h.location);
	reg_req_release(&q);

	if (upload(r, repo, s, d, scope, loc, chunk_size, err) < 0)
		goto out;
	if (how)
		*how = "uploaded";
	rc = 0;
out:
	reg_req_release(&q);
	if (rc < 0)
		ckt_err_wrap(err, "registry '%s'", r->domain);
	return rc < 0 ? -err->code : 0;
}
