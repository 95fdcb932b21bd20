#include "libimg/launch/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/path.h"
#include "base/strbuf.h"
#include "base/xalloc.h"

#define STATE_MAX (64u << 10)

char *launch_run_dir(void)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (xdg && *xdg == '/')
		return ckt_path_join(xdg, "ckt");
	if (geteuid() == 0)
		return xstrdup("/run/ckt");
	return xasprintf("/tmp/ckt-%u", (unsigned)geteuid());
}

unsigned long long launch_proc_start(pid_t pid)
{
	char path[64];
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct ckt_err err = CKT_ERR_INIT;
	unsigned long long start = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (pid <= 0 || ckt_read_file(path, 4096, &data, &len, &err) < 0)
		return 0;
	/* comm may hold spaces and parentheses: fields resume after the last ')'. */
	char *p = strrchr(data, ')');
	if (!p)
		return 0;
	/* p is at the space before field 3 (state); each step moves to the
	 * space before the next field, up to the one before field 22, the
	 * start time. */
	p++;
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (p)
		sscanf(p, " %llu", &start);
	return start;
}

bool launch_state_alive(const struct launch_state *st)
{
	return st->pid > 0 && st->pid_start && launch_proc_start(st->pid) == st->pid_start;
}

int launch_write_runtime(const char *path, const void *data, size_t len, struct ckt_err *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp-%d", path, (int)getpid());
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return ckt_err_sys(err, CKT_EIO, "create '%s'", tmp);
	if (ckt_write_all(fd, data, len, err) < 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		if (!err->code)
			ckt_err_errno(err, CKT_EIO, e, "write '%s'", path);
		return -1;
	}
	return 0;
}

/* One value per line: newlines would end it early. */
static void add_kv(struct ckt_buf *b, const char *key, const char *value)
{
	if (!value)
		return;
	ckt_buf_addf(b, "%s=", key);
	for (const char *p = value; *p; p++)
		ckt_buf_addch(b, *p == '\n' ? ' ' : *p);
	ckt_buf_addch(b, '\n');
}

/* The state as text. */
static void format_state(struct ckt_buf *b, const struct launch_state *st)
{
	char num[64];

	snprintf(num, sizeof(num), "%d", (int)st->pid);
	add_kv(b, "pid", num);
	snprintf(num, sizeof(num), "%llu", st->pid_start);
	add_kv(b, "pid_start", num);
	add_kv(b, "name", st->name);
	add_kv(b, "id", st->id);
	snprintf(num, sizeof(num), "%d", (int)st->child);
	add_kv(b, "child", num);
	snprintf(num, sizeof(num), "%llu", st->child_start);
	add_kv(b, "child_start", num);
	add_kv(b, "image", st->image);
	add_kv(b, "command", st->command);
	snprintf(num, sizeof(num), "%lld", st->started);
	add_kv(b, "started", num);
	for (char **c = st->cgroups; c && *c; c++)
		add_kv(b, "cgroup", *c);
}

static void parse_state(char *data, struct launch_state *st)
{
	size_t ncg = 0, alloc = 0;
	char *save = NULL;
	for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		const char *k = line, *v = eq + 1;
		if (!strcmp(k, "name"))
			st->name = xstrdup(v);
		else if (!strcmp(k, "id"))
			st->id = xstrdup(v);
		else if (!strcmp(k, "pid"))
			st->pid = (pid_t)strtol(v, NULL, 10);
		else if (!strcmp(k, "pid_start"))
			st->pid_start = strtoull(v, NULL, 10);
		else if (!strcmp(k, "child"))
			st->child = (pid_t)strtol(v, NULL, 10);
		else if (!strcmp(k, "child_start"))
			st->child_start = strtoull(v, NULL, 10);
		else if (!strcmp(k, "image"))
			st->image = xstrdup(v);
		else if (!strcmp(k, "command"))
			st->command = xstrdup(v);
		else if (!strcmp(k, "started"))
			st->started = strtoll(v, NULL, 10);
		else if (!strcmp(k, "cgroup")) {
			ALLOC_GROW(st->cgroups, ncg + 2, alloc);
			st->cgroups[ncg++] = xstrdup(v);
			st->cgroups[ncg] = NULL;
		}
	}
}

int launch_state_read(const char *run_dir, const char *name, struct launch_state *st,
		      struct ckt_err *err)
{
	_cleanup_free_ char *path = NULL, *data = NULL;
	size_t len;

	memset(st, 0, sizeof(*st));
	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return ckt_err_fail(err, CKT_EUSAGE, "invalid container name '%s'", name);
	path = ckt_path_join(run_dir, name);
	if (ckt_read_file(path, STATE_MAX, &data, &len, err) < 0) {
		if (err->code == CKT_ENOTFOUND) {
			ckt_err_clear(err);
			return ckt_err_fail(err, CKT_ENOTFOUND, "no such container '%s'", name);
		}
		return -1;
	}
	parse_state(data, st);
	st->path = TAKE_PTR(path);
	return 0;
}

int launch_state_claim(const char *run_dir, struct launch_state *st, struct ckt_err *err)
{
	_cleanup_free_ char *path = ckt_path_join(run_dir, st->name);
	_cleanup_buf_ struct ckt_buf b = CKT_BUF_INIT;
	_cleanup_close_ int fd = -1;

	if (ckt_mkdir_p(run_dir, 0700, err) < 0)
		return ckt_err_wrap(err, "create state directory");
	format_state(&b, st);
	for (int tries = 0; fd < 0; tries++) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			break;
		if (errno != EEXIST || tries > 0)
			return ckt_err_sys(err, CKT_EIO, "create '%s'", path);
		struct launch_state old;
		struct ckt_err ignored = CKT_ERR_INIT;
		bool live = launch_state_read(run_dir, st->name, &old, &ignored) == 0 &&
			    launch_state_alive(&old);
		launch_state_release(&old);
		if (live)
			return ckt_err_fail(err, CKT_EUSAGE, "container name '%s' is already in use",
					    st->name);
		/* A stale entry: replace it (a directory of the layout before
		 * one file per container goes too). */
		if (ckt_rm_rf(path, err) < 0)
			return -1;
	}
	if (ckt_write_all(fd, b.buf, b.len, err) < 0) {
		unlink(path);
		return -1;
	}
	st->path = TAKE_PTR(path);
	return 0;
}

static int cmp_started(const void *a, const void *b)
{
	const struct launch_state *x = a, *y = b;
	return (x->started > y->started) - (x->started < y->started);
}

int launch_state_list(const char *run_dir, struct launch_state **out, size_t *n,
		      struct ckt_err *err)
{
	_cleanup_closedir_ DIR *d = opendir(run_dir);
	struct launch_state *v = NULL;
	size_t nv = 0, alloc = 0;
	struct dirent *e;

	*out = NULL;
	*n = 0;
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return ckt_err_sys(err, CKT_EIO, "open '%s'", run_dir);
	}
	while ((e = readdir(d))) {
		struct launch_state st;
		struct ckt_err e2 = CKT_ERR_INIT;
		if (e->d_name[0] == '.')
			continue;
		if (launch_state_read(run_dir, e->d_name, &st, &e2) < 0)
			continue;
		if (!launch_state_alive(&st)) {
			/* An empty entry is one being claimed (one write follows
			 * the exclusive create): not ours to judge. */
			if (st.pid > 0)
				ckt_rm_rf(st.path, &e2);
			launch_state_release(&st);
			continue;
		}
		ALLOC_GROW(v, nv + 1, alloc);
		v[nv++] = st;
	}
	if (nv)
		qsort(v, nv, sizeof(*v), cmp_started);
	*out = v;
	*n = nv;
	return 0;
}

void launch_state_release(struct launch_state *st)
{
	free(st->name);
	free(st->id);
	free(st->image);
	free(st->command);
	free(st->path);
	ckt_strv_free(st->cgroups);
	memset(st, 0, sizeof(*st));
}

void launch_states_free(struct launch_state *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		launch_state_release(&v[i]);
	free(v);
}
