/* Shared libraries loaded on first use.  See lazylib.h. */
#include "libimg/lazylib.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "libimg/lazy_archive.h"
#include "libimg/lazy_curl.h"

#ifndef IMG_LIBCURL_SONAME
#error "IMG_LIBCURL_SONAME must name libcurl's soname (the Makefile finds it)"
#endif
#ifndef IMG_LIBARCHIVE_SONAME
#error "IMG_LIBARCHIVE_SONAME must name libarchive's soname (the Makefile finds it)"
#endif

static _Noreturn void cannot_load(const char *soname, const char *what)
{
	fprintf(stderr, "%s: error: cannot load %s (%s)\n", program_invocation_short_name, soname,
		what ? what : "unknown error");
	exit(1);
}

void *img_lazylib_sym(void *handle, const char *soname, const char *name)
{
	dlerror();
	void *p = dlsym(handle, name);
	if (!p)
		cannot_load(soname, dlerror());
	return p;
}

void img_lazylib_load(struct img_lazylib *l)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&mu);
	if (!__atomic_load_n(&l->ready, __ATOMIC_ACQUIRE)) {
		/* RTLD_LAZY: the libraries' own calls into their dependencies
		 * are bound on first use (libcurl's chain alone: 0.5-1 ms). */
		void *h = dlopen(l->soname, RTLD_LAZY | RTLD_LOCAL);
		if (!h)
			cannot_load(l->soname, dlerror());
		l->bind(h);
		__atomic_store_n(&l->ready, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&mu);
}

/* The preloading threads, joined by img_lazylib_settle().  Joined rather
 * than waited for: a thread's own exit still frees OpenSSL's per-thread
 * state after its work is done. */
#define PRELOAD_MAX 4
static pthread_mutex_t preload_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t preload_threads[PRELOAD_MAX];
static size_t n_preload;

static void *preload_main(void *l)
{
	img_lazylib_load(l);
	return NULL;
}

void img_lazylib_preload(struct img_lazylib *l)
{
	if (__atomic_load_n(&l->ready, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&preload_mu);
	/* One thread per library, however many sources want it.  Not
	 * started: the first call loads it instead. */
	if (!l->preloading && n_preload < PRELOAD_MAX &&
	    pthread_create(&preload_threads[n_preload], NULL, preload_main, l) == 0) {
		l->preloading = true;
		n_preload++;
	}
	pthread_mutex_unlock(&preload_mu);
}

void img_lazylib_settle(void)
{
	pthread_mutex_lock(&preload_mu);
	for (size_t i = 0; i < n_preload; i++)
		pthread_join(preload_threads[i], NULL);
	n_preload = 0;
	pthread_mutex_unlock(&preload_mu);
}

#define BIND(table, soname, f) table.f = (__typeof__(table.f))img_lazylib_sym(h, soname, #f);

struct img_curl_fns img_curl_fns;

static void bind_curl(void *h)
{
#define BIND_CURL(f) BIND(img_curl_fns, IMG_LIBCURL_SONAME, f)
	IMG_CURL_FUNCS(BIND_CURL)
#undef BIND_CURL
	/* Here, on the preloading thread when there is one (it initialises
	 * OpenSSL: 0.6 ms), and before any other call, as libcurl asks. */
	(img_curl_fns.curl_global_init)(CURL_GLOBAL_DEFAULT);
}

struct img_lazylib img_curl_lib = { .soname = IMG_LIBCURL_SONAME, .bind = bind_curl };

struct img_archive_fns img_archive_fns;

static void bind_archive(void *h)
{
#define BIND_ARCHIVE(f) BIND(img_archive_fns, IMG_LIBARCHIVE_SONAME, f)
	IMG_ARCHIVE_FUNCS(BIND_ARCHIVE)
#undef BIND_ARCHIVE
}

struct img_lazylib img_archive_lib = { .soname = IMG_LIBARCHIVE_SONAME, .bind = bind_archive };
