#include "libimg/discovery.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "libimg/aci.h"
#include "libimg/platform.h"

void img_appc_app_release(struct img_appc_app *a)
{
	free(a->name);
	ckt_strv_free(a->labels);
	memset(a, 0, sizeof(*a));
}

const char *img_appc_app_label(const struct img_appc_app *a, const char *k)
{
	size_t n = strlen(k);
	for (char **l = a->labels; l && *l; l++)
		if (!strncmp(*l, k, n) && (*l)[n] == '=')
			return *l + n + 1;
	return NULL;
}

static void add_label(struct img_appc_app *a, size_t *n, const char *k, size_t kl, const char *v)
{
	a->labels = xreallocarray(a->labels, *n + 2, sizeof(char *));
	a->labels[(*n)++] = xasprintf("%.*s=%s", (int)kl, k, v);
	a->labels[*n] = NULL;
}

int img_appc_app_parse(const char *s, struct img_appc_app *out, struct ckt_err *err)
{
	struct img_appc_app a = { 0 };
	size_t n = 0;
	_cleanup_free_ char *dup = xstrdup(s);
	char *save = NULL, *part;
	bool first = true;

	a.labels = xcalloc(1, sizeof(char *));
	for (part = strtok_r(dup, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
		if (first) {
			char *colon = strchr(part, ':');
			if (colon) {
				*colon = '\0';
				if (!colon[1] || strchr(colon + 1, ':'))
					goto bad;
				add_label(&a, &n, "version", 7, colon + 1);
			}
			if (!img_ac_identifier_valid(part))
				goto bad;
			a.name = xstrdup(part);
			first = false;
			continue;
		}
		char *eq = strchr(part, '=');
		if (!eq || eq == part || strchr(part, ':'))
			goto bad;
		_cleanup_free_ char *k = xstrndup(part, (size_t)(eq - part));
		if (img_appc_app_label(&a, k) || !strcmp(k, "name"))
			goto bad;
		add_label(&a, &n, part, (size_t)(eq - part), eq + 1);
	}
	if (!a.name)
		goto bad;
	*out = a;
	return 0;
bad:
	img_appc_app_release(&a);
	return ckt_err_failw(err, CKT_EUSAGE, "expected NAME[:VERSION][,LABEL=VALUE]...",
			     "invalid app name '%s'", s);
}

void img_discovery_release(struct img_discovery *d)
{
	free(d->aci_url);
	free(d->asc_url);
	ckt_strv_free(d->pubkeys);
	memset(d, 0, sizeof(*d));
}

/* The value of attribute attr inside one tag (between '<meta' and '>'). */
static char *tag_attr(const char *tag, size_t len, const char *attr)
{
	size_t al = strlen(attr);
	for (size_t i = 0; i + al < len; i++) {
		if (strncasecmp(tag + i, attr, al) || (i && !isspace((unsigned char)tag[i - 1])))
			continue;
		size_t j = i + al;
		while (j < len && isspace((unsigned char)tag[j]))
			j++;
		if (j >= len || tag[j] != '=')
			continue;
		j++;
		while (j < len && isspace((unsigned char)tag[j]))
			j++;
		if (j >= len)
			return NULL;
		char q = tag[j];
		if (q == '"' || q == '\'') {
			const char *end = memchr(tag + j + 1, q, len - j - 1);
			return end ? xstrndup(tag + j + 1, (size_t)(end - tag - j - 1)) : NULL;
		}
		size_t k = j;
		while (k < len && !isspace((unsigned char)tag[k]) && tag[k] != '/')
			k++;
		return xstrndup(tag + j, k - j);
	}
	return NULL;
}

void img_discovery_meta(const char *html, void (*fn)(void *data, const char *name,
						     const char *content),
			void *data)
{
	for (const char *p = html; (p = strcasestr(p, "<meta"));) {
		const char *end = strchr(p, '>');
		if (!end)
			return;
		_cleanup_free_ char *name = tag_attr(p + 5, (size_t)(end - p - 5), "name");
		_cleanup_free_ char *content = tag_attr(p + 5, (size_t)(end - p - 5), "content");
		if (name && content && !strncmp(name, "ac-", 3))
			fn(data, name, content);
		p = end;
	}
}

struct found {
	const char *name;
	char **templates;	/* prefix-matching ac-discovery templates */
	size_t n_t;
	char **keys;
	size_t n_k;
};

static void on_meta(void *data, const char *name, const char *content)
{
	struct found *f = data;
	const char *sp = strchr(content, ' ');
	if (!sp)
		return;
	_cleanup_free_ char *prefix = xstrndup(content, (size_t)(sp - content));
	while (*sp == ' ')
		sp++;
	if (strncmp(f->name, prefix, strlen(prefix)))
		return;
	if (!strcmp(name, "ac-discovery")) {
		f->templates = xreallocarray(f->templates, f->n_t + 2, sizeof(char *));
		f->templates[f->n_t++] = xstrdup(sp);
		f->templates[f->n_t] = NULL;
	} else if (!strcmp(name, "ac-discovery-pubkeys")) {
		f->keys = xreallocarray(f->keys, f->n_k + 2, sizeof(char *));
		f->keys[f->n_k++] = xstrdup(sp);
		f->keys[f->n_k] = NULL;
	}
}

/* appc's name for this host's architecture (ToAppcOSArch). */
static const char *host_arch(const struct img_platform *p)
{
	if (!strcmp(p->arch, "386"))
		return "i386";
	if (!strcmp(p->arch, "arm64"))
		return "aarch64";
	if (!strcmp(p->arch, "arm"))
		return p->variant && !strcmp(p->variant, "v6") ? "armv6l" : "armv7l";
	return p->arch;
}

/* Fill {name}, {ext} and every label; NULL when a {…} is left. */
static char *render(const char *tmpl, const struct img_appc_app *app, const char *ext)
{
	struct ckt_buf b = CKT_BUF_INIT;
	struct img_platform host = IMG_PLATFORM_INIT;
	img_platform_host(&host);
	for (const char *p = tmpl; *p;) {
		const char *close = *p == '{' ? strchr(p, '}') : NULL;
		if (!close) {
			ckt_buf_addch(&b, *p++);
			continue;
		}
		_cleanup_free_ char *var = xstrndup(p + 1, (size_t)(close - p - 1));
		const char *val = !strcmp(var, "name") ? app->name :
				  !strcmp(var, "ext") ? ext : img_appc_app_label(app, var);
		if (!val && !strcmp(var, "version"))
			val = "latest";
		if (!val && !strcmp(var, "os"))
			val = host.os;
		if (!val && !strcmp(var, "arch"))
			val = host_arch(&host);
		if (!val) {
			ckt_buf_release(&b);
			img_platform_release(&host);
			return NULL;
		}
		ckt_buf_adds(&b, val);
		p = close + 1;
	}
	img_platform_release(&host);
	return ckt_buf_detach(&b, NULL);
}

int img_discover(const struct img_appc_app *app, const struct img_http_opts *o, int port,
		 struct img_discovery *out, struct ckt_err *err)
{
	_cleanup_free_ char *level = xstrdup(app->name);
	struct found f = { .name = app->name };
	struct ckt_buf tried = CKT_BUF_INIT;
	bool got_templates = false;

	memset(out, 0, sizeof(*out));
	for (;;) {
		/* https://HOST[:port]/PATH?ac-discovery=1 */
		const char *slash = strchr(level, '/');
		_cleanup_free_ char *host = slash ? xstrndup(level, (size_t)(slash - level)) : xstrdup(level);
		char portbuf[16] = "";
		if (port > 0)
			snprintf(portbuf, sizeof(portbuf), ":%d", port);
		for (int scheme = 0; scheme < (o && o->allow_http ? 2 : 1); scheme++) {
			_cleanup_free_ char *url = xasprintf("%s://%s%s%s?ac-discovery=1",
							     scheme ? "http" : "https", host, portbuf,
							     slash ? slash : "");
			_cleanup_free_ char *body = NULL;
			size_t len;
			long status = 0;
			struct ckt_err e2 = CKT_ERR_INIT;
			ckt_buf_addf(&tried, "%s%s", tried.len ? ", " : "", url);
			if (img_http_get(url, o, -1, 1 << 20, &body, &len, &status, &e2) < 0) {
				ckt_debug("discovery: %s: %s", url, e2.why);
				continue;
			}
			size_t before = f.n_t;
			if (!got_templates || !f.n_k)
				img_discovery_meta(body, on_meta, &f);
			if (f.n_t > before)
				got_templates = true;
			break;
		}
		if (got_templates)
			break;
		char *up = strrchr(level, '/');
		if (!up)
			break;
		*up = '\0';
	}
	int r = 0;
	for (size_t i = 0; i < f.n_t && !out->aci_url; i++) {
		out->aci_url = render(f.templates[i], app, "aci");
		out->asc_url = out->aci_url ? render(f.templates[i], app, "aci.asc") : NULL;
		if (!out->asc_url) {
			free(out->aci_url);
			out->aci_url = NULL;
		}
	}
	if (!out->aci_url)
		r = ckt_err_failw(err, CKT_ENOTFOUND, tried.buf ? tried.buf : "",
				  "no appc discovery template for '%s'", app->name);
	out->pubkeys = f.keys ? f.keys : xcalloc(1, sizeof(char *));
	ckt_strv_free(f.templates);
	ckt_buf_release(&tried);
	if (r < 0)
		img_discovery_release(out);
	return r;
}
