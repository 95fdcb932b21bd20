#include "path.h"

#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "strbuf.h"
#include "xalloc.h"

char *ckt_path_join(const char *a, const char *b)
{
	size_t la = strlen(a);
	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	if (!*b)
		return xstrndup(a, la);
	if (la == 1 && a[0] == '/')
		return xasprintf("/%s", b);
	return xasprintf("%.*s/%s", (int)la, a, b);
}

/* Split-and-rebuild cleaner.  `clamp` makes ".." above the start vanish (as
 * for absolute paths); otherwise leading ".." are kept and *escaped set. */
static char *clean(const char *p, bool absolute, bool *escaped)
{
	_cleanup_free_ char *copy = xstrdup(p);
	char **parts = NULL;
	size_t n = 0, alloc = 0, ups = 0;
	char *save = NULL;

	*escaped = false;
	for (char *tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (!strcmp(tok, "."))
			continue;
		if (!strcmp(tok, "..")) {
			if (n > ups) {
				n--;
				continue;
			}
			*escaped = true;
			if (absolute)
				continue;
			ups++;
		}
		ALLOC_GROW(parts, n + 1, alloc);
		parts[n++] = tok;
	}

	struct ckt_buf b = CKT_BUF_INIT;
	if (absolute)
		ckt_buf_addch(&b, '/');
	for (size_t i = 0; i < n; i++) {
		if (i)
			ckt_buf_addch(&b, '/');
		ckt_buf_adds(&b, parts[i]);
	}
	if (b.len == 0)
		ckt_buf_addch(&b, '.');
	free(parts);
	return ckt_buf_detach(&b, NULL);
}

char *ckt_path_clean(const char *p)
{
	bool escaped;
	return clean(p, p[0] == '/', &escaped);
}

bool ckt_path_escapes(const char *name)
{
	bool escaped;
	while (*name == '/')
		name++;
	free(clean(name, false, &escaped));
	return escaped;
}

int ckt_path_join_under(const char *root, const char *name, char **out, struct ckt_err *err)
{
	bool escaped;
	while (*name == '/')
		name++;
	_cleanup_free_ char *c = clean(name, false, &escaped);
	if (escaped)
		return ckt_err_failw(err, CKT_EFORMAT, "it would leave the root", "refuse path '%s'",
				     name);
	*out = strcmp(c, ".") ? ckt_path_join(root, c) : xstrdup(root);
	return 0;
}

const char *ckt_path_base(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}
