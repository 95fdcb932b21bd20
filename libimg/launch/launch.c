/* launch_run(): the monitor's timeline, read top to bottom as bubblewrap's
 * main().  Everything the options say is checked before anything is
 * acquired; then the state directory, the cgroup, one clone() into the new
 * namespaces, the id maps, and the monitor loop that forwards signals,
 * relays the terminal and reaps.  The child's side is in setup.c. */
#include "libimg/launch/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/log.h"
#include "base/path.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "libimg/launch/cgroup.h"
#include "libimg/launch/seccomp.h"
#include "libimg/launch/setup.h"
#include "libimg/launch/state.h"

uint64_t launch_caps_default(void)
{
	/* moby oci/caps/defaults.go */
	static const int caps[] = { 0 /* CHOWN */,     1 /* DAC_OVERRIDE */, 3 /* FOWNER */,
				    4 /* FSETID */,    5 /* KILL */,	     6 /* SETGID */,
				    7 /* SETUID */,    8 /* SETPCAP */,	     10 /* NET_BIND_SERVICE */,
				    13 /* NET_RAW */,  18 /* SYS_CHROOT */,  27 /* MKNOD */,
				    29 /* AUDIT_WRITE */, 31 /* SETFCAP */ };
	uint64_t m = 0;
	for (size_t i = 0; i < ARRAY_SIZE(caps); i++)
		m |= 1ull << caps[i];
	return m;
}

int launch_uuid(char *buf, size_t len, struct ckt_err *err)
{
	unsigned char u[16];
	if (len < 37)
		return ckt_err_fail(err, CKT_EINTERNAL, "uuid buffer too small");
	if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u))
		return ckt_err_sys(err, CKT_EIO, "read random bytes");
	u[6] = (u[6] & 0x0f) | 0x40; /* version 4 */
	u[8] = (u[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	snprintf(buf, len,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
		 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
		 u[14], u[15]);
	return 0;
}

int launch_parse_size(const char *s, uint64_t *out, struct ckt_err *err)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	uint64_t mult = 1;
	if (end == s || errno || *s == '-')
		goto bad;
	switch (*end) {
	case 'b': case 'B': mult = 1; end++; break;
	case 'k': case 'K': mult = 1ull << 10; end++; break;
	case 'm': case 'M': mult = 1ull << 20; end++; break;
	case 'g': case 'G': mult = 1ull << 30; end++; break;
	case '\0': break;
	default: goto bad;
	}
	if ((*end == 'b' || *end == 'B') && mult > 1)
		end++;
	if (*end || v == 0 || v > UINT64_MAX / mult)
		goto bad;
	*out = v * mult;
	return 0;
bad:
	return ckt_err_fail(err, CKT_EUSAGE, "invalid size '%s' (a number with k, m or g)", s);
}

int launch_parse_cpus(const char *s, uint64_t *out, struct ckt_err *err)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end || errno || !(v >= 0.001) || v > 1e6)
		return ckt_err_fail(err, CKT_EUSAGE, "invalid number of CPUs '%s'", s);
	*out = (uint64_t)(v * 1000 + 0.5);
	return 0;
}

/* ---- before clone: checks and decisions ---------------------------------- */

static int check_spec(const struct launch_spec *s, struct ckt_err *err)
{
	if (!s->argv || !s->argv[0] || !*s->argv[0])
		return ckt_err_fail(err, CKT_EUSAGE, "no command to run");
	if (!s->seccomp_unconfined && !launch_seccomp_supported())
		return ckt_err_fail(err, CKT_EUSAGE, "no seccomp filter for this architecture "
						     "(--security-opt seccomp=unconfined runs without)");
	if (!s->rootfs == !s->lower)
		return ckt_err_fail(err, CKT_EUSAGE, "exactly one of a root directory and "
						     "lower directories is needed");
	if (s->lower && (!s->lower[0] || !s->upper != !s->work || !s->merged))
		return ckt_err_fail(err, CKT_EINTERNAL, "incomplete overlay directories");
	if (s->lower && !s->upper && s->private_users && getuid() == 0)
		return ckt_err_fail(err, CKT_EINTERNAL, "private users need an upper directory");
	for (size_t i = 0; s->lower && s->lower[i]; i++)
		if (strpbrk(s->lower[i], ",:\\"))
			return ckt_err_fail(err, CKT_EUSAGE,
					    "overlay directory '%s' holds ',', ':' or '\\'",
					    s->lower[i]);
	if (s->cwd && s->cwd[0] != '/')
		return ckt_err_fail(err, CKT_EUSAGE, "working directory '%s' is not absolute",
				    s->cwd);
	if (s->hostname && (!*s->hostname || strlen(s->hostname) > 63 ||
			    strspn(s->hostname, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
						"VWXYZ0123456789-.") != strlen(s->hostname)))
		return ckt_err_fail(err, CKT_EUSAGE, "invalid hostname '%s'", s->hostname);
	for (size_t i = 0; i < s->n_mounts; i++) {
		const char *t = s->mounts[i].target;
		if (!t || t[0] != '/' || ckt_path_escapes(t + 1) || !strcmp(t, "/"))
			return ckt_err_fail(err, CKT_EUSAGE, "invalid mount target '%s'",
					    t ? t : "");
	}
	const char *name = s->name ? s->name : s->id;
	if (!name || !*name || strchr(name, '/') || name[0] == '.' || strlen(name) > 128)
		return ckt_err_fail(err, CKT_EUSAGE, "invalid container name '%s'",
				    name ? name : "");
	for (char *const *d = s->dns; d && *d; d++)
		if (!**d || strpbrk(*d, " \t\n"))
			return ckt_err_fail(err, CKT_EUSAGE, "invalid --dns value '%s'", *d);
	return 0;
}

/* Volume sources: opened now (O_PATH|O_NOFOLLOW) so that what we checked
 * is what gets mounted; a symlink is refused. */
static int open_volumes(const struct launch_spec *s, int *fds, struct ckt_err *err)
{
	for (size_t i = 0; i < s->n_mounts; i++) {
		struct stat st;
		fds[i] = -1;
		if (s->mounts[i].kind != LAUNCH_MOUNT_BIND)
			continue;
		const char *src = s->mounts[i].source;
		if (!src || src[0] != '/')
			return ckt_err_fail(err, CKT_EUSAGE, "volume source '%s' is not absolute",
					    src ? src : "");
		fds[i] = open(src, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fds[i] < 0)
			return ckt_err_sys(err, errno == ENOENT ? CKT_ENOTFOUND : CKT_EIO,
					   "open volume '%s'", src);
		if (fstat(fds[i], &st) < 0)
			return ckt_err_sys(err, CKT_EIO, "stat volume '%s'", src);
		if (S_ISLNK(st.st_mode))
			return ckt_err_fail(err, CKT_EUSAGE, "volume source '%s' is a symlink", src);
	}
	return 0;
}

/* The environment: the image's, then PATH, HOSTNAME, HOME (and TERM with a
 * terminal) where missing, as docker and the appc executor do. */
static char **make_env(const struct launch_spec *s, const char *hostname, const char *home)
{
	size_t n = 0;
	for (char *const *e = s->env; e && *e; e++)
		n++;
	char **env = xcalloc(n + 5, sizeof(*env));
	size_t k = 0;
	bool path = false, hn = false, hm = false, term = false;
	for (char *const *e = s->env; e && *e; e++) {
		path |= !strncmp(*e, "PATH=", 5);
		hn |= !strncmp(*e, "HOSTNAME=", 9);
		hm |= !strncmp(*e, "HOME=", 5);
		term |= !strncmp(*e, "TERM=", 5);
		env[k++] = xstrdup(*e);
	}
	if (!path)
		env[k++] = xstrdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	if (!hn)
		env[k++] = xasprintf("HOSTNAME=%s", hostname);
	if (!hm)
		env[k++] = xasprintf("HOME=%s", home);
	if (s->tty && !term)
		env[k++] = xstrdup("TERM=xterm");
	return env;
}

/* A range of /etc/sub[ug]id for the user (by name or number). */
static bool subid_range(const char *file, const char *user, unsigned id, unsigned long *start,
			unsigned long *count)
{
	_cleanup_fclose_ FILE *f = fopen(file, "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	char num[16];
	snprintf(num, sizeof(num), "%u", id);
	while (f && getline(&line, &cap, f) > 0) {
		char *c1 = strchr(line, ':');
		if (!c1)
			continue;
		*c1 = '\0';
		if (strcmp(line, num) && (!user || strcmp(line, user)))
			continue;
		if (sscanf(c1 + 1, "%lu:%lu", start, count) == 2 && *count > 0)
			return true;
	}
	return false;
}

/* The caller's user name, for /etc/subuid: from /etc/passwd when it is
 * there (no NSS set-up, a tenth of a millisecond), else through NSS. */
static char *caller_name(uid_t uid)
{
	_cleanup_fclose_ FILE *f = fopen("/etc/passwd", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	while (f && getline(&line, &cap, f) > 0) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		char *end;
		if (!c2)
			continue;
		unsigned long v = strtoul(c2 + 1, &end, 10);
		if (end != c2 + 1 && *end == ':' && v == uid) {
			*c1 = '\0';
			return xstrdup(line);
		}
	}
	struct passwd *pw = getpwuid(uid);
	return pw ? xstrdup(pw->pw_name) : NULL;
}

/* The files the child writes into a tmpfs of its own and binds over the
 * image's /etc (setup.c): hostname, hosts (the image's own lines kept, the
 * container's name added), resolv.conf (--dns).  Made here, in memory: on
 * disk they would cost more than the rest of the container's start. */
static int make_etc(const struct launch_spec *s, int imgroot, const char *hostname,
		    struct ckt_buf *etc, struct ckt_err *err)
{
	_cleanup_close_ int hfd = launch_open_in_root(imgroot, "etc/hosts", O_RDONLY, 0);
	_cleanup_free_ char *hosts = NULL;
	size_t len = 0;

	ckt_buf_addf(&etc[0], "%s\n", hostname);
	if (hfd >= 0 && ckt_read_fd(hfd, 1u << 20, &hosts, &len, err) < 0)
		return ckt_err_wrap(err, "read the image's /etc/hosts");
	if (len)
		ckt_buf_addf(&etc[1], "%s%s", hosts, hosts[len - 1] == '\n' ? "" : "\n");
	else
		ckt_buf_adds(&etc[1], "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
	ckt_buf_addf(&etc[1], "127.0.1.1\t%s\n", hostname);
	for (char *const *d = s->dns; d && *d; d++) {
		if (!strcmp(*d, "host")) {
			_cleanup_free_ char *host = NULL;
			if (ckt_read_file("/etc/resolv.conf", 1u << 20, &host, &len, err) < 0)
				return ckt_err_wrap(err, "--dns host");
			ckt_buf_add(&etc[2], host, len);
		} else {
			ckt_buf_addf(&etc[2], "nameserver %s\n", *d);
		}
	}
	return 0;
}

/* The overlay root made here, with our (host root's) credentials, for
 * --private-users: mounted from inside, overlayfs would check the store's
 * directories against the unprivileged range and be refused.  The child
 * attaches the detached mount (move_mount) in its own namespace. */
static int overlay_fsmount(const struct launch_spec *s, struct ckt_err *err)
{
	_cleanup_close_ int fs = fsopen("overlay", FSOPEN_CLOEXEC);
	_cleanup_buf_ struct ckt_buf lower = CKT_BUF_INIT;
	for (size_t i = 0; s->lower[i]; i++)
		ckt_buf_addf(&lower, "%s%s", i ? ":" : "", s->lower[i]);
	if (fs < 0 || fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir", lower.buf, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", s->upper, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "workdir", s->work, 0) < 0 ||
	    (s->ephemeral && fsconfig(fs, FSCONFIG_SET_FLAG, "volatile", NULL, 0) < 0) ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return ckt_err_sys(err, CKT_EIO, "create the overlay root");
	int m = fsmount(fs, FSMOUNT_CLOEXEC, 0);
	if (m < 0)
		return ckt_err_sys(err, CKT_EIO, "mount the overlay root");
	return m;
}

/* Create the mount points of the container in its root from outside, with
 * our privileges: with --private-users the image's directories belong to
 * ids the container does not map, so it could not create them itself. */
static int precreate(const struct launch_spec *s, int rootfd, const int *vol_fds,
		     struct ckt_err *err)
{
	static const char *const dirs[] = { "proc", "sys", "dev", "run", "tmp" };
	static const char *const files[] = { "etc/hostname", "etc/hosts", "etc/resolv.conf" };
	for (size_t i = 0; i < ARRAY_SIZE(dirs) + ARRAY_SIZE(files) + s->n_mounts + 1; i++) {
		const char *path;
		bool file = false;
		size_t k = i;
		if (k < ARRAY_SIZE(dirs)) {
			path = dirs[k];
		} else if ((k -= ARRAY_SIZE(dirs)) < ARRAY_SIZE(files)) {
			if (k == 2 && !s->dns)
				continue;
			path = files[k];
			file = true;
		} else if ((k -= ARRAY_SIZE(files)) < s->n_mounts) {
			struct stat st;
			path = s->mounts[k].target;
			file = vol_fds[k] >= 0 && fstat(vol_fds[k], &st) == 0 && !S_ISDIR(st.st_mode);
		} else {
			path = s->cwd ? s->cwd : "/";
		}
		int fd = launch_target_open(rootfd, path, file);
		if (fd < 0)
			return ckt_err_sys(err, CKT_EIO, "create mount point '%s'", path);
		close(fd);
	}
	return 0;
}

/* ---- id maps --------------------------------------------------------------- */

static int write_proc(pid_t pid, const char *file, const char *data, struct ckt_err *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		return ckt_err_sys(err, CKT_EIO, "write '%s' to '%s'", data, path);
	return 0;
}

/* Start newuidmap or newgidmap (setuid helpers from the uidmap package);
 * the pid, or -1. */
static pid_t spawn_idmap(const char *tool, pid_t pid, unsigned id, unsigned long start,
			 unsigned long count)
{
	char spid[16], sid[16], sstart[24], scount[24];
	snprintf(spid, sizeof(spid), "%d", (int)pid);
	snprintf(sid, sizeof(sid), "%u", id);
	snprintf(sstart, sizeof(sstart), "%lu", start);
	snprintf(scount, sizeof(scount), "%lu", count);
	char zero[] = "0", one[] = "1";
	char *const argv[] = { (char *)tool, spid, zero, sid, one, one, sstart, scount, NULL };
	pid_t p = fork();
	if (p == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execvp(tool, argv);
		_exit(127);
	}
	return p;
}

static int wait_idmap(const char *tool, pid_t p, struct ckt_err *err)
{
	int st;
	if (p < 0)
		return ckt_err_sys(err, CKT_EIO, "fork '%s'", tool);
	while (waitpid(p, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return ckt_err_fail(err, CKT_EIO, "%s for the container's ids failed (status %d)",
				    tool, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return 0;
}

struct idmap {
	enum { MAP_NONE, MAP_SINGLE, MAP_HELPER, MAP_DIRECT } how;
	unsigned long ustart, ucount, gstart, gcount;
};

/* Decide how the container's ids map to ours: rootless with subordinate
 * ids → newuidmap; rootless without → the container's user alone mapped to
 * ours; root with --private-users → root's subordinate range, else
 * 100000:65536, written directly. */
static void plan_idmap(const struct launch_spec *s, struct idmap *m)
{
	uid_t uid = getuid();
	memset(m, 0, sizeof(*m));
	if (uid == 0 && !s->private_users)
		return;
	_cleanup_free_ char *user = caller_name(uid);
	bool su = subid_range("/etc/subuid", user, uid, &m->ustart, &m->ucount);
	bool sg = subid_range("/etc/subgid", user, uid, &m->gstart, &m->gcount);
	if (uid == 0) {
		m->how = MAP_DIRECT;
		if (!su)
			m->ustart = 100000, m->ucount = 65536;
		if (!sg)
			m->gstart = 100000, m->gcount = 65536;
	} else if (su && sg && access("/usr/bin/newuidmap", X_OK) == 0 &&
		   access("/usr/bin/newgidmap", X_OK) == 0) {
		m->how = MAP_HELPER;
	} else {
		m->how = MAP_SINGLE;
	}
}

static int write_idmap(pid_t pid, const struct idmap *m, struct ckt_err *err)
{
	char buf[128];
	switch (m->how) {
	case MAP_NONE:
		return 0;
	case MAP_SINGLE: /* written by the child itself (setup.c) */
		return 0;
	case MAP_HELPER: {
		/* Both at once: each is an exec of a setuid binary, the longest
		 * step of a rootless start. */
		pid_t u = spawn_idmap("newuidmap", pid, getuid(), m->ustart, m->ucount);
		pid_t g = spawn_idmap("newgidmap", pid, getgid(), m->gstart, m->gcount);
		struct ckt_err gerr = CKT_ERR_INIT;
		int ret = wait_idmap("newuidmap", u, err);
		if (wait_idmap("newgidmap", g, &gerr) < 0 && ret == 0) {
			*err = gerr;
			ret = -1;
		}
		return ret;
	}
	case MAP_DIRECT:
		snprintf(buf, sizeof(buf), "0 %lu %lu\n", m->ustart, m->ucount);
		if (write_proc(pid, "uid_map", buf, err) < 0)
			return -1;
		snprintf(buf, sizeof(buf), "0 %lu %lu\n", m->gstart, m->gcount);
		return write_proc(pid, "gid_map", buf, err);
	}
	return 0;
}

/* ---- the monitor ------------------------------------------------------------ */

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

struct monitor {
	pid_t child;
	int sigfd;
	int master;		/* pty master, or -1 */
	bool relay_stdin;
	bool raw;		/* the caller's terminal is in raw mode */
	struct termios saved;
	int status;
	bool exited;
};

static int recv_master(int sock)
{
	char byte;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	ssize_t n;
	while ((n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
	int fd = -1;
	if (cm && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

static void copy_winsize(int master)
{
	struct winsize ws;
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
		ioctl(master, TIOCSWINSZ, &ws);
}

static void reap(struct monitor *m)
{
	int st;
	pid_t p;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		if (p != m->child)
			continue;
		m->exited = true;
		m->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
}

/* Copy what is readable from `from` to `to`; false at EOF or error. */
static bool pump(int from, int to)
{
	char buf[8192];
	ssize_t n = read(from, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	struct ckt_err ignored = CKT_ERR_INIT;
	return ckt_write_all(to, buf, (size_t)n, &ignored) == 0;
}

static void monitor_loop(struct monitor *m)
{
	while (!m->exited) {
		struct pollfd p[3] = { { m->sigfd, POLLIN, 0 }, { m->master, POLLIN, 0 },
				       { m->relay_stdin ? STDIN_FILENO : -1, POLLIN, 0 } };
		if (poll(p, 3, -1) < 0)
			continue;
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(m->sigfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGCHLD)
					reap(m);
				else if (si.ssi_signo == SIGWINCH && m->master >= 0)
					copy_winsize(m->master);
				else if (si.ssi_signo != SIGWINCH || m->master < 0)
					kill(m->child, (int)si.ssi_signo);
			}
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR) && !pump(m->master, STDOUT_FILENO)) {
			close(m->master);
			m->master = -1;
		}
		if (p[2].revents & (POLLIN | POLLHUP | POLLERR) && !pump(STDIN_FILENO, m->master))
			m->relay_stdin = false;
	}
	/* The command is gone: pass on what it wrote last. */
	if (m->master >= 0) {
		fcntl(m->master, F_SETFL, O_NONBLOCK);
		char buf[8192];
		ssize_t n;
		struct ckt_err ignored = CKT_ERR_INIT;
		while ((n = read(m->master, buf, sizeof(buf))) > 0)
			ckt_write_all(STDOUT_FILENO, buf, (size_t)n, &ignored);
		close(m->master);
		m->master = -1;
	}
}

static void raw_mode(struct monitor *m)
{
	struct termios t;
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &m->saved) < 0)
		return;
	t = m->saved;
	cfmakeraw(&t);
	t.c_oflag |= OPOST; /* keep our own stderr lines readable */
	if (tcsetattr(STDIN_FILENO, TCSADRAIN, &t) == 0)
		m->raw = true;
}

/* ---- the timeline ------------------------------------------------------------ */

struct run {
	struct launch_ctx ctx;
	struct launch_cgroup cg;
	struct launch_state st;
	struct ckt_buf etc[3];	/* hostname, hosts, resolv.conf */
	int *vol_fds;
	int imgroot;
	char *run_dir;
	int sync[2], errp[2], sock[2], sigfd;
	sigset_t oldmask;
	bool masked;
};

static void run_release(struct run *r)
{
	for (size_t i = 0; r->vol_fds && i < r->ctx.spec->n_mounts; i++)
		if (r->vol_fds[i] >= 0)
			close(r->vol_fds[i]);
	free(r->vol_fds);
	int fds[] = { r->imgroot, r->ctx.root_mount_fd, r->sync[0], r->sync[1], r->errp[0],
		      r->errp[1], r->sock[0], r->sock[1], r->sigfd };
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	launch_cgroup_remove(&r->cg);
	if (r->st.path)
		unlink(r->st.path);
	free(r->st.path);
	for (size_t i = 0; i < ARRAY_SIZE(r->etc); i++)
		ckt_buf_release(&r->etc[i]);
	free(r->run_dir);
	ckt_strv_free(r->ctx.env);
	launch_ids_release(&r->ctx.ids);
	free((char *)r->ctx.hostname);
	free(r->st.cgroups);
	if (r->masked)
		sigprocmask(SIG_SETMASK, &r->oldmask, NULL);
}

/* The command line as one string, for ckt ps. */
static char *command_line(char *const *argv)
{
	struct ckt_buf b = CKT_BUF_INIT;
	for (char *const *a = argv; *a; a++)
		ckt_buf_addf(&b, "%s%s", a == argv ? "" : " ", *a);
	return ckt_buf_detach(&b, NULL);
}

/* As root, clone the volumes the container binds now, as detached trees
 * the child attaches: from inside, a private range could not reach them,
 * and an fd of our namespace cannot be cloned from the child's. */
static int detach_trees(struct run *r, struct ckt_err *err)
{
	const struct launch_spec *s = r->ctx.spec;
	for (size_t i = 0; i < s->n_mounts; i++) {
		int *fd = &r->vol_fds[i];
		if (*fd < 0)
			continue;
		int t = open_tree(*fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH |
						   AT_RECURSIVE);
		if (t < 0)
			return ckt_err_sys(err, CKT_EIO, "clone '%s'", s->mounts[i].source);
		close(*fd);
		*fd = t;
	}
	r->ctx.trees_detached = true;
	return 0;
}

static int start(struct run *r, struct ckt_err *err)
{
	const struct launch_spec *s = r->ctx.spec;
	struct launch_ctx *ctx = &r->ctx;
	struct idmap map;
	unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;

	/* 1. Check everything the options say. */
	if (check_spec(s, err) < 0)
		return -1;
	r->vol_fds = xcalloc(s->n_mounts + 1, sizeof(int));
	if (open_volumes(s, r->vol_fds, err) < 0)
		return -1;
	ctx->volume_fds = r->vol_fds;
	r->imgroot = open(s->rootfs ? s->rootfs : s->lower[0], O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (r->imgroot < 0)
		return ckt_err_sys(err, errno == ENOENT ? CKT_ENOTFOUND : CKT_EIO,
				   "open root '%s'", s->rootfs ? s->rootfs : s->lower[0]);
	if (launch_user_resolve(r->imgroot, s->user, &ctx->ids, err) < 0)
		return -1;
	if (s->groups_set) {
		free(ctx->ids.groups);
		ctx->ids.groups = xcalloc(s->n_groups + 1, sizeof(gid_t));
		if (s->n_groups)
			memcpy(ctx->ids.groups, s->groups, s->n_groups * sizeof(gid_t));
		ctx->ids.n_groups = s->n_groups;
	}
	ctx->hostname = s->hostname ? xstrdup(s->hostname) : xasprintf("ckt-%s", s->id);
	ctx->env = make_env(s, ctx->hostname, ctx->ids.home);
	ctx->root = s->rootfs ? s->rootfs : s->merged;
	plan_idmap(s, &map);
	ctx->userns = map.how != MAP_NONE;
	ctx->single_map = map.how == MAP_SINGLE;
	ctx->host_uid = getuid();
	ctx->host_gid = getgid();
	if (ctx->single_map && s->groups_set && s->n_groups)
		ckt_warn("supplementary groups cannot be set with a single id mapping "
			 "(no subordinate ids for this user): ignored");
	ctx->devices_bind = ctx->userns;
	if (ctx->userns)
		flags |= CLONE_NEWUSER;
	if (s->net == LAUNCH_NET_NONE)
		flags |= CLONE_NEWNET;
	if (map.how == MAP_DIRECT && s->lower &&
	    (ctx->root_mount_fd = overlay_fsmount(s, err)) < 0)
		return -1;
	if (map.how == MAP_DIRECT &&
	    precreate(s, ctx->root_mount_fd >= 0 ? ctx->root_mount_fd : r->imgroot, r->vol_fds,
		      err) < 0)
		return -1;

	/* 2. Acquire: the generated /etc files, cgroup. */
	if (make_etc(s, r->imgroot, ctx->hostname, r->etc, err) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(r->etc); i++) {
		ctx->etc_data[i] = i < 2 || s->dns ? r->etc[i].buf : NULL;
		ctx->etc_len[i] = r->etc[i].len;
	}
	r->run_dir = s->run_dir ? xstrdup(s->run_dir) : launch_run_dir();
	if (geteuid() == 0 && detach_trees(r, err) < 0)
		return -1;
	if (launch_cgroup_create(s->id, &s->limits, &r->cg, err) < 0)
		return -1;

	/* 3. Pipes, signals, and the one clone(). */
	/* The child waits on sync twice: for the id maps we write (a single
	 * mapping it writes itself, as unshare -r does) before it sets up, and
	 * for its name and cgroup before it runs the command: meanwhile we
	 * claim the name, so that doing so costs the container's start
	 * nothing. */
	ctx->maps_by_monitor = ctx->userns && !ctx->single_map;
	if (pipe2(r->sync, O_CLOEXEC) < 0 || pipe2(r->errp, O_CLOEXEC) < 0 ||
	    (s->tty && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, r->sock) < 0))
		return ckt_err_sys(err, CKT_EIO, "create pipes");
	ctx->sync_fd = r->sync[0];
	ctx->err_fd = r->errp[1];
	ctx->tty_sock = s->tty ? r->sock[1] : -1;
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaddset(&mask, forwarded[i]);
	sigprocmask(SIG_BLOCK, &mask, &r->oldmask);
	r->masked = true;
	r->sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (r->sigfd < 0)
		return ckt_err_sys(err, CKT_EIO, "create signalfd");

	fflush(NULL);
	pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0)
		return ckt_err_sys(err, CKT_EIO, "create the container's namespaces");
	if (pid == 0) {
		close(r->sigfd);
		close(r->sync[1]);
		close(r->errp[0]);
		if (s->tty)
			close(r->sock[0]);
		launch_child(ctx);
	}
	r->st.child = pid;
	close(r->errp[1]);
	r->errp[1] = -1;
	if (s->tty) {
		close(r->sock[1]);
		r->sock[1] = -1;
	}
	close(r->sync[0]);
	r->sync[0] = -1;

	/* 4. From outside: id maps, then the child sets up while we put it in
	 * its cgroup and claim its name; then it may run the command. */
	_cleanup_free_ char *cmd = command_line(s->argv);
	if (ctx->maps_by_monitor &&
	    (write_idmap(pid, &map, err) < 0 || write(r->sync[1], "m", 1) != 1))
		goto kill;
	r->st.name = (char *)(s->name ? s->name : s->id);
	r->st.id = (char *)s->id;
	r->st.pid = getpid();
	r->st.pid_start = launch_proc_start(r->st.pid);
	r->st.child_start = launch_proc_start(pid);
	r->st.image = (char *)s->image;
	r->st.command = cmd;
	r->st.started = (long long)time(NULL);
	r->st.cgroups = xcalloc(r->cg.n + 1, sizeof(char *));
	for (size_t i = 0; i < r->cg.n; i++)
		r->st.cgroups[i] = r->cg.dirs[i];
	int claimed = launch_state_claim(r->run_dir, &r->st, err);
	r->st.command = NULL;
	if (claimed < 0 || launch_cgroup_attach(&r->cg, pid, err) < 0)
		goto kill;
	if (write(r->sync[1], "g", 1) != 1) {
		/* The child died; its status and message tell why. */
	}
	close(r->sync[1]);
	r->sync[1] = -1;
	return 0;
kill:
	if (!err->code)
		ckt_err_sys(err, CKT_EIO, "start the container");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

int launch_run(const struct launch_spec *s, struct ckt_err *err)
{
	struct run r = { .ctx = { .spec = s, .root_mount_fd = -1, .sync_fd = -1, .err_fd = -1,
				  .tty_sock = -1 },
			 .etc = { CKT_BUF_INIT, CKT_BUF_INIT, CKT_BUF_INIT }, .imgroot = -1, .sync = { -1, -1 }, .errp = { -1, -1 },
			 .sock = { -1, -1 }, .sigfd = -1 };
	struct monitor m = { .master = -1 };
	struct launch_failure f;
	int ret;

	if (start(&r, err) < 0) {
		run_release(&r);
		return -1;
	}
	m.child = r.st.child;
	m.sigfd = r.sigfd;
	if (s->tty) {
		m.master = recv_master(r.sock[0]);
		if (m.master >= 0) {
			copy_winsize(m.master);
			m.relay_stdin = s->stdin_open;
			if (s->stdin_open)
				raw_mode(&m);
		}
	}
	monitor_loop(&m);
	if (m.raw)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &m.saved);

	/* A failure record tells a setup or exec failure from the command's
	 * own status. */
	fcntl(r.errp[0], F_SETFL, O_NONBLOCK);
	ret = m.status;
	if (read(r.errp[0], &f, sizeof(f)) == (ssize_t)sizeof(f)) {
		f.msg[sizeof(f.msg) - 1] = '\0';
		ckt_err_failw(err, f.status == LAUNCH_EXIT_FAILED ? CKT_EIO : CKT_ENOTFOUND,
			      NULL, "%s", f.msg);
		ret = f.status == LAUNCH_EXIT_FAILED ? -CKT_EIO : f.status;
	}
	run_release(&r);
	return ret;
}
