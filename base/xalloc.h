#pragma once
/* Allocation that never returns NULL: on exhaustion the process aborts with a
 * message (STYLE.md: no NULL checks after xmalloc). */
#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Reallocate to nmemb * size, aborting on multiplication overflow. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Return a newly allocated formatted string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Grow array `x` (with `alloc` slots) so that it holds at least nr items (git's ALLOC_GROW). */
#define ALLOC_GROW(x, nr, alloc)                                                                   \
	do {                                                                                       \
		if ((nr) > (alloc)) {                                                              \
			size_t alloc_grow_n_ = (alloc) < 8 ? 8 : (alloc) * 2;                      \
			if (alloc_grow_n_ < (size_t)(nr))                                          \
				alloc_grow_n_ = (nr);                                              \
			(x) = xreallocarray((x), alloc_grow_n_, sizeof(*(x)));                     \
			(alloc) = alloc_grow_n_;                                                   \
		}                                                                                  \
	} while (0)
