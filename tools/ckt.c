/* ckt: git-style dispatcher.  `ckt fetch ARGS…` runs `ckt-fetch ARGS…`,
 * looked up first beside this binary, then on PATH. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/path.h"
#include "base/xalloc.h"
#include "tools/cli.h"

static const char usage[] =
	"Usage: ckt COMMAND [ARGS...]\n"
	"       ckt --help | --version\n"
	"\n"
	"Run the tool ckt-COMMAND with ARGS (git style).  Commands:\n"
	"  fetch     bring images into the store (ckt-fetch)\n"
	"  image     list, inspect, tag, remove, gc and fsck the store (ckt-image)\n"
	"  exec      run an image in namespaces, rootless or as root (ckt-exec)\n"
	"  ps        list running containers (ckt-ps)\n"
	"  stop      stop running containers (ckt-stop)\n"
	"  update    change the limits of running containers (ckt-update)\n"
	"\n"
	"`ckt COMMAND --help` describes each command.\n"
	"Exit status: that of the command; 2 for a usage error; 1 when the command\n"
	"cannot be found.\n";

int main(int argc, char **argv)
{
	struct cli c;
	char self[PATH_MAX];

	cli_init(&c, "ckt", usage, argv);
	if (argc < 2)
		cli_usage_error(&c, "no command given");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(usage, stdout);
		return cli_exit(&c, 0);
	}
	if (!strcmp(argv[1], "--version")) {
		printf("ckt %s\n", CKT_VERSION);
		return cli_exit(&c, 0);
	}
	if (argv[1][0] == '-' || strchr(argv[1], '/'))
		cli_usage_error(&c, "unknown option or command '%s'", argv[1]);

	_cleanup_free_ char *tool = xasprintf("ckt-%s", argv[1]);
	argv[1] = tool;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			_cleanup_free_ char *beside = ckt_path_join(self, tool);
			execv(beside, argv + 1);
		}
	}
	execvp(tool, argv + 1);
	fprintf(stderr, "ckt: error: '%s' is not a ckt command (%s)\n", argv[1] + 4,
		strerror(errno));
	return 1;
}
