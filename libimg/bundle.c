/* OCI runtime bundle config.json from an image config (issue 4).  The
 * defaults follow `runc spec` / `runc spec --rootless` (runtime-spec 1.0.2)
 * so crun and runc accept the file unchanged. */
#include "libimg/bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/xalloc.h"
#include "libimg/json.h"
#include "libimg/safepath.h"

void img_user_release(struct img_user *u)
{
	free(u->groups);
	free(u->home);
	memset(u, 0, sizeof(*u));
}

/* etc/<name> of the tree, or NULL when missing. */
static char *read_etc(int rootfd, const char *name)
{
	_cleanup_close_ int etc = img_sp_open_dir(rootfd, "etc");
	if (etc < 0)
		return NULL;
	_cleanup_close_ int fd = openat(etc, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char *data = NULL;
	size_t len;
	struct ckt_err err = CKT_ERR_INIT;
	if (fd < 0 || ckt_read_fd(fd, 4u << 20, &data, &len, &err) < 0)
		return NULL;
	return data;
}

static bool parse_id(const char *s, unsigned long *out)
{
	char *end;
	if (!*s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return !*end && !errno && *out <= 0xfffffffful;
}

/* Split a colon-separated line into at most max fields (in place). */
static size_t fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	f[n++] = line;
	for (char *p = line; *p && n < max; p++)
		if (*p == ':') {
			*p = '\0';
			f[n++] = p + 1;
		}
	return n;
}

int img_user_resolve(int rootfd, const char *spec, struct img_user *out, struct ckt_err *err)
{
	_cleanup_free_ char *user = xstrdup(spec ? spec : "");
	char *group = strchr(user, ':');
	_cleanup_free_ char *passwd = read_etc(rootfd, "passwd");
	_cleanup_free_ char *groupf = read_etc(rootfd, "group");
	unsigned long id;
	bool found = false;
	const char *uname = NULL;

	memset(out, 0, sizeof(*out));
	if (group)
		*group++ = '\0';
	for (char *line = passwd, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *f[7];
		if (fields(line, f, 7) < 7)
			continue;
		unsigned long uid, gid;
		if (!parse_id(f[2], &uid) || !parse_id(f[3], &gid))
			continue;
		bool match = *user ? (!strcmp(f[0], user) ||
				      (parse_id(user, &id) && id == uid))
				   : uid == 0;
		if (!match)
			continue;
		out->uid = (uid_t)uid;
		out->gid = (gid_t)gid;
		out->home = xstrdup(f[5]);
		uname = f[0];
		found = true;
		break;
	}
	if (!found) {
		if (*user && !parse_id(user, &id))
			return ckt_err_failw(err, CKT_EFORMAT, "no such user in the image's /etc/passwd",
					     "resolve user '%s'", spec);
		out->uid = *user ? (uid_t)id : 0;
		out->gid = 0;
	}
	if (group && *group && parse_id(group, &id)) {
		out->gid = (gid_t)id;
		group = NULL;
	}
	bool gfound = !(group && *group);
	/* explicit group by name, and supplementary groups: /etc/group
	 * entries listing the user */
	for (const char *line = groupf; line && *line;) {
		const char *nl = strchr(line, '\n');
		_cleanup_free_ char *copy = xstrndup(line, nl ? (size_t)(nl - line) : strlen(line));
		line = nl ? nl + 1 : NULL;
		char *f[4];
		unsigned long gid;
		if (fields(copy, f, 4) < 3 || !parse_id(f[2], &gid))
			continue;
		if (!gfound && !strcmp(f[0], group)) {
			out->gid = (gid_t)gid;
			gfound = true;
		}
	}
	if (!gfound)
		return ckt_err_failw(err, CKT_EFORMAT, "no such group in the image's /etc/group",
				     "resolve group '%s'", group);
	for (const char *line = groupf; uname && line && *line;) {
		const char *nl = strchr(line, '\n');
		_cleanup_free_ char *copy = xstrndup(line, nl ? (size_t)(nl - line) : strlen(line));
		line = nl ? nl + 1 : NULL;
		char *f[4];
		unsigned long gid;
		if (fields(copy, f, 4) < 4 || !parse_id(f[2], &gid) || (gid_t)gid == out->gid)
			continue;
		for (char *m = f[3], *comma; m && *m; m = comma) {
			comma = strchr(m, ',');
			if (comma)
				*comma++ = '\0';
			if (!strcmp(m, uname)) {
				out->groups = xreallocarray(out->groups, out->n_groups + 1,
							    sizeof(*out->groups));
				out->groups[out->n_groups++] = (gid_t)gid;
				break;
			}
		}
	}
	return 0;
}

static json_t *strv_json(const char *const *v)
{
	json_t *a = json_array();
	for (; v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static json_t *mount(const char *dst, const char *type, const char *src, const char *const *opts)
{
	json_t *m = json_object();
	json_object_set_new(m, "destination", json_string(dst));
	json_object_set_new(m, "type", json_string(type));
	json_object_set_new(m, "source", json_string(src));
	if (opts)
		json_object_set_new(m, "options", strv_json(opts));
	return m;
}

static json_t *mappings(unsigned long inside, unsigned long host)
{
	json_t *a = json_array();
	json_array_append_new(a, json_pack("{s:I,s:I,s:I}", "containerID", (json_int_t)inside,
					   "hostID", (json_int_t)host, "size", (json_int_t)1));
	return a;
}

static bool env_has(char **env, const char *key)
{
	size_t n = strlen(key);
	for (; env && *env; env++)
		if (!strncmp(*env, key, n) && (*env)[n] == '=')
			return true;
	return false;
}

int img_bundle_config(const struct img_config *cfg, int rootfd, bool rootless, char **out,
		      size_t *len, struct ckt_err *err)
{
	static const char *const caps[] = {
		"CAP_CHOWN",	"CAP_DAC_OVERRIDE", "CAP_FSETID",	    "CAP_FOWNER",
		"CAP_MKNOD",	"CAP_NET_RAW",	    "CAP_SETGID",	    "CAP_SETUID",
		"CAP_SETFCAP",	"CAP_SETPCAP",	    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
		"CAP_KILL",	"CAP_AUDIT_WRITE",  NULL,
	};
	static const char *const masked[] = {
		"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
		"/proc/scsi", NULL,
	};
	static const char *const ro[] = { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
					  "/proc/sysrq-trigger", NULL };
	struct img_user user = { 0 };
	_cleanup_json_ json_t *root = json_object();

	if (img_user_resolve(rootfd, cfg->user, &user, err) < 0)
		return ckt_err_wrap(err, "bundle config");
	size_t nargs = 0;
	for (char **p = cfg->entrypoint; p && *p; p++)
		nargs++;
	for (char **p = cfg->cmd; p && *p; p++)
		nargs++;
	if (!nargs) {
		img_user_release(&user);
		return ckt_err_fail(err, CKT_EFORMAT,
				    "bundle config: the image has neither Entrypoint nor Cmd");
	}

	json_t *args = json_array();
	for (char **p = cfg->entrypoint; p && *p; p++)
		json_array_append_new(args, json_string(*p));
	for (char **p = cfg->cmd; p && *p; p++)
		json_array_append_new(args, json_string(*p));
	json_t *env = strv_json((const char *const *)cfg->env);
	if (!env_has(cfg->env, "PATH"))
		json_array_append_new(env, json_string("PATH=/usr/local/sbin:/usr/local/bin:"
						       "/usr/sbin:/usr/bin:/sbin:/bin"));
	if (!env_has(cfg->env, "HOME")) {
		_cleanup_free_ char *h =
			xasprintf("HOME=%s", user.home && *user.home ? user.home : "/");
		json_array_append_new(env, json_string(h));
	}

	json_t *u = json_pack("{s:I,s:I}", "uid", (json_int_t)user.uid, "gid", (json_int_t)user.gid);
	if (user.n_groups && !rootless) {
		json_t *g = json_array();
		for (size_t i = 0; i < user.n_groups; i++)
			json_array_append_new(g, json_integer(user.groups[i]));
		json_object_set_new(u, "additionalGids", g);
	}
	json_t *capset = json_pack("{s:o,s:o,s:o}", "bounding", strv_json(caps), "effective",
				   strv_json(caps), "permitted", strv_json(caps));
	json_t *process = json_pack(
		"{s:b,s:o,s:o,s:o,s:s,s:o,s:[{s:s,s:I,s:I}],s:b}", "terminal", 0, "user", u, "args",
		args, "env", env, "cwd", cfg->workdir && *cfg->workdir ? cfg->workdir : "/",
		"capabilities", capset, "rlimits", "type", "RLIMIT_NOFILE", "hard", (json_int_t)1024,
		"soft", (json_int_t)1024, "noNewPrivileges", 1);

	static const char *const o_dev[] = { "nosuid", "strictatime", "mode=755", "size=65536k", NULL };
	static const char *const o_pts[] = { "nosuid", "noexec", "newinstance", "ptmxmode=0666",
					     "mode=0620", "gid=5", NULL };
	static const char *const o_pts_rl[] = { "nosuid", "noexec", "newinstance", "ptmxmode=0666",
						"mode=0620", NULL };
	static const char *const o_shm[] = { "nosuid", "noexec", "nodev", "mode=1777",
					     "size=65536k", NULL };
	static const char *const o_mq[] = { "nosuid", "noexec", "nodev", NULL };
	static const char *const o_sys[] = { "nosuid", "noexec", "nodev", "ro", NULL };
	static const char *const o_sys_rl[] = { "rbind", "nosuid", "noexec", "nodev", "ro", NULL };
	json_t *mounts = json_array();
	json_array_append_new(mounts, mount("/proc", "proc", "proc", NULL));
	json_array_append_new(mounts, mount("/dev", "tmpfs", "tmpfs", o_dev));
	json_array_append_new(mounts, mount("/dev/pts", "devpts", "devpts",
					    rootless ? o_pts_rl : o_pts));
	json_array_append_new(mounts, mount("/dev/shm", "tmpfs", "shm", o_shm));
	json_array_append_new(mounts, mount("/dev/mqueue", "mqueue", "mqueue", o_mq));
	if (rootless)
		json_array_append_new(mounts, mount("/sys", "none", "/sys", o_sys_rl));
	else
		json_array_append_new(mounts, mount("/sys", "sysfs", "sysfs", o_sys));

	json_t *ns = json_array();
	const char *nss[] = { "pid", "ipc", "uts", "mount", rootless ? "user" : "network", NULL };
	for (const char **p = nss; *p; p++)
		json_array_append_new(ns, json_pack("{s:s}", "type", *p));
	json_t *linux_ = json_pack("{s:o,s:o,s:o}", "namespaces", ns, "maskedPaths",
				   strv_json(masked), "readonlyPaths", strv_json(ro));
	if (rootless) {
		json_object_set_new(linux_, "uidMappings", mappings(user.uid, geteuid()));
		json_object_set_new(linux_, "gidMappings", mappings(user.gid, getegid()));
	} else {
		json_object_set_new(linux_, "resources",
				    json_pack("{s:[{s:b,s:s}]}", "devices", "allow", 0, "access",
					      "rwm"));
	}

	json_object_set_new(root, "ociVersion", json_string("1.0.2"));
	json_object_set_new(root, "process", process);
	json_object_set_new(root, "root", json_pack("{s:s,s:b}", "path", "rootfs", "readonly", 0));
	json_object_set_new(root, "hostname", json_string("ckt"));
	json_object_set_new(root, "mounts", mounts);
	json_object_set_new(root, "linux", linux_);
	img_user_release(&user);

	char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!s)
		return ckt_err_fail(err, CKT_ENOMEM, "bundle config: serialise");
	*len = strlen(s);
	*out = xstrdup(s);
	free(s);
	/* a final newline, as editors expect */
	*out = xrealloc(*out, *len + 2);
	(*out)[(*len)++] = '\n';
	(*out)[*len] = '\0';
	return 0;
}
