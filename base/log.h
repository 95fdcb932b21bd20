#pragma once
/* Logging hooks.  Libraries report warnings and progress notes through
 * ckt_log(); only tools decide where they go (STYLE.md: libraries never
 * write stdout).  Without a handler, messages at or below the level go to
 * stderr as "ckt: <level>: <msg>". */
#include <stdarg.h>

enum ckt_log_level {
	CKT_LOG_ERROR = 0,
	CKT_LOG_WARN,
	CKT_LOG_INFO,
	CKT_LOG_DEBUG,
};

typedef void (*ckt_log_fn)(enum ckt_log_level level, const char *msg, void *data);

/* Install handler fn (NULL: default) and the most verbose level to deliver. */
void ckt_log_set(ckt_log_fn fn, void *data, enum ckt_log_level max);
enum ckt_log_level ckt_log_level_max(void);

void ckt_log(enum ckt_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *ckt_log_level_name(enum ckt_log_level level);

#define ckt_warn(...) ckt_log(CKT_LOG_WARN, __VA_ARGS__)
#define ckt_info(...) ckt_log(CKT_LOG_INFO, __VA_ARGS__)
#define ckt_debug(...) ckt_log(CKT_LOG_DEBUG, __VA_ARGS__)
