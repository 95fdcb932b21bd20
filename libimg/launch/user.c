#include "libimg/launch/user.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/xalloc.h"

/* Larger account files than this are refused (they are read whole). */
#define ACCOUNT_FILE_MAX (4u << 20)

int launch_open_in_root(int rootfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)flags | O_CLOEXEC,
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	while (*path == '/')
		path++;
	if (!*path)
		path = ".";
	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

/* Parse a decimal id; false unless s is all digits and fits. */
static bool parse_id(const char *s, unsigned long *out)
{
	char *end;
	if (!*s || strspn(s, "0123456789") != strlen(s))
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && *out < 0xFFFFFFFFul;
}

/* Read etc/NAME of the image; a missing file reads as empty (*data NULL). */
static int read_account_file(int rootfd, const char *name, char **data, struct ckt_err *err)
{
	_cleanup_close_ int fd = launch_open_in_root(rootfd, name, O_RDONLY, 0);
	size_t len;
	*data = NULL;
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return ckt_err_sys(err, CKT_EIO, "open '%s' in the container", name);
	}
	if (ckt_read_fd(fd, ACCOUNT_FILE_MAX, data, &len, err) < 0)
		return ckt_err_wrap(err, "read '%s' in the container", name);
	return 0;
}

/* Split one colon-separated line into at most max fields (in place). */
static size_t split_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	f[n++] = line;
	for (char *p = line; *p && n < max; p++) {
		if (*p == ':') {
			*p = '\0';
			f[n++] = p + 1;
		}
	}
	return n;
}

/* Find a passwd entry by name (or by uid when by_uid); fills uid, gid, home. */
static bool passwd_find(char *data, const char *user, bool by_uid, unsigned long uid,
			struct launch_ids *out, char **name)
{
	char *save = NULL;
	for (char *line = data ? strtok_r(data, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[7];
		unsigned long u, g;
		if (split_fields(line, f, 7) < 7 || !parse_id(f[2], &u) || !parse_id(f[3], &g))
			continue;
		if (by_uid ? u != uid : strcmp(f[0], user) != 0)
			continue;
		out->uid = (uid_t)u;
		out->gid = (gid_t)g;
		out->home = xstrdup(*f[5] ? f[5] : "/");
		*name = xstrdup(f[0]);
		return true;
	}
	return false;
}

/* Whether name is in the comma-separated member list. */
static bool is_member(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; *p;) {
		size_t l = strcspn(p, ",");
		if (l == n && !strncmp(p, name, n))
			return true;
		p += l;
		if (*p == ',')
			p++;
	}
	return false;
}

/* Resolve group (when non-NULL) and collect name's memberships. */
static int group_scan(char *data, const char *group, const char *name, struct launch_ids *out,
		      struct ckt_err *err)
{
	bool found = false;
	unsigned long gid;
	bool numeric = group && parse_id(group, &gid);
	char *save = NULL;
	size_t alloc = 0;

	for (char *line = data ? strtok_r(data, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[4];
		unsigned long g;
		if (split_fields(line, f, 4) < 4 || !parse_id(f[2], &g))
			continue;
		if (group && !numeric && !found && !strcmp(f[0], group)) {
			out->gid = (gid_t)g;
			found = true;
		}
		if (name && is_member(f[3], name)) {
			ALLOC_GROW(out->groups, out->n_groups + 1, alloc);
			out->groups[out->n_groups++] = (gid_t)g;
		}
	}
	if (group && numeric)
		out->gid = (gid_t)gid;
	else if (group && !found)
		return ckt_err_fail(err, CKT_ENOTFOUND,
				    "unable to find group '%s' (no matching entry in /etc/group)",
				    group);
	return 0;
}

int launch_user_resolve(int rootfd, const char *spec, struct launch_ids *out,
			struct ckt_err *err)
{
	_cleanup_free_ char *user = xstrdup(spec && *spec ? spec : "0");
	_cleanup_free_ char *passwd = NULL, *group = NULL, *name = NULL;
	char *grp = strchr(user, ':');
	unsigned long uid = 0;

	memset(out, 0, sizeof(*out));
	if (grp)
		*grp++ = '\0';
	if (!*user || (grp && !*grp))
		return ckt_err_fail(err, CKT_EUSAGE, "invalid user '%s'", spec);
	if (read_account_file(rootfd, "etc/passwd", &passwd, err) < 0 ||
	    read_account_file(rootfd, "etc/group", &group, err) < 0)
		return -1;

	bool numeric = parse_id(user, &uid);
	if (!passwd_find(passwd, user, numeric, uid, out, &name)) {
		if (!numeric)
			return ckt_err_fail(err, CKT_ENOTFOUND,
					    "unable to find user '%s' (no matching entry in "
					    "/etc/passwd)", user);
		/* runc's rule: an unknown uid runs with gid 0 and home "/". */
		out->uid = (uid_t)uid;
		out->gid = 0;
		out->home = xstrdup("/");
	}
	if (group_scan(group, grp, name, out, err) < 0) {
		launch_ids_release(out);
		return -1;
	}
	return 0;
}

void launch_ids_release(struct launch_ids *ids)
{
	free(ids->groups);
	free(ids->home);
	ids->groups = NULL;
	ids->home = NULL;
	ids->n_groups = 0;
}
