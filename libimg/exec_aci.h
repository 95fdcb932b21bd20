#pragma once
/* Running an appc image by its own manifest (issue 5, APPC-NOTES §6, the
 * appc executor spec): the image manifest that ckt-exec-prepare records for
 * an image rendered from an ACI (libimg/launch/prepared.h) becomes the
 * process's user, environment and working directory, volumes on its
 * mountPoints, and the isolators' limits, capabilities and no_new_privs.
 *
 * Like libimg/exec.c: base/, jansson and the launcher only, so ckt-exec
 * stays light.
 *
 * - user/group: names (the image's /etc/passwd and /etc/group, by the
 *   launcher), numbers, or "/path": the owner (group) of that path in the
 *   rootfs, resolved inside it (no symlink leaves it; a rootless snapshot's
 *   user.rootlesscontainers owner counts).  The supplementary groups are
 *   app.supplementaryGIDs (or the spec example's supplementaryGids) and
 *   only those: the spec adds no memberships from the image's /etc/group.
 * - environment: the manifest's, PATH (appc's default) and container=ckt when
 *   missing, and AC_APP_NAME always (the last component of the image name as
 *   an AC name, as rkt names a single app).
 * - workingDirectory must exist in the rootfs (CKT_ENOTFOUND otherwise).
 * - mountPoints: a volume given for the name binds its host path there;
 *   without one the mountPoint gets an empty tmpfs (rkt's implicit "empty"
 *   volume).  Read-only when the volume says so, else as the mountPoint's
 *   readOnly (rkt's IsMountReadOnly).
 * - isolators: resource/memory and resource/cpu "limit" (Kubernetes
 *   quantities), os/linux/capabilities-retain-set and -remove-set (of the
 *   14 default capabilities, appc = docker's default), and
 *   os/linux/no-new-privileges.  Every other isolator is named in a warning
 *   on stderr and ignored; enforced ones are logged at info level. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "libimg/launch/launch.h"

/* A volume for the mountPoint called name (rkt's --volume NAME,kind=...). */
struct img_exec_aci_volume {
	const char *name;
	const char *source;	/* host path, or NULL: an empty tmpfs */
	int read_only;		/* -1: the mountPoint's readOnly; else 0 or 1 */
};

struct img_exec_aci {
	char *app_name;
	char **env;		/* the process environment before --env */
	char *user;		/* "USER:GROUP" for the launcher */
	gid_t *groups;		/* app.supplementaryGIDs (NULL when none) */
	size_t n_groups;
	char *workdir;		/* NULL: "/" */
	struct launch_mount *mounts;	/* one per mountPoint, in manifest order */
	size_t n_mounts;
	char **strs;		/* the strings the mounts point into */
	struct launch_limits limits;	/* 0: no isolator */
	uint64_t caps;		/* bounding set; valid with caps_set */
	bool caps_set;
	bool no_new_privs;
};

/* Read the appc image manifest json for an image whose tree is rootfs,
 * with the volumes vols given for its mountPoints (a name that is no
 * mountPoint is CKT_EUSAGE).  check_workdir: the manifest's
 * workingDirectory must exist (not when --workdir replaces it).  Malformed
 * manifests and isolators are CKT_EFORMAT. */
int img_exec_aci_load(const char *json, const char *rootfs, const struct img_exec_aci_volume *vols,
		      size_t n_vols, bool check_workdir, struct img_exec_aci *out,
		      struct ckt_err *err);
void img_exec_aci_release(struct img_exec_aci *a);

/* Parse a Kubernetes resource quantity ("128Mi", "1G", "500m", "1.5",
 * "2e3") into units of 1/scale (scale 1 for bytes, 1000 for milli-CPUs),
 * rounded up.  CKT_EFORMAT when malformed, negative or too large. */
int img_exec_aci_quantity(const char *s, uint64_t scale, uint64_t *out, struct ckt_err *err);
