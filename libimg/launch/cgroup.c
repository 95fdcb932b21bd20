#include "libimg/launch/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/path.h"
#include "base/xalloc.h"

/* Write a short string to dir/file. */
static int write_file(const char *dir, const char *file, const char *value, struct ckt_err *err)
{
	_cleanup_free_ char *path = ckt_path_join(dir, file);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return ckt_err_sys(err, CKT_EIO, "open '%s'", path);
	size_t len = strlen(value);
	if (write(fd, value, len) != (ssize_t)len)
		return ckt_err_sys(err, CKT_EIO, "write '%s' to '%s'", value, path);
	return 0;
}

static bool has_file(const char *dir, const char *file)
{
	_cleanup_free_ char *path = ckt_path_join(dir, file);
	return access(path, F_OK) == 0;
}

/* A mounted hierarchy: its mount point, the cgroup path of its root, and
 * the caller's cgroup path in it. */
struct hier {
	char *mnt;
	char *root;
	char *own;
};

static void hier_release(struct hier *h)
{
	free(h->mnt);
	free(h->root);
	free(h->own);
	memset(h, 0, sizeof(*h));
}

/* Whether the comma list opts names word. */
static bool opt_has(const char *opts, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = opts; *p;) {
		size_t l = strcspn(p, ",");
		if (l == n && !strncmp(p, word, n))
			return true;
		p += l + (p[l] == ',');
	}
	return false;
}

/* Find the hierarchy for ctrl (NULL: cgroup v2) in mountinfo and the
 * caller's cgroup in it from /proc/self/cgroup. */
static bool find_hier(const char *ctrl, struct hier *h)
{
	_cleanup_fclose_ FILE *mi = fopen("/proc/self/mountinfo", "re");
	_cleanup_fclose_ FILE *cg = NULL;
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;

	memset(h, 0, sizeof(*h));
	while (mi && getline(&line, &cap, mi) > 0) {
		/* id parent maj:min root mnt opts [optional...] - fstype source superopts */
		char root[4096], mnt[4096], fstype[64], super[1024];
		char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2 ||
		    sscanf(dash + 3, "%63s %*s %1023s", fstype, super) != 2)
			continue;
		if (ctrl ? (strcmp(fstype, "cgroup") || !opt_has(super, ctrl))
			 : strcmp(fstype, "cgroup2"))
			continue;
		h->mnt = xstrdup(mnt);
		h->root = xstrdup(root);
		break;
	}
	if (!h->mnt)
		return false;
	cg = fopen("/proc/self/cgroup", "re");
	while (cg && getline(&line, &cap, cg) > 0) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		/* "ID:CONTROLLERS:PATH"; v2's line is "0::PATH". */
		*c1 = '\0';
		*c2 = '\0';
		c2[1 + strcspn(c2 + 1, "\n")] = '\0';
		if (ctrl ? !opt_has(c1 + 1, ctrl) : (strcmp(line, "0") || c1[1]))
			continue;
		h->own = xstrdup(c2 + 1);
		break;
	}
	if (!h->own) {
		hier_release(h);
		return false;
	}
	return true;
}

/* The directory of the caller's cgroup in h. */
static char *own_dir(const struct hier *h)
{
	const char *rel = h->own;
	size_t rl = strlen(h->root);
	/* The mount may show a subtree (a container's cgroup namespace). */
	if (strcmp(h->root, "/") && !strncmp(rel, h->root, rl) && (!rel[rl] || rel[rl] == '/'))
		rel += rl;
	return ckt_path_join(h->mnt, *rel ? rel : "/");
}

/* Whether the space-separated list in dir/file names word. */
static bool file_has(const char *dir, const char *file, const char *word)
{
	_cleanup_free_ char *path = ckt_path_join(dir, file);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char w[64];
	while (f && fscanf(f, "%63s", w) == 1)
		if (!strcmp(w, word))
			return true;
	return false;
}

static int add_dir(struct launch_cgroup *cg, const char *dir, struct ckt_err *err)
{
	for (size_t i = 0; i < cg->n; i++)
		if (!strcmp(cg->dirs[i], dir))
			return 0;
	if (mkdir(dir, 0755) < 0)
		return ckt_err_sys(err, CKT_EIO, "create cgroup '%s'", dir);
	cg->dirs[cg->n++] = xstrdup(dir);
	return 0;
}

/* The leaf that holds the processes of a cgroup v2 directory whose
 * controllers are delegated to children (see v2_delegate). */
#define V2_LEAF "ckt-leaf"

/* Move every process of dir into dir/V2_LEAF. */
static int v2_empty_into_leaf(const char *dir, struct ckt_err *err)
{
	_cleanup_free_ char *leaf = ckt_path_join(dir, V2_LEAF);
	_cleanup_free_ char *procs = ckt_path_join(dir, "cgroup.procs");
	_cleanup_fclose_ FILE *f = NULL;
	char pid[32];

	if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
		return ckt_err_sys(err, CKT_EIO, "create cgroup '%s'", leaf);
	if (!(f = fopen(procs, "re")))
		return ckt_err_sys(err, CKT_EIO, "open '%s'", procs);
	while (fscanf(f, "%31s", pid) == 1) {
		struct ckt_err e = CKT_ERR_INIT;
		/* A process that exited meanwhile is no obstacle. */
		if (write_file(leaf, "cgroup.procs", pid, &e) < 0 && e.errnum != ESRCH) {
			*err = e;
			return -1;
		}
	}
	return 0;
}

/* Delegate to the children of dir (the caller's v2 cgroup) every
 * controller it has, as crun does, so that the container's limits and
 * accounting work there.  cgroup v2's no-internal-process rule refuses that
 * (EBUSY) while dir itself holds processes (ckt-exec, its caller's shell):
 * as in a systemd unit with Delegate=yes, they move first into a leaf,
 * dir/ckt-leaf, of which the container's cgroup is a sibling.  A controller
 * that cannot be delegated is an error only when need names it; in the
 * hierarchy's root (root) only those are delegated. */
static int v2_delegate(const char *dir, bool root, const char *const *need, size_t n_need,
		       struct ckt_err *err)
{
	_cleanup_free_ char *path = ckt_path_join(dir, "cgroup.controllers");
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char ctrl[64];

	while (f && fscanf(f, "%63s", ctrl) == 1) {
		bool needed = false;
		for (size_t i = 0; i < n_need; i++)
			needed |= need[i] && !strcmp(need[i], ctrl);
		/* The host's root cgroup is the host's to configure: there, only
		 * what a limit needs. */
		if ((root && !needed) || file_has(dir, "cgroup.subtree_control", ctrl))
			continue;
		_cleanup_free_ char *plus = xasprintf("+%s", ctrl);
		struct ckt_err e = CKT_ERR_INIT;
		int ret = write_file(dir, "cgroup.subtree_control", plus, &e);
		/* Processes may be forked into dir meanwhile: try twice. */
		for (int tries = 0; ret < 0 && e.errnum == EBUSY && tries < 2; tries++) {
			ckt_err_clear(&e);
			if (v2_empty_into_leaf(dir, &e) < 0)
				break;
			ret = write_file(dir, "cgroup.subtree_control", plus, &e);
		}
		if (ret < 0 && needed) {
			*err = e;
			return ckt_err_wrap(err, "delegate the %s controller", ctrl);
		}
	}
	return 0;
}

int launch_cgroup_create(const char *name, const struct launch_limits *limits,
			 struct launch_cgroup *cg, struct ckt_err *err)
{
	/* All three controllers whenever one limit is set, so that ckt update
	 * can set the others later; only the requested ones must exist. */
	static const char *const want[] = { "memory", "cpu", "pids" };
	bool need[] = { limits->memory != 0, limits->cpu_milli != 0, limits->pids != 0 };
	bool in_v2[ARRAY_SIZE(want)] = { false };
	struct hier v2;
	_cleanup_free_ char *base = NULL;
	_cleanup_free_ char *leaf = xasprintf("ckt-%s", name);

	memset(cg, 0, sizeof(*cg));
	if (!need[0] && !need[1] && !need[2])
		return 0;
	if (find_hier(NULL, &v2)) {
		base = own_dir(&v2);
		bool root = !strcmp(base, v2.mnt);
		hier_release(&v2);
		/* Moved into the leaf by an earlier run: the container's cgroup is
		 * a sibling of the leaf, never a child (no nesting run by run). */
		char *slash = strrchr(base, '/');
		if (slash && slash != base && !strcmp(slash + 1, V2_LEAF))
			*slash = '\0';
		const char *need_v2[ARRAY_SIZE(want)] = { NULL };
		bool any = false;
		for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
			in_v2[i] = file_has(base, "cgroup.controllers", want[i]);
			need_v2[i] = in_v2[i] && need[i] ? want[i] : NULL;
			any |= need_v2[i] != NULL;
		}
		/* With every limit in v1 (hybrid hosts) the container still gets
		 * a v2 cgroup, for accounting, when we may make one. */
		_cleanup_free_ char *dir = ckt_path_join(base, leaf);
		if (v2_delegate(base, root, need_v2, ARRAY_SIZE(want), err) < 0 ||
		    add_dir(cg, dir, err) < 0) {
			if (any)
				goto fail;
			ckt_err_clear(err);
			memset(in_v2, 0, sizeof(in_v2));
		}
	}

	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		if (in_v2[i])
			continue;
		struct hier h;
		if (!find_hier(want[i], &h)) {
			if (!need[i])
				continue;
			ckt_err_fail(err, CKT_EIO, "no cgroup hierarchy offers the '%s' controller",
				     want[i]);
			goto fail;
		}
		_cleanup_free_ char *own = own_dir(&h);
		hier_release(&h);
		_cleanup_free_ char *dir = ckt_path_join(own, leaf);
		if (add_dir(cg, dir, err) < 0) {
			if (!need[i] && (err->errnum == EACCES || err->errnum == EROFS)) {
				ckt_err_clear(err);
				continue;
			}
			goto fail;
		}
	}
	if (launch_cgroup_set(cg->dirs, cg->n, limits, err) < 0)
		goto fail;
	return 0;
fail:
	launch_cgroup_remove(cg);
	return ckt_err_wrap(err, "set up cgroup '%s'", leaf);
}

/* Write file in the first dir holding it; *found tells whether any did. */
static int write_first(char *const *dirs, size_t n, const char *file, const char *value,
		       bool *found, struct ckt_err *err)
{
	*found = false;
	for (size_t i = 0; i < n; i++) {
		if (!has_file(dirs[i], file))
			continue;
		*found = true;
		return write_file(dirs[i], file, value, err);
	}
	return 0;
}

static int set_memory(char *const *dirs, size_t n, uint64_t bytes, struct ckt_err *err)
{
	char v[32];
	bool found;
	snprintf(v, sizeof(v), "%" PRIu64, bytes);
	if (write_first(dirs, n, "memory.max", v, &found, err) < 0)
		return -1;
	if (found) {
		/* No swapping past the limit: docker's --memory without --memory-swap
		 * allows as much swap again; an explicit kill is what users test. */
		bool f2;
		struct ckt_err ignored = CKT_ERR_INIT;
		write_first(dirs, n, "memory.swap.max", "0", &f2, &ignored);
		return 0;
	}
	/* v1: memory+swap must stay >= memory, so the order depends on the
	 * direction of the change; try both. */
	struct ckt_err first = CKT_ERR_INIT;
	if (write_first(dirs, n, "memory.limit_in_bytes", v, &found, &first) == 0 && found) {
		bool f2;
		struct ckt_err ignored = CKT_ERR_INIT;
		write_first(dirs, n, "memory.memsw.limit_in_bytes", v, &f2, &ignored);
		return 0;
	}
	if (!found)
		return ckt_err_fail(err, CKT_EIO, "no memory controller in the container's cgroup");
	bool f2;
	if (write_first(dirs, n, "memory.memsw.limit_in_bytes", v, &f2, err) < 0 || !f2) {
		if (!f2)
			*err = first;
		return -1;
	}
	return write_first(dirs, n, "memory.limit_in_bytes", v, &found, err);
}

int launch_cgroup_set(char *const *dirs, size_t n, const struct launch_limits *limits,
		      struct ckt_err *err)
{
	char v[64];
	bool found;

	if (limits->memory && set_memory(dirs, n, limits->memory, err) < 0)
		return -1;
	if (limits->cpu_milli) {
		/* A 100 ms period, as docker's --cpus. */
		uint64_t quota = limits->cpu_milli * 100;
		snprintf(v, sizeof(v), "%" PRIu64 " 100000", quota);
		if (write_first(dirs, n, "cpu.max", v, &found, err) < 0)
			return -1;
		if (!found) {
			snprintf(v, sizeof(v), "%" PRIu64, quota);
			if (write_first(dirs, n, "cpu.cfs_period_us", "100000", &found, err) < 0 ||
			    (found && write_first(dirs, n, "cpu.cfs_quota_us", v, &found, err) < 0))
				return -1;
		}
		if (!found)
			return ckt_err_fail(err, CKT_EIO, "no cpu controller in the container's cgroup");
	}
	if (limits->pids) {
		snprintf(v, sizeof(v), "%" PRIu64, limits->pids);
		if (write_first(dirs, n, "pids.max", v, &found, err) < 0)
			return -1;
		if (!found)
			return ckt_err_fail(err, CKT_EIO, "no pids controller in the container's cgroup");
	}
	return 0;
}

int launch_cgroup_attach(const struct launch_cgroup *cg, pid_t pid, struct ckt_err *err)
{
	char v[32];
	snprintf(v, sizeof(v), "%d", (int)pid);
	for (size_t i = 0; i < cg->n; i++)
		if (write_file(cg->dirs[i], "cgroup.procs", v, err) < 0)
			return -1;
	return 0;
}

void launch_cgroup_remove(struct launch_cgroup *cg)
{
	for (size_t i = 0; i < cg->n; i++) {
		/* The kernel drops a task from its cgroup shortly after it is
		 * reaped; wait up to a second for that. */
		for (int tries = 0; rmdir(cg->dirs[i]) < 0 && errno == EBUSY && tries < 200;
		     tries++)
			nanosleep(&(struct timespec){ 0, 5 * 1000 * 1000 }, NULL);
		free(cg->dirs[i]);
		cg->dirs[i] = NULL;
	}
	cg->n = 0;
}
