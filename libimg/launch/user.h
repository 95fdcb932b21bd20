#pragma once
/* Users and groups of a container, resolved through the container's own
 * /etc/passwd and /etc/group (as runc's GetExecUser and the appc executor
 * do), never through the host's NSS. */
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

struct launch_ids {
	uid_t uid;
	gid_t gid;
	gid_t *groups;		/* supplementary groups (memberships in /etc/group) */
	size_t n_groups;
	char *home;		/* from /etc/passwd, else "/" */
};

/* Open path (absolute or relative) inside the tree at rootfd, resolving
 * every symlink and ".." as if rootfd were "/" (openat2 RESOLVE_IN_ROOT),
 * so an image cannot point us at a host file.  Returns an fd or -1 with
 * errno set. */
int launch_open_in_root(int rootfd, const char *path, int flags, mode_t mode);

/* Resolve spec "USER[:GROUP]" (names or numbers; NULL or "" is root) in the
 * tree at rootfd.  A name missing from the image's files is CKT_ENOTFOUND;
 * a number missing from /etc/passwd is used as is with group 0 and home "/".
 * out->groups is newly allocated (free with launch_ids_release). */
int launch_user_resolve(int rootfd, const char *spec, struct launch_ids *out,
			struct ckt_err *err);
void launch_ids_release(struct launch_ids *ids);
