#pragma once
/* Inside the new namespaces (libimg/launch/setup.c): what the cloned child
 * does, in order, before it runs the command.  Private to the launcher. */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "libimg/launch/launch.h"
#include "libimg/launch/user.h"

/* Everything launch_run() decided before clone(); the child reads it from
 * its copy of the parent's memory. */
struct launch_ctx {
	const struct launch_spec *spec;
	bool userns;			/* a new user namespace */
	bool single_map;		/* one uid and gid mapped: no setgroups; the
					 * child writes the maps itself */
	uid_t host_uid;			/* the caller's ids, for that map */
	gid_t host_gid;
	bool devices_bind;		/* bind host device nodes: mknod is not allowed */
	struct launch_ids ids;
	const char *hostname;
	char **env;			/* final environment */
	const char *root;		/* where the root file system is mounted */
	int root_mount_fd;		/* a detached overlay made outside (fsmount), or -1 */
	const char *etc_data[3];	/* hostname, hosts, resolv.conf (NULL: none) */
	size_t etc_len[3];
	int *volume_fds;		/* bind sources, one per mount: O_PATH fds, or
					 * with trees_detached clones made by the
					 * monitor (open_tree), ready to attach */
	bool trees_detached;
	bool maps_by_monitor;		/* the monitor writes our id maps */
	int sync_fd;			/* child reads one byte when the monitor wrote the
					 * maps (maps_by_monitor), and one before it runs
					 * the command: name claimed, cgroup joined */
	int err_fd;			/* child writes a failure record (close-on-exec) */
	int tty_sock;			/* child sends the pty master here, or -1 */
};

/* Failure record on err_fd: the exit status the child chose (125, 126,
 * 127), then the message. */
struct launch_failure {
	int status;
	char msg[1020];
};

/* Open (creating when missing) path inside the tree at rootfd as an O_PATH
 * fd: a directory, or an empty file when file is true.  Symlinks in the
 * image resolve inside the root, never to the host.  -1 with errno. */
int launch_target_open(int rootfd, const char *path, bool file);

/* The child's whole life: never returns. */
__attribute__((noreturn)) void launch_child(struct launch_ctx *ctx);
