#pragma once
/* Resource limits of a container: a new child cgroup of the caller's own
 * (so systemd still accounts the container to the caller's unit), in the
 * cgroup v2 hierarchy for the controllers it has, and in the v1 hierarchy of
 * each controller v2 lacks (hybrid hosts).  In v2 the caller's cgroup
 * delegates every controller it has to its children, as crun does; when it
 * holds processes (v2's no-internal-process rule), they first move into a
 * leaf "ckt-leaf" beside the containers' cgroups, as in a systemd unit with
 * Delegate=yes, and later runs from that leaf put their containers beside
 * it.  No daemon: the directories are found again through the container's
 * state file (ckt update). */
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"
#include "libimg/launch/launch.h"

#define LAUNCH_CGROUP_MAX 4

struct launch_cgroup {
	char *dirs[LAUNCH_CGROUP_MAX];	/* created directories */
	size_t n;
};

/* Create cgroup "ckt-<name>" below the caller's own for the controllers
 * the limits need (memory, cpu, pids) and write the limits.  The launcher
 * passes the container's UUID: names are unique per user only, and v1
 * hierarchies are often shared by all users' containers.  A controller no
 * hierarchy offers, or a hierarchy the caller cannot write, is an error
 * naming it; nothing is left behind on failure. */
int launch_cgroup_create(const char *name, const struct launch_limits *limits,
			 struct launch_cgroup *cg, struct ckt_err *err);
/* Write the set limits into whichever of dirs holds the controller's files. */
int launch_cgroup_set(char *const *dirs, size_t n, const struct launch_limits *limits,
		      struct ckt_err *err);
/* Move pid into every directory of cg. */
int launch_cgroup_attach(const struct launch_cgroup *cg, pid_t pid, struct ckt_err *err);
/* Remove the directories (retrying briefly while the last tasks exit) and
 * free them.  Safe on an empty cg. */
void launch_cgroup_remove(struct launch_cgroup *cg);
