/* Unit tests for libimg/safepath, libimg/layer and the chain IDs of
 * libimg/unpack: in-root resolution (openat2 and the O_NOFOLLOW walk),
 * entry names, umoci's rootless xattr, layer semantics and hostile layers
 * built in memory with libarchive. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "libimg/lazy_archive.h"
#include "unit.h"

#include "base/cleanup.h"
#include "libimg/layer.h"
#include "libimg/safepath.h"
#include "libimg/unpack.h"
#include "store/digest.h"

/* ---- entry names -------------------------------------------------------- */

static void test_clean_name(void **state)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
		{ "a/b", "a/b" },     { "./a//b/", "a/b" }, { "/etc/passwd", "etc/passwd" },
		{ "./", "" },	      { "/", "" },	    { "a/./b/.", "a/b" },
		{ "...", "..." },     { "a/..b", "a/..b" },
	};
	static const char *const bad[] = { "..", "../x", "a/../b", "a/..", "/../etc", "./.." };
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		struct ckt_err err = CKT_ERR_INIT;
		_cleanup_free_ char *out = NULL;
		assert_ok(img_sp_clean_name(ok[i].in, &out, &err), err);
		assert_string_equal(out, ok[i].out);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct ckt_err err = CKT_ERR_INIT;
		_cleanup_free_ char *out = NULL;
		assert_err(img_sp_clean_name(bad[i], &out, &err), err, CKT_EFORMAT);
		assert_contains(err.what, bad[i]);
	}
}

/* ---- in-root resolution -------------------------------------------------- */

static void make_tree(const char *root)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(mkdirat(fd, "a", 0755), 0);
	assert_int_equal(mkdirat(fd, "a/c", 0755), 0);
	assert_int_equal(symlinkat("a", fd, "rel"), 0);
	assert_int_equal(symlinkat("/", fd, "abs"), 0);
	assert_int_equal(symlinkat("../..", fd, "up"), 0);
	assert_int_equal(symlinkat("../a/c", fd, "a/in"), 0);	/* a/../a/c: stays in */
	assert_int_equal(symlinkat("loop", fd, "loop"), 0);
	int f = openat(fd, "file", O_CREAT | O_WRONLY, 0644);
	assert_true(f >= 0);
	close(f);
	close(fd);
}

static void check_resolution(void **state, bool walk)
{
	_cleanup_free_ char *root = tpath(state, "root");
	assert_int_equal(mkdir(root, 0755), 0);
	make_tree(root);
	_cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY);
	struct stat a, st;
	assert_int_equal(fstatat(rfd, "a/c", &a, 0), 0);

	img_sp_force_walk = walk;
	static const struct {
		const char *name;
		int err;	/* 0: resolves to a/c */
	} cases[] = {
		{ "a/c", 0 },	 { "rel/c", 0 },      { "a/in", 0 },	  { "./a//c/", 0 },
		{ "abs", EXDEV }, { "abs/a", EXDEV }, { "up", EXDEV },	  { "up/x", EXDEV },
		{ "loop", ELOOP }, { "missing", ENOENT }, { "file", ENOTDIR }, { "file/x", ENOTDIR },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		errno = 0;
		int fd = img_sp_open_dir(rfd, cases[i].name);
		if (cases[i].err) {
			if (fd >= 0 || errno != cases[i].err)
				print_error("%s: '%s': fd %d errno %d, want %d\n", walk ? "walk" : "openat2",
					    cases[i].name, fd, errno, cases[i].err);
			assert_true(fd < 0);
			assert_int_equal(errno, cases[i].err);
			continue;
		}
		assert_true(fd >= 0);
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_ino, a.st_ino);
		close(fd);
	}
	/* mkdir -p through an in-root symlink creates under its target */
	int fd = img_sp_mkdir_p(rfd, "rel/new/deep", 0755, NULL, NULL);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fstatat(rfd, "a/new/deep", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* and never through an escaping one */
	assert_true(img_sp_mkdir_p(rfd, "up/pwned", 0755, NULL, NULL) < 0);
	assert_int_equal(errno, EXDEV);
	_cleanup_free_ char *outside = tpath(state, "pwned");
	assert_int_equal(access(outside, F_OK), -1);
	img_sp_force_walk = false;
	tdir_pass(state);
}

static void test_resolve_openat2(void **state)
{
	check_resolution(state, false);
}

static void test_resolve_walk(void **state)
{
	check_resolution(state, true);
}

/* ---- rootless ownership xattr --------------------------------------------- */

static void test_rootless_codec(void **state)
{
	unsigned char buf[12];
	uint32_t uid, gid;
	(void)state;
	size_t n = img_rootless_encode(1000, 1000, buf);
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "\x08\xe8\x07\x10\xe8\x07", 6);
	assert_int_equal(img_rootless_encode(0, 0, buf), 0);
	n = img_rootless_encode(0, 5, buf);
	assert_int_equal(n, 2);
	assert_memory_equal(buf, "\x10\x05", 2);
	n = img_rootless_encode(UINT32_MAX, 0, buf);
	assert_int_equal(img_rootless_decode(buf, n, &uid, &gid), 0);
	assert_int_equal(uid, UINT32_MAX);
	assert_int_equal(gid, 0);
	assert_int_equal(img_rootless_decode("\x08", 1, &uid, &gid), -1);
	assert_int_equal(img_rootless_decode("\x0a\x01\x00", 3, &uid, &gid), -1);
	assert_int_equal(img_rootless_decode("\x08\xff\xff\xff\xff\xff\x01", 7, &uid, &gid), -1);
}

/* ---- chain IDs ------------------------------------------------------------ */

static void test_chain_ids(void **state)
{
	char a[80], b[80], c[80];
	(void)state;
	snprintf(a, sizeof(a), "sha256:%064d", 0);
	memset(a + 7, 'a', 64);
	memcpy(b, a, sizeof(a));
	memset(b + 7, 'b', 64);
	memcpy(c, a, sizeof(a));
	memset(c + 7, 'c', 64);
	char *ids[] = { a, b, c, NULL };
	struct img_config cfg = { .diff_ids = ids, .n_diff_ids = 3 };
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_strv_ char **chain = NULL;
	assert_ok(img_chain_ids(&cfg, &chain, &err), err);
	assert_string_equal(chain[0], a);
	assert_string_equal(chain[1], "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c");
	assert_string_equal(chain[2], "sha256:c1377126441fb2f5ec2c21ae2a60255331d639e830f0ee1b40a36e52d4c40588");
	assert_null(chain[3]);
	char bad[] = "sha256:xyz";
	ids[1] = bad;
	_cleanup_strv_ char **none = NULL;
	assert_err(img_chain_ids(&cfg, &none, &err), err, CKT_EFORMAT);
}

/* ---- layers built in memory ------------------------------------------------ */

struct ent {
	const char *name;
	char type;	/* f file, d dir, l symlink, h hard link */
	const char *arg;	/* content, or link target */
	unsigned mode;
};

/* C_GZIP3: three gzip members, the tar split at odd offsets; C_GZIP_JUNK:
 * bytes that are no gzip member after one; C_GZIP_CUT: the member cut;
 * C_GZIP_CRC: its CRC-32 trailer wrong. */
enum comp { C_NONE, C_GZIP, C_ZSTD, C_GZIP3, C_GZIP_JUNK, C_GZIP_CUT, C_GZIP_CRC };

/* Append one gzip member of data to buf (zlib, as gzip(1) writes them). */
static size_t gzip_member(char *buf, size_t cap, const char *data, size_t len)
{
	z_stream z = { 0 };
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (unsigned char *)data;
	z.avail_in = (uInt)len;
	z.next_out = (unsigned char *)buf;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t n = cap - z.avail_out;
	deflateEnd(&z);
	return n;
}

/* Write a tar of ents (compressed as asked) to path; *diff_id receives the
 * digest of the uncompressed tar. */
static void write_layer(const char *path, const struct ent *ents, size_t n, enum comp comp,
			char diff_id[STORE_DIGEST_MAX])
{
	size_t cap = 16u << 20, used = 0;
	char *tar = xmalloc(cap);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_memory(a, tar, cap, &used), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, ents[i].name);
		archive_entry_set_mtime(e, 1700000000, 0);
		archive_entry_set_perm(e, ents[i].mode ? ents[i].mode : 0644);
		size_t len = 0;
		switch (ents[i].type) {
		case 'f':
			len = strlen(ents[i].arg);
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, (la_int64_t)len);
			break;
		case 'd':
			archive_entry_set_filetype(e, AE_IFDIR);
			archive_entry_set_perm(e, ents[i].mode ? ents[i].mode : 0755);
			break;
		case 'l':
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_symlink(e, ents[i].arg);
			break;
		case 'h':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_hardlink(e, ents[i].arg);
			break;
		}
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (len)
			assert_int_equal(archive_write_data(a, ents[i].arg, len), (la_ssize_t)len);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	store_digest_buf(STORE_DIGEST_SHA256, tar, used, diff_id);

	const void *out = tar;
	size_t outlen = used;
	char *buf = NULL;
	if (comp == C_ZSTD) {
		buf = xmalloc(ZSTD_compressBound(used));
		outlen = ZSTD_compress(buf, ZSTD_compressBound(used), tar, used, 3);
		out = buf;
	} else if (comp != C_NONE) {
		size_t gcap = used + 4096 * 4, gused = 0;
		size_t cut[] = { 0, comp == C_GZIP3 ? used / 3 + 7 : used, used - used / 5, used };
		size_t parts = comp == C_GZIP3 ? 3 : 1;
		buf = xmalloc(gcap);
		for (size_t i = 0; i < parts; i++) {
			size_t to = i + 1 == parts ? used : cut[i + 1];
			gused += gzip_member(buf + gused, gcap - gused, tar + cut[i], to - cut[i]);
		}
		if (comp == C_GZIP_JUNK) {
			memcpy(buf + gused, "junk after the member", 21);
			gused += 21;
		}
		if (comp == C_GZIP_CUT)
			gused -= gused / 3;
		if (comp == C_GZIP_CRC)
			buf[gused - 8] ^= 1;
		out = buf;
		outlen = gused;
	}
	struct ckt_err err = CKT_ERR_INIT;
	assert_ok(ckt_write_file_atomic(path, out, outlen, 0644, &err), err);
	free(buf);
	free(tar);
}

/* Apply one layer to the tree at rootfd through a; returns the result. */
static int apply(void **state, struct img_apply *a, const struct ent *ents, size_t n,
		 enum comp comp, bool bad_diff_id, struct ckt_err *err)
{
	_cleanup_free_ char *path = tpath(state, "layer");
	char diff_id[STORE_DIGEST_MAX];
	write_layer(path, ents, n, comp, diff_id);
	if (bad_diff_id)
		diff_id[10] = diff_id[10] == '0' ? '1' : '0';
	_cleanup_close_ int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	return img_apply_layer(a, fd, comp == C_ZSTD ? IMG_COMPRESS_ZSTD : IMG_COMPRESS_GZIP,
			       diff_id, "test", err);
}

static char *slurp(int rfd, const char *name)
{
	struct ckt_err err = CKT_ERR_INIT;
	char *data = NULL;
	size_t len;
	if (ckt_read_file_at(rfd, name, 1 << 20, &data, &len, &err) < 0)
		return NULL;
	return data;
}

static void check_semantics(void **state, const char *rootname)
{
	_cleanup_free_ char *root = tpath(state, rootname);
	assert_int_equal(mkdir(root, 0755), 0);
	_cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY);
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_(img_apply_freep) struct img_apply *a = img_apply_new(rfd, 0);
	struct stat st;

	static const struct ent l1[] = {
		{ "d/", 'd' },	       { "d/old", 'f', "old" },	    { "o/", 'd' },
		{ "o/sub/", 'd' },    { "o/sub/lower", 'f', "x" }, { "t", 'f', "target" },
		{ "swap", 'f', "file" }, { "gone", 'f', "gone" },
	};
	assert_ok(apply(state, a, l1, ARRAY_SIZE(l1), C_GZIP, false, &err), err);
	/* layer 2 in an awkward order: the re-created d's entry comes before
	 * its whiteout, the opaque marker after this layer's own o/sub/new */
	static const struct ent l2[] = {
		{ "d/", 'd' },	       { "d/new", 'f', "new" },	 { ".wh.d", 'f', "" },
		{ "o/sub/new", 'f', "n" }, { "o/.wh..wh..opq", 'f', "" }, { "hl", 'h', "t" },
		{ "swap/", 'd' },      { "swap/in", 'f', "in" },  { ".wh.gone", 'f', "" },
		{ "/abs", 'f', "abs" },
	};
	assert_ok(apply(state, a, l2, ARRAY_SIZE(l2), C_ZSTD, false, &err), err);
	static const struct ent l3[] = { { ".wh.t", 'f', "" }, { ".wh.missing", 'f', "" } };
	assert_ok(apply(state, a, l3, ARRAY_SIZE(l3), C_NONE, false, &err), err);
	assert_ok(img_apply_finish(a, &err), err);

	assert_int_equal(fstatat(rfd, "d/old", &st, 0), -1);
	_cleanup_free_ char *dnew = slurp(rfd, "d/new");
	assert_string_equal(dnew, "new");
	assert_int_equal(fstatat(rfd, "o/sub/lower", &st, 0), -1);
	_cleanup_free_ char *onew = slurp(rfd, "o/sub/new");
	assert_string_equal(onew, "n");
	assert_int_equal(fstatat(rfd, "t", &st, 0), -1);
	_cleanup_free_ char *hl = slurp(rfd, "hl");
	assert_string_equal(hl, "target");
	_cleanup_free_ char *in = slurp(rfd, "swap/in");
	assert_string_equal(in, "in");
	assert_int_equal(fstatat(rfd, "gone", &st, 0), -1);
	_cleanup_free_ char *abs = slurp(rfd, "abs");
	assert_string_equal(abs, "abs");
	assert_int_equal(fstatat(rfd, "d", &st, 0), 0);
	assert_int_equal(st.st_mtime, 1700000000);	/* after its contents */
	char d[STORE_DIGEST_MAX];
	assert_int_equal(fstatat(rfd, "hl", &st, 0), 0);
	assert_true(img_apply_file_digest(a, st.st_ino, d));
}

static void test_apply_semantics(void **state)
{
	check_semantics(state, "inline");
	img_apply_inline_max = 0;
	check_semantics(state, "thread");
	img_apply_inline_max = IMG_APPLY_INLINE_MAX;
	tdir_pass(state);
}

static void check_hostile(void **state, const char *prefix)
{
	static const struct {
		struct ent e[3];
		size_t n;
		const char *named;
	} cases[] = {
		{ { { "../x", 'f', "x" } }, 1, "../x" },
		{ { { "esc", 'l', "../.." }, { "esc/pwned", 'f', "x" } }, 2, "esc/pwned" },
		{ { { "esc", 'l', "/" }, { "esc/pwned", 'f', "x" } }, 2, "esc/pwned" },
		{ { { "l", 'h', "../../etc/passwd" } }, 1, "../../etc/passwd" },
		{ { { "l", 'h', "/etc/passwd" } }, 1, "etc/passwd" },
		{ { { "sub/", 'd' }, { "sub/.wh..", 'f', "" } }, 2, "sub/.wh.." },
		{ { { ".wh...", 'f', "" } }, 1, ".wh..." },
		{ { { "dir/", 'd' }, { "l", 'h', "dir" } }, 2, "'l'" },
	};
	_cleanup_free_ char *canary = tpath(state, "pwned");
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *name = xasprintf("%s%zu", prefix, i);
		_cleanup_free_ char *root = tpath(state, name);
		assert_int_equal(mkdir(root, 0755), 0);
		_cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY);
		struct ckt_err err = CKT_ERR_INIT;
		_cleanup_(img_apply_freep) struct img_apply *a = img_apply_new(rfd, 0);
		assert_err(apply(state, a, cases[i].e, cases[i].n, C_GZIP, false, &err), err,
			   CKT_EFORMAT);
		assert_contains(err.what, cases[i].named);
		assert_int_equal(access(canary, F_OK), -1);
	}
}

/* both ways: decoded inline (small layers) and by a second thread */
static void test_apply_hostile(void **state)
{
	check_hostile(state, "inline");
	img_apply_inline_max = 0;
	check_hostile(state, "thread");
	img_apply_inline_max = IMG_APPLY_INLINE_MAX;
	tdir_pass(state);
}

static void test_apply_diff_id(void **state)
{
	_cleanup_free_ char *root = tpath(state, "root");
	assert_int_equal(mkdir(root, 0755), 0);
	_cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY);
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_(img_apply_freep) struct img_apply *a = img_apply_new(rfd, 0);
	static const struct ent l[] = { { "f", 'f', "data" } };
	assert_err(apply(state, a, l, 1, C_GZIP, true, &err), err, CKT_EVERIFY);
	assert_contains(err.why, "diff_id");
	ckt_err_clear(&err);
	assert_err(apply(state, a, l, 1, C_ZSTD, true, &err), err, CKT_EVERIFY);
	tdir_pass(state);
}

static void test_apply_rootless(void **state)
{
	_cleanup_free_ char *root = tpath(state, "root");
	assert_int_equal(mkdir(root, 0755), 0);
	_cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY);
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_(img_apply_freep) struct img_apply *a = img_apply_new(rfd, IMG_APPLY_ROOTLESS);
	/* a read-only directory still receives its contents */
	static const struct ent l[] = { { "ro/", 'd', NULL, 0555 }, { "ro/f", 'f', "x", 0400 } };
	assert_ok(apply(state, a, l, ARRAY_SIZE(l), C_GZIP, false, &err), err);
	assert_ok(img_apply_finish(a, &err), err);
	struct stat st;
	assert_int_equal(fstatat(rfd, "ro", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0555);
	assert_int_equal(fstatat(rfd, "ro/f", &st, 0), 0);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(fchmodat(rfd, "ro", 0755, 0), 0);
	tdir_pass(state);
}

/* One stream, two trees: the same result in both; a hostile entry fails
 * both and names the entry. */
static void test_apply_tee(void **state)
{
	_cleanup_free_ char *r1 = tpath(state, "one");
	_cleanup_free_ char *r2 = tpath(state, "two");
	assert_int_equal(mkdir(r1, 0755), 0);
	assert_int_equal(mkdir(r2, 0755), 0);
	_cleanup_close_ int f1 = open(r1, O_RDONLY | O_DIRECTORY);
	_cleanup_close_ int f2 = open(r2, O_RDONLY | O_DIRECTORY);
	_cleanup_(img_apply_freep) struct img_apply *a = img_apply_new(f1, 0);
	_cleanup_(img_apply_freep) struct img_apply *b = img_apply_new(f2, IMG_APPLY_QUIET);
	struct img_apply *as[] = { a, b };
	struct ckt_err err = CKT_ERR_INIT;
	/* bigger than the stream's buffers together, so they are reused */
	char *big = xmalloc(6u << 20);
	for (size_t i = 0; i < (6u << 20) - 1; i++)
		big[i] = (char)('a' + (i * 7919) % 26);
	big[(6u << 20) - 1] = '\0';
	const struct ent l[] = { { "d/", 'd' }, { "d/big", 'f', big }, { "l", 'l', "d/big" } };
	_cleanup_free_ char *path = tpath(state, "layer");
	char diff_id[STORE_DIGEST_MAX];
	write_layer(path, l, ARRAY_SIZE(l), C_GZIP, diff_id);
	_cleanup_close_ int fd = open(path, O_RDONLY);
	assert_ok(img_apply_layer_tee(as, 2, fd, IMG_COMPRESS_GZIP, diff_id, "tee", &err), err);
	_cleanup_free_ char *b1 = slurp(f1, "d/big");
	assert_null(b1);	/* larger than slurp's limit: compare sizes */
	struct stat s1, s2;
	assert_int_equal(fstatat(f1, "d/big", &s1, 0), 0);
	assert_int_equal(fstatat(f2, "d/big", &s2, 0), 0);
	assert_int_equal(s1.st_size, (6u << 20) - 1);
	assert_int_equal(s2.st_size, s1.st_size);
	assert_int_not_equal(s1.st_ino, s2.st_ino);
	char d1[STORE_DIGEST_MAX], d2[STORE_DIGEST_MAX];
	assert_true(img_apply_file_digest(a, s1.st_ino, d1));
	assert_true(img_apply_file_digest(b, s2.st_ino, d2));
	assert_string_equal(d1, d2);
	free(big);

	const struct ent bad[] = { { "ok", 'f', "x" }, { "esc", 'l', "/" }, { "esc/pwned", 'f', "x" } };
	_cleanup_free_ char *bpath = tpath(state, "bad");
	write_layer(bpath, bad, ARRAY_SIZE(bad), C_ZSTD, diff_id);
	_cleanup_close_ int bfd = open(bpath, O_RDONLY);
	assert_err(img_apply_layer_tee(as, 2, bfd, IMG_COMPRESS_ZSTD, diff_id, "tee", &err), err,
		   CKT_EFORMAT);
	assert_contains(err.what, "esc/pwned");
	tdir_pass(state);
}

/* Layers that are several gzip members read as one stream, on the reader's
 * thread (small) and through the producer thread; a member followed by
 * junk, cut short or with a wrong CRC-32 is refused. */
static void test_apply_gzip_members(void **state)
{
	static char big[300 << 10];
	for (size_t i = 0; i < sizeof(big) - 1; i++)
		big[i] = (char)('a' + (i * 7 + i / 13) % 26);
	static const struct ent l[] = { { "d/", 'd' }, { "d/big", 'f', big }, { "small", 'f', "s" } };
	long saved = img_apply_inline_max;
	for (int pass = 0; pass < 2; pass++) {
		img_apply_inline_max = pass ? 0 : saved;
		char name[16];
		snprintf(name, sizeof(name), "root%d", pass);
		_cleanup_free_ char *root = tpath(state, name);
		assert_int_equal(mkdir(root, 0755), 0);
		_cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY);
		struct ckt_err err = CKT_ERR_INIT;
		_cleanup_(img_apply_freep) struct img_apply *a = img_apply_new(rfd, 0);
		assert_ok(apply(state, a, l, 3, C_GZIP3, false, &err), err);
		_cleanup_free_ char *got = slurp(rfd, "d/big");
		assert_non_null(got);
		assert_string_equal(got, big);
		_cleanup_free_ char *s = slurp(rfd, "small");
		assert_string_equal(s, "s");

		assert_err(apply(state, a, l, 3, C_GZIP_JUNK, false, &err), err, CKT_EFORMAT);
		assert_contains(err.what, "gzip");
		ckt_err_clear(&err);
		assert_err(apply(state, a, l, 3, C_GZIP_CUT, false, &err), err, CKT_EFORMAT);
		assert_contains(err.why, "truncated gzip input");
		ckt_err_clear(&err);
		assert_err(apply(state, a, l, 3, C_GZIP_CRC, false, &err), err, CKT_EFORMAT);
		assert_contains(err.why, "checksum");
		ckt_err_clear(&err);
	}
	img_apply_inline_max = saved;
	tdir_pass(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_name),
		TDIR_TEST(test_resolve_openat2),
		TDIR_TEST(test_resolve_walk),
		cmocka_unit_test(test_rootless_codec),
		cmocka_unit_test(test_chain_ids),
		TDIR_TEST(test_apply_semantics),
		TDIR_TEST(test_apply_hostile),
		TDIR_TEST(test_apply_diff_id),
		TDIR_TEST(test_apply_gzip_members),
		TDIR_TEST(test_apply_rootless),
		TDIR_TEST(test_apply_tee),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
