#!/usr/bin/env bats
# aci: URLs and appc meta discovery (issue 6) against small web servers on
# 127.0.0.1: HTTPS with a test CA, and plain HTTP for --insecure-options=http.

load lib

setup_file() {
	export AFX="$BATS_FILE_TMPDIR/afx" WEB="$BATS_FILE_TMPDIR/web" CERTS="$BATS_FILE_TMPDIR/certs"
	export TLS_PORT=$(ckt_port 0) HTTP_PORT=$(ckt_port 1)
	"$PYTHON" "$CKT_TOP/tests/fixtures/aci/mkaci.py" "$AFX" >/dev/null
	mkdir -p "$CERTS" "$WEB/images/localhost/apps" "$WEB/c/beta" "$WEB/_disc"
	# A test CA and a server certificate for localhost and 127.0.0.1.
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ckt-test-ca \
		-keyout "$CERTS/ca.key" -out "$CERTS/ca.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$CERTS/srv.key" \
		-out "$CERTS/srv.csr" 2>/dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$CERTS/ext"
	openssl x509 -req -in "$CERTS/srv.csr" -CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.key" \
		-CAcreateserial -days 2 -extfile "$CERTS/ext" -out "$CERTS/srv.crt" 2>/dev/null
	mkdir -p "$CERTS/ca"
	cp "$CERTS/ca.crt" "$CERTS/ca/"
	# Images, signatures and discovery pages.
	cp "$AFX/good-gz.aci" "$WEB/images/app-1.0.aci"
	printf -- '-----BEGIN PGP SIGNATURE-----\nfixture\n-----END PGP SIGNATURE-----\n' >"$WEB/images/app-1.0.aci.asc"
	cp "$AFX/disc-hello.aci" "$WEB/images/localhost/apps/hello-1.0-linux-amd64.aci"
	printf 'sig of hello\n' >"$WEB/images/localhost/apps/hello-1.0-linux-amd64.aci.asc"
	cp "$AFX/disc-custom.aci" "$WEB/c/beta/custom.aci"
	cp "$AFX/good-gz.aci" "$WEB/images/localhost/apps/impostor-latest-linux-amd64.aci"
	# localhost/apps/hello has no page of its own: the walk goes up to /apps.
	cat >"$WEB/_disc/apps.html" <<-HTML
	<html><head>
	<meta name="ac-discovery" content="localhost/apps https://localhost:$TLS_PORT/images/{name}-{version}-{os}-{arch}.{ext}">
	<meta name="ac-discovery-pubkeys" content="localhost/apps https://localhost:$TLS_PORT/pubkeys.gpg">
	</head></html>
	HTML
	cat >"$WEB/_disc/apps_custom.html" <<-HTML
	<meta name='ac-discovery' content='localhost/apps/custom https://localhost:$TLS_PORT/c/{channel}/custom.{ext}'>
	HTML
	"$PYTHON" "$CKT_TOP/tests/fixtures/aci/serve.py" "$WEB" "$TLS_PORT" "$CERTS/srv.crt" "$CERTS/srv.key" &
	echo $! >"$BATS_FILE_TMPDIR/tls.pid"
	"$PYTHON" "$CKT_TOP/tests/fixtures/aci/serve.py" "$WEB" "$HTTP_PORT" &
	echo $! >"$BATS_FILE_TMPDIR/http.pid"
	wait_port "$TLS_PORT"
	wait_port "$HTTP_PORT"
}

teardown_file() {
	kill "$(cat "$BATS_FILE_TMPDIR/tls.pid")" "$(cat "$BATS_FILE_TMPDIR/http.pid")" 2>/dev/null || true
}

setup() {
	ckt_setup
}

stored_sig() {
	local man
	man=$(jq -r --arg id "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $id) | .digest' "$CKT_STORE/index.json")
	jq -r '.layers[1].digest // empty' "$CKT_STORE/blobs/sha256/${man#sha256:}"
}

id_of() { jq -r --arg k "$1" '.[$k]' "$AFX/ids.json"; }

@test "aci-discovery: an https URL verified with the test CA; its .aci.asc is stored" {
	run -0 ckt-fetch --cert-dir "$CERTS/ca" aci:"https://localhost:$TLS_PORT/images/app-1.0.aci"
	[[ "$output" == example.com/app@sha256:* ]]
	sig=$(stored_sig "$(id_of good-gz)")
	[ -n "$sig" ]
	cmp "$WEB/images/app-1.0.aci.asc" "$CKT_STORE/blobs/sha256/${sig#sha256:}"
}

@test "aci-discovery: an unknown CA is refused unless --insecure-options=tls" {
	run -1 ckt-fetch aci:"https://localhost:$TLS_PORT/images/app-1.0.aci"
	assert_output_contains "SSL certificate problem"
	run -0 ckt-fetch --insecure-options=tls aci:"https://localhost:$TLS_PORT/images/app-1.0.aci"
}

@test "aci-discovery: plain http needs --insecure-options=http" {
	run -2 ckt-fetch aci:"http://127.0.0.1:$HTTP_PORT/images/app-1.0.aci"
	assert_output_contains "--insecure-options=http"
	run -0 ckt-fetch --insecure-options=http aci:"http://127.0.0.1:$HTTP_PORT/images/app-1.0.aci"
}

@test "aci-discovery: a name found by walking up to its parent's meta tags" {
	: >"$WEB/_log"
	run -0 ckt-fetch -v --cert-dir "$CERTS/ca" --discovery-port "$TLS_PORT" \
		aci:localhost/apps/hello:1.0,os=linux,arch=amd64
	[[ "${lines[-1]}" == localhost/apps/hello@sha256:* ]]
	assert_output_contains "discovered https://localhost:$TLS_PORT/images/localhost/apps/hello-1.0-linux-amd64.aci"
	grep -qx '/apps/hello?ac-discovery=1' "$WEB/_log"
	grep -qx '/apps?ac-discovery=1' "$WEB/_log"
	sig=$(stored_sig "$(id_of disc-hello)")
	[ "$(cat "$CKT_STORE/blobs/sha256/${sig#sha256:}")" = "sig of hello" ]
	ckt-unpack localhost/apps/hello:1.0 "$BATS_TEST_TMPDIR/r" >/dev/null
	[ "$(cat "$BATS_TEST_TMPDIR/r/hello")" = hello ]
}

@test "aci-discovery: a template with a custom label" {
	run -0 ckt-fetch --cert-dir "$CERTS/ca" --discovery-port "$TLS_PORT" \
		aci:localhost/apps/custom:2.0,channel=beta
	[[ "${lines[-1]}" == localhost/apps/custom@sha256:* ]]
	# Without the label the template cannot be filled.
	run -1 ckt-fetch --cert-dir "$CERTS/ca" --discovery-port "$TLS_PORT" aci:localhost/apps/custom:2.0
	assert_output_contains "no appc discovery template for 'localhost/apps/custom'"
}

@test "aci-discovery: the fetched manifest must match the requested name and labels" {
	before=$(ls "$CKT_STORE" 2>/dev/null || true)
	run -3 ckt-fetch --cert-dir "$CERTS/ca" --discovery-port "$TLS_PORT" aci:localhost/apps/impostor
	assert_output_contains "named 'example.com/app', not 'localhost/apps/impostor'"
	run -3 ckt-fetch --cert-dir "$CERTS/ca" --discovery-port "$TLS_PORT" \
		aci:localhost/apps/hello:1.0,os=linux,arch=amd64,extra=x
	assert_output_contains "label extra"
	run -2 ckt-fetch aci:'Not A Name'
	run -1 ckt-fetch --cert-dir "$CERTS/ca" --discovery-port "$TLS_PORT" aci:localhost/nothing/here
	assert_output_contains "no appc discovery template"
}
