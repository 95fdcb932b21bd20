#pragma once
/* State of running containers, without a daemon (issue 5, "Running
 * containers without a daemon"): each ckt-exec writes RUN_DIR/NAME, a small
 * "key=value" file, and removes it at exit.  One file and no directory: on
 * a disk file system a directory costs more than the rest of the
 * book-keeping together (ext4 spends ~80 us in mkdir+rmdir).  A process
 * is identified by its pid and its start time (field 22 of /proc/PID/stat),
 * so an entry left behind by a killed ckt-exec is recognised as stale even
 * after its pid is reused. */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

struct launch_state {
	char *name;
	char *id;
	pid_t pid;			/* the monitoring ckt-exec */
	unsigned long long pid_start;
	pid_t child;			/* the container's PID 1, as the host sees it */
	unsigned long long child_start;
	char *image;
	char *command;
	long long started;		/* seconds since the epoch */
	char **cgroups;			/* NULL-terminated directories, or NULL */
	char *path;			/* RUN_DIR/NAME */
};

/* The directory for state: $XDG_RUNTIME_DIR/ckt when set, /run/ckt for
 * root, else /tmp/ckt-UID (newly allocated). */
char *launch_run_dir(void);

/* Start time of pid in clock ticks since boot, or 0 when it does not exist. */
unsigned long long launch_proc_start(pid_t pid);

/* Whether the monitor recorded in st still runs. */
bool launch_state_alive(const struct launch_state *st);

/* Write a runtime file: to a temporary name, then renamed over path, so a
 * reader sees all or nothing — but never fsynced: runtime state does not
 * outlive a reboot, and a container's start must not wait for the disk. */
int launch_write_runtime(const char *path, const void *data, size_t len, struct ckt_err *err);

/* Claim RUN_DIR/NAME for a new container and write st into it: the file is
 * created exclusively (0600), in one write; an existing stale entry is
 * replaced, a live one is CKT_EUSAGE ("name already in use").  Sets
 * st->path. */
int launch_state_claim(const char *run_dir, struct launch_state *st, struct ckt_err *err);
/* Read RUN_DIR/NAME.  Missing: CKT_ENOTFOUND. */
int launch_state_read(const char *run_dir, const char *name, struct launch_state *st,
		      struct ckt_err *err);
/* All live containers, sorted by start time; stale entries are removed.
 * A missing run directory is an empty list. */
int launch_state_list(const char *run_dir, struct launch_state **out, size_t *n,
		      struct ckt_err *err);
void launch_state_release(struct launch_state *st);
void launch_states_free(struct launch_state *v, size_t n);
