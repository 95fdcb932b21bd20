#include "libimg/source.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"

int img_verify_buf(const struct store_desc *d, const void *data, size_t len, struct ckt_err *err)
{
	char got[STORE_DIGEST_MAX];
	enum store_digest_alg alg;
	const char *hex;

	if (store_digest_parse(d->digest, &alg, &hex, err) < 0)
		return -err->code;
	store_digest_buf(alg, data, len, got);
	if (strcmp(got, d->digest))
		return ckt_err_failw(err, CKT_EVERIFY, got[0] ? "content hashes to another digest" : NULL,
				     "blob %s does not match its digest", d->digest);
	if (d->size >= 0 && (uint64_t)d->size != len)
		return ckt_err_fail(err, CKT_EVERIFY, "blob %s has %zu bytes, its descriptor says %lld",
				    d->digest, len, (long long)d->size);
	return 0;
}

/* 1 MiB: large enough that syscalls and hashing calls are amortised. */
#define COPY_BUF (1u << 20)

int img_copy_fd(struct img_fetch_ctx *ctx, int fd, const struct store_desc *d,
		struct ckt_err *err)
{
	_cleanup_store_writer_ struct store_writer *w =
		store_writer_new(ctx->store, d->digest, d->size, err);
	_cleanup_free_ char *buf = xmalloc(COPY_BUF);
	uint64_t done = 0;

	if (!w)
		return -err->code;
	for (;;) {
		ssize_t n = read(fd, buf, COPY_BUF);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ckt_err_sys(err, CKT_EIO, "read blob %s", d->digest);
		}
		if (n == 0)
			break;
		if (store_writer_write(w, buf, (size_t)n, err) < 0)
			return -err->code;
		done += (uint64_t)n;
		if (ctx->opts->progress)
			ctx->opts->progress(ctx->opts->progress_data, d->digest, done,
					    (uint64_t)d->size);
	}
	return store_writer_commit(w, NULL, err);
}
