#pragma once
/* Internal to libimg: the ACI writer's and reader's libarchive-level entry
 * points, shared by aci.c, convert.c and src_aci.c.  Includes libarchive;
 * never include it from a public header. */

#include <stdbool.h>

#include "base/err.h"
#include "libimg/aci.h"
#include "libimg/lazy_archive.h"

/* Fill err from a libarchive handle ("<what>" + archive_error_string as why);
 * an err already set (by a sink) is only wrapped.  Returns -err->code. */
int img_archive_err(struct archive *a, struct ckt_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* qsort comparator for an array of char *. */
int img_strcmp_p(const void *a, const void *b);

/* Write one header / data block into the ACI's tar stream. */
int img_aci_write_entry(struct img_aci_writer *w, struct archive_entry *e, struct ckt_err *err);
int img_aci_write_data(struct img_aci_writer *w, const void *buf, size_t len, struct ckt_err *err);

/* A reader over an ACI (or any tar, compressed or not) at fd that hashes the
 * uncompressed stream with sha512 as it goes.  Formats: tar only; filters
 * gzip, bzip2, xz, none (sniffed first; zstd and others refused). */
struct img_tar_reader;
struct img_tar_reader *img_tar_reader_open(int fd, enum img_aci_compression *comp,
					   struct ckt_err *err);
/* The archive handle to call archive_read_next_header/_data on (borrowed). */
struct archive *img_tar_reader_archive(struct img_tar_reader *r);
/* As img_tar_reader_open() for an OCI layer: zstd accepted too. */
struct img_tar_reader *img_tar_reader_open_layer(int fd, struct ckt_err *err);
/* Drain the rest of the stream, then the hex-less ID "sha512-<hex>" and the
 * uncompressed size. */
int img_tar_reader_finish(struct img_tar_reader *r, char id[IMG_ACI_ID_MAX], uint64_t *size,
			  struct ckt_err *err);
void img_tar_reader_free(struct img_tar_reader *r);
static inline void img_tar_reader_freep(struct img_tar_reader **r)
{
	img_tar_reader_free(*r);
}
#define _cleanup_tar_reader_ __attribute__((cleanup(img_tar_reader_freep)))

/* Clean an ACI member name: strip leading "./" and "/" runs, collapse
 * with ckt_path_clean; NULL when it escapes ("..").  Newly allocated. */
char *img_aci_member_clean(const char *name);

/* A string → int map (open addressing, keys copied). */
struct img_pmap {
	char **keys;
	int *vals;
	size_t cap, n;
};
/* The value slot of k; with create, a new slot (value 0) when missing, else
 * NULL when missing. */
int *img_pmap_slot(struct img_pmap *m, const char *k, bool create);
void img_pmap_release(struct img_pmap *m);
