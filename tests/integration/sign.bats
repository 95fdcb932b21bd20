#!/usr/bin/env bats
# containers/image simple signing: ckt-sign and ckt-verify against skopeo in
# both directions through a lookaside directory and a real registry, the
# signatures kept in the store (and through gc), and each refusal reason.

load lib
load ../fixtures/registry/registry

setup_file() {
	ckt_fixtures
	export KEYS="$BATS_FILE_TMPDIR/keys"
	"$CKT_TOP/tests/fixtures/keys/mkkeys.sh" "$KEYS" alice bob
	export RD="$BATS_FILE_TMPDIR/reg"
	export REG=127.0.0.1:$(ckt_port 0)
	"$REGFX/start-registry.sh" "$RD/plain" "$(ckt_port 0)"
	skp copy --dest-tls-verify=false "oci:$FX/oci:tiny" "docker://$REG/app:1"
	skp copy --dest-tls-verify=false "oci:$FX/oci:multi" "docker://$REG/multi:1"
}

teardown_file() {
	kill "$(cat "$RD/plain/pid")" 2>/dev/null || true
	gpgconf --homedir "$KEYS/gnupg" --kill all 2>/dev/null || true
}

setup() {
	ckt_setup
	export GNUPGHOME="$KEYS/gnupg"
	A=$(cat "$KEYS/alice.fpr")
	B=$(cat "$KEYS/bob.fpr")
	LA="$BATS_TEST_TMPDIR/lookaside"
	REGD="$BATS_TEST_TMPDIR/registries.d"
	mkdir -p "$REGD"
	printf 'docker:\n  %s:\n    lookaside: file://%s\n' "$REG" "$LA" >"$REGD/test.yaml"
	cd "$BATS_TEST_TMPDIR"
}

teardown() {
	if [ -f "$BATS_TEST_TMPDIR/http.pid" ]; then
		kill "$(cat "$BATS_TEST_TMPDIR/http.pid")" 2>/dev/null || true
	fi
}

# policy KEYFILE [IDENTITY-JSON]: a policy accepting $REG images signed by KEYFILE.
policy() {
	local id=${2:+,\"signedIdentity\":$2}
	printf '{"default":[{"type":"reject"}],"transports":{"docker":{"%s":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"%s"%s}]}}}\n' \
		"$REG" "$1" "$id" >policy.json
}

@test "ckt signs; skopeo accepts the signature from the lookaside directory" {
	ckt-fetch -q "docker://$REG/app:1" >/dev/null
	run -0 ckt-sign --sign-by "$A" --sign-to-dir "$LA" "$REG/app:1"
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[0]}" == "store:$REG/app:sha256-"*.simplesig ]]
	digest=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG/app:1")
	[ "${lines[1]}" = "$LA/app@sha256=${digest#sha256:}/signature-1" ]
	# The payload is containers/image's, signed by alice.
	gpg --batch --decrypt "${lines[1]}" 2>/dev/null | jq -e --arg d "$digest" --arg r "$REG/app:1" \
		'.critical.type == "atomic container signature" and .critical.image."docker-manifest-digest" == $d and .critical.identity."docker-reference" == $r'
	policy "$KEYS/alice.gpg"
	run -0 skopeo copy -q --remove-signatures --policy policy.json --registries.d "$REGD" \
		--src-tls-verify=false "docker://$REG/app:1" "oci:out:x"
	# skopeo refuses when the policy names bob.
	policy "$KEYS/bob.gpg"
	run -1 skopeo copy -q --remove-signatures --policy policy.json --registries.d "$REGD" \
		--src-tls-verify=false "docker://$REG/app:1" "oci:out:y"
}

@test "registries.d lookaside-staging is where ckt-sign writes without --sign-to-dir" {
	printf 'docker:\n  %s/app:\n    lookaside: file:///nonexistent\n    lookaside-staging: file://%s\n' \
		"$REG" "$LA" >"$REGD/test.yaml"
	ckt-fetch -q "docker://$REG/app:1" >/dev/null
	run -0 ckt-sign --registries.d "$REGD" --sign-by "$A" "$REG/app:1"
	[ -f "${lines[1]}" ] && [[ "${lines[1]}" == "$LA/app@sha256="*/signature-1 ]]
	# Signing again with the same bytes is not written twice; another signature is signature-2.
	run -0 ckt-sign --registries.d "$REGD" --sign-by "$B" "$REG/app:1"
	[[ "${lines[1]}" == */signature-2 ]]
}

@test "skopeo signs; ckt-fetch copies the signature into the store; ckt-verify accepts offline" {
	printf 'docker:\n  %s:\n    lookaside: file://%s\n' "$REG" "$LA" >"$REGD/test.yaml"
	skp copy --registries.d "$REGD" --sign-by "$B" --dest-tls-verify=false \
		"oci:$FX/oci:multi" "docker://$REG/signed:1"
	run -0 ckt-fetch --registries.d "$REGD" "docker://$REG/signed:1"
	policy "$KEYS/bob.asc"
	run -0 ckt-verify --policy policy.json --registries.d "$REGD" "$REG/signed:1"
	[ "$output" = "$REG/signed:1" ]
	# The signature is in the store: no lookaside needed any more.
	rm -rf "$LA"
	run -0 ckt-verify --policy policy.json --registries.d /nonexistent "$REG/signed:1"
	# and survives gc.
	ckt-image gc >/dev/null
	run -0 ckt-verify --policy policy.json --registries.d /nonexistent "$REG/signed:1"
	run -0 ckt-verify --policy policy.json "$REG/signed@$(skopeo inspect --tls-verify=false \
		--format '{{.Digest}}' "docker://$REG/signed:1")"
	ckt-image fsck >/dev/null
}

@test "refusals: no signature, unknown key, identity mismatch, digest mismatch, policy reject" {
	ckt-fetch -q "docker://$REG/app:1" "docker://$REG/multi:1" >/dev/null
	policy "$KEYS/alice.asc"
	run -3 ckt-verify --policy policy.json --registries.d "$REGD" "$REG/app:1"
	assert_output_contains "(no signature)"
	# Signed by bob, who is not in the policy.
	ckt-sign -q --sign-by "$B" "$REG/app:1" >/dev/null
	run -3 ckt-verify --policy policy.json --registries.d "$REGD" "$REG/app:1"
	assert_output_contains "(unknown key)"
	# Signed by alice for another name.
	ckt-sign -q --sign-by "$A" --sign-identity "$REG/other:1" "$REG/app:1" >/dev/null
	run -3 ckt-verify --policy policy.json --registries.d "$REGD" "$REG/app:1"
	assert_output_contains "(identity mismatch)"
	# matchRepository accepts that name; exactReference pins it.
	policy "$KEYS/alice.asc" '{"type":"exactReference","dockerReference":"'"$REG"'/other:1"}'
	run -0 ckt-verify --policy policy.json --registries.d "$REGD" "$REG/app:1"
	# A signature of app's manifest presented for multi (a tampered manifest).
	policy "$KEYS/alice.asc" '{"type":"matchRepository"}'
	ckt-sign -q --sign-by "$A" --sign-to-dir "$LA" --sign-identity "$REG/multi:1" "$REG/app:1" >/dev/null
	md=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG/multi:1")
	sig=$(echo "$LA"/multi@sha256=*/signature-1)
	[ -f "$sig" ]
	mkdir -p "$LA/multi@sha256=${md#sha256:}"
	cp "$sig" "$LA/multi@sha256=${md#sha256:}/signature-1"
	run -3 ckt-verify --policy policy.json --registries.d "$REGD" "$REG/multi:1"
	assert_output_contains "(digest mismatch)"
	echo '{"default":[{"type":"reject"}]}' >reject.json
	run -3 ckt-verify --policy reject.json "$REG/app:1"
	assert_output_contains "(policy reject)"
	run -0 ckt-verify --policy reject.json --insecure-options=image "$REG/app:1"
}

@test "ckt-verify reads - and prints only what passed; --json reports each" {
	ckt-fetch -q "docker://$REG/app:1" "docker://$REG/multi:1" >/dev/null
	ckt-sign -q --sign-by "$A" "$REG/app:1" >/dev/null
	policy "$KEYS/alice.asc"
	run -3 --separate-stderr ckt-verify --policy policy.json - <<<"$REG/app:1
$REG/multi:1"
	[ "$output" = "$REG/app:1" ]
	run -3 --separate-stderr ckt-verify --json --policy policy.json "$REG/app:1" "$REG/multi:1"
	[ "$(echo "${lines[0]}" | jq -r .verified)" = true ]
	[ "$(echo "${lines[1]}" | jq -r .reason)" = "no signature" ]
}

@test "no policy file: a signature by a key of the trust store (rkt's default)" {
	ckt-fetch -q "docker://$REG/app:1" >/dev/null
	ckt-sign -q --sign-by "$A" "$REG/app:1" >/dev/null
	T=(--local-config "$BATS_TEST_TMPDIR/lc" --system-config "$BATS_TEST_TMPDIR/sc")
	CKT_POLICY= run -3 ckt-verify "${T[@]}" "$REG/app:1"
	assert_output_contains "(unknown key)"
	ckt-trust -q "${T[@]}" --prefix "$REG/app" --yes "$KEYS/alice.asc"
	CKT_POLICY= run -0 ckt-verify "${T[@]}" "$REG/app:1"
	# A policy in the local configuration directory takes over.
	echo '{"default":[{"type":"reject"}]}' >"$BATS_TEST_TMPDIR/lc/policy.json"
	run -3 env -u CKT_POLICY ckt-verify "${T[@]}" "$REG/app:1"
	assert_output_contains "(policy reject)"
}

@test "ckt-fetch --verify: refused images keep no name and exit 3" {
	policy "$KEYS/alice.asc"
	run -3 ckt-fetch --verify --policy policy.json "docker://$REG/app:1"
	assert_output_contains "(no signature)"
	run -1 ckt-image inspect "$REG/app:1"
	mkdir -p "$LA"
	ckt-fetch -q "docker://$REG/app:1" >/dev/null
	ckt-sign -q --sign-by "$A" --sign-to-dir "$LA" "$REG/app:1" >/dev/null
	ckt-image rm "$REG/app:1" >/dev/null
	rm -rf "$CKT_STORE"
	run -0 ckt-fetch --verify --policy policy.json --registries.d "$REGD" "docker://$REG/app:1"
	[[ "$output" == "$REG/app@sha256:"* ]]
}

@test "ckt-exec runs a signed image only when its key is trusted (no policy file)" {
	ckt-fetch -q --name example.com/exec/tiny:1 "oci:$FX/oci:tiny" >/dev/null
	ckt-sign -q --sign-by "$A" example.com/exec/tiny:1 >/dev/null
	T=(--local-config "$BATS_TEST_TMPDIR/lc" --system-config "$BATS_TEST_TMPDIR/sc")
	CKT_POLICY= run -3 --separate-stderr ckt-exec "${T[@]}" example.com/exec/tiny:1 -- /bin/echo hi
	[ -z "$output" ]
	ckt-trust -q "${T[@]}" --prefix example.com/exec --yes "$KEYS/alice.asc" >/dev/null
	CKT_POLICY= run -0 --separate-stderr ckt-exec "${T[@]}" example.com/exec/tiny:1 -- /bin/echo hi
	[ "$output" = hi ]
	# Signed by bob, trusted for another prefix: refused.
	ckt-fetch -q --name example.com/exec2/tiny:1 "oci:$FX/oci:tiny" >/dev/null
	CKT_POLICY= run -3 --separate-stderr ckt-exec "${T[@]}" example.com/exec2/tiny:1 -- /bin/echo hi
	[[ "$stderr" == *"(unknown key)"* ]]
}

@test "a passphrase-protected GPG key signs with --passphrase-file; a wrong one exits 3" {
	export GNUPGHOME="$BATS_TEST_TMPDIR/gnupg"
	mkdir -p -m 700 "$GNUPGHOME"
	gpg --batch --passphrase sekrit --quick-gen-key "Pass <pass@example.com>" ed25519 sign never 2>/dev/null
	fpr=$(gpg --batch --with-colons --list-keys 2>/dev/null | awk -F: '/^fpr:/ { print $10; exit }')
	echo sekrit >pass
	echo wrong >bad
	ckt-fetch -q --name example.com/pass/tiny:1 "oci:$FX/oci:tiny" >/dev/null
	run -3 ckt-sign --sign-by "$fpr" --passphrase-file bad example.com/pass/tiny:1
	assert_output_contains "Bad passphrase"
	run -0 ckt-sign --sign-by "$fpr" --passphrase-file pass example.com/pass/tiny:1
	gpg --batch --armor --export "$fpr" >pass.asc
	policy "$PWD/pass.asc"
	sed -i "s|\"$REG\"|\"example.com\"|" policy.json
	run -0 ckt-verify --policy policy.json example.com/pass/tiny:1
	run -1 ckt-sign --sign-by 0000000000000000000000000000000000000000 example.com/pass/tiny:1
	assert_output_contains "no such secret key"
	gpgconf --homedir "$GNUPGHOME" --kill all
}

@test "a lookaside store served over http is read by ckt-verify" {
	ckt-fetch -q "docker://$REG/app:1" >/dev/null
	ckt-sign -q --sign-by "$A" --sign-to-dir "$LA" "$REG/app:1" >/dev/null
	port=$(ckt_port 1)
	"$PYTHON" -m http.server --bind 127.0.0.1 --directory "$LA" "$port" 2>http.log &
	echo $! >http.pid
	wait_port "$port"
	printf 'docker:\n  %s:\n    lookaside: http://127.0.0.1:%s/\n' "$REG" "$port" >"$REGD/test.yaml"
	# A new store holds the image but no signature.
	export CKT_STORE="$BATS_TEST_TMPDIR/store2"
	ckt-fetch -q --registries.d /nonexistent "docker://$REG/app:1" >/dev/null
	policy "$KEYS/alice.asc"
	run -3 ckt-verify --policy policy.json --registries.d /nonexistent "$REG/app:1"
	run -0 ckt-verify --policy policy.json --registries.d "$REGD" "$REG/app:1"
	grep -q 'GET /app@sha256=.*/signature-1 HTTP/1.1" 200' http.log
	grep -q 'GET /app@sha256=.*/signature-2 HTTP/1.1" 404' http.log
}

@test "concurrent signers of one image lose no signature" {
	ckt-fetch -q --name example.com/many/tiny:1 "oci:$FX/oci:tiny" >/dev/null
	for i in 1 2 3 4 5 6; do
		ckt-sign -q --sign-by "$A" --sign-identity "example.com/many/tiny:$i" \
			example.com/many/tiny:1 >/dev/null &
	done
	wait
	m=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] | endswith(".simplesig")) | .digest' \
		"$CKT_STORE/index.json")
	[ "$(jq '.layers | length' "$CKT_STORE/blobs/sha256/${m#sha256:}")" = 6 ]
	ckt-image fsck
}
