#pragma once
/* The content-addressed store (DESIGN.md "The store").
 *
 * On disk it is a valid OCI image layout that other tools read directly:
 *
 *   $STORE/oci-layout        {"imageLayoutVersion": "1.0.0"}
 *   $STORE/index.json        refs: descriptors annotated with
 *                            org.opencontainers.image.ref.name
 *   $STORE/blobs/<alg>/<hex> every blob
 *   $STORE/trees/            unpacked layer snapshots (libimg/unpack)
 *   $STORE/tmp/              partial writes; never read as blobs
 *   $STORE/lock              flock: shared while a process may write blobs or
 *                            refs, exclusive for gc
 *
 * index.json is rewritten atomically (temp + fsync + rename + fsync dir) while
 * holding an exclusive flock on the store directory itself, so concurrent
 * writers serialise their read-modify-write and never lose a ref.  Entries of
 * index.json that ckt did not write (other annotations, platform, unnamed
 * entries) are preserved.
 *
 * store/ knows blobs, refs and locks, nothing of image formats: the graph walk
 * that gc and fsck need is supplied by the caller (store_walk_fn). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/digest.h"

#define STORE_REF_NAME_ANNOTATION "org.opencontainers.image.ref.name"

struct store;

enum store_open_flags {
	STORE_EXCLUSIVE = 1 << 0, /* take the lock exclusively (gc) */
	STORE_READONLY = 1 << 1,  /* never create or modify anything */
};

/* Open (creating the layout if missing, unless STORE_READONLY) the store at
 * root and take its lock (blocking).  A directory that exists but is not an
 * OCI layout (no oci-layout, or a wrong imageLayoutVersion) and is not empty
 * is refused with CKT_EFORMAT.  Free with store_free(), which drops the lock. */
struct store *store_open(const char *root, unsigned flags, struct ckt_err *err);
void store_free(struct store *s);
static inline void store_freep(struct store **s)
{
	store_free(*s);
}
#define _cleanup_store_ __attribute__((cleanup(store_freep)))

/* The root directory (borrowed). */
const char *store_root(const struct store *s);

/* ---- blobs ------------------------------------------------------------- */

/* A descriptor, as in OCI descriptor.md (the fields the store needs). */
struct store_desc {
	char *media_type;		/* owned; may be NULL */
	char digest[STORE_DIGEST_MAX];
	int64_t size;			/* -1 when unknown */
};
void store_desc_release(struct store_desc *d);

/* Whether the blob with this (valid) digest is present. */
bool store_blob_exists(struct store *s, const char *digest);
/* Path of the blob (it need not exist); newly allocated.  digest must be valid. */
char *store_blob_path(struct store *s, const char *digest);
/* Open the blob read-only (O_CLOEXEC).  Missing: CKT_ENOTFOUND. */
int store_blob_open(struct store *s, const char *digest, struct ckt_err *err);
/* Read a whole blob of at most max bytes into *out (NUL-terminated, owned by
 * the caller) and check it against its digest: a mismatch is CKT_EVERIFY. */
int store_blob_read(struct store *s, const char *digest, size_t max, char **out, size_t *len,
		    struct ckt_err *err);
/* Add a blob from memory.  With expected non-NULL the data must hash to it
 * (else CKT_EVERIFY and nothing is stored).  out (may be NULL) receives the
 * digest.  sha256 is used when expected is NULL. */
int store_blob_put(struct store *s, const void *data, size_t len, const char *expected,
		   char out[STORE_DIGEST_MAX], struct ckt_err *err);

/* Streaming writer: bytes go to a unique file under tmp/ and are hashed as
 * they arrive; commit renames the file into blobs/ only when the digest (and
 * size, when given) match.  A writer freed without a commit leaves nothing. */
struct store_writer;
/* expected: the digest the data must have, or NULL to accept whatever it
 * hashes to (sha256).  expected_size: -1 when unknown; writing more than it
 * fails at once with CKT_EVERIFY. */
struct store_writer *store_writer_new(struct store *s, const char *expected,
				      int64_t expected_size, struct ckt_err *err);
int store_writer_write(struct store_writer *w, const void *data, size_t len,
		       struct ckt_err *err);
/* The two halves of store_writer_write, for callers that hash and write on
 * two threads at once: every byte must go through both, in the same order.
 * store_writer_write_data writes (and checks the size); store_writer_hash
 * hashes.  Neither touches what the other does, so one thread may call
 * each concurrently; everything else waits until both are done. */
int store_writer_write_data(struct store_writer *w, const void *data, size_t len,
			    struct ckt_err *err);
void store_writer_hash(struct store_writer *w, const void *data, size_t len);
/* Bytes written so far. */
int64_t store_writer_size(const struct store_writer *w);
/* The digest (in the writer's algorithm) of the bytes written so far, into
 * out; writing may go on.  For callers that learn a blob's name only from
 * its content (docker-archive layers).  Cannot fail. */
void store_writer_digest(const struct store_writer *w, char out[STORE_DIGEST_MAX]);
/* Check and publish.  out (may be NULL) receives the digest.  On a digest or
 * size mismatch: CKT_EVERIFY naming the expected digest, and the temporary
 * file is removed.  The writer must still be freed. */
int store_writer_commit(struct store_writer *w, char out[STORE_DIGEST_MAX], struct ckt_err *err);
/* A resumable writer for a blob whose digest is known: its data goes to
 * tmp/<alg>-<hex>.partial, which is kept when the writer is freed without a
 * commit (and removed when a commit finds a mismatch), so a later writer for
 * the same digest, in this or another process, continues after the bytes
 * already there (re-hashed on open; store_writer_size() says how many).  A
 * partial longer than expected_size starts over.  While another process
 * holds that partial (flock), a private temporary is used instead, as with
 * store_writer_new(). */
struct store_writer *store_writer_resume(struct store *s, const char *expected,
					 int64_t expected_size, struct ckt_err *err);
/* Drop the bytes written so far and start again at 0 (a server that
 * ignored a Range request). */
int store_writer_restart(struct store_writer *w, struct ckt_err *err);
/* Discard uncommitted data (a resumable writer keeps its partial file) and
 * free the writer.  NULL is fine. */
void store_writer_free(struct store_writer *w);
static inline void store_writer_freep(struct store_writer **w)
{
	store_writer_free(*w);
}
#define _cleanup_store_writer_ __attribute__((cleanup(store_writer_freep)))

/* ---- refs (index.json) ------------------------------------------------- */

struct store_ref {
	char *name;		/* the ref.name annotation; NULL for an unnamed entry */
	struct store_desc desc;
};
void store_ref_release(struct store_ref *r);
void store_refs_free(struct store_ref *refs, size_t n);

/* Look up the entry whose ref.name equals name.  Missing: CKT_ENOTFOUND. */
int store_ref_get(struct store *s, const char *name, struct store_ref *out, struct ckt_err *err);
/* All entries of index.json, in file order; *out owned by the caller
 * (store_refs_free). */
int store_ref_list(struct store *s, struct store_ref **out, size_t *n, struct ckt_err *err);
/* Point name at desc (replacing an entry of the same name, else appending).
 * The blob must already be in the store (else CKT_ENOTFOUND). */
int store_ref_set(struct store *s, const char *name, const struct store_desc *desc,
		  struct ckt_err *err);
/* Remove the entry named name.  Missing: CKT_ENOTFOUND. */
int store_ref_remove(struct store *s, const char *name, struct ckt_err *err);

/* ---- gc and fsck ------------------------------------------------------- */

/* Return in *children (owned by the caller, freed with store_descs_free)
 * the blobs that blob d references: for a manifest its config and layers,
 * for an index its manifests, for anything else none.  A blob that cannot
 * be parsed is an error. */
typedef int (*store_walk_fn)(struct store *s, const struct store_desc *d,
			     struct store_desc **children, size_t *n, void *data,
			     struct ckt_err *err);
void store_descs_free(struct store_desc *v, size_t n);

struct store_gc_stats {
	size_t blobs_kept;
	size_t blobs_removed;
	uint64_t bytes_removed;
	size_t tmp_removed;
};

/* Remove every blob not reachable from a ref through walk (not NULL), and
 * every file in tmp/.  The store must have been opened with STORE_EXCLUSIVE
 * (else CKT_EUSAGE), so no writer is running.  A walk failure, an invalid
 * index.json entry or an invalid child digest aborts the gc before anything
 * is removed.  Files in blobs/ not named by a digest are left alone.  st may
 * be NULL. */
int store_gc(struct store *s, store_walk_fn walk, void *data, struct store_gc_stats *st,
	     struct ckt_err *err);

/* Called once per problem found by fsck, with a one-line description. */
typedef void (*store_report_fn)(const char *problem, void *data);

/* Re-hash every blob against its name, check index.json and every ref, and
 * walk every ref's graph checking that each referenced blob exists with the
 * descriptor's size.  Each problem is reported; *problems receives their
 * count.  Returns 0 when the check could run (even with problems).  With
 * walk NULL only the refs' own blobs are checked; report and problems may
 * be NULL. */
int store_fsck(struct store *s, store_walk_fn walk, void *wdata, store_report_fn report,
	       void *rdata, size_t *problems, struct ckt_err *err);
