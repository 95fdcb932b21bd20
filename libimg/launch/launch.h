#pragma once
/* The launcher behind ckt-exec (DESIGN.md "The launcher", issue 5): one
 * clone() into new mount, pid, uts, ipc (user when not root or with
 * private users; net with LAUNCH_NET_NONE) namespaces, a root that is an
 * overlay of read-only lower directories or a bind of an unpacked tree,
 * pivot_root, the usual kernel file systems, a reduced capability set, and
 * the caller staying the container's parent: it forwards signals, relays a
 * terminal, reaps, and returns the container's status.
 *
 * base/ and libc only: image configs are turned into a struct launch_spec
 * by libimg/exec.c, never read here. */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

/* Exit statuses of the monitor's own failures, docker's codes (DESIGN.md). */
#define LAUNCH_EXIT_FAILED 125
#define LAUNCH_EXIT_NOEXEC 126
#define LAUNCH_EXIT_NOTFOUND 127

enum launch_net {
	LAUNCH_NET_HOST = 0,	/* share the caller's network namespace */
	LAUNCH_NET_NONE,	/* a new network namespace with only lo, up */
};

enum launch_mount_kind {
	LAUNCH_MOUNT_BIND = 0,	/* source is a host path (refused when a symlink) */
	LAUNCH_MOUNT_TMPFS,
};

struct launch_mount {
	enum launch_mount_kind kind;
	const char *source;	/* host path for binds */
	const char *target;	/* absolute path in the container */
	bool read_only;
};

/* Resource limits; 0 means "not set". */
struct launch_limits {
	uint64_t memory;	/* bytes */
	uint64_t cpu_milli;	/* thousandths of a CPU (--cpus 1.5 = 1500) */
	uint64_t pids;
};

struct launch_spec {
	/* Root file system: either rootfs (a directory bound as the root) or
	 * lower (read-only directories, topmost first) with upper/work
	 * directories of the container on one file system, mounted on merged.
	 * Without upper and work (not with private users as root), merged only
	 * hosts a tmpfs of the container's own mount namespace that holds them:
	 * the writes live in memory and vanish with the container. */
	const char *rootfs;
	const char *const *lower;	/* NULL-terminated, or NULL */
	const char *upper, *work, *merged;
	bool read_only;			/* the root is mounted read-only */
	bool ephemeral;			/* upper is thrown away at exit: no syncs to it
					 * (overlayfs "volatile"), so the container's
					 * exit does not wait for the disk */

	/* Process.  argv[0] is looked up on the container's PATH when it has
	 * no '/'; user is "name|uid[:group|gid]" resolved through the
	 * container's own /etc/passwd and /etc/group (NULL: root). */
	char *const *argv;
	char *const *env;		/* NULL-terminated; PATH, HOSTNAME, HOME (and TERM
					 * with tty) are added when missing */
	const char *cwd;		/* NULL: the user's home, else "/" */
	const char *user;
	const gid_t *groups;		/* with groups_set: the supplementary groups, in
					 * place of the user's memberships in the image's
					 * /etc/group (an appc app's supplementaryGIDs) */
	size_t n_groups;
	bool groups_set;
	bool tty;			/* a pseudo-terminal from the container's devpts */
	bool stdin_open;		/* -i: stdin reaches the container */
	bool init;			/* a reaping init as PID 1, the command as its child */
	bool no_new_privs;
	bool seccomp_unconfined;	/* no seccomp filter (else the default deny-list,
					 * libimg/launch/seccomp.h) */
	uint64_t caps;			/* capability bounding set; 0: docker's default set */

	/* Namespaces and identity. */
	const char *id;			/* the container's UUID (see launch_uuid) */
	const char *hostname;		/* NULL: "ckt-<id>" */
	enum launch_net net;
	bool private_users;		/* as root: a user namespace mapping root to a
					 * subordinate range */
	char *const *dns;		/* NULL: no resolv.conf; "host" copies the host's */

	const struct launch_mount *mounts;
	size_t n_mounts;
	struct launch_limits limits;

	/* Book-keeping for ckt ps/stop/update (see state.h). */
	const char *name;		/* NULL: the id */
	const char *image;		/* shown by ckt ps */
	const char *run_dir;		/* NULL: launch_run_dir() */
};

/* docker's default capabilities (moby oci/caps/defaults.go) as a mask. */
uint64_t launch_caps_default(void);

/* A random version 4 UUID in canonical form into buf (at least 37 bytes). */
int launch_uuid(char *buf, size_t len, struct ckt_err *err);

/* Parse a docker-style size ("32M", "1g", "512k", "1048576") into bytes;
 * CKT_EUSAGE when malformed or zero. */
int launch_parse_size(const char *s, uint64_t *out, struct ckt_err *err);
/* Parse a --cpus value ("0.5", "2") into thousandths of a CPU. */
int launch_parse_cpus(const char *s, uint64_t *out, struct ckt_err *err);

/* Run the container described by spec and wait for it.  Returns the status
 * to exit with: the command's exit status, 128+N after signal N, 126 when
 * the command is not executable, 127 when it is not found; err then holds
 * the reason for 126/127.  Before the container runs, and when setting it up
 * fails, returns a negative code with err filled (exit with 125, or per
 * ckt_err_exit_code for usage errors).  Signals INT TERM HUP QUIT USR1 USR2
 * WINCH sent to the caller are forwarded while it waits. */
int launch_run(const struct launch_spec *spec, struct ckt_err *err);
