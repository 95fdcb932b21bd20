#pragma once
/* From an image to what the launcher runs (issue 5): the process (docker's
 * rules for Entrypoint, Cmd, Env, User and WorkingDir and their overrides)
 * and the per-container overlay directories above the image's snapshot
 * (libimg/unpack.h builds it).  base/ only, like the launcher: ckt-exec
 * links nothing heavier (see libimg/launch/prepared.h). */
#include <stdbool.h>

#include "base/err.h"
#include "libimg/manifest.h"

struct img_exec_overrides {
	bool entrypoint_set;		/* --entrypoint given ("" clears it) */
	const char *entrypoint;
	char *const *cmd;		/* -- CMD..., or NULL: the image's Cmd */
	const char *user;		/* --user, or NULL: the image's User */
	const char *workdir;		/* --workdir, or NULL: the image's WorkingDir */
	char *const *env;		/* KEY=VALUE entries replacing the image's */
};

struct img_exec_process {
	char **argv;
	char **env;
	char *user;			/* NULL: root */
	char *cwd;			/* NULL: "/" */
};

/* Build the process of config c (NULL: an image without config, e.g.
 * --rootfs) with overrides o, as `docker run` does: --entrypoint replaces
 * the Entrypoint and drops the image's Cmd; -- CMD replaces the Cmd; the
 * command is Entrypoint + Cmd.  An empty command is CKT_EUSAGE. */
int img_exec_process_build(const struct img_config *c, const struct img_exec_overrides *o,
			   struct img_exec_process *out, struct ckt_err *err);
void img_exec_process_release(struct img_exec_process *p);

/* The directories of one container: unless its writes are to stay in
 * memory, $STORE/containers/NAME/{upper,work,merged}. */
struct img_exec_root {
	char *dir;			/* NULL: no directory of its own */
	char *upper, *work;		/* NULL: in memory (see launch_spec) */
	char *merged;
	bool keep;			/* img_exec_root_release leaves dir in place */
};

/* With on_disk, create the container's directories for name below
 * store_root; with keep too, an existing directory of that name is reused
 * (its upper directory is the container's earlier state), and without keep
 * an existing one is CKT_EUSAGE.  Without on_disk, merged is
 * $STORE/containers, where the launcher mounts the container's own tmpfs. */
int img_exec_root_prepare(const char *store_root, const char *name, bool on_disk, bool keep,
			  struct img_exec_root *out, struct ckt_err *err);
/* Remove the container directory unless keep; free the names. */
void img_exec_root_release(struct img_exec_root *r);
