/* Registry credentials: auth.json, docker's config.json, credential helpers
 * (containers-auth.json(5); docker-credential-helpers' protocol: the server
 * URL on stdin of `docker-credential-NAME get`, JSON on stdout). */
#include "libimg/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/path.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "libimg/json.h"

extern char **environ;

/* ---- the environment, read here only (STYLE.md) --------------------------- */

enum env_var { ENV_AUTH_FILE, ENV_XDG_RUNTIME, ENV_DOCKER_CONFIG, ENV_HOME, ENV_CERTS_D };

static const char *env(enum env_var v)
{
	static const char *const names[] = { "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR",
					     "DOCKER_CONFIG", "HOME", "CKT_CERTS_D" };
	const char *s = getenv(names[v]);
	return s && *s ? s : NULL;
}

#define HUB_KEY "https://index.docker.io/v1/"
#define CREDS_FILE_MAX (1u << 20)

void img_creds_release(struct img_creds *c)
{
	free(c->user);
	if (c->pass)
		memset(c->pass, 0, strlen(c->pass));
	free(c->pass);
	free(c->from);
	memset(c, 0, sizeof(*c));
}

char *img_auth_file_default(void)
{
	if (env(ENV_AUTH_FILE))
		return xstrdup(env(ENV_AUTH_FILE));
	if (env(ENV_XDG_RUNTIME))
		return xasprintf("%s/containers/auth.json", env(ENV_XDG_RUNTIME));
	return xasprintf("%s/.config/containers/auth.json", env(ENV_HOME) ? env(ENV_HOME) : "/");
}

static char *docker_config_path(void)
{
	if (env(ENV_DOCKER_CONFIG))
		return xasprintf("%s/config.json", env(ENV_DOCKER_CONFIG));
	return xasprintf("%s/.docker/config.json", env(ENV_HOME) ? env(ENV_HOME) : "/");
}

char **img_certs_dirs(const char *host)
{
	const char *bases = env(ENV_CERTS_D);
	if (!bases)
		bases = "/etc/containers/certs.d:/etc/docker/certs.d";
	size_t n = 1;
	for (const char *p = bases; *p; p++)
		n += *p == ':';
	char **v = xcalloc(n + 1, sizeof(*v));
	size_t i = 0;
	for (const char *p = bases; *p && i < n;) {
		size_t len = strcspn(p, ":");
		if (len) {
			_cleanup_free_ char *base = xstrndup(p, len);
			v[i++] = ckt_path_join(base, host);
		}
		p += len;
		if (*p == ':')
			p++;
	}
	return v;
}

/* Split "user:pass" (base64-decoded or as given on --creds). */
static int split_userpass(const char *s, size_t len, const char *from, struct img_creds *out,
			  struct ckt_err *err)
{
	const char *colon = memchr(s, ':', len);
	if (!colon || colon == s)
		return ckt_err_failw(err, CKT_EFORMAT, "expected USER:PASSWORD",
				     "credentials from %s", from);
	out->user = xstrndup(s, (size_t)(colon - s));
	out->pass = xstrndup(colon + 1, len - (size_t)(colon - s) - 1);
	out->from = xstrdup(from);
	return 1;
}

static int decode_auth(const char *b64, const char *from, struct img_creds *out,
		       struct ckt_err *err)
{
	size_t n = strlen(b64);
	if (n == 0 || n % 4)
		return ckt_err_failw(err, CKT_EFORMAT, "invalid base64 in \"auth\"",
				     "credentials in '%s'", from);
	_cleanup_free_ unsigned char *buf = xmalloc(n / 4 * 3 + 1);
	int len = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n);
	if (len < 0)
		return ckt_err_failw(err, CKT_EFORMAT, "invalid base64 in \"auth\"",
				     "credentials in '%s'", from);
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	for (size_t i = n; i > 0 && b64[i - 1] == '='; i--)
		len--;
	int r = split_userpass((const char *)buf, (size_t)len, from, out, err);
	memset(buf, 0, n / 4 * 3);
	return r;
}

/* Run `docker-credential-NAME get` with the server URL on stdin. */
static int run_helper(const char *name, const char *server, struct img_creds *out,
		      struct ckt_err *err)
{
	_cleanup_free_ char *prog = xasprintf("docker-credential-%s", name);
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	_cleanup_buf_ struct ckt_buf buf = CKT_BUF_INIT;
	_cleanup_json_ json_t *j = NULL;
	int status = 0;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0) {
		ckt_err_sys(err, CKT_EIO, "pipe");
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	char *argv[] = { prog, (char *)"get", NULL };
	int e = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(outp[1]);
	in[0] = outp[1] = -1;
	if (e) {
		ckt_err_errno(err, CKT_EIO, e, "run credential helper '%s'", prog);
		goto fail;
	}
	/* The URL is tiny: it fits the pipe, so write-then-read cannot deadlock. */
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	sigaction(SIGPIPE, &ign, &old);
	struct ckt_err ignored = CKT_ERR_INIT;
	ckt_write_all(in[1], server, strlen(server), &ignored);
	sigaction(SIGPIPE, &old, NULL);
	close(in[1]);
	in[1] = -1;
	char chunk[4096];
	for (;;) {
		ssize_t k = read(outp[0], chunk, sizeof(chunk));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		if (buf.len + (size_t)k > CREDS_FILE_MAX)
			break;
		ckt_buf_add(&buf, chunk, (size_t)k);
	}
	close(outp[0]);
	outp[0] = -1;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		/* "credentials not found in native keychain" is not an error. */
		if (strstr(ckt_buf_str(&buf), "not found"))
			return 0;
		return ckt_err_failw(err, CKT_EIO, ckt_buf_str(&buf)[0] ? ckt_buf_str(&buf) : NULL,
				     "credential helper '%s' failed", prog);
	}
	j = img_json_parse(buf.buf, buf.len, prog, err);
	const char *user, *secret;
	if (!j || img_json_str(j, "Username", true, prog, &user, err) < 0 ||
	    img_json_str(j, "Secret", true, prog, &secret, err) < 0)
		return -err->code;
	out->user = xstrdup(user);
	out->pass = xstrdup(secret);
	out->from = xstrdup(prog);
	return 1;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (outp[i] >= 0)
			close(outp[i]);
	}
	return -err->code;
}

/* Does an auths key name domain?  Keys may carry a scheme and a path
 * ("https://index.docker.io/v1/"). */
static bool key_matches(const char *key, const char *domain)
{
	const char *k = key;
	if (!strncmp(k, "https://", 8))
		k += 8;
	else if (!strncmp(k, "http://", 7))
		k += 7;
	size_t n = strcspn(k, "/");
	if (n == strlen(domain) && !strncmp(k, domain, n))
		return true;
	if (!strcmp(domain, "docker.io"))
		return (n == 15 && !strncmp(k, "index.docker.io", n)) ||
		       (n == 20 && !strncmp(k, "registry-1.docker.io", n));
	return false;
}

/* The server URL a helper is asked about (docker's convention for Hub). */
static const char *helper_server(const char *domain)
{
	return strcmp(domain, "docker.io") ? domain : HUB_KEY;
}

/* Look in one auth.json / config.json; 1 found, 0 not, <0 error. */
static int lookup_file(const char *path, const char *domain, struct img_creds *out,
		       struct ckt_err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct ckt_err e = CKT_ERR_INIT;

	if (ckt_read_file(path, CREDS_FILE_MAX, &data, &len, &e) < 0) {
		if (e.code == CKT_ENOTFOUND)
			return 0;
		*err = e;
		return -err->code;
	}
	_cleanup_json_ json_t *j = img_json_parse(data, len, path, err);
	json_t *helpers, *auths;
	const char *store;
	if (!j || img_json_obj(j, "credHelpers", false, path, &helpers, err) < 0 ||
	    img_json_obj(j, "auths", false, path, &auths, err) < 0 ||
	    img_json_str(j, "credsStore", false, path, &store, err) < 0)
		return -err->code;
	const char *key;
	json_t *v;
	if (helpers)
		json_object_foreach(helpers, key, v) {
			if (json_is_string(v) && key_matches(key, domain))
				return run_helper(json_string_value(v), helper_server(domain), out, err);
		}
	if (auths)
		json_object_foreach(auths, key, v) {
			const char *a, *u, *p;
			if (!json_is_object(v) || !key_matches(key, domain))
				continue;
			if (img_json_str(v, "auth", false, path, &a, err) < 0 ||
			    img_json_str(v, "username", false, path, &u, err) < 0 ||
			    img_json_str(v, "password", false, path, &p, err) < 0)
				return -err->code;
			if (a && *a)
				return decode_auth(a, path, out, err);
			if (u && p) {
				out->user = xstrdup(u);
				out->pass = xstrdup(p);
				out->from = xstrdup(path);
				return 1;
			}
		}
	if (store && *store)
		return run_helper(store, helper_server(domain), out, err);
	return 0;
}

int img_creds_lookup(const char *domain, const char *override, struct img_creds *out,
		     struct ckt_err *err)
{
	memset(out, 0, sizeof(*out));
	if (override) {
		const char *colon = strchr(override, ':');
		if (!colon) {
			/* skopeo prompts for the password; we have no terminal here. */
			out->user = xstrdup(override);
			out->pass = xstrdup("");
			out->from = xstrdup("--creds");
			return 1;
		}
		return split_userpass(override, strlen(override), "--creds", out, err);
	}
	_cleanup_free_ char *auth = img_auth_file_default();
	_cleanup_free_ char *docker = docker_config_path();
	const char *files[] = { auth, docker };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		int r = lookup_file(files[i], domain, out, err);
		if (r != 0)
			return r < 0 ? ckt_err_wrap(err, "credentials for '%s'", domain) : r;
	}
	return 0;
}

/* ---- ckt login / logout -------------------------------------------------- */

static json_t *load_auth_file(const char *path, struct ckt_err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct ckt_err e = CKT_ERR_INIT;
	if (ckt_read_file(path, CREDS_FILE_MAX, &data, &len, &e) < 0) {
		if (e.code == CKT_ENOTFOUND)
			return json_object();
		*err = e;
		return NULL;
	}
	return img_json_parse(data, len, path, err);
}

static int save_auth_file(const char *path, json_t *j, struct ckt_err *err)
{
	_cleanup_free_ char *clean = ckt_path_clean(path);
	_cleanup_free_ char *dir = xstrdup(clean);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (ckt_mkdir_p(dir, 0700, err) < 0)
			return -err->code;
	}
	_cleanup_free_ char *s = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	size_t n = strlen(s);
	_cleanup_free_ char *text = xasprintf("%s\n", s);
	return ckt_write_file_atomic(path, text, n + 1, 0600, err);
}

int img_auth_login(const char *path, const char *domain, const char *user, const char *pass,
		   struct ckt_err *err)
{
	_cleanup_free_ char *def = path ? NULL : img_auth_file_default();
	const char *p = path ? path : def;
	_cleanup_json_ json_t *j = load_auth_file(p, err);
	json_t *auths;
	if (!j || img_json_obj(j, "auths", false, p, &auths, err) < 0)
		return -err->code;
	if (!auths) {
		auths = json_object();
		json_object_set_new(j, "auths", auths);
	}
	_cleanup_free_ char *up = xasprintf("%s:%s", user, pass);
	size_t n = strlen(up);
	_cleanup_free_ unsigned char *b64 = xmalloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock(b64, (const unsigned char *)up, (int)n);
	memset(up, 0, n);
	json_object_set_new(auths, strcmp(domain, "docker.io") ? domain : HUB_KEY,
			    json_pack("{s:s}", "auth", (const char *)b64));
	return save_auth_file(p, j, err);
}

int img_auth_logout(const char *path, const char *domain, struct ckt_err *err)
{
	_cleanup_free_ char *def = path ? NULL : img_auth_file_default();
	const char *p = path ? path : def;
	_cleanup_json_ json_t *j = load_auth_file(p, err);
	json_t *auths;
	if (!j || img_json_obj(j, "auths", false, p, &auths, err) < 0)
		return -err->code;
	if (!auths)
		return 0;
	int removed = 0;
	const char *key;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(auths, tmp, key, v) {
		if (key_matches(key, domain)) {
			json_object_del(auths, key);
			removed = 1;
		}
	}
	if (removed && save_auth_file(p, j, err) < 0)
		return -err->code;
	return removed;
}
