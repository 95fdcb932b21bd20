#include "libimg/platform.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "base/cleanup.h"
#include "base/xalloc.h"

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

int img_platform_parse(const char *s, struct img_platform *out, struct ckt_err *err)
{
	assert(s && out);
	char *parts[3] = { NULL, NULL, NULL };
	size_t n = 0;
	const char *p = s;

	for (;;) {
		size_t len = strcspn(p, "/");
		const char *why = NULL;
		if (n == 3)
			why = "more than three parts";
		else if (len == 0)
			why = "empty part";
		else if (strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") <
			 len)
			why = "invalid character";
		if (why) {
			for (size_t i = 0; i < n; i++)
				free(parts[i]);
			return ckt_err_failw(err, CKT_EUSAGE, why,
					     "invalid platform '%s', expected os/arch[/variant]", s);
		}
		parts[n++] = xstrndup(p, len);
		if (!p[len])
			break;
		p += len + 1;
	}
	if (n < 2) {
		free(parts[0]);
		return ckt_err_failw(err, CKT_EUSAGE, "no architecture",
				     "invalid platform '%s', expected os/arch[/variant]", s);
	}
	out->os = parts[0];
	out->arch = parts[1];
	out->variant = parts[2];
	return 0;
}

/* Architecture names as Go's GOARCH spells them, with the variant an alias
 * implies (containerd platforms/database.go normalizeArch). */
static const struct {
	const char *alias, *arch, *variant;
} arch_aliases[] = {
	{ "x86_64", "amd64", NULL },  { "x86-64", "amd64", NULL }, { "aarch64", "arm64", NULL },
	{ "armhf", "arm", "v7" },     { "armel", "arm", "v6" },    { "i386", "386", NULL },
	{ "i486", "386", NULL },      { "i586", "386", NULL },     { "i686", "386", NULL },
	{ "x86", "386", NULL },       { "ppc64el", "ppc64le", NULL },
};

void img_platform_normalize(struct img_platform *p)
{
	assert(p->os && p->arch);
	lower(p->os);
	lower(p->arch);
	if (p->variant)
		lower(p->variant);
	for (size_t i = 0; i < ARRAY_SIZE(arch_aliases); i++) {
		if (strcmp(p->arch, arch_aliases[i].alias))
			continue;
		free(p->arch);
		p->arch = xstrdup(arch_aliases[i].arch);
		if (!p->variant && arch_aliases[i].variant)
			p->variant = xstrdup(arch_aliases[i].variant);
		break;
	}
	if (!p->variant)
		return;
	/* "7" and "v7" name the same ARM revision; arm64's "v8.0" is "v8". */
	if (p->variant[0] >= '0' && p->variant[0] <= '9') {
		char *v = xasprintf("v%s", p->variant);
		free(p->variant);
		p->variant = v;
	}
	if (!strcmp(p->arch, "arm64") && !strcmp(p->variant, "v8.0"))
		p->variant[2] = '\0';
}

/* The variant an image without one is built for (containerd: arm64 is v8,
 * arm is v7), or NULL when the architecture has no default. */
static const char *default_variant(const char *arch)
{
	if (!strcmp(arch, "arm64"))
		return "v8";
	if (!strcmp(arch, "arm"))
		return "v7";
	return NULL;
}

static void platform_releasep(struct img_platform *p)
{
	img_platform_release(p);
}

bool img_platform_match(const struct img_platform *want, const struct img_platform *have)
{
	_cleanup_(platform_releasep) struct img_platform w = IMG_PLATFORM_INIT;
	_cleanup_(platform_releasep) struct img_platform h = IMG_PLATFORM_INIT;

	img_platform_copy(&w, want);
	img_platform_copy(&h, have);
	img_platform_normalize(&w);
	img_platform_normalize(&h);
	if (strcmp(w.os, h.os) || strcmp(w.arch, h.arch))
		return false;
	if (!w.variant)
		return true;
	const char *hv = h.variant ? h.variant : default_variant(h.arch);
	return hv && !strcmp(w.variant, hv);
}

/* GOARCH and, for ARM, the variant of the target this file is compiled for. */
#if defined(__x86_64__)
#define HOST_ARCH "amd64"
#elif defined(__aarch64__)
#define HOST_ARCH "arm64"
#define HOST_VARIANT "v8"
#elif defined(__arm__)
#define HOST_ARCH "arm"
#if defined(__ARM_ARCH) && __ARM_ARCH >= 7
#define HOST_VARIANT "v7"
#elif defined(__ARM_ARCH) && __ARM_ARCH == 6
#define HOST_VARIANT "v6"
#else
#define HOST_VARIANT "v5"
#endif
#elif defined(__i386__)
#define HOST_ARCH "386"
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
#define HOST_ARCH "ppc64le"
#elif defined(__powerpc64__)
#define HOST_ARCH "ppc64"
#elif defined(__s390x__)
#define HOST_ARCH "s390x"
#elif defined(__riscv) && defined(__riscv_xlen)
#if __riscv_xlen == 64
#define HOST_ARCH "riscv64"
#endif
#endif

void img_platform_host(struct img_platform *out)
{
#if !defined(__linux__) || !defined(HOST_ARCH)
	struct utsname u;
	bool have_uname = uname(&u) == 0;
#endif

#if defined(__linux__)
	out->os = xstrdup("linux");
#else
	out->os = xstrdup(have_uname ? u.sysname : "unknown");
	lower(out->os);
#endif
#if defined(HOST_ARCH)
	out->arch = xstrdup(HOST_ARCH);
#else
	/* An architecture the table above misses: the kernel's name, normalised. */
	out->arch = xstrdup(have_uname ? u.machine : "unknown");
#endif
#if defined(HOST_VARIANT)
	out->variant = xstrdup(HOST_VARIANT);
#else
	out->variant = NULL;
#endif
	img_platform_normalize(out);
}

void img_platform_release(struct img_platform *p)
{
	if (!p)
		return;
	free(p->os);
	free(p->arch);
	free(p->variant);
	*p = (struct img_platform)IMG_PLATFORM_INIT;
}

void img_platform_copy(struct img_platform *dst, const struct img_platform *src)
{
	dst->os = src->os ? xstrdup(src->os) : NULL;
	dst->arch = src->arch ? xstrdup(src->arch) : NULL;
	dst->variant = src->variant ? xstrdup(src->variant) : NULL;
}

char *img_platform_string(const struct img_platform *p)
{
	if (p->variant)
		return xasprintf("%s/%s/%s", p->os, p->arch, p->variant);
	return xasprintf("%s/%s", p->os, p->arch);
}
