#include "tools/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/path.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "libimg/policy.h"

static bool progress_shown;

static void log_handler(enum ckt_log_level level, const char *msg, void *data)
{
	struct cli *c = data;
	cli_progress_clear(c);
	fprintf(stderr, "%s: %s: %s\n", c->prog, ckt_log_level_name(level), msg);
}

void cli_init(struct cli *c, const char *prog, const char *usage, char **argv)
{
	memset(c, 0, sizeof(*c));
	c->prog = prog;
	c->usage = usage;
	c->argv = argv;
	c->shortopts = CLI_COMMON_SHORT;
	opterr = 0; /* we name bad options ourselves, with the tool's name */
	/* A tool started with a closed 0, 1 or 2 would write results into
	 * whatever file it opens next; fill the holes with /dev/null. */
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			int n = open("/dev/null", O_RDWR);
			if (n >= 0 && n != fd)
				close(n);
		}
	}
	signal(SIGPIPE, SIG_IGN);
	ckt_log_set(log_handler, c, CKT_LOG_WARN);
}

bool cli_common_option(struct cli *c, int opt, const char *arg)
{
	switch (opt) {
	case CLI_OPT_STORE:
		c->store = arg;
		return true;
	case CLI_OPT_JSON:
		c->json = true;
		return true;
	case 'q':
		c->quiet = true;
		return true;
	case 'v':
		c->verbose++;
		return true;
	case 'h':
		fputs(c->usage, stdout);
		exit(cli_exit(c, 0));
	case CLI_OPT_VERSION:
		printf("%s %s\n", c->prog, CKT_VERSION);
		exit(cli_exit(c, 0));
	case '?': {
		/* getopt is silent (opterr = 0); say what was wrong ourselves. */
		const char *word = c->argv[optind - 1];
		if (optopt > 0 && optopt < 256 && word[1] != '-')
			cli_usage_error(c, "%s '-%c'", strchr(c->shortopts, optopt) ?
				"missing argument for option" : "unknown option", optopt);
		if (optopt == 0)
			cli_usage_error(c, "unknown option '%s'", word);
		if (strchr(word, '='))
			cli_usage_error(c, "option '%.*s' takes no argument", (int)strcspn(word, "="),
					word);
		cli_usage_error(c, "missing argument for option '%s'", word);
	}
	default:
		return false;
	}
}

void cli_options_done(struct cli *c)
{
	enum ckt_log_level lvl = CKT_LOG_WARN;
	if (c->quiet)
		lvl = CKT_LOG_ERROR;
	else if (c->verbose >= 2)
		lvl = CKT_LOG_DEBUG;
	else if (c->verbose)
		lvl = CKT_LOG_INFO;
	ckt_log_set(log_handler, c, lvl);
	c->progress = !c->quiet && !c->json && isatty(STDERR_FILENO);
}

void cli_usage_error(struct cli *c, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: error: ", c->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", c->prog);
	exit(2);
}

int cli_error(struct cli *c, const struct ckt_err *err)
{
	char buf[CKT_ERR_WHAT_MAX + CKT_ERR_WHY_MAX + 8];
	cli_progress_clear(c);
	fprintf(stderr, "%s: error: %s\n", c->prog, ckt_err_str(err, buf, sizeof(buf)));
	return ckt_err_exit_code(err);
}

void cli_warn(struct cli *c, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	(void)c;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ckt_log(CKT_LOG_WARN, "%s", msg);
}

char *cli_store_path(struct cli *c)
{
	/* The one place the store's environment is read (STYLE.md). */
	const char *env = getenv("CKT_STORE");
	if (c->store)
		return xstrdup(c->store);
	if (env && *env)
		return xstrdup(env);
	if (geteuid() == 0)
		return xstrdup("/var/lib/ckt");
	const char *xdg = getenv("XDG_DATA_HOME");
	if (xdg && *xdg == '/')
		return ckt_path_join(xdg, "ckt");
	const char *home = getenv("HOME");
	return xasprintf("%s/.local/share/ckt", home && *home ? home : ".");
}

static void push(char ***v, size_t *n, size_t *alloc, char *s)
{
	ALLOC_GROW(*v, *n + 2, *alloc);
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

char **cli_args(struct cli *c, int argc, char **argv, size_t *n)
{
	char **v = NULL;
	size_t alloc = 0;
	bool stdin_read = false;

	(void)c;
	*n = 0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-")) {
			push(&v, n, &alloc, xstrdup(argv[i]));
			continue;
		}
		if (stdin_read)
			continue;
		stdin_read = true;
		char *line = NULL;
		size_t cap = 0;
		ssize_t len;
		while ((len = getline(&line, &cap, stdin)) >= 0) {
			char *s = line, *e = line + len;
			while (s < e && (*s == ' ' || *s == '\t'))
				s++;
			while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' ||
					 e[-1] == '\t'))
				e--;
			if (e > s)
				push(&v, n, &alloc, xstrndup(s, (size_t)(e - s)));
		}
		free(line);
	}
	if (!v)
		v = xcalloc(1, sizeof(char *));
	return v;
}

void cli_out(struct cli *c, const char *fmt, ...)
{
	va_list ap;
	(void)c;
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

int cli_exit(struct cli *c, int code)
{
	cli_progress_clear(c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno != EPIPE)
			fprintf(stderr, "%s: error: write to stdout (%s)\n", c->prog,
				strerror(errno));
		return code ? code : 1;
	}
	return code;
}

const char *cli_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	size_t u = 0;
	while (v >= 1024 && u + 1 < ARRAY_SIZE(units))
		v /= 1024, u++;
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_progress(struct cli *c, const char *label, uint64_t done, uint64_t total)
{
	static double last, start;
	char a[32], b[32], r[32];

	if (!c->progress)
		return;
	double t = now();
	if (!start)
		start = t;
	if (t - last < 0.1 && done != total)
		return;
	last = t;
	double rate = t > start ? (double)done / (t - start) : 0;
	fprintf(stderr, "\r\033[K%s: %s / %s  %s/s", label, cli_bytes(done, a, sizeof(a)),
		total ? cli_bytes(total, b, sizeof(b)) : "?", cli_bytes((uint64_t)rate, r, sizeof(r)));
	progress_shown = true;
}

void cli_progress_clear(struct cli *c)
{
	(void)c;
	if (progress_shown)
		fputs("\r\033[K", stderr);
	progress_shown = false;
}

bool cli_verify_option(struct cli *c, struct img_policy_opts *o, int opt, const char *arg)
{
	/* rkt's --insecure-options names (rkt/flag/secflags.go); only "image"
	 * concerns signatures, the others are accepted for compatibility. */
	static const char *const known[] = { "none", "tls", "ondisk", "http", "pubkey",
					     "capabilities", "paths", "seccomp", NULL };
	switch (opt) {
	case CLI_OPT_POLICY:
		o->policy = arg;
		return true;
	case CLI_OPT_REGISTRIES_D:
		o->registries_d = arg;
		return true;
	case CLI_OPT_LOCAL_CONFIG:
		o->local_config = arg;
		return true;
	case CLI_OPT_SYSTEM_CONFIG:
		o->system_config = arg;
		return true;
	case CLI_OPT_INSECURE_OPTIONS: {
		_cleanup_free_ char *copy = xstrdup(arg);
		char *save = NULL;
		for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
			bool ok = false;
			if (!strcmp(w, "image") || !strcmp(w, "all") || !strcmp(w, "all-fetch") ||
			    !strcmp(w, "all-run")) {
				o->insecure_image = true;
				continue;
			}
			for (const char *const *k = known; *k; k++)
				ok |= !strcmp(*k, w);
			if (!ok)
				cli_usage_error(c, "unknown --insecure-options value '%s'", w);
		}
		return true;
	}
	default:
		return false;
	}
}
