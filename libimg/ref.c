#include "libimg/ref.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "store/digest.h"

/* Constants of distribution/reference (normalize.go, reference.go). */
#define NAME_TOTAL_MAX 255
#define TAG_MAX 128
#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DOMAIN "index.docker.io"
#define OFFICIAL_PREFIX "library/"
#define DEFAULT_TAG "latest"

/* ASCII-only classes: <ctype.h> depends on the locale and on signed chars. */
static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || is_digit(c);
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || is_upper(c);
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Go's \w */
static bool is_word(char c)
{
	return is_alnum(c) || c == '_';
}

static bool has_upper(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (is_upper(s[i]))
			return true;
	return false;
}

static int __attribute__((format(printf, 3, 4)))
ref_fail(struct ckt_err *err, const char *s, const char *fmt, ...)
{
	char why[CKT_ERR_WHY_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return ckt_err_failw(err, CKT_EFORMAT, why, "invalid reference '%s'", s);
}

/* Why [s, s+n) is not regexp.go's domainAndPort, or NULL when it is:
 *   host  = domainName | '[' [0-9A-Fa-f:]+ ']'
 *   domainName = component ('.' component)*,  component = [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?
 *   port  = ':' [0-9]+ */
static const char *domain_problem(const char *s, size_t n)
{
	size_t i = 0;

	if (s[0] == '[') {
		i = 1;
		while (i < n && (is_hex(s[i]) || s[i] == ':'))
			i++;
		if (i == 1 || i >= n || s[i] != ']')
			return "invalid IPv6 address";
		i++;
	} else {
		for (;;) {
			size_t start = i;
			while (i < n && (is_alnum(s[i]) || s[i] == '-'))
				i++;
			if (i == start)
				return "empty or invalid host name component";
			if (s[start] == '-' || s[i - 1] == '-')
				return "host name component starts or ends with '-'";
			if (i < n && s[i] == '.') {
				i++;
				continue;
			}
			break;
		}
	}
	if (i == n)
		return NULL;
	if (s[i] != ':')
		return "invalid character in host name";
	if (++i == n)
		return "empty port";
	for (; i < n; i++)
		if (!is_digit(s[i]))
			return "port is not a number";
	return NULL;
}

/* Why path is not regexp.go's remoteName, or NULL when it is:
 *   path = component ('/' component)*
 *   component = [a-z0-9]+ (('.' | '_' | '__' | '-'+) [a-z0-9]+)* */
static const char *path_problem(const char *p)
{
	if (!*p)
		return "empty repository name";
	for (;;) {
		if (*p == '/' || !*p)
			return "empty path component";
		if (!is_lower_alnum(*p))
			return *p == '.' || *p == '_' || *p == '-'
				       ? "path component must start with a letter or digit"
				       : "invalid character in repository name";
		for (;;) {
			while (is_lower_alnum(*p))
				p++;
			if (!*p || *p == '/')
				break;
			if (*p == '.')
				p++;
			else if (*p == '_')
				p += p[1] == '_' ? 2 : 1;
			else if (*p == '-')
				p += strspn(p, "-");
			else
				return "invalid character in repository name";
			if (!*p || *p == '/')
				return "path component must end with a letter or digit";
			if (*p == '.' || *p == '_' || *p == '-')
				return "invalid separator in repository name";
			if (!is_lower_alnum(*p))
				return "invalid character in repository name";
		}
		if (!*p)
			return NULL;
		p++;
	}
}

bool img_ref_tag_valid(const char *tag)
{
	if (!tag || !is_word(tag[0]))
		return false;
	size_t i = 1;
	while (tag[i] && (is_word(tag[i]) || tag[i] == '.' || tag[i] == '-'))
		i++;
	return tag[i] == '\0' && i <= TAG_MAX;
}

bool img_ref_path_valid(const char *path)
{
	return path && !path_problem(path);
}

/* normalize.go splitDockerDomain: the first component names a registry when
 * it could not be a Docker Hub namespace. */
static bool looks_like_domain(const char *s, size_t n)
{
	return (n == strlen("localhost") && !memcmp(s, "localhost", n)) || memchr(s, '.', n) ||
	       memchr(s, ':', n) || has_upper(s, n);
}

int img_ref_parse(const char *s, struct img_ref *out, struct ckt_err *err)
{
	assert(s && out);
	if (!*s)
		return ref_fail(err, s, "empty reference");

	/* No part of name[:tag] may hold '@', so the first one starts the digest. */
	const char *at = strchr(s, '@');
	_cleanup_free_ char *name = at ? xstrndup(s, (size_t)(at - s)) : xstrdup(s);
	const char *digest = at ? at + 1 : NULL;
	if (!*name)
		return ref_fail(err, s, "empty name");

	_cleanup_free_ char *domain = NULL;
	const char *rest = name;
	const char *slash = strchr(name, '/');
	if (slash && looks_like_domain(name, (size_t)(slash - name))) {
		size_t n = (size_t)(slash - name);
		const char *why = domain_problem(name, n); /* n > 0: "" is no domain */
		if (why)
			return ref_fail(err, s, "invalid domain '%.*s': %s", (int)n, name, why);
		domain = xstrndup(name, n);
		rest = slash + 1;
	}

	/* With the domain (and its port) gone, a ':' can only start the tag. */
	char *colon = strchr(rest, ':');
	const char *tag = NULL;
	if (colon) {
		*colon = '\0';
		tag = colon + 1;
		if (!*tag)
			return ref_fail(err, s, "empty tag");
		if (!img_ref_tag_valid(tag))
			return ref_fail(err, s, "invalid tag '%s'", tag);
	}

	if (has_upper(rest, strlen(rest)))
		return ref_fail(err, s, "repository name must be lowercase");
	const char *why = path_problem(rest);
	if (why)
		return ref_fail(err, s, "%s", why);

	/* normalize.go ParseNormalizedNamed: a bare image ID is not a name. */
	if (strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64)
		return ref_fail(err, s, "a 64-character hex string is an image ID, not a name");

	if (digest) {
		enum store_digest_alg alg;
		const char *hex;
		if (!*digest)
			return ref_fail(err, s, "empty digest");
		if (store_digest_parse(digest, &alg, &hex, err) < 0)
			return ckt_err_wrap(err, "invalid reference '%s'", s);
	}

	if (!domain || !strcmp(domain, LEGACY_DOMAIN)) {
		free(domain);
		domain = xstrdup(DEFAULT_DOMAIN);
	}
	_cleanup_free_ char *path = NULL;
	if (!strcmp(domain, DEFAULT_DOMAIN) && !strchr(rest, '/'))
		path = xasprintf(OFFICIAL_PREFIX "%s", rest);
	else
		path = xstrdup(rest);

	/* reference.go NameTotalLengthMax counts the normalised domain/path. */
	if (strlen(domain) + 1 + strlen(path) > NAME_TOTAL_MAX)
		return ref_fail(err, s, "name longer than %d characters", NAME_TOTAL_MAX);

	out->domain = TAKE_PTR(domain);
	out->path = TAKE_PTR(path);
	out->tag = tag ? xstrdup(tag) : digest ? NULL : xstrdup(DEFAULT_TAG);
	out->digest = digest ? xstrdup(digest) : NULL;
	return 0;
}

void img_ref_release(struct img_ref *r)
{
	if (!r)
		return;
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	*r = (struct img_ref)IMG_REF_INIT;
}

static char *xstrdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void img_ref_copy(struct img_ref *dst, const struct img_ref *src)
{
	dst->domain = xstrdup_or_null(src->domain);
	dst->path = xstrdup_or_null(src->path);
	dst->tag = xstrdup_or_null(src->tag);
	dst->digest = xstrdup_or_null(src->digest);
}

char *img_ref_name(const struct img_ref *r)
{
	return xasprintf("%s/%s", r->domain, r->path);
}

char *img_ref_string(const struct img_ref *r)
{
	return xasprintf("%s/%s%s%s%s%s", r->domain, r->path, r->tag ? ":" : "",
			 r->tag ? r->tag : "", r->digest ? "@" : "", r->digest ? r->digest : "");
}

char *img_ref_pinned(const struct img_ref *r, const char *digest)
{
	if (!digest)
		digest = r->digest;
	assert(digest);
	return xasprintf("%s/%s@%s", r->domain, r->path, digest);
}
