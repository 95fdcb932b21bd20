#pragma once
/* Applying image layers to a directory tree, as the OCI image spec's
 * layer.md says (issue 4): regular files, directories, symlinks, hard links
 * (also to files of lower layers, and to files a later layer whites out),
 * device nodes and fifos, whiteouts ".wh.NAME" and opaque directories
 * ".wh..wh..opq" (which hide lower layers only, never entries of their own
 * layer, whatever their order in the tar), ownership, modes with
 * setuid/setgid/sticky, xattrs (security.capability included) and mtimes
 * (directories' last, once their contents are in place).
 *
 * Every name of the tree is resolved with libimg/safepath: an entry whose
 * name has a ".." component, whose parent leads outside the root (through a
 * symlink with an absolute target or a ".." above the root), a hard link
 * whose target does so or does not exist, or a whiteout naming "." or ".."
 * is refused with CKT_EFORMAT naming the entry; nothing outside the root is
 * created, changed or removed.  Absolute entry names are taken relative to
 * the root.
 *
 * A layer blob is read as it streams: a second thread decompresses it
 * (gzip through ISA-L, one or more members and nothing else after them;
 * zstd through libzstd with the window limited to IMG_ZSTD_WINDOW_LOG_MAX
 * so a hostile frame cannot demand gigabytes), while this thread hashes
 * the uncompressed bytes, parses the tar and writes files.  No
 * decompressed copy is ever stored.  When the layer is done, its digest is
 * compared with the diff_id: a mismatch is CKT_EVERIFY (the caller then
 * discards the tree). */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "base/err.h"
#include "libimg/manifest.h"
#include "store/digest.h"

/* Largest zstd window accepted: 2^27 = 128 MiB (zstd's own default limit). */
#define IMG_ZSTD_WINDOW_LOG_MAX 27

enum img_apply_flags {
	/* Files belong to the caller; the entry's uid/gid go into the
	 * user.rootlesscontainers xattr (umoci's protobuf encoding); only
	 * user.* xattrs are applied; device nodes are skipped with one
	 * warning; directories stay owner-writable until img_apply_finish().
	 * Implied when the process is not root. */
	IMG_APPLY_ROOTLESS = 1 << 0,
	/* No warnings: a twin applier of img_apply_layer_tee() gives them. */
	IMG_APPLY_QUIET = 1 << 1,
};

/* The xattr umoci records rootless ownership in. */
#define IMG_ROOTLESS_XATTR "user.rootlesscontainers"

struct img_apply;

/* Start applying layers onto the directory rootfd (borrowed; must stay
 * open until img_apply_free). */
struct img_apply *img_apply_new(int rootfd, unsigned flags);
void img_apply_free(struct img_apply *a);
static inline void img_apply_freep(struct img_apply **a)
{
	img_apply_free(*a);
}
#define _cleanup_apply_ __attribute__((cleanup(img_apply_freep)))

/* Apply the layer blob read from fd (borrowed, read from its current
 * offset).  comp is the compression the media type names; the blob's
 * magic bytes win when they disagree.  diff_id: the digest the
 * uncompressed tar must have (NULL: not checked).  label names the layer in
 * messages. */
int img_apply_layer(struct img_apply *a, int fd, enum img_compression comp, const char *diff_id,
		    const char *label, struct ckt_err *err);

/* A layer blob smaller than this is decoded by the applying thread itself
 * (img_apply_layer): for a tiny layer, starting a thread costs more than
 * it saves. */
#define IMG_APPLY_INLINE_MAX (64 << 10)
/* The limit in use (unit tests set it to 0 to exercise the threads). */
extern long img_apply_inline_max;

/* A small layer: its blob is below this size.  The decoding thread hands
 * it over in chunks of IMG_APPLY_SMALL_CHUNK (not 1 MiB), so that decoding
 * and writing overlap even though the layer is only a few megabytes
 * (tiny: 20.4 ms instead of 22.2 ms); and libimg/unpack builds an image
 * whose layers to apply are this small in one tree and copies it, rather
 * than writing two trees at once. */
#define IMG_APPLY_SMALL (4 << 20)
#define IMG_APPLY_SMALL_CHUNK (128 << 10)

/* Most trees one layer stream can feed at once. */
#define IMG_APPLY_TEE_MAX 2

/* As img_apply_layer(), decompressing and hashing the layer once and
 * applying it to n (1..IMG_APPLY_TEE_MAX) trees at once, each by a thread
 * of its own: an unpack that builds a snapshot and the caller's copy in one
 * pass.  The first failure (a broken stream first) is reported. */
int img_apply_layer_tee(struct img_apply **as, size_t n, int fd, enum img_compression comp,
			const char *diff_id, const char *label, struct ckt_err *err);

/* Record a directory rel that is already in the tree (copied from a
 * snapshot) with its final mode and mtime, to be restored by
 * img_apply_finish(); rootless, it is made owner-writable meanwhile. */
int img_apply_note_dir(struct img_apply *a, const char *rel, mode_t mode,
		       const struct timespec *mtime, struct ckt_err *err);

/* Give directories their final modes and mtimes, deepest first. */
int img_apply_finish(struct img_apply *a, struct ckt_err *err);

/* The digest of the regular file with inode ino if this applier wrote it
 * (into out), else false.  Saves re-reading files to list the tree. */
bool img_apply_file_digest(const struct img_apply *a, ino_t ino, char out[STORE_DIGEST_MAX]);

/* The process's umask, read from /proc (umask(2) would change it for a
 * moment under other threads); 0777 when unknown. */
mode_t img_process_umask(void);

/* Encode/decode umoci's user.rootlesscontainers value (protobuf message
 * Resource { uint32 uid = 1; uint32 gid = 2; }).  encode returns the length
 * written into buf (at most 12 bytes); decode fails (-1) on malformed
 * input. */
size_t img_rootless_encode(uint32_t uid, uint32_t gid, unsigned char buf[12]);
int img_rootless_decode(const void *buf, size_t len, uint32_t *uid, uint32_t *gid);
