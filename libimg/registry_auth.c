/* Registry authentication: basic auth and bearer tokens
 * (distribution/docs/spec/auth/token.md, Docker Hub's token service),
 * tokens cached per scope for their lifetime within a run. */
#include <openssl/evp.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "libimg/json.h"
#include "libimg/registry_int.h"

/* A token the server says nothing about, or gives less, lives 60 s
 * (token.md "Token Response Fields"). */
#define TOKEN_DEFAULT_LIFETIME 60

static int load_creds(struct img_registry *r, struct ckt_err *err)
{
	if (r->creds_loaded)
		return 0;
	int found = img_creds_lookup(r->domain, r->o.creds, &r->creds, err);
	if (found < 0)
		return -err->code;
	r->creds_loaded = true;
	r->have_creds = found > 0;
	if (found)
		ckt_debug("credentials for %s from %s", r->domain, r->creds.from);
	return 0;
}

static char *basic_header(const struct img_creds *c)
{
	_cleanup_free_ char *up = xasprintf("%s:%s", c->user, c->pass);
	size_t n = strlen(up);
	_cleanup_free_ unsigned char *b64 = xmalloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock(b64, (const unsigned char *)up, (int)n);
	memset(up, 0, n);
	return xasprintf("Authorization: Basic %s", b64);
}

static struct reg_token *token_find(struct img_registry *r, const char *scope)
{
	for (size_t i = 0; i < r->n_tokens; i++)
		if (!strcmp(r->tokens[i].scope, scope))
			return &r->tokens[i];
	return NULL;
}

/* GET realm?service=…&scope=… (with basic credentials when we have them). */
/* Append "&key=value" (value URL-escaped, n bytes; n 0: all). */
static void add_param(CURL *h, struct ckt_buf *b, const char *key, const char *value, size_t n)
{
	char *esc = curl_easy_escape(h, value, (int)n);
	ckt_buf_addf(b, "%s%s=%s", b->len ? "&" : "", key, esc);
	curl_free(esc);
}

/* An identity token (a credential helper's user "<token>") is an OAuth2
 * refresh token: POST it to the realm (token.md "OAuth2"); otherwise GET
 * the realm with basic credentials (or none, for an anonymous token). */
static int fetch_token(struct img_registry *r, const char *scope, struct ckt_err *err)
{
	CURL *h = r->easy;
	bool oauth = r->have_creds && !strcmp(r->creds.user, "<token>");
	struct ckt_buf params = CKT_BUF_INIT;
	if (r->service)
		add_param(h, &params, "service", r->service, 0);
	for (const char *p = scope; *p;) {
		size_t n = strcspn(p, " ");
		if (n)
			add_param(h, &params, "scope", p, n);
		p += n;
		if (*p)
			p++;
	}
	if (oauth) {
		add_param(h, &params, "grant_type", "refresh_token", 0);
		add_param(h, &params, "refresh_token", r->creds.pass, 0);
		add_param(h, &params, "client_id", "ckt", 0);
	} else if (r->have_creds) {
		add_param(h, &params, "account", r->creds.user, 0);
	}
	_cleanup_free_ char *body = ckt_buf_detach(&params, NULL);
	_cleanup_free_ char *u = oauth ? xstrdup(r->realm)
				       : xasprintf("%s%c%s", r->realm, strchr(r->realm, '?') ? '&' : '?', body);
	_cleanup_free_ char *auth = r->have_creds && !oauth ? basic_header(&r->creds) : NULL;
	struct reg_req q = { .method = oauth ? "POST" : "GET", .url = u, .no_ping = true,
			     .follow = !oauth, .body_fd = -1 };
	if (oauth) {
		q.body = body;
		q.body_len = strlen(body);
		q.headers[0] = "Content-Type: application/x-www-form-urlencoded";
	} else {
		q.headers[0] = auth;
	}
	_cleanup_json_ json_t *j = NULL;
	int rc = -1;
	if (reg_request(r, &q, err) < 0)
		goto out;
	if (q.status != 200) {
		reg_status_fail(err, q.status, q.resp.buf, q.resp.len,
				"get a token for '%s' from %s%s", scope, r->realm,
				q.status == 401 && r->have_creds ? " (credentials refused)" : "");
		goto out;
	}
	j = img_json_parse(q.resp.buf, q.resp.len, "token response", err);
	const char *tok, *atok;
	int64_t life;
	if (!j || img_json_str(j, "token", false, "token response", &tok, err) < 0 ||
	    img_json_str(j, "access_token", false, "token response", &atok, err) < 0 ||
	    img_json_int(j, "expires_in", false, "token response", &life, err) < 0)
		goto out;
	if (!tok || !*tok)
		tok = atok;
	if (!tok || !*tok) {
		ckt_err_fail(err, CKT_EFORMAT, "token response from %s holds no token", r->realm);
		goto out;
	}
	/* token.md: absent or under 60 s means 60 s. */
	if (life < TOKEN_DEFAULT_LIFETIME)
		life = TOKEN_DEFAULT_LIFETIME;
	struct reg_token *t = token_find(r, scope);
	if (!t) {
		ALLOC_GROW(r->tokens, r->n_tokens + 1, r->alloc_tokens);
		t = &r->tokens[r->n_tokens++];
		t->scope = xstrdup(scope);
		t->header = NULL;
	}
	free(t->header);
	t->header = xasprintf("Authorization: Bearer %s", tok);
	/* Renew a little early so a token does not expire mid-request. */
	t->expires = time(NULL) + life - 10;
	rc = 0;
out:
	reg_req_release(&q);
	return rc < 0 ? -err->code : 0;
}

int reg_auth_header(struct img_registry *r, const char *scope, char **out, struct ckt_err *err)
{
	*out = NULL;
	switch (r->scheme) {
	case REG_AUTH_NONE:
	case REG_AUTH_UNKNOWN:
		return 0;
	case REG_AUTH_BASIC:
		if (load_creds(r, err) < 0)
			return -err->code;
		if (r->have_creds)
			*out = basic_header(&r->creds);
		return 0;
	case REG_AUTH_BEARER:
		break;
	}
	if (load_creds(r, err) < 0)
		return -err->code;
	struct reg_token *t = token_find(r, scope);
	if (!t || !t->header || t->expires <= time(NULL)) {
		if (fetch_token(r, scope, err) < 0)
			return -err->code;
		t = token_find(r, scope);
	}
	*out = xstrdup(t->header);
	return 0;
}

int reg_auth_challenged(struct img_registry *r, const char *scope, const char *www_auth,
			struct ckt_err *err)
{
	struct reg_token *t = token_find(r, scope);
	if (t) {
		free(t->header);
		t->header = NULL;
	}
	if (!www_auth)
		return 0;
	struct img_auth_challenge *c;
	size_t n;
	if (img_auth_challenges_parse(www_auth, &c, &n, err) < 0)
		return -err->code;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		/* A registry whose /v2/ is open may still guard repositories. */
		if (r->scheme == REG_AUTH_NONE && !strcasecmp(c[i].scheme, "Basic"))
			r->scheme = REG_AUTH_BASIC;
		if (strcasecmp(c[i].scheme, "Bearer") || !c[i].realm)
			continue;
		r->scheme = REG_AUTH_BEARER;
		/* The server may move the realm (token.md allows it). */
		free(r->realm);
		r->realm = xstrdup(c[i].realm);
		if (c[i].service) {
			free(r->service);
			r->service = xstrdup(c[i].service);
		}
		break;
	}
	img_auth_challenges_free(c, n);
	if (load_creds(r, err) < 0)
		return -err->code;
	if (r->scheme == REG_AUTH_BEARER)
		rc = fetch_token(r, scope, err);
	return rc;
}

int img_registry_check_login(struct img_registry *r, struct ckt_err *err)
{
	if (reg_ping(r, err) < 0 || load_creds(r, err) < 0)
		return -err->code;
	if (!r->have_creds)
		return ckt_err_fail(err, CKT_EUSAGE, "no credentials for '%s'", r->domain);
	if (r->scheme == REG_AUTH_BEARER) {
		/* A token for no particular scope proves the credentials. */
		return fetch_token(r, "", err);
	}
	_cleanup_free_ char *url = xasprintf("%s/v2/", r->base);
	_cleanup_free_ char *auth = basic_header(&r->creds);
	struct reg_req q = { .method = "GET", .url = url, .body_fd = -1 };
	q.headers[0] = auth;
	int rc = reg_request(r, &q, err);
	if (rc == 0 && q.status != 200) {
		reg_status_fail(err, q.status, q.resp.buf, q.resp.len, "log in to '%s'", r->domain);
		rc = -1;
	}
	reg_req_release(&q);
	return rc < 0 ? -err->code : 0;
}
