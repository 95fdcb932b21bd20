#include "log.h"

#include <stdio.h>

static ckt_log_fn log_fn;
static void *log_data;
static enum ckt_log_level log_max = CKT_LOG_WARN;

void ckt_log_set(ckt_log_fn fn, void *data, enum ckt_log_level max)
{
	log_fn = fn;
	log_data = data;
	log_max = max;
}

enum ckt_log_level ckt_log_level_max(void)
{
	return log_max;
}

const char *ckt_log_level_name(enum ckt_log_level level)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	return (unsigned)level < 4 ? names[level] : "log";
}

void ckt_log(enum ckt_log_level level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (level > log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_fn)
		log_fn(level, msg, log_data);
	else
		fprintf(stderr, "ckt: %s: %s\n", ckt_log_level_name(level), msg);
}
