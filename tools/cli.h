#pragma once
/* What every tool shares (STYLE.md "Layout", DESIGN.md "Contract shared by
 * every tool"): common options, the message printer, progress drawing, the
 * error → exit code mapping and the stdout check at exit. */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/err.h"
#include "store/store.h"

enum cli_opt {
	CLI_OPT_STORE = 0x1000,
	CLI_OPT_JSON,
	CLI_OPT_VERSION,
	CLI_OPT_HELP,
	CLI_OPT_FIRST_TOOL, /* tools number their own long-only options from here */
};

/* Long options every tool accepts; put this first in a tool's table. */
#define CLI_COMMON_OPTIONS                                                                         \
	{ "store", required_argument, NULL, CLI_OPT_STORE },                                       \
	{ "json", no_argument, NULL, CLI_OPT_JSON },                                               \
	{ "quiet", no_argument, NULL, 'q' },                                                       \
	{ "verbose", no_argument, NULL, 'v' },                                                     \
	{ "help", no_argument, NULL, 'h' },                                                        \
	{ "version", no_argument, NULL, CLI_OPT_VERSION }
#define CLI_COMMON_SHORT "qvh"

struct cli {
	const char *prog;	/* "ckt-fetch" */
	const char *usage;	/* full --help text */
	const char *store;	/* --store, else NULL (see cli_store_path) */
	bool json;
	bool quiet;
	int verbose;
	bool progress;		/* stderr is a tty and neither -q nor --json */
	char **argv;		/* for naming a bad option */
	const char *shortopts;	/* the tool's getopt short options (default CLI_COMMON_SHORT) */
};

/* Set up a tool: make sure fds 0-2 are open, ignore SIGPIPE, install the
 * log handler that prints "prog: level: msg". */
void cli_init(struct cli *c, const char *prog, const char *usage, char **argv);
/* Handle a common option; returns true when opt was one.  --help prints
 * usage to stdout and exits 0; --version prints the version and exits 0;
 * '?' (getopt's unknown option) prints a hint and exits 2. */
bool cli_common_option(struct cli *c, int opt, const char *arg);
/* Finish option parsing: decides on progress output. */
void cli_options_done(struct cli *c);

/* Usage error: "prog: error: msg", a hint, exit 2. */
void cli_usage_error(struct cli *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
/* Print err as "prog: error: what (why)" and return its exit code. */
int cli_error(struct cli *c, const struct ckt_err *err);
/* Warnings and info through the log hooks (respect -q / -v). */
void cli_warn(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The store directory: --store, $CKT_STORE, /var/lib/ckt for root, else
 * ${XDG_DATA_HOME:-~/.local/share}/ckt (newly allocated). */
char *cli_store_path(struct cli *c);
/* Open the store at cli_store_path() with flags.  Inline, so that a tool
 * that never opens the store (ckt-exec) does not link store.o and, through
 * it, libcrypto: loading libcrypto costs a millisecond per start. */
static inline struct store *cli_store_open(struct cli *c, unsigned flags, struct ckt_err *err)
{
	char *path = cli_store_path(c);
	/* store_open names the store in its error already. */
	struct store *s = store_open(path, flags, err);
	free(path);
	return s;
}

/* Expand positional arguments: each "-" is replaced by the lines of stdin
 * (blank lines and surrounding space dropped).  Returns a NULL-terminated
 * vector (caller frees with ckt_strv_free) and its length in *n. */
char **cli_args(struct cli *c, int argc, char **argv, size_t *n);

/* Print one result line to stdout and flush it. */
void cli_out(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Flush and check stdout; returns code, or 1 when stdout could not be written. */
int cli_exit(struct cli *c, int code);

/* Progress: one redrawn line on stderr, at most ~10 redraws a second; a
 * no-op unless c->progress.  cli_progress_clear() erases it (done before
 * any other stderr line). */
void cli_progress(struct cli *c, const char *label, uint64_t done, uint64_t total);
void cli_progress_clear(struct cli *c);
/* Human-readable byte count into buf. */
const char *cli_bytes(uint64_t n, char *buf, size_t len);

/* ---- signature verification options (ckt-verify, ckt-fetch --verify, ckt-exec) ---- */
struct img_policy_opts;
enum cli_verify_opt {
	CLI_OPT_POLICY = 0x1800,
	CLI_OPT_REGISTRIES_D,
	CLI_OPT_LOCAL_CONFIG,
	CLI_OPT_SYSTEM_CONFIG,
	CLI_OPT_INSECURE_OPTIONS,
};
#define CLI_VERIFY_OPTIONS                                                                         \
	{ "policy", required_argument, NULL, CLI_OPT_POLICY },                                     \
	{ "registries.d", required_argument, NULL, CLI_OPT_REGISTRIES_D },                         \
	{ "local-config", required_argument, NULL, CLI_OPT_LOCAL_CONFIG },                         \
	{ "system-config", required_argument, NULL, CLI_OPT_SYSTEM_CONFIG },                       \
	{ "insecure-options", required_argument, NULL, CLI_OPT_INSECURE_OPTIONS }
/* Usage text lines for CLI_VERIFY_OPTIONS. */
#define CLI_VERIFY_USAGE                                                                           \
	"  --policy FILE           signature policy (default: $CKT_POLICY, <local config>/\n"       \
	"                          policy.json, /etc/containers/policy.json; none: a signature\n" \
	"                          by a key of the trust store is required)\n"                      \
	"  --registries.d DIR      lookaside signature stores (default:\n"                         \
	"                          /etc/containers/registries.d)\n"                                \
	"  --local-config DIR      local trust store (default: /etc/ckt as root, ~/.config/ckt)\n" \
	"  --system-config DIR     system trust store (default: PREFIX/lib/ckt)\n"                  \
	"  --insecure-options LIST comma-separated; 'image' skips signature verification\n"
/* Handle a verification option into o; true when opt was one.  An unknown
 * --insecure-options value is a usage error. */
bool cli_verify_option(struct cli *c, struct img_policy_opts *o, int opt, const char *arg);
