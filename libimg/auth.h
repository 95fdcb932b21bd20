#pragma once
/* Registry credentials and certificate directories, found where skopeo and
 * podman look (containers-auth.json(5), docker's config.json).
 *
 * Every environment variable the registry client honours is read in
 * auth.c and nowhere else:
 *   REGISTRY_AUTH_FILE      auth.json to use instead of the default one
 *   XDG_RUNTIME_DIR         ${XDG_RUNTIME_DIR}/containers/auth.json
 *   DOCKER_CONFIG, HOME     $DOCKER_CONFIG/config.json or ~/.docker/config.json
 *   CKT_CERTS_D             ':'-separated base directories of HOST[:PORT]
 *                           certificate directories, replacing
 *                           /etc/containers/certs.d:/etc/docker/certs.d
 *                           (for tests and unusual installs) */
#include <stdbool.h>

#include "base/err.h"

struct img_creds {
	char *user;
	char *pass;
	char *from;	/* where they came from ("--creds", a file, "docker-credential-x") */
};
void img_creds_release(struct img_creds *c);

/* Credentials for a registry domain ("docker.io", "127.0.0.1:5000"), in
 * this order: override ("USER[:PASSWORD]", e.g. --creds), then each of
 * $REGISTRY_AUTH_FILE (or ${XDG_RUNTIME_DIR}/containers/auth.json) and
 * $DOCKER_CONFIG/config.json (or ~/.docker/config.json): its credHelpers
 * entry for the domain, its auths entry (base64 "auth", or
 * username/password; docker.io also under https://index.docker.io/v1/),
 * its credsStore.  Helpers run as `docker-credential-NAME get`.  Returns 1
 * with *out filled, 0 when there are none; a malformed file or a failing
 * helper is an error. */
int img_creds_lookup(const char *domain, const char *override, struct img_creds *out,
		     struct ckt_err *err);

/* The auth.json `ckt login` writes: $REGISTRY_AUTH_FILE, else
 * ${XDG_RUNTIME_DIR}/containers/auth.json, else
 * ~/.config/containers/auth.json (newly allocated). */
char *img_auth_file_default(void);
/* Store user:pass for domain in the auth.json at path (NULL: the default),
 * created with mode 0600 (its other entries are kept). */
int img_auth_login(const char *path, const char *domain, const char *user, const char *pass,
		   struct ckt_err *err);
/* Remove domain's entry; 1 when there was one, 0 when not. */
int img_auth_logout(const char *path, const char *domain, struct ckt_err *err);

/* Directories that may hold certificates for host ("HOST[:PORT]"): each
 * base of $CKT_CERTS_D or the defaults joined with host, as a
 * NULL-terminated vector (ckt_strv_free), existing or not. */
char **img_certs_dirs(const char *host);
