/* ckt-exec: run an image in namespaces, rootless or as root, no daemon. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/log.h"
#include "base/path.h"
#include "base/xalloc.h"
#include "libimg/exec.h"
#include "libimg/exec_aci.h"
#include "libimg/launch/launch.h"
#include "libimg/launch/prepared.h"
#include "libimg/policy.h"
#include "tools/cli.h"

static const char usage[] =
	"Usage: ckt-exec [OPTIONS] REF [-- COMMAND [ARG...]]\n"
	"       ckt-exec [OPTIONS] --rootfs DIR -- COMMAND [ARG...]\n"
	"\n"
	"Run the image REF (a name in the store, a pinned NAME@DIGEST, docker://NAME,\n"
	"oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE; `-` reads it from\n"
	"stdin) in new namespaces, as a child of this command, and exit with its status.\n"
	"\n"
	"  -i, --interactive       keep stdin open for the container\n"
	"  -t, --tty               give the container a pseudo-terminal\n"
	"  --init                  run a reaping init as PID 1, the command as its child\n"
	"  --entrypoint CMD        replace the image's Entrypoint ('' clears it)\n"
	"  -u, --user USER[:GROUP] run as USER (name or number, from the image's files)\n"
	"  -e, --env KEY[=VALUE]   set a variable (KEY alone: take ours)\n"
	"  -w, --workdir DIR       working directory\n"
	"  --hostname NAME         hostname (default: ckt-<uuid>)\n"
	"  --name NAME             name for ckt ps/stop/update and the kept upper directory\n"
	"  --keep                  keep the container's upper directory (default: removed)\n"
	"  --rm                    remove it (the default; for docker's muscle memory)\n"
	"  --rootfs DIR            run DIR as the root instead of an image\n"
	"  --read-only             mount the root read-only\n"
	"  --volume HOST:CTR[:ro]  bind HOST (not a symlink) on CTR\n"
	"  --volume NAME,kind=host,source=HOST[,readOnly=true|false]\n"
	"  --volume NAME,kind=empty[,readOnly=...]  an appc image's mountPoint NAME\n"
	"  --tmpfs PATH            a tmpfs on PATH\n"
	"  --net host|none         the host's network (default) or only loopback\n"
	"  --dns host|IP           write /etc/resolv.conf: the host's, or this server\n"
	"  -m, --memory SIZE       memory limit (k, m, g)\n"
	"  --cpus N                CPU limit (0.5 = half a CPU)\n"
	"  --pids-limit N          limit on processes\n"
	"  --private-users         as root: map container root to unprivileged ids\n"
	"  --security-opt no-new-privileges|seccomp=unconfined\n"
	"  --pull missing|always|never  fetch REF first (default: missing)\n"
	"  --platform OS/ARCH[/VARIANT] image of an index to run\n"
	CLI_VERIFY_USAGE
	"  --store DIR   the store (default: $CKT_STORE, /var/lib/ckt for root,\n"
	"                ~/.local/share/ckt otherwise)\n"
	"  -q, --quiet, -v, --verbose, -h, --help, --version\n"
	"\n"
	"Exit status: the command's; 128+N when it died of signal N; 125 when ckt-exec\n"
	"failed; 126 command not executable; 127 command not found; 2 usage error;\n"
	"3 the image is not verified by the trust policy.\n";

enum {
	OPT_INIT = CLI_OPT_FIRST_TOOL, OPT_ENTRYPOINT, OPT_HOSTNAME, OPT_NAME, OPT_KEEP, OPT_RM,
	OPT_ROOTFS, OPT_READ_ONLY, OPT_VOLUME, OPT_TMPFS, OPT_NET, OPT_DNS, OPT_CPUS, OPT_PIDS,
	OPT_PRIVATE_USERS, OPT_SECURITY_OPT, OPT_PULL, OPT_PLATFORM,
};

static const struct option options[] = {
	CLI_COMMON_OPTIONS,
	{ "interactive", no_argument, NULL, 'i' },
	{ "tty", no_argument, NULL, 't' },
	{ "init", no_argument, NULL, OPT_INIT },
	{ "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
	{ "user", required_argument, NULL, 'u' },
	{ "env", required_argument, NULL, 'e' },
	{ "workdir", required_argument, NULL, 'w' },
	{ "hostname", required_argument, NULL, OPT_HOSTNAME },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "keep", no_argument, NULL, OPT_KEEP },
	{ "rm", no_argument, NULL, OPT_RM },
	{ "rootfs", required_argument, NULL, OPT_ROOTFS },
	{ "read-only", no_argument, NULL, OPT_READ_ONLY },
	{ "volume", required_argument, NULL, OPT_VOLUME },
	{ "tmpfs", required_argument, NULL, OPT_TMPFS },
	{ "net", required_argument, NULL, OPT_NET },
	{ "network", required_argument, NULL, OPT_NET },
	{ "dns", required_argument, NULL, OPT_DNS },
	{ "memory", required_argument, NULL, 'm' },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "pids-limit", required_argument, NULL, OPT_PIDS },
	{ "private-users", no_argument, NULL, OPT_PRIVATE_USERS },
	{ "security-opt", required_argument, NULL, OPT_SECURITY_OPT },
	{ "pull", required_argument, NULL, OPT_PULL },
	{ "platform", required_argument, NULL, OPT_PLATFORM },
	CLI_VERIFY_OPTIONS,
	{ 0 },
};

enum pull { PULL_MISSING, PULL_ALWAYS, PULL_NEVER };

struct opts {
	struct launch_spec spec;
	struct img_exec_overrides ov;
	struct img_policy_opts policy;
	char **env;
	size_t n_env;
	char **dns;
	size_t n_dns;
	struct launch_mount *mounts;
	char **mount_strs;	/* owned copies the mounts point into */
	size_t n_mount_strs;
	bool keep;
	enum pull pull;
	const char *platform;
	char **helper_args;	/* options ckt-exec-prepare needs, as given */
	size_t n_helper_args;
	struct img_exec_aci_volume *aci_vols;	/* for an appc image's mountPoints */
	size_t n_aci_vols;
};

static void add_str(char ***v, size_t *n, char *s)
{
	*v = xreallocarray(*v, *n + 2, sizeof(char *));
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

/* rkt's --volume NAME,kind=host|empty[,source=PATH][,readOnly=BOOL] for
 * the mountPoint NAME of an appc image. */
static void add_aci_volume(struct cli *c, struct opts *o, const char *arg)
{
	char *copy = xstrdup(arg), *field, *save = NULL;
	struct img_exec_aci_volume v = { .read_only = -1 };
	const char *kind = NULL;
	add_str(&o->mount_strs, &o->n_mount_strs, copy);
	v.name = copy;
	save = strchr(copy, ',');
	*save++ = '\0';
	while ((field = strsep(&save, ","))) {
		char *val = strchr(field, '=');
		if (!val)
			cli_usage_error(c, "invalid --volume '%s': '%s' is not KEY=VALUE", arg, field);
		*val++ = '\0';
		if (!strcmp(field, "kind") && (!strcmp(val, "host") || !strcmp(val, "empty")))
			kind = val;
		else if (!strcmp(field, "source") && *val)
			v.source = val;
		else if (!strcmp(field, "readOnly") && (!strcmp(val, "true") || !strcmp(val, "false")))
			v.read_only = !strcmp(val, "true");
		else
			cli_usage_error(c, "invalid --volume '%s': %s=%s (kind=host|empty, "
				       "source=PATH, readOnly=true|false)", arg, field, val);
	}
	if (!kind || !strcmp(kind, "host") != !!v.source)
		cli_usage_error(c, "invalid --volume '%s': kind=host needs source=PATH, "
			       "kind=empty takes none", arg);
	for (size_t i = 0; i < o->n_aci_vols; i++)
		if (!strcmp(o->aci_vols[i].name, v.name))
			cli_usage_error(c, "--volume '%s' given twice", v.name);
	o->aci_vols = xreallocarray(o->aci_vols, o->n_aci_vols + 1, sizeof(*o->aci_vols));
	o->aci_vols[o->n_aci_vols++] = v;
}

/* --volume HOST:CTR[:ro|rw], or an appc volume (NAME,kind=...) */
static void add_volume(struct cli *c, struct opts *o, const char *arg)
{
	size_t nl = strspn(arg, "abcdefghijklmnopqrstuvwxyz0123456789-");
	if (nl && arg[nl] == ',' && strstr(arg, ",kind=")) {
		add_aci_volume(c, o, arg);
		return;
	}
	char *copy = xstrdup(arg), *ctr = strchr(copy, ':'), *mode;
	add_str(&o->mount_strs, &o->n_mount_strs, copy);
	if (!ctr || !ctr[1])
		cli_usage_error(c, "invalid --volume '%s' (HOST:CONTAINER[:ro])", arg);
	*ctr++ = '\0';
	mode = strchr(ctr, ':');
	if (mode)
		*mode++ = '\0';
	if (mode && strcmp(mode, "ro") && strcmp(mode, "rw"))
		cli_usage_error(c, "invalid --volume mode '%s' (ro or rw)", mode);
	o->mounts = xreallocarray(o->mounts, o->spec.n_mounts + 1, sizeof(*o->mounts));
	o->mounts[o->spec.n_mounts++] = (struct launch_mount){
		LAUNCH_MOUNT_BIND, copy, ctr, mode && !strcmp(mode, "ro")
	};
}

static void usage_err(struct cli *c, struct ckt_err *err)
{
	cli_usage_error(c, "%s", err->what);
}

static bool parse_option(struct cli *c, struct opts *o, int opt, const char *arg)
{
	struct ckt_err err = CKT_ERR_INIT;
	struct launch_spec *s = &o->spec;
	switch (opt) {
	case 'i': s->stdin_open = true; break;
	case 't': s->tty = true; break;
	case OPT_INIT: s->init = true; break;
	case OPT_ENTRYPOINT: o->ov.entrypoint_set = true; o->ov.entrypoint = arg; break;
	case 'u': o->ov.user = arg; break;
	case 'w':
		if (arg[0] != '/')
			cli_usage_error(c, "--workdir '%s' is not absolute", arg);
		o->ov.workdir = arg;
		break;
	case 'e': {
		const char *v = strchr(arg, '=') ? NULL : getenv(arg);
		if (!strchr(arg, '=') && !v)
			break; /* docker: an unset KEY is left out */
		add_str(&o->env, &o->n_env, v ? xasprintf("%s=%s", arg, v) : xstrdup(arg));
		break;
	}
	case OPT_HOSTNAME: s->hostname = arg; break;
	case OPT_NAME: s->name = arg; break;
	case OPT_KEEP: o->keep = true; break;
	case OPT_RM: o->keep = false; break;
	case OPT_ROOTFS: s->rootfs = arg; break;
	case OPT_READ_ONLY: s->read_only = true; break;
	case OPT_VOLUME: add_volume(c, o, arg); break;
	case OPT_TMPFS:
		o->mounts = xreallocarray(o->mounts, s->n_mounts + 1, sizeof(*o->mounts));
		o->mounts[s->n_mounts++] = (struct launch_mount){ LAUNCH_MOUNT_TMPFS, NULL, arg, false };
		break;
	case OPT_NET:
		if (strcmp(arg, "host") && strcmp(arg, "none"))
			cli_usage_error(c, "invalid --net '%s' (host or none)", arg);
		s->net = strcmp(arg, "none") ? LAUNCH_NET_HOST : LAUNCH_NET_NONE;
		break;
	case OPT_DNS: add_str(&o->dns, &o->n_dns, xstrdup(arg)); break;
	case 'm':
		if (launch_parse_size(arg, &s->limits.memory, &err) < 0)
			usage_err(c, &err);
		break;
	case OPT_CPUS:
		if (launch_parse_cpus(arg, &s->limits.cpu_milli, &err) < 0)
			usage_err(c, &err);
		break;
	case OPT_PIDS: {
		char *end;
		long long n = strtoll(arg, &end, 10);
		if (*end || end == arg || n <= 0)
			cli_usage_error(c, "invalid --pids-limit '%s'", arg);
		s->limits.pids = (uint64_t)n;
		break;
	}
	case OPT_PRIVATE_USERS: s->private_users = true; break;
	case OPT_SECURITY_OPT:
		if (!strcmp(arg, "seccomp=unconfined") || !strcmp(arg, "seccomp:unconfined"))
			s->seccomp_unconfined = true;
		else if (!strcmp(arg, "no-new-privileges") || !strcmp(arg, "no-new-privileges:true"))
			s->no_new_privs = true;
		else
			cli_usage_error(c, "unsupported --security-opt '%s' (no-new-privileges, "
				       "seccomp=unconfined)", arg);
		break;
	case OPT_PULL:
		add_str(&o->helper_args, &o->n_helper_args, xasprintf("--pull=%s", arg));
		if (!strcmp(arg, "missing")) o->pull = PULL_MISSING;
		else if (!strcmp(arg, "always")) o->pull = PULL_ALWAYS;
		else if (!strcmp(arg, "never")) o->pull = PULL_NEVER;
		else cli_usage_error(c, "invalid --pull '%s' (missing, always or never)", arg);
		break;
	case OPT_PLATFORM:
		o->platform = arg;
		add_str(&o->helper_args, &o->n_helper_args, xasprintf("--platform=%s", arg));
		break;
	default:
		if (cli_verify_option(c, &o->policy, opt, arg)) {
			for (const struct option *l = options; l->name; l++)
				if (l->val == opt)
					add_str(&o->helper_args, &o->n_helper_args,
						xasprintf("--%s=%s", l->name, arg));
			return true;
		}
		return cli_common_option(c, opt, arg);
	}
	return true;
}

/* The helper beside our own binary (as ckt does), else on PATH. */
static char *helper_path(void)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			char *beside = ckt_path_join(self, "ckt-exec-prepare");
			if (access(beside, X_OK) == 0)
				return beside;
			free(beside);
		}
	}
	return xstrdup("ckt-exec-prepare");
}

/* Run ckt-exec-prepare for ref: it fetches, verifies and unpacks as the
 * options say, and prints the record's path.  Returns 0, or the exit status
 * to leave with (its own message is already on stderr). */
static int run_prepare(struct cli *c, struct opts *o, const char *ref, char **record)
{
	_cleanup_free_ char *helper = helper_path();
	_cleanup_free_ char *store = cli_store_path(c);
	char *argv[64];
	size_t n = 0;
	int out[2];

	argv[n++] = (char *)"ckt-exec"; /* its messages read as ours */
	argv[n++] = (char *)"--store";
	argv[n++] = store;
	if (c->quiet)
		argv[n++] = (char *)"-q";
	for (size_t i = 0; i < o->n_helper_args && n < 60; i++)
		argv[n++] = o->helper_args[i];
	argv[n++] = (char *)"--";
	argv[n++] = (char *)ref;
	argv[n] = NULL;
	if (pipe2(out, O_CLOEXEC) < 0) {
		cli_warn(c, "cannot create a pipe: %s", strerror(errno));
		return LAUNCH_EXIT_FAILED;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		execvp(helper, argv);
		fprintf(stderr, "ckt-exec: error: run '%s' (%s)\n", helper, strerror(errno));
		_exit(LAUNCH_EXIT_FAILED);
	}
	close(out[1]);
	struct ckt_err err = CKT_ERR_INIT;
	char *data = NULL;
	size_t len = 0;
	if (pid > 0)
		ckt_read_fd(out[0], 1u << 16, &data, &len, &err);
	close(out[0]);
	int st = 0;
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	int code = pid < 0 ? LAUNCH_EXIT_FAILED
			   : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (code == 0 && (!data || !len)) {
		code = LAUNCH_EXIT_FAILED;
	} else if (code == 0) {
		data[strcspn(data, "\n")] = '\0';
		*record = data;
		return 0;
	}
	free(data);
	/* Usage and verification keep their codes; anything else is ours. */
	return code == 2 || code == 3 ? code : LAUNCH_EXIT_FAILED;
}

/* The image's record, from the cache when it is valid and no policy check
 * or pull is due, else made by ckt-exec-prepare.  Returns 0 or an exit
 * status. */
static int prepared_image(struct cli *c, struct opts *o, const char *ref,
			  struct launch_prepared *p)
{
	bool local = !strncmp(ref, "oci:", 4) || !strncmp(ref, "oci-archive:", 12) ||
		     !strncmp(ref, "docker-archive:", 15) || !strncmp(ref, "aci:", 4);
	_cleanup_free_ char *store = cli_store_path(c);
	_cleanup_free_ char *key = launch_prepared_key(ref, o->platform, geteuid() != 0);
	_cleanup_free_ char *path = launch_prepared_path(store, key);
	struct ckt_err err = CKT_ERR_INIT;

	/* Only an insecure run may skip the policy: keys and policies change. */
	if (o->policy.insecure_image && o->pull != PULL_ALWAYS && !local &&
	    launch_prepared_read(path, key, store, p, &err) == 0) {
		ckt_warn("image signature verification has been disabled");
		return 0;
	}
	_cleanup_free_ char *record = NULL;
	int code = run_prepare(c, o, ref, &record);
	if (code)
		return code;
	ckt_err_clear(&err);
	if (launch_prepared_read(record, key, store, p, &err) < 0) {
		cli_error(c, &err);
		return LAUNCH_EXIT_FAILED;
	}
	return 0;
}

/* Returns the exit status. */
static int run(struct cli *c, struct opts *o, const char *ref, char **cmd)
{
	struct launch_spec *s = &o->spec;
	struct img_exec_process proc;
	struct img_exec_root root = { 0 };
	struct launch_prepared p = { 0 };
	struct img_config conf = { 0 };
	struct img_exec_aci aci = { 0 };
	_cleanup_free_ struct launch_mount *mounts = NULL;
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_free_ char *store = NULL;
	char id[40];
	int ret;

	if (launch_uuid(id, sizeof(id), &err) < 0)
		goto fail;
	s->id = id;
	o->ov.cmd = cmd;
	o->ov.env = o->env;
	if (ref) {
		if ((ret = prepared_image(c, o, ref, &p)))
			return ret;
		conf.entrypoint = p.entrypoint;
		conf.cmd = p.cmd;
		conf.env = p.env;
		conf.user = p.user;
		conf.workdir = p.workdir;
		s->image = p.image;
	}
	if (o->n_aci_vols && (!ref || !*p.appc)) {
		ckt_err_fail(&err, CKT_EUSAGE, "--volume %s,kind=...: only an appc image has "
			     "mountPoints", o->aci_vols[0].name);
		goto fail;
	}
	if (ref && *p.appc) {
		/* An ACI runs by its own manifest (libimg/exec_aci.h); the
		 * command line overrides it as for OCI images. */
		if (img_exec_aci_load(p.appc, p.snapshot, o->aci_vols, o->n_aci_vols, !o->ov.workdir,
				      &aci, &err) < 0)
			goto fail;
		conf.env = aci.env;
		conf.user = aci.user;
		conf.workdir = aci.workdir;
		s->groups = aci.groups;
		s->n_groups = aci.n_groups;
		s->groups_set = true;
		if (aci.limits.memory && !s->limits.memory)
			s->limits.memory = aci.limits.memory;
		if (aci.limits.cpu_milli && !s->limits.cpu_milli)
			s->limits.cpu_milli = aci.limits.cpu_milli;
		if (aci.caps_set)
			s->caps = aci.caps;
		s->no_new_privs |= aci.no_new_privs;
		/* The mountPoints first: a --volume HOST:CTR on the same path
		 * is mounted over them. */
		mounts = xcalloc(aci.n_mounts + s->n_mounts + 1, sizeof(*mounts));
		memcpy(mounts, aci.mounts, aci.n_mounts * sizeof(*mounts));
		if (s->n_mounts)
			memcpy(mounts + aci.n_mounts, s->mounts, s->n_mounts * sizeof(*mounts));
		s->mounts = mounts;
		s->n_mounts += aci.n_mounts;
	}
	if (img_exec_process_build(ref ? &conf : NULL, &o->ov, &proc, &err) < 0)
		goto fail;
	s->argv = proc.argv;
	s->env = proc.env;
	s->user = proc.user;
	s->cwd = proc.cwd;
	if (ref) {
		/* Writes stay in memory unless kept (or, as root with private
		 * users, the overlay is made outside and needs directories). */
		bool disk = o->keep || (s->private_users && geteuid() == 0);
		store = cli_store_path(c);
		if (img_exec_root_prepare(store, s->name ? s->name : id, disk, o->keep, &root,
					  &err) < 0) {
			img_exec_process_release(&proc);
			goto fail;
		}
		/* Hold the snapshot while the container runs, so a gc meanwhile
		 * keeps it even if its image loses its name. */
		_cleanup_close_ int hold = launch_prepared_hold(&p, &err);
		if (hold < 0) {
			img_exec_root_release(&root);
			img_exec_process_release(&proc);
			goto fail;
		}
		const char *lower[] = { p.snapshot, NULL };
		s->lower = lower;
		s->upper = root.upper;
		s->work = root.work;
		s->merged = root.merged;
		s->ephemeral = !o->keep;
		ret = launch_run(s, &err);
		s->lower = NULL;
	} else {
		s->image = s->rootfs;
		ret = launch_run(s, &err);
	}
	img_exec_root_release(&root);
	img_exec_process_release(&proc);
	img_exec_aci_release(&aci);
	launch_prepared_release(&p);
	if (ret >= 0) {
		if ((ret == LAUNCH_EXIT_NOEXEC || ret == LAUNCH_EXIT_NOTFOUND) && err.code)
			cli_error(c, &err);
		return ret;
	}
	goto report;
fail:
	img_exec_aci_release(&aci);
	launch_prepared_release(&p);
report:;
	int code = cli_error(c, &err);
	return code == 2 || code == 3 ? code : LAUNCH_EXIT_FAILED;
}

int main(int argc, char **argv)
{
	struct cli c;
	struct opts o = { 0 };
	int opt;

	cli_init(&c, "ckt-exec", usage, argv);
	c.shortopts = "+itu:e:w:m:" CLI_COMMON_SHORT;
	while ((opt = getopt_long(argc, argv, c.shortopts, options, NULL)) != -1)
		parse_option(&c, &o, opt, optarg);
	cli_options_done(&c);
	o.spec.dns = o.dns;
	o.spec.mounts = o.mounts;

	/* REF, then optionally "--" and the command ("+" stops at REF). */
	char *ref = NULL;
	bool dashdash = optind > 1 && !strcmp(argv[optind - 1], "--");
	if (!dashdash && optind < argc && strcmp(argv[optind], "--"))
		ref = argv[optind++];
	if (optind < argc && !strcmp(argv[optind], "--"))
		optind++;
	char **cmd = optind < argc ? argv + optind : NULL;
	if (!ref == !o.spec.rootfs)
		cli_usage_error(&c, ref ? "give either REF or --rootfs, not both"
					: "no image given (REF or --rootfs DIR)");
	_cleanup_strv_ char **stdin_refs = NULL;
	if (ref && !strcmp(ref, "-")) {
		size_t n;
		char *one[] = { ref, NULL };
		stdin_refs = cli_args(&c, 1, one, &n);
		if (n != 1)
			cli_usage_error(&c, "stdin must name exactly one image (got %zu)", n);
		ref = stdin_refs[0];
	}
	int ret = run(&c, &o, ref, cmd);
	ckt_strv_free(o.env);
	ckt_strv_free(o.dns);
	ckt_strv_free(o.mount_strs);
	ckt_strv_free(o.helper_args);
	free(o.mounts);
	free(o.aci_vols);
	return cli_exit(&c, ret);
}
