#!/usr/bin/env bats
# ckt-fetch from real registries on 127.0.0.1 (docker-registry): plain http,
# bearer tokens (token-server.py), TLS with a test CA plus basic auth;
# credentials from --creds, auth.json, config.json and credential helpers.

load lib
load ../fixtures/registry/registry

setup_file() {
	ckt_fixtures
	reg_start_all
	reg_start_mtls
	reg_push_fixtures
	skopeo --insecure-policy copy --dest-cert-dir "$RD/mtlsdir" "oci:$FX/oci:tiny" \
		"docker://$MTLS/fx/tiny:1" >/dev/null
}

teardown_file() {
	reg_stop_all
}

setup() {
	ckt_setup
}

digest_of() { skopeo inspect --tls-verify=false --creds tok:tokpass --format '{{.Digest}}' "docker://$1"; }

# jq FILTER on the blob a digest names in the store.
blob() { jq -r "$2" "$CKT_STORE/blobs/sha256/${1#sha256:}"; }

@test "plain registry: fetch prints the pinned reference skopeo sees" {
	want=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$PLAIN/fx/tiny:1")
	run -0 ckt-fetch "docker://$PLAIN/fx/tiny:1"
	[ "$output" = "$PLAIN/fx/tiny@$want" ]
	run -0 skopeo inspect --format '{{.Digest}}' "oci:$CKT_STORE:$PLAIN/fx/tiny:1"
	[ "$output" = "$want" ]
	ckt-image fsck >/dev/null
}

@test "a bare name is a registry reference" {
	run -0 ckt-fetch -q "$PLAIN/fx/multi:1"
	[[ "$output" == "$PLAIN/fx/multi@sha256:"* ]]
}

@test "second fetch of an unchanged image downloads nothing and says up to date" {
	run -0 ckt-fetch --json "$PLAIN/fx/multi:1"
	[ "$(jq .blobs_fetched <<<"$output")" = 6 ]
	run -0 --separate-stderr ckt-fetch -v --json "$PLAIN/fx/multi:1"
	[ "$(jq .blobs_fetched <<<"$output")" = 0 ]
	[ "$(jq .up_to_date <<<"$output")" = true ]
	[[ "$stderr" == *"up to date"* ]]
}

@test "layers shared by two images are downloaded once" {
	run -0 ckt-fetch --json "$PLAIN/fx/tiny:1"
	[ "$(jq .blobs_fetched <<<"$output")" = 3 ]
	# multi = tiny's layer + 3 layers + config + manifest: tiny's layer is not fetched again
	run -0 ckt-fetch --json "$PLAIN/fx/multi:1"
	[ "$(jq .blobs_fetched <<<"$output")" = 5 ]
}

@test "fetch by digest, and a digest the registry does not have" {
	d=$(digest_of "$PLAIN/fx/tiny:1")
	run -0 ckt-fetch "$PLAIN/fx/tiny@$d"
	[ "$output" = "$PLAIN/fx/tiny@$d" ]
	run -1 ckt-fetch "$PLAIN/fx/tiny@sha256:$(printf '%064d' 0)"
	assert_output_contains "not found"
}

@test "missing repository or tag: exit 1, not found" {
	run -1 ckt-fetch "$PLAIN/fx/nope:1"
	assert_output_contains "not found"
	run -1 ckt-fetch "$PLAIN/fx/tiny:nope"
	assert_output_contains "not found"
	[ ! -e "$CKT_STORE/index.json" ] || [ "$(jq '.manifests | length' "$CKT_STORE/index.json")" = 0 ]
}

@test "multi-arch index: --platform picks arm64, --all-platforms gets both" {
	run -0 ckt-fetch --json --platform linux/arm64 "$PLAIN/fx/multiarch:1"
	m=$(jq -r .digest <<<"$output")
	cfg=$(blob "$m" .config.digest)
	[ "$(blob "$cfg" .architecture)" = arm64 ]
	run -0 ckt-fetch --json --platform linux/amd64 "$PLAIN/fx/multiarch:1"
	cfg=$(blob "$(jq -r .digest <<<"$output")" .config.digest)
	[ "$(blob "$cfg" .architecture)" = amd64 ]
	export CKT_STORE="$BATS_TEST_TMPDIR/store2"
	run -0 ckt-fetch --json --all-platforms "$PLAIN/fx/multiarch:1"
	idx=$(jq -r .digest <<<"$output")
	[ "$idx" = "$(digest_of "$PLAIN/fx/multiarch:1")" ]
	for m in $(blob "$idx" '.manifests[].digest'); do
		[ -e "$CKT_STORE/blobs/sha256/${m#sha256:}" ]
		[ -e "$CKT_STORE/blobs/sha256/$(blob "$m" .config.digest | cut -d: -f2)" ]
	done
}

@test "token registry: --creds reach the token server; without them access is refused" {
	run -1 ckt-fetch "$TOKEN/fx/tiny:1"
	assert_output_contains "401"
	grep -q '"user": null' "$TOKLOG"
	: >"$TOKLOG"
	run -0 ckt-fetch --creds tok:tokpass "$TOKEN/fx/multi:1"
	[[ "$output" == "$TOKEN/fx/multi@sha256:"* ]]
	grep -q '"user": "tok", "scope": \["repository:fx/multi:pull"\], "ok": true' "$TOKLOG"
	# one token for the whole pull (cached per scope), and at most one more
	# for the signature look-up that follows it
	[ "$(wc -l <"$TOKLOG")" -le 2 ]
	run -1 ckt-fetch --creds tok:wrong "$TOKEN/fx/tiny:1"
	assert_output_contains "credentials refused"
}

@test "token registry: anonymous token for a public repository" {
	run -0 ckt-fetch "$TOKEN/public/tiny:1"
	grep -q '"user": null, "scope": \["repository:public/tiny:pull"\]' "$TOKLOG"
}

@test "token registry: multi-arch index with --all-platforms" {
	run -0 ckt-fetch --json --creds tok:tokpass --all-platforms "$TOKEN/fx/multiarch:1"
	[ "$(jq .blobs_fetched <<<"$output")" = 6 ]
}

@test "TLS registry: --cert-dir and basic auth" {
	run -0 ckt-fetch --cert-dir "$RD/cadir" --creds bob:bobpass "$TLS/fx/multi:1"
	[[ "$output" == "$TLS/fx/multi@sha256:"* ]]
	run -1 ckt-fetch --cert-dir "$RD/cadir" --creds bob:nope "$TLS/fx/tiny:1"
	assert_output_contains "401"
	run -1 ckt-fetch --cert-dir "$RD/cadir" "$TLS/fx/tiny:1"
	assert_output_contains "401"
}

@test "TLS registry: an unknown CA is refused, never downgraded to http" {
	export CKT_CERTS_D="$BATS_TEST_TMPDIR/none"
	run -1 ckt-fetch --creds bob:bobpass "$TLS/fx/tiny:1"
	assert_output_contains "certificate"
	[[ "$output" != *"http://"* ]]
}

@test "TLS registry: certs.d/HOST:PORT under CKT_CERTS_D" {
	mkdir -p "$BATS_TEST_TMPDIR/certs.d/$TLS"
	cp "$CERTS/ca.crt" "$BATS_TEST_TMPDIR/certs.d/$TLS/"
	export CKT_CERTS_D="$BATS_TEST_TMPDIR/empty:$BATS_TEST_TMPDIR/certs.d"
	run -0 ckt-fetch --creds bob:bobpass "$TLS/fx/tiny:1"
}

@test "TLS registry: --tls-verify=false skips verification" {
	run -0 ckt-fetch --tls-verify=false --creds bob:bobpass "$TLS/fx/tiny:1"
	run -2 ckt-fetch --tls-verify=maybe "$TLS/fx/tiny:1"
}

@test "credentials from \$DOCKER_CONFIG/config.json" {
	mkdir -p "$DOCKER_CONFIG"
	printf '{"auths":{"%s":{"auth":"%s"},"https://%s/v1/":{"auth":"%s"}}}' \
		"$TLS" "$(printf bob:bobpass | base64)" "$TOKEN" "$(printf tok:tokpass | base64)" \
		>"$DOCKER_CONFIG/config.json"
	run -0 ckt-fetch --cert-dir "$RD/cadir" "$TLS/fx/tiny:1"
	run -0 ckt-fetch "$TOKEN/fx/tiny:1"
	grep -q '"user": "tok"' "$TOKLOG"
	# --creds wins over the file
	run -1 ckt-fetch --cert-dir "$RD/cadir" --creds bob:nope "$TLS/fx/multi:1"
}

@test "credentials from ~/.docker/config.json when DOCKER_CONFIG is unset" {
	unset DOCKER_CONFIG
	mkdir -p "$HOME/.docker"
	printf '{"auths":{"%s":{"username":"bob","password":"bobpass"}}}' "$TLS" \
		>"$HOME/.docker/config.json"
	run -0 ckt-fetch --cert-dir "$RD/cadir" "$TLS/fx/tiny:1"
}

@test "credentials from auth.json: \$REGISTRY_AUTH_FILE and \$XDG_RUNTIME_DIR, before config.json" {
	mkdir -p "$XDG_RUNTIME_DIR/containers" "$DOCKER_CONFIG"
	printf '{"auths":{"%s":{"auth":"%s"}}}' "$TLS" "$(printf bob:nope | base64)" \
		>"$DOCKER_CONFIG/config.json"
	printf '{"auths":{"%s":{"auth":"%s"}}}' "$TLS" "$(printf bob:bobpass | base64)" \
		>"$XDG_RUNTIME_DIR/containers/auth.json"
	run -0 ckt-fetch --cert-dir "$RD/cadir" "$TLS/fx/tiny:1"
	printf '{"auths":{"%s":{"auth":"%s"}}}' "$TLS" "$(printf bob:bad | base64)" \
		>"$BATS_TEST_TMPDIR/other.json"
	REGISTRY_AUTH_FILE="$BATS_TEST_TMPDIR/other.json" run -1 ckt-fetch --cert-dir "$RD/cadir" "$TLS/fx/multi:1"
	assert_output_contains "401"
	printf '{"auths":{"%s":{"auth":"!!!"}}}' "$TLS" >"$BATS_TEST_TMPDIR/bad.json"
	REGISTRY_AUTH_FILE="$BATS_TEST_TMPDIR/bad.json" run -1 ckt-fetch --cert-dir "$RD/cadir" "$TLS/fx/multi:1"
	assert_output_contains "base64"
}

@test "credentials from credHelpers and credsStore (docker-credential-NAME get)" {
	mkdir -p "$BATS_TEST_TMPDIR/bin" "$DOCKER_CONFIG"
	cat >"$BATS_TEST_TMPDIR/bin/docker-credential-ckttest" <<-EOS
	#!/bin/sh
	[ "\$1" = get ] || exit 1
	read -r server
	echo "\$server" >>"$BATS_TEST_TMPDIR/helper.log"
	case \$server in
	$TLS) echo '{"ServerURL":"'\$server'","Username":"bob","Secret":"bobpass"}' ;;
	$TOKEN) echo '{"ServerURL":"'\$server'","Username":"tok","Secret":"tokpass"}' ;;
	*) echo "credentials not found in native keychain"; exit 1 ;;
	esac
	EOS
	chmod +x "$BATS_TEST_TMPDIR/bin/docker-credential-ckttest"
	export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
	printf '{"credHelpers":{"%s":"ckttest"}}' "$TLS" >"$DOCKER_CONFIG/config.json"
	run -0 ckt-fetch --cert-dir "$RD/cadir" "$TLS/fx/tiny:1"
	grep -qx "$TLS" "$BATS_TEST_TMPDIR/helper.log"
	printf '{"credsStore":"ckttest"}' >"$DOCKER_CONFIG/config.json"
	run -0 ckt-fetch "$TOKEN/fx/tiny:1"
	grep -qx "$TOKEN" "$BATS_TEST_TMPDIR/helper.log"
	printf '{"credHelpers":{"%s":"missing-helper"}}' "$TLS" >"$DOCKER_CONFIG/config.json"
	run -1 ckt-fetch --cert-dir "$RD/cadir" "$TLS/fx/multi:1"
	assert_output_contains "docker-credential-missing-helper"
}

@test "nothing listening: a network error, exit 1, store unchanged" {
	run -0 ckt-fetch -q "$PLAIN/fx/tiny:1"
	before=$(store_state)
	run -1 ckt-fetch "127.0.0.1:$(ckt_port 9)/fx/tiny:1"
	assert_output_contains "127.0.0.1:$(ckt_port 9)"
	[ "$(store_state)" = "$before" ]
}

@test "ckt login checks and stores credentials (0600); ckt logout removes them" {
	run -1 ckt-login --cert-dir "$RD/cadir" -u bob --password-stdin "$TLS" <<<"wrong"
	assert_output_contains "401"
	[ ! -e "$XDG_RUNTIME_DIR/containers/auth.json" ]
	run -0 --separate-stderr ckt-login --cert-dir "$RD/cadir" -u bob --password-stdin "$TLS" <<<"bobpass"
	[ -z "$output" ]
	[ "$(stat -c %a "$XDG_RUNTIME_DIR/containers/auth.json")" = 600 ]
	[ "$(jq -r --arg h "$TLS" '.auths[$h].auth' "$XDG_RUNTIME_DIR/containers/auth.json" | base64 -d)" = bob:bobpass ]
	run -0 ckt login -u tok -p tokpass "$TOKEN"
	run -1 ckt login -u tok -p nope "$TOKEN"
	run -0 ckt-fetch --cert-dir "$RD/cadir" "$TLS/fx/tiny:1"
	run -0 ckt-fetch "$TOKEN/fx/tiny:1"
	run -0 ckt-logout "$TLS"
	run -1 ckt-logout "$TLS"
	assert_output_contains "not logged in"
	[ "$(jq -r --arg h "$TOKEN" '.auths | has($h)' "$XDG_RUNTIME_DIR/containers/auth.json")" = true ]
	run -1 ckt-fetch --cert-dir "$RD/cadir" "$TLS/fx/multi:1"
	run -2 ckt-login "$TLS"
	run -0 ckt-login --no-check --authfile "$BATS_TEST_TMPDIR/a.json" -u x -p y docker.io
	[ "$(jq -r '.auths["https://index.docker.io/v1/"].auth' "$BATS_TEST_TMPDIR/a.json" | base64 -d)" = x:y ]
}

@test "two ckt-fetch at once into one store: both succeed, the store is whole" {
	ckt-fetch -q "$PLAIN/fx/multi:1" >"$BATS_TEST_TMPDIR/a" 2>&1 &
	pa=$!
	ckt-fetch -q "$PLAIN/fx/multi:1" >"$BATS_TEST_TMPDIR/b" 2>&1 &
	pb=$!
	wait "$pa"
	wait "$pb"
	[ "$(cat "$BATS_TEST_TMPDIR/a")" = "$(cat "$BATS_TEST_TMPDIR/b")" ]
	run -0 ckt-image fsck
	[ -z "$(ls "$CKT_STORE/tmp")" ]
}

@test "progress only on a terminal, never with -q or in a pipe" {
	run -0 script -qec "ckt-fetch '$PLAIN/fx/multi:1'" /dev/null
	assert_output_contains "blobs"
	assert_output_contains "/s"
	export CKT_STORE="$BATS_TEST_TMPDIR/s2"
	run -0 script -qec "ckt-fetch -q '$PLAIN/fx/multi:1' 2>&1 >/dev/null" /dev/null
	[ -z "$output" ]
	export CKT_STORE="$BATS_TEST_TMPDIR/s3"
	run -0 --separate-stderr ckt-fetch "$PLAIN/fx/multi:1"
	[ -z "$stderr" ]
}

@test "TLS client certificates from --cert-dir (*.cert and *.key)" {
	run -0 ckt-fetch --cert-dir "$RD/mtlsdir" "$MTLS/fx/tiny:1"
	[[ "$output" == "$MTLS/fx/tiny@sha256:"* ]]
	export CKT_STORE="$BATS_TEST_TMPDIR/s2"
	run -1 ckt-fetch --cert-dir "$RD/cadir" "$MTLS/fx/tiny:1"
	[[ "$output" != *"http://"* ]]
	mkdir -p "$BATS_TEST_TMPDIR/half"
	cp "$CERTS/ca.crt" "$CERTS/client.cert" "$BATS_TEST_TMPDIR/half/"
	run -1 ckt-fetch --cert-dir "$BATS_TEST_TMPDIR/half" "$MTLS/fx/tiny:1"
	assert_output_contains "client.key"
}

@test "an identity token from a credential helper goes to the token service as an OAuth2 refresh token" {
	mkdir -p "$BATS_TEST_TMPDIR/bin" "$DOCKER_CONFIG"
	cat >"$BATS_TEST_TMPDIR/bin/docker-credential-ckttok" <<-'EOS'
	#!/bin/sh
	read -r server
	echo '{"ServerURL":"'$server'","Username":"<token>","Secret":"refresh-abc"}'
	EOS
	chmod +x "$BATS_TEST_TMPDIR/bin/docker-credential-ckttok"
	export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
	printf '{"credHelpers":{"%s":"ckttok"}}' "$TOKEN" >"$DOCKER_CONFIG/config.json"
	run -0 ckt-fetch "$TOKEN/fx/tiny:1"
	grep -q '"user": "tok", "scope": \["repository:fx/tiny:pull"\], "grant": "refresh_token", "auth": false' "$TOKLOG"
	sed -i 's/refresh-abc/refresh-bad/' "$BATS_TEST_TMPDIR/bin/docker-credential-ckttok"
	run -1 ckt-fetch "$TOKEN/fx/multi:1"
	assert_output_contains "401"
}

@test "a registry pull loads libcurl, and not libarchive" {
	LD_DEBUG=files run -0 --separate-stderr ckt-fetch "$PLAIN/fx/tiny:1"
	[[ $stderr == *libcurl.so* ]]
	[[ $stderr != *libarchive* ]]
	[[ $output == "$PLAIN/fx/tiny@sha256:"* ]]
}
