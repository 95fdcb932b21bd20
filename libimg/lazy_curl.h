#pragma once
/* libcurl, loaded on first use (libimg/lazylib.h): include this instead of
 * <curl/curl.h>.  Each call goes through img_curl(), which loads the
 * library the first time; a tool that never talks HTTP never maps libcurl
 * and the ~25 libraries it pulls in (GnuTLS, Kerberos, LDAP, ...).  The
 * macros replace curl's type-checking wrappers of curl_easy_setopt and
 * curl_easy_getinfo. */
#include <curl/curl.h>

#include "libimg/lazylib.h"

/* Every libcurl function libimg calls. */
#define IMG_CURL_FUNCS(X) \
	X(curl_easy_cleanup) \
	X(curl_easy_escape) \
	X(curl_easy_getinfo) \
	X(curl_easy_init) \
	X(curl_easy_perform) \
	X(curl_easy_reset) \
	X(curl_easy_setopt) \
	X(curl_easy_strerror) \
	X(curl_free) \
	X(curl_getdate) \
	X(curl_global_init) \
	X(curl_multi_add_handle) \
	X(curl_multi_cleanup) \
	X(curl_multi_info_read) \
	X(curl_multi_init) \
	X(curl_multi_perform) \
	X(curl_multi_poll) \
	X(curl_multi_remove_handle) \
	X(curl_multi_setopt) \
	X(curl_multi_strerror) \
	X(curl_share_cleanup) \
	X(curl_share_init) \
	X(curl_share_setopt) \
	X(curl_slist_append) \
	X(curl_slist_free_all) \
	X(curl_version_info)

struct img_curl_fns {
#define IMG_CURL_PTR(f) __typeof__(f) *f;
	IMG_CURL_FUNCS(IMG_CURL_PTR)
#undef IMG_CURL_PTR
};

extern struct img_curl_fns img_curl_fns;
extern struct img_lazylib img_curl_lib;

/* Start loading libcurl in the background (img_lazylib_preload). */
static inline void img_curl_preload(void)
{
	img_lazylib_preload(&img_curl_lib);
}

static inline const struct img_curl_fns *img_curl(void)
{
	img_lazylib_need(&img_curl_lib);
	return &img_curl_fns;
}

#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#undef curl_share_setopt
#define curl_easy_cleanup(...) (img_curl()->curl_easy_cleanup(__VA_ARGS__))
#define curl_easy_escape(...) (img_curl()->curl_easy_escape(__VA_ARGS__))
#define curl_easy_getinfo(...) (img_curl()->curl_easy_getinfo(__VA_ARGS__))
#define curl_easy_init(...) (img_curl()->curl_easy_init(__VA_ARGS__))
#define curl_easy_perform(...) (img_curl()->curl_easy_perform(__VA_ARGS__))
#define curl_easy_reset(...) (img_curl()->curl_easy_reset(__VA_ARGS__))
#define curl_easy_setopt(...) (img_curl()->curl_easy_setopt(__VA_ARGS__))
#define curl_easy_strerror(...) (img_curl()->curl_easy_strerror(__VA_ARGS__))
#define curl_free(...) (img_curl()->curl_free(__VA_ARGS__))
#define curl_getdate(...) (img_curl()->curl_getdate(__VA_ARGS__))
#define curl_global_init(...) (img_curl()->curl_global_init(__VA_ARGS__))
#define curl_multi_add_handle(...) (img_curl()->curl_multi_add_handle(__VA_ARGS__))
#define curl_multi_cleanup(...) (img_curl()->curl_multi_cleanup(__VA_ARGS__))
#define curl_multi_info_read(...) (img_curl()->curl_multi_info_read(__VA_ARGS__))
#define curl_multi_init(...) (img_curl()->curl_multi_init(__VA_ARGS__))
#define curl_multi_perform(...) (img_curl()->curl_multi_perform(__VA_ARGS__))
#define curl_multi_poll(...) (img_curl()->curl_multi_poll(__VA_ARGS__))
#define curl_multi_remove_handle(...) (img_curl()->curl_multi_remove_handle(__VA_ARGS__))
#define curl_multi_setopt(...) (img_curl()->curl_multi_setopt(__VA_ARGS__))
#define curl_multi_strerror(...) (img_curl()->curl_multi_strerror(__VA_ARGS__))
#define curl_share_cleanup(...) (img_curl()->curl_share_cleanup(__VA_ARGS__))
#define curl_share_init(...) (img_curl()->curl_share_init(__VA_ARGS__))
#define curl_share_setopt(...) (img_curl()->curl_share_setopt(__VA_ARGS__))
#define curl_slist_append(...) (img_curl()->curl_slist_append(__VA_ARGS__))
#define curl_slist_free_all(...) (img_curl()->curl_slist_free_all(__VA_ARGS__))
#define curl_version_info(...) (img_curl()->curl_version_info(__VA_ARGS__))
