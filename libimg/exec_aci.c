#include "libimg/exec_aci.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "libimg/launch/user.h"
#include "libimg/lazylib.h"

/* jansson, loaded on first use (libimg/lazylib.h): only an appc image
 * needs it, and mapping it costs every container start ~0.1 ms.  The
 * Makefile finds its soname. */
#define ACI_JANSSON_FUNCS(X) \
	X(json_array_get)    \
	X(json_array_size)   \
	X(json_delete)       \
	X(json_integer_value) \
	X(json_loads)        \
	X(json_object_get)   \
	X(json_string_value)

static struct {
#define ACI_JANSSON_PTR(f) __typeof__(f) *f;
	ACI_JANSSON_FUNCS(ACI_JANSSON_PTR)
#undef ACI_JANSSON_PTR
} jansson_fns;

static void bind_jansson(void *h)
{
#define ACI_JANSSON_BIND(f) \
	jansson_fns.f = (__typeof__(jansson_fns.f))img_lazylib_sym(h, IMG_LIBJANSSON_SONAME, #f);
	ACI_JANSSON_FUNCS(ACI_JANSSON_BIND)
#undef ACI_JANSSON_BIND
}

static struct img_lazylib jansson_lib = { .soname = IMG_LIBJANSSON_SONAME, .bind = bind_jansson };

static const __typeof__(jansson_fns) *jansson(void)
{
	img_lazylib_need(&jansson_lib);
	return &jansson_fns;
}

#define json_array_get(...) (jansson()->json_array_get(__VA_ARGS__))
#define json_array_size(...) (jansson()->json_array_size(__VA_ARGS__))
#define json_integer_value(...) (jansson()->json_integer_value(__VA_ARGS__))
#define json_loads(...) (jansson()->json_loads(__VA_ARGS__))
#define json_object_get(...) (jansson()->json_object_get(__VA_ARGS__))
#define json_string_value(...) (jansson()->json_string_value(__VA_ARGS__))
/* jansson.h's inline json_decref would call json_delete directly. */
#define json_decref(j) aci_json_decref(j)

static void aci_json_decref(json_t *j)
{
	if (j && j->refcount != (size_t)-1 && JSON_INTERNAL_DECREF(j) == 0)
		jansson()->json_delete(j);
}

/* Capability numbers (linux/capability.h), by name without "CAP_". */
static const char *const cap_names[] = {
	"CHOWN",	 "DAC_OVERRIDE",   "DAC_READ_SEARCH", "FOWNER",	      "FSETID",
	"KILL",		 "SETGID",	   "SETUID",	      "SETPCAP",      "LINUX_IMMUTABLE",
	"NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",     "NET_RAW",      "IPC_LOCK",
	"IPC_OWNER",	 "SYS_MODULE",	   "SYS_RAWIO",	      "SYS_CHROOT",   "SYS_PTRACE",
	"SYS_PACCT",	 "SYS_ADMIN",	   "SYS_BOOT",	      "SYS_NICE",     "SYS_RESOURCE",
	"SYS_TIME",	 "SYS_TTY_CONFIG", "MKNOD",	      "LEASE",	      "AUDIT_WRITE",
	"AUDIT_CONTROL", "SETFCAP",	   "MAC_OVERRIDE",    "MAC_ADMIN",    "SYSLOG",
	"WAKE_ALARM",	 "BLOCK_SUSPEND",  "AUDIT_READ",      "PERFMON",      "BPF",
	"CHECKPOINT_RESTORE",
};

static int cap_number(const char *name)
{
	if (!strncasecmp(name, "CAP_", 4))
		name += 4;
	for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
		if (!strcasecmp(name, cap_names[i]))
			return (int)i;
	return -1;
}

int img_exec_aci_quantity(const char *s, uint64_t scale, uint64_t *out, struct ckt_err *err)
{
	static const struct {
		const char *suffix;
		long double mult;
	} units[] = {
		{ "Ki", 0x1p10L }, { "Mi", 0x1p20L }, { "Gi", 0x1p30L }, { "Ti", 0x1p40L },
		{ "Pi", 0x1p50L }, { "Ei", 0x1p60L }, { "n", 1e-9L },	 { "u", 1e-6L },
		{ "m", 1e-3L },	   { "k", 1e3L },     { "M", 1e6L },	 { "G", 1e9L },
		{ "T", 1e12L },	   { "P", 1e15L },    { "E", 1e18L },	 { "", 1 },
	};
	const char *p = s;
	_cleanup_free_ char *num = NULL;
	if (*p == '+')
		p++;
	size_t digits = strspn(p, "0123456789."), dots = 0;
	for (size_t i = 0; i < digits; i++)
		dots += p[i] == '.';
	if (!digits || dots > 1 || digits == dots)
		goto bad;
	num = xstrndup(p, digits);
	long double v = strtold(num, NULL);
	const char *suf = p + digits;
	if ((*suf == 'e' || *suf == 'E') && suf[1] &&
	    strspn(suf + 1 + (suf[1] == '-' || suf[1] == '+'), "0123456789") ==
		    strlen(suf + 1 + (suf[1] == '-' || suf[1] == '+')) &&
	    strlen(suf + 1 + (suf[1] == '-' || suf[1] == '+'))) {
		long e = strtol(suf + 1, NULL, 10);
		if (e > 30 || e < -30)
			goto bad;
		for (; e > 0; e--)
			v *= 10;
		for (; e < 0; e++)
			v /= 10;
	} else {
		size_t i;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (!strcmp(suf, units[i].suffix))
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			goto bad;
		v *= units[i].mult;
	}
	v *= (long double)scale;
	if (v >= 0x1p63L)
		goto bad;
	*out = (uint64_t)v;
	if ((long double)*out < v)
		(*out)++; /* rounded up */
	return 0;
bad:
	return ckt_err_fail(err, CKT_EFORMAT, "invalid resource quantity '%s'", s);
}

/* The last component of the image name as an AC name ([a-z0-9-]). */
static char *app_name(const char *image)
{
	const char *base = image ? strrchr(image, '/') : NULL;
	base = base ? base + 1 : image ? image : "";
	char *n = xstrdup(base);
	for (char *c = n; *c; c++) {
		*c = (char)tolower((unsigned char)*c);
		if (!isdigit((unsigned char)*c) && !(*c >= 'a' && *c <= 'z'))
			*c = '-';
	}
	size_t len = strlen(n), start = strspn(n, "-");
	while (len > start && n[len - 1] == '-')
		n[--len] = '\0';
	memmove(n, n + start, len - start + 1);
	if (!*n) {
		free(n);
		n = xstrdup("app");
	}
	return n;
}

/* One varint field of umoci's Resource message (field 1 uid, 2 gid). */
static bool rootless_owner(int fd, bool group, unsigned long *out)
{
	unsigned char buf[32];
	ssize_t n = fgetxattr(fd, "user.rootlesscontainers", buf, sizeof(buf));
	uint32_t val[3] = { 0, 0, 0 };
	if (n < 0)
		return false;
	for (ssize_t i = 0; i < n;) {
		unsigned tag = buf[i++];
		uint64_t v = 0;
		for (int shift = 0; i < n && shift < 64; shift += 7) {
			v |= (uint64_t)(buf[i] & 0x7f) << shift;
			if (!(buf[i++] & 0x80))
				break;
		}
		if ((tag & 7) != 0)
			return false;
		if ((tag >> 3) == 1 || (tag >> 3) == 2)
			val[tag >> 3] = (uint32_t)v;
	}
	*out = val[group ? 2 : 1];
	return true;
}

/* A user or group of the manifest for the launcher: "/path" becomes the
 * owner (group) of path inside the rootfs as a number. */
static char *resolve_owner(int rootfd, const char *v, bool group, struct ckt_err *err)
{
	if (v[0] != '/')
		return xstrdup(v);
	int fd = launch_open_in_root(rootfd, v, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	if (fd < 0)
		fd = launch_open_in_root(rootfd, v, O_PATH, 0);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		ckt_err_sys(err, CKT_ENOTFOUND, "the appc image's %s '%s' (the owner of a path) "
			    "does not exist in its rootfs", group ? "group" : "user", v);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	unsigned long id = group ? st.st_gid : st.st_uid;
	if (geteuid() != 0)
		rootless_owner(fd, group, &id);
	close(fd);
	return xasprintf("%lu", id);
}

static void push_str(char ***v, size_t *n, char *s)
{
	*v = xreallocarray(*v, *n + 2, sizeof(char *));
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

static bool env_has(char **env, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], key, kl) && env[i][kl] == '=')
			return true;
	return false;
}

static int mount_points(json_t *app, const struct img_exec_aci_volume *vols, size_t n_vols,
			struct img_exec_aci *a, struct ckt_err *err)
{
	json_t *mps = json_object_get(app, "mountPoints"), *mp;
	size_t i, n_strs = 0;
	for (size_t k = 0; k < n_vols; k++) {
		bool found = false;
		json_array_foreach(mps, i, mp)
			found |= !strcmp(json_string_value(json_object_get(mp, "name")) ?: "",
					 vols[k].name);
		if (!found)
			return ckt_err_fail(err, CKT_EUSAGE,
					    "volume '%s': the appc image has no mountPoint of "
					    "that name", vols[k].name);
	}
	a->mounts = xcalloc(json_array_size(mps) + 1, sizeof(*a->mounts));
	json_array_foreach(mps, i, mp) {
		const char *name = json_string_value(json_object_get(mp, "name"));
		const char *path = json_string_value(json_object_get(mp, "path"));
		if (!name || !path || path[0] != '/')
			return ckt_err_fail(err, CKT_EFORMAT,
					    "the appc image's mountPoint %zu needs a name and an "
					    "absolute path", i);
		const struct img_exec_aci_volume *v = NULL;
		for (size_t k = 0; k < n_vols; k++)
			if (!strcmp(vols[k].name, name))
				v = &vols[k];
		bool ro = v && v->read_only >= 0 ? v->read_only
						 : json_is_true(json_object_get(mp, "readOnly"));
		char *target = xstrdup(path);
		push_str(&a->strs, &n_strs, target);
		if (v && v->source) {
			a->mounts[a->n_mounts++] =
				(struct launch_mount){ LAUNCH_MOUNT_BIND, v->source, target, ro };
			ckt_info("mountPoint '%s' (%s): %s%s", name, path, v->source,
				 ro ? ", read-only" : "");
		} else {
			a->mounts[a->n_mounts++] =
				(struct launch_mount){ LAUNCH_MOUNT_TMPFS, NULL, target, ro };
			ckt_info("mountPoint '%s' (%s): an empty volume", name, path);
		}
	}
	return 0;
}

static int capability_set(json_t *value, const char *name, bool retain, struct img_exec_aci *a,
			  struct ckt_err *err)
{
	json_t *set = json_object_get(value, "set"), *c;
	size_t i;
	uint64_t mask = 0;
	if (a->caps_set)
		return ckt_err_fail(err, CKT_EFORMAT,
				    "isolator %s: capabilities-retain-set and -remove-set are "
				    "mutually exclusive", name);
	if (!json_is_array(set) || !json_array_size(set))
		return ckt_err_fail(err, CKT_EFORMAT, "isolator %s: \"set\" must be a non-empty "
				    "list of capabilities", name);
	json_array_foreach(set, i, c) {
		int n = json_is_string(c) ? cap_number(json_string_value(c)) : -1;
		if (n < 0)
			return ckt_err_fail(err, CKT_EFORMAT, "isolator %s: unknown capability %s",
					    name, json_is_string(c) ? json_string_value(c) : "(not a string)");
		mask |= 1ull << n;
	}
	a->caps = retain ? mask : launch_caps_default() & ~mask;
	a->caps_set = true;
	if (!a->caps)
		return ckt_err_fail(err, CKT_EFORMAT,
				    "isolator %s leaves no capability in the bounding set, which "
				    "ckt-exec cannot express; retain at least one", name);
	return 0;
}

static int limit(json_t *value, const char *name, uint64_t scale, uint64_t *out,
		 struct ckt_err *err)
{
	json_t *l = json_object_get(value, "limit");
	if (!l) {
		ckt_warn("isolator %s has no limit (a request alone is not enforced); ignored", name);
		return 0;
	}
	if (!json_is_string(l) || img_exec_aci_quantity(json_string_value(l), scale, out, err) < 0)
		return ckt_err_fail(err, CKT_EFORMAT, "isolator %s: invalid limit", name);
	if (!*out)
		return ckt_err_fail(err, CKT_EFORMAT, "isolator %s: a zero limit", name);
	ckt_info("isolator %s: limit %s", name, json_string_value(l));
	return 0;
}

static int isolators(json_t *app, struct img_exec_aci *a, struct ckt_err *err)
{
	json_t *iso = json_object_get(app, "isolators"), *x;
	size_t i;
	json_array_foreach(iso, i, x) {
		const char *name = json_string_value(json_object_get(x, "name"));
		json_t *value = json_object_get(x, "value");
		int ret = 0;
		if (!name)
			return ckt_err_fail(err, CKT_EFORMAT, "the appc image's isolator %zu has no "
					    "name", i);
		if (!strcmp(name, "resource/memory")) {
			ret = limit(value, name, 1, &a->limits.memory, err);
		} else if (!strcmp(name, "resource/cpu")) {
			ret = limit(value, name, 1000, &a->limits.cpu_milli, err);
		} else if (!strcmp(name, "os/linux/capabilities-retain-set") ||
			   !strcmp(name, "os/linux/capabilities-remove-set")) {
			ret = capability_set(value, name, strstr(name, "retain") != NULL, a, err);
			if (ret == 0)
				ckt_info("isolator %s: bounding set %#llx", name,
					 (unsigned long long)a->caps);
		} else if (!strcmp(name, "os/linux/no-new-privileges")) {
			if (!json_is_boolean(value))
				return ckt_err_fail(err, CKT_EFORMAT,
						    "isolator %s: the value must be true or false", name);
			a->no_new_privs = json_is_true(value);
			ckt_info("isolator %s: %s", name, a->no_new_privs ? "true" : "false");
		} else {
			ckt_warn("isolator %s is not supported by ckt-exec; ignored", name);
		}
		if (ret < 0)
			return -1;
	}
	return 0;
}

int img_exec_aci_load(const char *json, const char *rootfs, const struct img_exec_aci_volume *vols,
		      size_t n_vols, bool check_workdir, struct img_exec_aci *out,
		      struct ckt_err *err)
{
	json_error_t jerr;
	json_t *m = json_loads(json, 0, &jerr), *app, *v;
	size_t i, n_env = 0;
	int rootfd = -1;
	_cleanup_free_ char *uid = NULL, *gid = NULL;

	memset(out, 0, sizeof(*out));
	out->env = xcalloc(1, sizeof(char *));
	app = json_object_get(m, "app");
	if (!m || !json_is_object(app)) {
		ckt_err_fail(err, CKT_EFORMAT, "the appc image manifest %s",
			     m ? "has no app" : jerr.text);
		goto fail;
	}
	out->app_name = app_name(json_string_value(json_object_get(m, "name")));
	rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		ckt_err_sys(err, CKT_EIO, "open the image's tree '%s'", rootfs);
		goto fail;
	}

	const char *u = json_string_value(json_object_get(app, "user"));
	const char *g = json_string_value(json_object_get(app, "group"));
	uid = u && *u ? resolve_owner(rootfd, u, false, err) : xstrdup("0");
	gid = !uid ? NULL : g && *g ? resolve_owner(rootfd, g, true, err) : xstrdup("0");
	if (!uid || !gid)
		goto fail;
	out->user = xasprintf("%s:%s", uid, gid);
	json_t *sg = json_object_get(app, "supplementaryGIDs");
	if (!sg)
		sg = json_object_get(app, "supplementaryGids");
	if (sg && !json_is_null(sg)) {
		if (!json_is_array(sg)) {
			ckt_err_fail(err, CKT_EFORMAT, "the appc image's supplementaryGIDs is not an "
				     "array");
			goto fail;
		}
		out->groups = xcalloc(json_array_size(sg) + 1, sizeof(gid_t));
		json_array_foreach(sg, i, v) {
			json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;
			if (n < 0 || n >= (json_int_t)UINT32_MAX) {
				ckt_err_fail(err, CKT_EFORMAT, "the appc image's supplementaryGIDs[%zu] "
					     "is not a group id", i);
				goto fail;
			}
			out->groups[out->n_groups++] = (gid_t)n;
		}
	}

	json_array_foreach(json_object_get(app, "environment"), i, v) {
		const char *k = json_string_value(json_object_get(v, "name"));
		const char *val = json_string_value(json_object_get(v, "value"));
		if (!k || !*k || strchr(k, '=') || !val) {
			ckt_err_fail(err, CKT_EFORMAT, "the appc image's environment entry %zu", i);
			goto fail;
		}
		if (strcmp(k, "AC_APP_NAME"))
			push_str(&out->env, &n_env, xasprintf("%s=%s", k, val));
	}
	push_str(&out->env, &n_env, xasprintf("AC_APP_NAME=%s", out->app_name));
	if (!env_has(out->env, "PATH"))
		push_str(&out->env, &n_env,
			 xstrdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
	if (!env_has(out->env, "container"))
		push_str(&out->env, &n_env, xstrdup("container=ckt"));

	const char *wd = json_string_value(json_object_get(app, "workingDirectory"));
	if (wd && *wd) {
		if (wd[0] != '/') {
			ckt_err_fail(err, CKT_EFORMAT, "the appc image's workingDirectory '%s' is "
				     "not absolute", wd);
			goto fail;
		}
		int fd = check_workdir ? launch_open_in_root(rootfd, wd, O_PATH | O_DIRECTORY, 0)
				       : -2;
		if (fd == -1) {
			ckt_err_sys(err, CKT_ENOTFOUND, "the appc image's workingDirectory '%s' is "
				    "not a directory in its rootfs", wd);
			goto fail;
		}
		if (fd >= 0)
			close(fd);
		out->workdir = xstrdup(wd);
	}
	if (mount_points(app, vols, n_vols, out, err) < 0 || isolators(app, out, err) < 0)
		goto fail;
	close(rootfd);
	json_decref(m);
	return 0;
fail:
	if (rootfd >= 0)
		close(rootfd);
	json_decref(m);
	img_exec_aci_release(out);
	return -1;
}

void img_exec_aci_release(struct img_exec_aci *a)
{
	free(a->app_name);
	ckt_strv_free(a->env);
	free(a->user);
	free(a->groups);
	free(a->workdir);
	free(a->mounts);
	ckt_strv_free(a->strs);
	memset(a, 0, sizeof(*a));
}
