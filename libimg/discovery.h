#pragma once
/* appc meta discovery (appc spec/discovery.md; APPC-NOTES §2).
 *
 * An app string "NAME[:VERSION][,LABEL=VALUE]..." names an image; the
 * discovery URL https://LEVEL?ac-discovery=1 is fetched for LEVEL = the name,
 * then each parent path ("example.com/a/b", "example.com/a", "example.com"),
 * moving up on a 4xx answer or a page without matching tags, and stopping at
 * the first level whose page has an `ac-discovery` meta tag whose prefix
 * (a plain string prefix, as the reference client) matches the name.  The
 * first template that renders completely wins (rkt uses ep[0]): {name},
 * {ext} ("aci" / "aci.asc"), {version} (default "latest"), {os} and {arch}
 * (default: this host, appc names) and any other label.  Public-key URLs
 * (`ac-discovery-pubkeys`) are walked the same way and returned. */
#include <stdbool.h>

#include "base/err.h"
#include "libimg/http_get.h"

struct img_appc_app {
	char *name;
	char **labels;		/* "label=value", NULL-terminated, never NULL after a parse */
};

/* Parse an app string (spec:discovery/parse.go NewAppFromString): the name
 * must be an AC identifier; ":VERSION" may come only right after it; each
 * label once.  CKT_EUSAGE on error. */
int img_appc_app_parse(const char *s, struct img_appc_app *out, struct ckt_err *err);
void img_appc_app_release(struct img_appc_app *a);
/* The value of label k, or NULL. */
const char *img_appc_app_label(const struct img_appc_app *a, const char *k);

struct img_discovery {
	char *aci_url;
	char *asc_url;
	char **pubkeys;		/* NULL-terminated, may be empty */
};
void img_discovery_release(struct img_discovery *d);

/* Discover app.  port > 0 forces that port on discovery URLs (tests on
 * loopback).  Nothing found: CKT_ENOTFOUND naming the levels tried. */
int img_discover(const struct img_appc_app *app, const struct img_http_opts *o, int port,
		 struct img_discovery *out, struct ckt_err *err);

/* The meta tags of an HTML page, for tests: calls fn(name, content) for
 * every <meta> whose name starts with "ac-". */
void img_discovery_meta(const char *html, void (*fn)(void *data, const char *name,
						     const char *content),
			void *data);
