#pragma once
/* OCI runtime bundles (runtime-spec config.md) generated from an image
 * config, for `ckt-unpack --bundle` (issue 4).  The result is what
 * `runc spec` (and, unprivileged, `runc spec --rootless`) would write,
 * filled in from the image the way docker and umoci do: args are
 * Entrypoint + Cmd, env the image's Env (PATH and HOME added when
 * missing), cwd its WorkingDir, user its User resolved against the
 * image's own /etc/passwd and /etc/group. */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"
#include "libimg/manifest.h"

struct img_user {
	uid_t uid;
	gid_t gid;
	gid_t *groups;		/* supplementary groups from /etc/group */
	size_t n_groups;
	char *home;		/* from /etc/passwd, or NULL */
};
void img_user_release(struct img_user *u);

/* Resolve a docker User string ("", "name", "uid", "name:group", "uid:gid",
 * ...) against rootfd's etc/passwd and etc/group, read without leaving the
 * root (libimg/safepath).  A name that is not in the files is CKT_EFORMAT;
 * a numeric uid that is not gets gid 0, as docker does. */
int img_user_resolve(int rootfd, const char *spec, struct img_user *out, struct ckt_err *err);

/* The config.json of a bundle whose root filesystem is rootfd (for user
 * resolution) and lives in "rootfs" beside it.  rootless: a user namespace
 * mapping the image's user to the caller, no network namespace, /sys bound
 * read-only instead of mounted, no cgroup settings (runc spec --rootless).
 * *json is newly allocated. */
int img_bundle_config(const struct img_config *cfg, int rootfd, bool rootless, char **json,
		      size_t *len, struct ckt_err *err);
