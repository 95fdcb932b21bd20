/* ckt-ps: running containers, found through their state files (no daemon). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "libimg/launch/state.h"
#include "tools/cli.h"

static const char usage[] =
	"Usage: ckt-ps [OPTIONS]\n"
	"\n"
	"List the containers ckt-exec runs for this user: a table on a terminal, one\n"
	"name per line when piped.  State lives in $XDG_RUNTIME_DIR/ckt (/run/ckt for\n"
	"root); entries of containers that are gone are removed.\n"
	"\n"
	"  --json        one object per container: name, id, pid (the container's\n"
	"                PID 1 as the host sees it), monitor_pid, image, command,\n"
	"                started (seconds since the epoch), cgroups\n"
	"  -q, --quiet   names only\n"
	"  -v, --verbose, -h, --help, --version\n"
	"\n"
	"Exit status: 0 success; 1 failure; 2 usage error.\n";

static void age(long long started, char *buf, size_t len)
{
	long long d = (long long)time(NULL) - started;
	if (d < 120)
		snprintf(buf, len, "%llds ago", d < 0 ? 0 : d);
	else if (d < 7200)
		snprintf(buf, len, "%lldm ago", d / 60);
	else
		snprintf(buf, len, "%lldh ago", d / 3600);
}

static void print_one(struct cli *c, const struct launch_state *st, bool table)
{
	if (c->json) {
		json_t *cg = json_array();
		for (char **p = st->cgroups; p && *p; p++)
			json_array_append_new(cg, json_string(*p));
		json_t *j = json_pack("{s:s?, s:s?, s:i, s:i, s:s?, s:s?, s:I, s:o}", "name", st->name,
				      "id", st->id, "pid", (int)st->child, "monitor_pid",
				      (int)st->pid, "image", st->image, "command", st->command,
				      "started", (json_int_t)st->started, "cgroups", cg);
		char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
		cli_out(c, "%s", s);
		free(s);
		json_decref(j);
	} else if (table) {
		char when[32];
		age(st->started, when, sizeof(when));
		cli_out(c, "%-24.24s %-8d %-32.32s %-10s %s", st->name ? st->name : "",
			(int)st->child, st->image ? st->image : "", when,
			st->command ? st->command : "");
	} else {
		cli_out(c, "%s", st->name ? st->name : "");
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { CLI_COMMON_OPTIONS, { 0 } };
	struct cli c;
	struct ckt_err err = CKT_ERR_INIT;
	struct launch_state *v;
	size_t n;
	int opt;

	cli_init(&c, "ckt-ps", usage, argv);
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1)
		cli_common_option(&c, opt, optarg);
	cli_options_done(&c);
	if (optind < argc)
		cli_usage_error(&c, "unexpected argument '%s'", argv[optind]);
	_cleanup_free_ char *dir = launch_run_dir();
	if (launch_state_list(dir, &v, &n, &err) < 0)
		return cli_exit(&c, cli_error(&c, &err));
	bool table = !c.json && !c.quiet && isatty(STDOUT_FILENO);
	if (table)
		printf("%-24s %-8s %-32s %-10s %s\n", "NAME", "PID", "IMAGE", "STARTED", "COMMAND");
	for (size_t i = 0; i < n; i++)
		print_one(&c, &v[i], table);
	launch_states_free(v, n);
	return cli_exit(&c, 0);
}
