/* ckt-update: change the resource limits of a running container (docker
 * update, without a daemon: through the cgroups its state file names). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "libimg/launch/cgroup.h"
#include "libimg/launch/state.h"
#include "tools/cli.h"

static const char usage[] =
	"Usage: ckt-update [OPTIONS] NAME...\n"
	"\n"
	"Change the limits of running containers.  A container has cgroups only when\n"
	"ckt-exec started it with a limit (--memory, --cpus or --pids-limit); all\n"
	"three can then be changed.  Prints each name updated.\n"
	"\n"
	"  -m, --memory SIZE     memory limit (k, m, g)\n"
	"  --cpus N              CPU limit (0.5 = half a CPU)\n"
	"  --pids-limit N        limit on processes\n"
	"  -q, --quiet, -v, --verbose, -h, --help, --version\n"
	"\n"
	"Exit status: 0 success; 1 a container was not found or has no cgroup, or a\n"
	"limit could not be set; 2 usage error.\n";

enum { OPT_CPUS = CLI_OPT_FIRST_TOOL, OPT_PIDS };

static int update_one(const char *dir, const char *name, const struct launch_limits *l,
		      struct ckt_err *err)
{
	struct launch_state st;
	int ret;
	if (launch_state_read(dir, name, &st, err) < 0)
		return -1;
	if (!launch_state_alive(&st))
		ret = ckt_err_fail(err, CKT_ENOTFOUND, "no such container '%s'", name);
	else if (!st.cgroups || !st.cgroups[0])
		ret = ckt_err_fail(err, CKT_EIO,
				   "container '%s' has no cgroup (start it with a limit)", name);
	else {
		size_t n = 0;
		while (st.cgroups[n])
			n++;
		ret = launch_cgroup_set(st.cgroups, n, l, err);
		if (ret < 0)
			ckt_err_wrap(err, "update '%s'", name);
	}
	launch_state_release(&st);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "pids-limit", required_argument, NULL, OPT_PIDS },
		{ 0 },
	};
	struct cli c;
	struct launch_limits l = { 0 };
	struct ckt_err err = CKT_ERR_INIT;
	int opt, ret = 0;

	cli_init(&c, "ckt-update", usage, argv);
	c.shortopts = "m:" CLI_COMMON_SHORT;
	while ((opt = getopt_long(argc, argv, c.shortopts, opts, NULL)) != -1) {
		if (opt == 'm' && launch_parse_size(optarg, &l.memory, &err) < 0)
			cli_usage_error(&c, "%s", err.what);
		else if (opt == OPT_CPUS && launch_parse_cpus(optarg, &l.cpu_milli, &err) < 0)
			cli_usage_error(&c, "%s", err.what);
		else if (opt == OPT_PIDS) {
			char *end;
			long long v = strtoll(optarg, &end, 10);
			if (*end || end == optarg || v <= 0)
				cli_usage_error(&c, "invalid --pids-limit '%s'", optarg);
			l.pids = (uint64_t)v;
		} else if (opt != 'm' && opt != OPT_CPUS)
			cli_common_option(&c, opt, optarg);
	}
	cli_options_done(&c);
	if (!l.memory && !l.cpu_milli && !l.pids)
		cli_usage_error(&c, "nothing to update (--memory, --cpus or --pids-limit)");
	if (optind >= argc)
		cli_usage_error(&c, "no container named");
	size_t n;
	_cleanup_strv_ char **names = cli_args(&c, argc - optind, argv + optind, &n);
	_cleanup_free_ char *dir = launch_run_dir();
	for (size_t i = 0; i < n; i++) {
		ckt_err_clear(&err);
		if (update_one(dir, names[i], &l, &err) < 0) {
			int code = cli_error(&c, &err);
			if (!ret)
				ret = code;
			continue;
		}
		cli_out(&c, "%s", names[i]);
	}
	return cli_exit(&c, ret);
}
