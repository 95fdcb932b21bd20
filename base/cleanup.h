#pragma once
/* Scope-bound ownership (STYLE.md, "Ownership").  An owning local carries one
 * of these attributes on its declaration line; ownership leaves only through
 * TAKE_PTR()/TAKE_FD() as the last step on success.  Every cleanup keeps
 * errno, so an error path can still report the cause after unwinding. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Declare `static inline void name(type *p)` calling func(*p) when non-NULL. */
#define CKT_DEFINE_CLEANUP(type, func, name)                                                       \
	static inline void name(type *p)                                                           \
	{                                                                                          \
		if (*p) {                                                                          \
			int saved_errno_ = errno;                                                  \
			func(*p);                                                                  \
			errno = saved_errno_;                                                      \
		}                                                                                  \
	}

static inline void ckt_freep(void *p)
{
	int e = errno;
	free(*(void **)p);
	errno = e;
}

static inline void ckt_closep(int *fd)
{
	if (*fd >= 0) {
		int e = errno;
		close(*fd);
		errno = e;
	}
}

CKT_DEFINE_CLEANUP(FILE *, fclose, ckt_fclosep)
CKT_DEFINE_CLEANUP(DIR *, closedir, ckt_closedirp)

/* Free a NULL-terminated array of strings and the array. */
void ckt_strv_free(char **v);
CKT_DEFINE_CLEANUP(char **, ckt_strv_free, ckt_strv_freep)

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(ckt_freep)
#define _cleanup_close_ _cleanup_(ckt_closep)
#define _cleanup_fclose_ _cleanup_(ckt_fclosep)
#define _cleanup_closedir_ _cleanup_(ckt_closedirp)
#define _cleanup_strv_ _cleanup_(ckt_strv_freep)

/* Hand ownership out of a cleanup-attributed local. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) take_ptr_tmp_ = (p);                                                 \
		(p) = NULL;                                                                        \
		take_ptr_tmp_;                                                                     \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int take_fd_tmp_ = (fd);                                                           \
		(fd) = -1;                                                                         \
		take_fd_tmp_;                                                                      \
	})

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
