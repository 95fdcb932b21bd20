/* The container's side of launch_run(): runs in the cloned child, inside the
 * new namespaces, top to bottom as bubblewrap's setup does.  Every failure
 * is reported to the monitor as a struct launch_failure on ctx->err_fd. */
#include "libimg/launch/setup.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/path.h"
#include "base/xalloc.h"
#include "libimg/launch/seccomp.h"

static struct launch_ctx *cur;
/* The private tmpfs for the generated /etc files: the one holding the upper
 * directory when the writes live in memory, else -1 (mount_etc makes one). */
static int etc_dir = -1;
/* The caller's umask, for the command; setting up runs with 0, so that
 * what it creates has exactly the modes it asks for. */
static mode_t saved_umask;

__attribute__((noreturn, format(printf, 2, 3))) static void die(int status, const char *fmt, ...)
{
	struct launch_failure f = { .status = status };
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f.msg, sizeof(f.msg), fmt, ap);
	va_end(ap);
	if (write(cur->err_fd, &f, sizeof(f)) < 0) {
		/* Nobody to tell: the status alone must do. */
	}
	_exit(status);
}

__attribute__((noreturn)) static void die_err(const struct ckt_err *err)
{
	char buf[CKT_ERR_WHAT_MAX + CKT_ERR_WHY_MAX + 8];
	die(LAUNCH_EXIT_FAILED, "%s", ckt_err_str(err, buf, sizeof(buf)));
}

#define die_sys(...)                                                                               \
	do {                                                                                       \
		struct ckt_err e_ = CKT_ERR_INIT;                                                  \
		ckt_err_sys(&e_, CKT_EIO, __VA_ARGS__);                                            \
		die_err(&e_);                                                                      \
	} while (0)

/* ---- mount targets, resolved inside the root ----------------------------- */

int launch_target_open(int rootfd, const char *path, bool file)
{
	int fd = launch_open_in_root(rootfd, path, O_PATH, 0);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	_cleanup_free_ char *clean = ckt_path_clean(path);
	_cleanup_close_ int dirfd = dup(rootfd);
	char *p = clean;
	while (*p == '/')
		p++;
	for (char *slash; *p; p = slash + 1) {
		slash = strchr(p, '/');
		bool last = !slash;
		if (slash)
			*slash = '\0';
		int next = launch_open_in_root(dirfd, p, O_PATH, 0);
		if (next < 0 && errno == ENOENT) {
			if (last && file) {
				int c = openat(dirfd, p, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY |
								 O_CLOEXEC, 0644);
				if (c < 0)
					return -1;
				close(c);
			} else if (mkdirat(dirfd, p, 0755) < 0 && errno != EEXIST) {
				return -1;
			}
			next = launch_open_in_root(dirfd, p, O_PATH, 0);
		}
		if (next < 0)
			return -1;
		close(dirfd);
		dirfd = next;
		if (last)
			break;
	}
	return TAKE_FD(dirfd);
}

static void fd_path(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/* mount(2) a file system on path inside the root. */
static void mount_fs(int rootfd, const char *target, const char *type, unsigned long flags,
		     const char *data)
{
	char p[64];
	_cleanup_close_ int fd = launch_target_open(rootfd, target, false);
	if (fd < 0)
		die_sys("create mount point '%s'", target);
	fd_path(p, sizeof(p), fd);
	if (mount(type, p, type, flags, data) < 0)
		die_sys("mount %s on '%s'", type, target);
}

/* Attach the detached tree tree (open_tree) on target inside the root. */
static void attach_tree(int tree, int rootfd, const char *target, bool file, bool ro,
			bool recursive)
{
	_cleanup_close_ int t = tree;
	_cleanup_close_ int fd = launch_target_open(rootfd, target, file);
	if (fd < 0)
		die_sys("create mount point '%s'", target);
	if (ro) {
		struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
		if (mount_setattr(t, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a,
				  sizeof(a)) < 0)
			die_sys("make '%s' read-only", target);
	}
	if (move_mount(t, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		die_sys("mount on '%s'", target);
}

/* Bind host path src onto target inside the root. */
static void bind_host(const char *src, int rootfd, const char *target, bool ro, bool recursive)
{
	struct stat st;
	int tree = open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
						    (recursive ? AT_RECURSIVE : 0));
	if (tree < 0 || fstat(tree, &st) < 0)
		die_sys("bind '%s'", src);
	attach_tree(tree, rootfd, target, !S_ISDIR(st.st_mode), ro, recursive);
}

/* ---- the root and the kernel file systems -------------------------------- */

static const char *const etc_files[] = { "hostname", "hosts", "resolv.conf" };
/* The generated /etc files were written into the upper directory. */
static bool etc_in_upper;

/* When the container's writes live in our tmpfs (nothing of the upper
 * directory survives it), the generated /etc files go straight into the
 * upper directory before the overlay is mounted: no copy-up of /etc, no
 * bind mounts.  /etc in the upper directory gets the mode and owner of the
 * topmost lower one.  False, with nothing written, when /etc is no plain
 * directory there or its owner is not mapped (setup then binds them). */
static bool write_etc_upper(const char *upper)
{
	const char *const *lower = cur->spec->lower;
	struct stat st = { .st_mode = S_IFDIR | 0755 };
	for (size_t i = 0; lower[i]; i++) {
		_cleanup_free_ char *etc = ckt_path_join(lower[i], "etc");
		if (lstat(etc, &st) == 0)
			break;
		if (errno != ENOENT)
			return false;
		st.st_mode = S_IFDIR | 0755;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid == (uid_t)-1 || st.st_uid == 65534)
		return false;
	_cleanup_close_ int ufd = open(upper, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ufd < 0 || mkdirat(ufd, "etc", st.st_mode & 07777) < 0)
		die_sys("create '%s/etc'", upper);
	if (fchownat(ufd, "etc", st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0) {
		unlinkat(ufd, "etc", AT_REMOVEDIR);
		return false;
	}
	_cleanup_close_ int etc = openat(ufd, "etc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (etc < 0)
		die_sys("open '%s/etc'", upper);
	for (size_t i = 0; i < ARRAY_SIZE(etc_files); i++) {
		if (!cur->etc_data[i])
			continue;
		_cleanup_close_ int fd = openat(etc, etc_files[i], O_WRONLY | O_CREAT | O_EXCL |
								 O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, cur->etc_data[i], cur->etc_len[i]) != (ssize_t)cur->etc_len[i])
			die_sys("write '/etc/%s'", etc_files[i]);
	}
	return true;
}

static int mount_root(void)
{
	const struct launch_spec *s = cur->spec;
	if (cur->root_mount_fd >= 0) {
		if (move_mount(cur->root_mount_fd, "", AT_FDCWD, cur->root, MOVE_MOUNT_F_EMPTY_PATH) < 0)
			die_sys("attach the root on '%s'", cur->root);
		close(cur->root_mount_fd);
	} else if (s->rootfs) {
		if (mount(s->rootfs, cur->root, NULL, MS_BIND | MS_REC, NULL) < 0)
			die_sys("bind root '%s'", s->rootfs);
	} else {
		const char *upper = s->upper, *work = s->work;
		_cleanup_free_ char *u = NULL, *w = NULL;
		if (!upper) {
			/* No upper directory on disk: a tmpfs of this mount namespace
			 * holds it, so the container's writes vanish with it and there
			 * is nothing to remove afterwards (ext4 with discard spends
			 * milliseconds on every directory it frees). */
			if (mount("tmpfs", s->merged, "tmpfs", MS_NOSUID, "mode=755") < 0)
				die_sys("mount a tmpfs for the upper directory on '%s'", s->merged);
			u = ckt_path_join(s->merged, "upper");
			w = ckt_path_join(s->merged, "work");
			char *r = ckt_path_join(s->merged, "root");
			if (mkdir(u, 0755) < 0 || mkdir(w, 0700) < 0 || mkdir(r, 0755) < 0)
				die_sys("create the upper directory");
			etc_in_upper = write_etc_upper(u);
			if (!etc_in_upper &&
			    (etc_dir = open(s->merged, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
				die_sys("open '%s'", s->merged);
			cur->root = r;
			upper = u;
			work = w;
		}
		char o[4096];
		size_t len = (size_t)snprintf(o, sizeof(o), "lowerdir=");
		for (size_t i = 0; s->lower[i] && len < sizeof(o); i++)
			len += (size_t)snprintf(o + len, sizeof(o) - len, "%s%s", i ? ":" : "",
						s->lower[i]);
		if (len < sizeof(o))
			len += (size_t)snprintf(o + len, sizeof(o) - len,
						",upperdir=%s,workdir=%s%s%s", upper, work,
						cur->userns ? ",userxattr" : "",
						s->ephemeral && s->upper ? ",volatile" : "");
		if (len >= sizeof(o))
			die(LAUNCH_EXIT_FAILED, "overlay options are too long");
		if (mount("overlay", cur->root, "overlay", 0, o) < 0)
			die_sys("mount overlay root on '%s'%s", cur->root,
				cur->userns ? " in a user namespace (needs Linux 5.11)" : "");
	}
	int fd = open(cur->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die_sys("open root '%s'", cur->root);
	return fd;
}

static void mount_sys(int rootfd)
{
	char p[64];
	_cleanup_close_ int fd = launch_target_open(rootfd, "sys", false);
	if (fd < 0)
		die_sys("create mount point '/sys'");
	fd_path(p, sizeof(p), fd);
	/* sysfs needs a network namespace owned by our user namespace; with
	 * the host's network in a user namespace (rootless), bind the host's
	 * /sys read-only instead, as bubblewrap and podman do (with its
	 * submounts: the kernel refuses to uncover what locked mounts hide). */
	bool own_net = !cur->userns || cur->spec->net == LAUNCH_NET_NONE;
	if (own_net &&
	    mount("sysfs", p, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0)
		return;
	if (own_net && errno != EPERM && errno != EACCES)
		die_sys("mount sysfs on '/sys'");
	bind_host("/sys", rootfd, "sys", true, true);
}

/* The minimal /dev, with the numbers Linux fixed for them
 * (Documentation/admin-guide/devices.txt). */
static const struct {
	const char *name;
	unsigned major, minor;
} devices[] = { { "null", 1, 3 },    { "zero", 1, 5 },    { "full", 1, 7 },
		{ "random", 1, 8 },  { "urandom", 1, 9 }, { "tty", 5, 0 } };

/* mount(2) a file system on the new directory name in our own fresh
 * /dev (no symlinks in it: no resolving inside the root needed). */
static void mount_in_dev(int dev, const char *name, const char *type, unsigned long flags,
			 const char *data)
{
	char p[64];
	if (mkdirat(dev, name, 0755) < 0)
		die_sys("create '/dev/%s'", name);
	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dev, name);
	if (mount(type, p, type, flags, data) < 0)
		die_sys("mount %s on '/dev/%s'", type, name);
}

static void mount_dev(int rootfd)
{
	mount_fs(rootfd, "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k");
	_cleanup_close_ int dev = launch_open_in_root(rootfd, "dev", O_PATH | O_DIRECTORY, 0);
	if (dev < 0)
		die_sys("open '/dev'");
	/* Our own fresh tmpfs: names are created in it directly (umask 0). */
	for (size_t i = 0; i < ARRAY_SIZE(devices); i++) {
		const char *name = devices[i].name;
		if (cur->devices_bind) {
			_cleanup_free_ char *host = ckt_path_join("/dev", name);
			_cleanup_close_ int tree = open_tree(AT_FDCWD, host,
							     OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
			int fd = openat(dev, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
			if (tree < 0 || fd < 0)
				die_sys("bind '%s'", host);
			close(fd);
			if (move_mount(tree, "", dev, name, MOVE_MOUNT_F_EMPTY_PATH) < 0)
				die_sys("bind '%s'", host);
			continue;
		}
		if (mknodat(dev, name, S_IFCHR | 0666, makedev(devices[i].major, devices[i].minor)) < 0)
			die_sys("create '/dev/%s'", name);
	}
	/* A devpts of our own: the container cannot see the host's terminals,
	 * and -t takes its terminal from here. */
	mount_in_dev(dev, "pts", "devpts", MS_NOSUID | MS_NOEXEC,
		     cur->userns ? "newinstance,ptmxmode=0666,mode=620"
				 : "newinstance,ptmxmode=0666,mode=620,gid=5");
	mount_in_dev(dev, "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
	static const char *const links[][2] = {
		{ "pts/ptmx", "ptmx" },	       { "/proc/self/fd", "fd" },
		{ "/proc/self/fd/0", "stdin" }, { "/proc/self/fd/1", "stdout" },
		{ "/proc/self/fd/2", "stderr" }, { "/proc/kcore", "core" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(links); i++)
		if (symlinkat(links[i][0], dev, links[i][1]) < 0)
			die_sys("create '/dev/%s'", links[i][1]);
}

/* A tree for host file fd names: the monitor's clone when it made one
 * (it can reach what a private range cannot), else our own clone of the
 * file, reopened here because a mount of the monitor's namespace cannot be
 * cloned from ours.  The reopened file must be what the monitor checked. */
static int source_tree(int fd, const char *path, bool recursive)
{
	struct stat a, b;
	if (cur->trees_detached)
		return dup(fd);
	_cleanup_close_ int again = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (again < 0 || fstat(again, &a) < 0 || fstat(fd, &b) < 0)
		return -1;
	if (a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		errno = ESTALE;
		return -1;
	}
	return open_tree(again, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH |
					    (recursive ? AT_RECURSIVE : 0));
}

/* /etc/hostname, /etc/hosts and (with --dns) /etc/resolv.conf, made by the
 * monitor in memory: written into a tmpfs outside the root and bound over
 * the image's files.  The tmpfs is the upper directory's when there is one,
 * else a detached one of our own (fsmount: no mount point, nothing to see
 * from the host).  Runs as the namespace's root, so the files are owned by
 * mapped ids. */
static void mount_etc(int rootfd)
{
	const char *const *files = etc_files;
	if (etc_in_upper)
		return;
	if (etc_dir < 0) {
		_cleanup_close_ int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
		if (fs < 0 || fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0755", 0) < 0 ||
		    fsconfig(fs, FSCONFIG_SET_STRING, "size", "4m", 0) < 0 ||
		    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 ||
		    (etc_dir = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
								MOUNT_ATTR_NOEXEC)) < 0)
			die_sys("create a tmpfs for the /etc files");
	}
	for (size_t i = 0; i < ARRAY_SIZE(etc_files); i++) {
		if (!cur->etc_data[i])
			continue;
		_cleanup_free_ char *dst = ckt_path_join("etc", files[i]);
		_cleanup_close_ int fd = openat(etc_dir, files[i],
						O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
						0644);
		if (fd < 0 || write(fd, cur->etc_data[i], cur->etc_len[i]) != (ssize_t)cur->etc_len[i])
			die_sys("write '/%s'", dst);
		int tree = open_tree(etc_dir, files[i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		if (tree < 0)
			die_sys("bind '/%s'", dst);
		attach_tree(tree, rootfd, dst, true, false, false);
	}
	close(etc_dir);
	etc_dir = -1;
}

static void mount_volumes(int rootfd)
{
	const struct launch_spec *s = cur->spec;
	for (size_t i = 0; i < s->n_mounts; i++) {
		const struct launch_mount *m = &s->mounts[i];
		if (m->kind == LAUNCH_MOUNT_TMPFS) {
			mount_fs(rootfd, m->target, "tmpfs",
				 MS_NOSUID | MS_NODEV | (m->read_only ? MS_RDONLY : 0), "mode=1777");
			continue;
		}
		struct stat st;
		int tree = source_tree(cur->volume_fds[i], m->source, true);
		if (tree < 0 || fstat(tree, &st) < 0)
			die_sys("bind volume '%s'", m->source);
		attach_tree(tree, rootfd, m->target, !S_ISDIR(st.st_mode), m->read_only, true);
	}
}

static void loopback_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	_cleanup_close_ int sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sk < 0 || ioctl(sk, SIOCGIFFLAGS, &ifr) < 0)
		die_sys("find the loopback interface");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(sk, SIOCSIFFLAGS, &ifr) < 0)
		die_sys("bring the loopback interface up");
}

static void pivot(int rootfd)
{
	if (fchdir(rootfd) < 0)
		die_sys("enter root '%s'", cur->root);
	/* pivot_root(".", ".") stacks the old root under the new one; the
	 * detach then drops it (runc's trick, no temporary directory). */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		die_sys("pivot_root to '%s'", cur->root);
	if (umount2(".", MNT_DETACH) < 0)
		die_sys("detach the old root");
	if (chdir("/") < 0)
		die_sys("enter '/'");
}

/* Kernel paths hidden or made read-only, as crun and docker do: a
 * directory under an empty read-only tmpfs, a file under /dev/null. */
static const struct {
	const char *path;
	bool dir;
} masked_paths[] = {
	{ "/proc/acpi", true },	       { "/proc/asound", true },	{ "/proc/interrupts", false },
	{ "/proc/kcore", false },      { "/proc/keys", false },		{ "/proc/latency_stats", false },
	{ "/proc/timer_list", false }, { "/proc/timer_stats", false }, { "/proc/sched_debug", false },
	{ "/proc/scsi", true },	       { "/sys/firmware", true },	{ "/sys/devices/virtual/powercap", true },
};
static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static void mask_paths(void)
{
	/* One empty tmpfs, bound on every directory after the first; a path
	 * this kernel lacks is skipped by the mount's ENOENT. */
	const char *empty = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(masked_paths); i++) {
		const char *p = masked_paths[i].path;
		int ret;
		for (int kind = masked_paths[i].dir, tries = 0; tries < 2; kind = !kind, tries++) {
			if (!kind)
				ret = mount("/dev/null", p, NULL, MS_BIND, NULL);
			else if (empty)
				ret = mount(empty, p, NULL, MS_BIND, NULL);
			else if ((ret = mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0,mode=0555")) == 0)
				empty = p;
			if (ret == 0 || errno != ENOTDIR)
				break;
		}
		if (ret < 0 && errno != ENOENT)
			die_sys("mask '%s'", p);
	}
	for (size_t i = 0; i < ARRAY_SIZE(readonly_paths); i++) {
		const char *p = readonly_paths[i];
		struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
		int tree = open_tree(AT_FDCWD, p, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
		if (tree < 0) {
			if (errno == ENOENT)
				continue;
			die_sys("make '%s' read-only", p);
		}
		_cleanup_close_ int t = tree;
		if (mount_setattr(t, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) < 0 ||
		    move_mount(t, "", AT_FDCWD, p, MOVE_MOUNT_F_EMPTY_PATH) < 0)
			die_sys("make '%s' read-only", p);
	}
}

/* ---- the process ------------------------------------------------------- */

/* Open a pseudo-terminal in the container's devpts and hand the master to
 * the monitor; returns the slave. */
static int make_tty(void)
{
	char name[64];
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) != 0)
		die_sys("open a pseudo-terminal");
	int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		die_sys("open '%s'", name);
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte = 't';
	struct iovec iov = { &byte, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &master, sizeof(int));
	if (sendmsg(cur->tty_sock, &mh, MSG_NOSIGNAL) < 0)
		die_sys("pass the terminal to the monitor");
	close(master);
	close(cur->tty_sock);
	cur->tty_sock = -1;
	return slave;
}

static void set_caps(uint64_t mask)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = { 0 };
	d[0].effective = d[0].permitted = d[0].inheritable = (uint32_t)mask;
	d[1].effective = d[1].permitted = d[1].inheritable = (uint32_t)(mask >> 32);
	if (syscall(SYS_capset, &h, d) < 0)
		die_sys("set capabilities");
}

/* User, groups, capabilities and no_new_privs: the last privileged steps. */
static void become_user(void)
{
	const struct launch_spec *s = cur->spec;
	const struct launch_ids *id = &cur->ids;
	uint64_t bound = s->caps ? s->caps : launch_caps_default();

	for (int c = 0; c < 64; c++) {
		if (bound & (1ull << c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; /* past the kernel's last capability */
			die_sys("drop capability %d", c);
		}
	}
	if (!cur->single_map && setgroups(id->n_groups, id->groups) < 0)
		die_sys("set supplementary groups");
	if (setresgid(id->gid, id->gid, id->gid) < 0)
		die_sys("set group %u", (unsigned)id->gid);
	if (setresuid(id->uid, id->uid, id->uid) < 0)
		die_sys("set user %u", (unsigned)id->uid);
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	/* Root in the container keeps the bounding set; anyone else nothing
	 * (with a single mapping the uid never changed, so do it by hand). */
	set_caps(id->uid == 0 ? bound : 0);
	if (s->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die_sys("set no_new_privs");
}

static const char *env_get(char *const *env, const char *key)
{
	size_t n = strlen(key);
	for (; env && *env; env++)
		if (!strncmp(*env, key, n) && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

/* execve argv, searching the container's PATH (not ours) for a bare name. */
__attribute__((noreturn)) static void exec_command(void)
{
	char *const *argv = cur->spec->argv;
	const char *cmd = argv[0];
	int first = 0;

	if (strchr(cmd, '/')) {
		execve(cmd, argv, cur->env);
		first = errno;
	} else {
		const char *path = env_get(cur->env, "PATH");
		for (const char *p = path ? path : ""; *p;) {
			size_t l = strcspn(p, ":");
			_cleanup_free_ char *full = xasprintf("%.*s/%s", (int)l, l ? p : ".", cmd);
			execve(full, argv, cur->env);
			/* As execvp: remember a "found but not runnable" over ENOENT. */
			if (errno != ENOENT && errno != ENOTDIR && !first)
				first = errno;
			p += l + (p[l] == ':');
		}
		if (!first)
			die(LAUNCH_EXIT_NOTFOUND, "exec '%s' (executable file not found in $PATH)",
			    cmd);
	}
	die(first == ENOENT || first == ENOTDIR ? LAUNCH_EXIT_NOTFOUND : LAUNCH_EXIT_NOEXEC,
	    "exec '%s' (%s)", cmd, strerror(first));
}

/* The command's own last steps: session, terminal, stdin, signals, exec. */
__attribute__((noreturn)) static void run_command(int tty)
{
	sigset_t none;
	umask(saved_umask);
	if (tty >= 0) {
		if (setsid() < 0 || ioctl(tty, TIOCSCTTY, 0) < 0)
			die_sys("make the terminal controlling");
		for (int fd = 0; fd < 3; fd++)
			if (dup2(tty, fd) < 0)
				die_sys("attach the terminal");
		if (tty > 2)
			close(tty);
	} else if (!cur->spec->stdin_open) {
		int null = open("/dev/null", O_RDONLY);
		if (null < 0 || dup2(null, 0) < 0)
			die_sys("open '/dev/null'");
		if (null > 0)
			close(null);
	}
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	exec_command();
}

/* --init: PID 1 forwards signals to the command and reaps every orphan;
 * it exits with the command's status (tini's job, in a few lines). */
__attribute__((noreturn)) static void run_init(int tty)
{
	sigset_t set;
	sigfillset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	pid_t main_pid = fork();
	if (main_pid < 0)
		die_sys("fork the command");
	if (main_pid == 0)
		run_command(tty);
	if (tty >= 0)
		close(tty);
	close(cur->err_fd);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(main_pid, sig);
			continue;
		}
		int status;
		pid_t p;
		while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
			if (p != main_pid)
				continue;
			_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		}
	}
}

static void write_self(const char *file, const char *data)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/%s", file);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		die_sys("write '%s' to '%s'", data, path);
}

void launch_child(struct launch_ctx *ctx)
{
	const struct launch_spec *s = ctx->spec;
	char byte;
	int tty = -1;

	cur = ctx;
	saved_umask = umask(0);
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	prctl(PR_SET_NAME, "ckt-init", 0, 0, 0);
	/* A single mapping, of the caller's own ids, is ours to write (user
	 * namespaces(7): the creator's euid, setgroups denied first). */
	if (ctx->single_map) {
		char map[64];
		snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)ctx->ids.uid,
			 (unsigned)ctx->host_uid);
		write_self("uid_map", map);
		write_self("setgroups", "deny");
		snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)ctx->ids.gid,
			 (unsigned)ctx->host_gid);
		write_self("gid_map", map);
	}
	/* Wait until the monitor wrote our id maps. */
	if (ctx->maps_by_monitor && read(ctx->sync_fd, &byte, 1) != 1)
		_exit(LAUNCH_EXIT_FAILED); /* the monitor failed and said why */

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die_sys("make mounts private");

	_cleanup_close_ int rootfd = mount_root();
	/* With a range mapped, become the namespace's root: our host ids may
	 * not be mapped at all (--private-users as root), and files we create
	 * need mapped owners.  Only after the root is attached: the store's
	 * directories on the way to it are not open to the mapped range. */
	if (ctx->userns && !ctx->single_map &&
	    (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
		die_sys("become root in the user namespace");
	mount_fs(rootfd, "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount_sys(rootfd);
	mount_dev(rootfd);
	mount_fs(rootfd, "run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=65536k");
	mount_fs(rootfd, "tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	mount_etc(rootfd);
	mount_volumes(rootfd);
	if (sethostname(ctx->hostname, strlen(ctx->hostname)) < 0)
		die_sys("set hostname '%s'", ctx->hostname);
	if (s->net == LAUNCH_NET_NONE)
		loopback_up();
	/* The working directory exists before the root may turn read-only. */
	_cleanup_close_ int cwd = launch_target_open(rootfd, ctx->spec->cwd ? ctx->spec->cwd : "/", false);
	if (cwd < 0)
		die_sys("create working directory '%s'", ctx->spec->cwd);

	pivot(rootfd);
	mask_paths();
	if (s->read_only) {
		struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
		if (mount_setattr(AT_FDCWD, "/", 0, &a, sizeof(a)) < 0)
			die_sys("make the root read-only");
	}
	if (s->tty)
		tty = make_tty();
	/* The filter while we still hold CAP_SYS_ADMIN (no no_new_privs
	 * needed); nothing it refuses is called after this. */
	if (!s->seccomp_unconfined &&
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, launch_seccomp_default()) < 0)
		die_sys("install the seccomp filter");
	become_user();
	if (fchdir(cwd) < 0)
		die_sys("enter working directory '%s'", s->cwd);
	/* Nothing of the host's beyond 0-2 reaches the command. */
	if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) < 0)
		die_sys("mark descriptors close-on-exec");
	/* The monitor claimed our name and put us in our cgroup (it did that
	 * while we set up: this read seldom waits). */
	if (read(ctx->sync_fd, &byte, 1) != 1)
		_exit(LAUNCH_EXIT_FAILED); /* the monitor failed and said why */
	close(ctx->sync_fd);
	if (s->init)
		run_init(tty);
	run_command(tty);
}
