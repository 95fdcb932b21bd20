#pragma once
/* appc ACI archives (appc spec 0.8.11, spec/aci.md "Image Archives"):
 * writing them deterministically and reading them defensively.
 *
 * An ACI is a tar with exactly two top-level entries, `manifest` (the image
 * manifest JSON) and `rootfs/` (the root filesystem), optionally compressed
 * with gzip, bzip2 or xz.  Its image ID is "sha512-" + the hex sha512 of the
 * uncompressed tar stream, padding included (spec/aci.md "Image ID").
 *
 * The writer emits `manifest` first, then `rootfs` and the tree below it in
 * a fixed order (each directory, then its entries sorted bytewise), with
 * generated entries at uid/gid 0, mtime 0, modes 0644/0755, numeric owners
 * only, pax headers only where ustar cannot hold a field, and a compressor
 * with a fixed level and no name or time in its header: the same input
 * gives the same bytes on every run and machine. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* "sha512-" + 128 hex + NUL. */
#define IMG_ACI_ID_MAX 136

enum img_aci_compression {
	IMG_ACI_GZIP = 0,
	IMG_ACI_XZ,
	IMG_ACI_BZIP2,
	IMG_ACI_NONE,
	IMG_ACI_ZSTD,		/* recognised on input only to be refused */
};

/* Parse "gzip", "xz", "bzip2", "none" (CKT_EUSAGE otherwise). */
int img_aci_compression_parse(const char *s, enum img_aci_compression *out, struct ckt_err *err);
const char *img_aci_compression_name(enum img_aci_compression c);
/* Recognise compression from the first bytes (gzip 1f 8b, bzip2 "BZh", xz
 * fd 37 7a 58 5a 00, zstd 28 b5 2f fd, else a tar with "ustar" at offset 257).
 * Returns -1 when none matches. */
int img_aci_sniff(const void *data, size_t len, enum img_aci_compression *out);

/* Where written (compressed) bytes go. */
typedef int (*img_aci_sink_fn)(void *data, const void *buf, size_t len, struct ckt_err *err);

struct img_aci_writer;

/* Start an ACI whose bytes go to sink.  Nothing is written before
 * img_aci_writer_manifest(). */
struct img_aci_writer *img_aci_writer_new(enum img_aci_compression c, img_aci_sink_fn sink,
					  void *sink_data, struct ckt_err *err);
/* Write the `manifest` entry and the `rootfs` directory entry.  Call once,
 * first. */
int img_aci_writer_manifest(struct img_aci_writer *w, const char *json, size_t len,
			    struct ckt_err *err);

enum img_aci_tree_flags {
	/* Owners come from the user.rootlesscontainers xattr (umoci's
	 * convention, absent = 0:0) rather than from the files. */
	IMG_ACI_TREE_ROOTLESS = 1 << 0,
};
/* Add everything under the directory dir as rootfs/...: regular files,
 * directories, symlinks, hard links (a later path of an inode links to the
 * first one in walk order), devices and fifos, with modes, owners, mtimes
 * and xattrs (except user.rootlesscontainers).  Sockets are skipped. */
int img_aci_writer_tree(struct img_aci_writer *w, const char *dir, unsigned flags,
			struct ckt_err *err);
/* Finish the archive and flush the compressor; id receives the image ID. */
int img_aci_writer_finish(struct img_aci_writer *w, char id[IMG_ACI_ID_MAX], struct ckt_err *err);
/* Free (an unfinished archive is abandoned; the sink may hold a part). */
void img_aci_writer_free(struct img_aci_writer *w);
static inline void img_aci_writer_freep(struct img_aci_writer **w)
{
	img_aci_writer_free(*w);
}
#define _cleanup_aci_writer_ __attribute__((cleanup(img_aci_writer_freep)))

/* ---- reading ---------------------------------------------------------- */

/* What a check of an ACI found. */
struct img_aci_info {
	char id[IMG_ACI_ID_MAX];
	enum img_aci_compression compression;
	char *manifest;		/* the manifest JSON, NUL-terminated */
	size_t manifest_len;
	uint64_t tar_size;	/* uncompressed bytes */
	char **paths;		/* rootfs entries as "/x/y" ("/" for rootfs itself) */
	unsigned char *types;	/* per path: 'd' directory, 'f' file, 'l' symlink,
				 * 'h' hard link, 'o' other */
	size_t n_paths;
};
void img_aci_info_release(struct img_aci_info *info);

/* Read the ACI at fd (from its current offset to EOF) in one pass: detect
 * the compression by magic bytes (zstd and unknown formats refused), hash
 * the uncompressed stream, take `manifest` wherever it is (also as
 * "./manifest"), and check the archive rules: no duplicate entry, nothing at
 * the top level but `manifest` (a regular file) and `rootfs` (a directory),
 * no entry or hard-link target escaping rootfs, and the manifest valid
 * (img_aci_manifest_check).  Every violation is CKT_EFORMAT naming it. */
int img_aci_check(int fd, struct img_aci_info *out, struct ckt_err *err);

/* Check an image manifest: acKind "ImageManifest", acVersion present, a
 * valid AC identifier as name, labels/annotations well-formed, `app` with
 * non-empty user and group, supplementaryGIDs or supplementaryGids
 * integers, dependencies with an imageName, pathWhitelist absolute. */
int img_aci_manifest_check(const char *json, size_t len, struct ckt_err *err);

/* Whether s is an AC identifier (^[a-z0-9]+([-._~/][a-z0-9]+)*$). */
bool img_ac_identifier_valid(const char *s);
/* Lower-case s, replace characters outside [a-z0-9-._~/] with '_' and trim
 * separators at both ends (appc SanitizeACIdentifier).  Newly allocated. */
char *img_ac_identifier_sanitize(const char *s);
/* As above for AC names: [a-z0-9-], others become '-'. */
char *img_ac_name_sanitize(const char *s);
