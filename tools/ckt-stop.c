/* ckt-stop: stop running containers by name (no daemon: through the state
 * files ckt-exec writes, and signals to the monitoring ckt-exec). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "libimg/launch/state.h"
#include "tools/cli.h"

static const char usage[] =
	"Usage: ckt-stop [OPTIONS] NAME...\n"
	"\n"
	"Stop containers started by ckt-exec: send SIGNAL to the ckt-exec that monitors\n"
	"each one (it forwards it to the container), wait up to SECONDS for it to\n"
	"exit, then kill the container.  Prints each name once stopped; `-` reads\n"
	"names from stdin.\n"
	"\n"
	"  -s, --signal SIGNAL   signal to send first (default: TERM; a name or number)\n"
	"  -t, --time SECONDS    grace period before SIGKILL (default: 10)\n"
	"  -q, --quiet, -v, --verbose, -h, --help, --version\n"
	"\n"
	"Exit status: 0 all stopped; 1 a container was not found or could not be\n"
	"signalled; 2 usage error.\n";

static int parse_signal(const char *s)
{
	static const struct { const char *name; int sig; } sigs[] = {
		{ "TERM", SIGTERM }, { "KILL", SIGKILL }, { "INT", SIGINT }, { "HUP", SIGHUP },
		{ "QUIT", SIGQUIT }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
	};
	char *end;
	long n = strtol(s, &end, 10);
	if (!*end && end != s)
		return n > 0 && n < NSIG ? (int)n : -1;
	if (!strncmp(s, "SIG", 3))
		s += 3;
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		if (!strcasecmp(s, sigs[i].name))
			return sigs[i].sig;
	return -1;
}

static int stop_one(const char *dir, const char *name, int sig, double grace, struct ckt_err *err)
{
	struct launch_state st;
	if (launch_state_read(dir, name, &st, err) < 0)
		return -1;
	if (!launch_state_alive(&st)) {
		launch_state_release(&st);
		return ckt_err_fail(err, CKT_ENOTFOUND, "no such container '%s'", name);
	}
	int ret = 0;
	if (kill(st.pid, sig) < 0 && errno != ESRCH) {
		ret = ckt_err_sys(err, CKT_EIO, "signal container '%s'", name);
		goto out;
	}
	for (double t = 0; t < grace && launch_state_alive(&st); t += 0.02)
		nanosleep(&(struct timespec){ 0, 20 * 1000 * 1000 }, NULL);
	if (launch_state_alive(&st)) {
		/* The container's PID 1: its death takes the whole pid namespace. */
		if (st.child > 0 && launch_proc_start(st.child) == st.child_start)
			kill(st.child, SIGKILL);
		for (int i = 0; i < 250 && launch_state_alive(&st); i++)
			nanosleep(&(struct timespec){ 0, 20 * 1000 * 1000 }, NULL);
	}
out:
	launch_state_release(&st);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "signal", required_argument, NULL, 's' },
		{ "time", required_argument, NULL, 't' },
		{ 0 },
	};
	struct cli c;
	int opt, sig = SIGTERM, ret = 0;
	double grace = 10;

	cli_init(&c, "ckt-stop", usage, argv);
	c.shortopts = "s:t:" CLI_COMMON_SHORT;
	while ((opt = getopt_long(argc, argv, c.shortopts, opts, NULL)) != -1) {
		if (opt == 's') {
			if ((sig = parse_signal(optarg)) < 0)
				cli_usage_error(&c, "invalid signal '%s'", optarg);
		} else if (opt == 't') {
			char *end;
			grace = strtod(optarg, &end);
			if (*end || end == optarg || grace < 0)
				cli_usage_error(&c, "invalid --time '%s'", optarg);
		} else {
			cli_common_option(&c, opt, optarg);
		}
	}
	cli_options_done(&c);
	if (optind >= argc)
		cli_usage_error(&c, "no container named");
	size_t n;
	_cleanup_strv_ char **names = cli_args(&c, argc - optind, argv + optind, &n);
	_cleanup_free_ char *dir = launch_run_dir();
	for (size_t i = 0; i < n; i++) {
		struct ckt_err err = CKT_ERR_INIT;
		if (stop_one(dir, names[i], sig, grace, &err) < 0) {
			int code = cli_error(&c, &err);
			if (!ret)
				ret = code;
			continue;
		}
		cli_out(&c, "%s", names[i]);
	}
	return cli_exit(&c, ret);
}
