#pragma once
/* Shared libraries loaded on first use.
 *
 * libcurl and libarchive each drag in dozens of other libraries (GnuTLS,
 * Kerberos, LDAP, libxml2, ICU, ...) whose mapping and relocation cost a
 * tool 3 to 7 ms at every start, whether it needs them or not.  libimg
 * therefore calls them through tables of function pointers filled by
 * dlopen(3) the first time a function is called (libimg/lazy_curl.h,
 * libimg/lazy_archive.h); the tools do not link them.  The libraries stay
 * hard dependencies: when one cannot be loaded the process exits with a
 * clear message, as the dynamic loader would have refused to start it. */

#include <stdbool.h>

struct img_lazylib {
	const char *soname;
	void (*bind)(void *handle); /* fill the function table from the handle */
	int ready;
	bool preloading; /* a preloading thread was started, under its lock */
};

/* Load l (once per process; thread-safe) or exit(1) with a message. */
void img_lazylib_load(struct img_lazylib *l);

static inline void img_lazylib_need(struct img_lazylib *l)
{
	if (!__atomic_load_n(&l->ready, __ATOMIC_ACQUIRE))
		img_lazylib_load(l);
}

/* Start loading l on a thread of its own and return at once, for a tool
 * that knows it will need the library soon: the loading then overlaps the
 * tool's other start-up work (opening the store, reading its config). */
void img_lazylib_preload(struct img_lazylib *l);

/* Wait for every preloading thread to end.  A tool that preloads calls
 * it before it exits: exit(3) must not run the libraries' clean-up (say
 * OpenSSL's, registered with atexit) while another thread is still loading
 * and initialising them (a fast failure crashed with SIGSEGV now and then). */
void img_lazylib_settle(void);

/* For the bind functions: the address of `name` in handle, or exit(1). */
void *img_lazylib_sym(void *handle, const char *soname, const char *name);
