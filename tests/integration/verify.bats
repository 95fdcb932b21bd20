#!/usr/bin/env bats
# ckt-verify: policy.json semantics (scopes, requirements, signedIdentity
# kinds, key sources) and cosign-style signatures (ckt's keys in cosign's
# encrypted format, cross-checked with an independent implementation, and
# carried to and from a registry by ckt-push and ckt-fetch).

load lib
load ../fixtures/registry/registry

CK="$BATS_TEST_DIRNAME/../fixtures/keys/cosign-key.py"

setup_file() {
	ckt_fixtures
	export KEYS="$BATS_FILE_TMPDIR/keys"
	"$CKT_TOP/tests/fixtures/keys/mkkeys.sh" "$KEYS" alice bob
	export RD="$BATS_FILE_TMPDIR/reg"
	export REG=127.0.0.1:$(ckt_port 0)
	"$REGFX/start-registry.sh" "$RD/plain" "$(ckt_port 0)"
}

teardown_file() {
	kill "$(cat "$RD/plain/pid")" 2>/dev/null || true
	gpgconf --homedir "$KEYS/gnupg" --kill all 2>/dev/null || true
}

setup() {
	ckt_setup
	export GNUPGHOME="$KEYS/gnupg"
	A=$(cat "$KEYS/alice.fpr")
	export COSIGN_PASSWORD=s3cret
	cd "$BATS_TEST_TMPDIR"
	ckt-fetch -q --name example.com/ns/app:1 "oci:$FX/oci:tiny" >/dev/null
	ckt-fetch -q --name example.com/ns/multi:1 "oci:$FX/oci:multi" >/dev/null
	DIGEST=$(skopeo inspect --format '{{.Digest}}' "oci:$FX/oci:tiny")
}

# req JSON: a policy whose default is reject and whose docker scope
# example.com holds the requirement JSON.
req() {
	printf '{"default":[{"type":"reject"}],"transports":{"docker":{"example.com":[%s]}}}\n' "$1" >policy.json
}
gpgreq() {
	req '{"type":"signedBy","keyType":"GPGKeys","keyPath":"'"$KEYS/alice.asc"'"'"${1:+,\"signedIdentity\":$1}"'}'
}

# sigmanifest NAME: path of the cosign signature manifest blob of NAME's image.
sigmanifest() {
	local d
	d=$(jq -r --arg n "$1:sha256-${DIGEST#sha256:}.sig" \
		'.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $n) | .digest' \
		"$CKT_STORE/index.json")
	echo "$CKT_STORE/blobs/sha256/${d#sha256:}"
}

# replace_sig NAME SIG: rewrite NAME's cosign signature manifest in the store
# with SIG as the first layer's signature annotation.
replace_sig() {
	local m nd
	m=$(sigmanifest "$1")
	jq -c --arg s "$2" '.layers[0].annotations["dev.cosignproject.cosign/signature"] = $s' "$m" >new.json
	nd=$(sha256sum new.json | cut -d' ' -f1)
	cp new.json "$CKT_STORE/blobs/sha256/$nd"
	jq --arg o "sha256:$(basename "$m")" --arg n "sha256:$nd" --argjson s "$(stat -c %s new.json)" \
		'(.manifests[] | select(.digest == $o)) |= (.digest = $n | .size = $s)' \
		"$CKT_STORE/index.json" >idx && mv idx "$CKT_STORE/index.json"
}

@test "scopes: the most specific one wins, then the transport's \"\", then default" {
	printf '{"default":[{"type":"reject"}],"transports":{"docker":{"example.com":[{"type":"reject"}],"example.com/ns/app":[{"type":"insecureAcceptAnything"}]}}}' >policy.json
	run -0 ckt-verify --policy policy.json example.com/ns/app:1
	run -3 ckt-verify --policy policy.json example.com/ns/multi:1
	assert_output_contains "(policy reject)"
	printf '{"default":[{"type":"reject"}],"transports":{"docker":{"":[{"type":"insecureAcceptAnything"}],"example.com/ns/multi:1":[{"type":"reject"}]}}}' >policy.json
	run -0 ckt-verify --policy policy.json example.com/ns/app:1
	run -3 ckt-verify --policy policy.json example.com/ns/multi:1
	# Every requirement of a scope must accept.
	printf '{"default":[{"type":"insecureAcceptAnything"},{"type":"reject"}]}' >policy.json
	run -3 ckt-verify --policy policy.json example.com/ns/app:1
}

@test "a malformed policy is an error naming the file (exit 1), not a pass" {
	for bad in '{"default":[]}' '{"default":[{"type":"nope"}]}' '{"transports":{}}' \
		'{"default":[{"type":"signedBy","keyType":"X509","keyPath":"/x"}]}' \
		'{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/x","keyData":"eA=="}]}' \
		'{"default":[{"type":"sigstoreSigned"}]}' '{"default":[{"type":"reject","x":1}]}' '[1]'; do
		echo "$bad" >policy.json
		run -1 ckt-verify --policy policy.json example.com/ns/app:1
		assert_output_contains "policy"
	done
}

@test "signedIdentity: exact, repository, digest references, remapIdentity, exactRepository" {
	ckt-sign -q --sign-by "$A" example.com/ns/app:1 >/dev/null
	gpgreq
	run -0 ckt-verify --policy policy.json example.com/ns/app:1
	# By digest: matchRepoDigestOrExact compares repositories.
	run -0 ckt-verify --policy policy.json "example.com/ns/app@$DIGEST"
	# Under another tag, the exact reference does not match...
	ckt-image tag example.com/ns/app:1 example.com/ns/app:2
	run -3 ckt-verify --policy policy.json example.com/ns/app:2
	assert_output_contains "(identity mismatch)"
	# ...but matchRepository does.
	gpgreq '{"type":"matchRepository"}'
	run -0 ckt-verify --policy policy.json example.com/ns/app:2
	gpgreq '{"type":"matchExact"}'
	run -0 ckt-verify --policy policy.json example.com/ns/app:1
	run -3 ckt-verify --policy policy.json "example.com/ns/app@$DIGEST"
	gpgreq '{"type":"exactRepository","dockerRepository":"example.com/ns/app"}'
	run -0 ckt-verify --policy policy.json example.com/ns/app:2
	# A mirror: example.com/mirror/app:1 was signed as example.com/ns/app:1.
	ckt-image tag example.com/ns/app:1 example.com/mirror/app:1
	gpgreq
	run -3 ckt-verify --policy policy.json example.com/mirror/app:1
	gpgreq '{"type":"remapIdentity","prefix":"example.com/mirror","signedPrefix":"example.com/ns"}'
	run -0 ckt-verify --policy policy.json example.com/mirror/app:1
}

@test "GPG key sources: keyPaths, keyData; a keyring without the signer is refused" {
	ckt-sign -q --sign-by "$A" example.com/ns/app:1 >/dev/null
	req '{"type":"signedBy","keyType":"GPGKeys","keyPaths":["'"$KEYS/bob.asc"'","'"$KEYS/alice.gpg"'"]}'
	run -0 ckt-verify --policy policy.json example.com/ns/app:1
	req '{"type":"signedBy","keyType":"GPGKeys","keyData":"'"$(base64 -w0 "$KEYS/alice.gpg")"'"}'
	run -0 ckt-verify --policy policy.json example.com/ns/app:1
	req '{"type":"signedBy","keyType":"GPGKeys","keyData":"'"$(base64 -w0 "$KEYS/bob.gpg")"'"}'
	run -3 ckt-verify --policy policy.json example.com/ns/app:1
	assert_output_contains "(unknown key)"
	# Relative key paths are resolved against the policy file's directory.
	mkdir -p pol && cp "$KEYS/alice.asc" pol/
	echo '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"alice.asc"}]}' >pol/policy.json
	run -0 ckt-verify --policy pol/policy.json example.com/ns/app:1
}

@test "sigstore: ckt generates a key, signs, and verifies; a flipped signature byte is refused" {
	run -0 ckt-sign --generate-key ck
	[ "$output" = "ck.key
ck.pub" ]
	[ "$(stat -c %a ck.key)" = 600 ]
	head -1 ck.key | grep -q -- '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----'
	run -2 ckt-sign --generate-key ck
	run -0 ckt-sign --sign-by-sigstore-private-key ck.key example.com/ns/app:1
	[ "$output" = "store:example.com/ns/app:sha256-${DIGEST#sha256:}.sig" ]
	req '{"type":"sigstoreSigned","keyPath":"'"$PWD/ck.pub"'"}'
	run -0 ckt-verify --policy policy.json example.com/ns/app:1
	req '{"type":"sigstoreSigned","keyData":"'"$(base64 -w0 ck.pub)"'","signedIdentity":{"type":"matchRepository"}}'
	run -0 ckt-verify --policy policy.json example.com/ns/app:1
	# The cosign manifest: payload layer, signature annotation, cosign's media type.
	m=$(sigmanifest example.com/ns/app)
	jq -e '.layers[0].mediaType == "application/vnd.dev.cosign.simplesigning.v1+json"' "$m"
	p=$(jq -r '.layers[0].digest' "$m")
	jq -e --arg d "$DIGEST" '.critical.type == "cosign container image signature" and .critical.image."docker-manifest-digest" == $d' \
		"$CKT_STORE/blobs/sha256/${p#sha256:}"
	# Flip one byte of the signature in the store's manifest.
	sig=$(jq -r '.layers[0].annotations["dev.cosignproject.cosign/signature"]' "$m")
	replace_sig example.com/ns/app "$(printf '%s' "$sig" | base64 -d |
		perl -pe 'substr($_, 40, 1) = chr(ord(substr($_, 40, 1)) ^ 1)' | base64 -w0)"
	run -3 ckt-verify --policy policy.json example.com/ns/app:1
	assert_output_contains "(bad signature)"
	# A signature made with ckt's key by the independent implementation passes.
	replace_sig example.com/ns/app "$("$CK" sign ck.key "$COSIGN_PASSWORD" "$CKT_STORE/blobs/sha256/${p#sha256:}")"
	run -0 ckt-verify --policy policy.json example.com/ns/app:1
}

@test "sigstore: wrong password, another key, no signature" {
	ckt-sign -q --generate-key ck >/dev/null
	COSIGN_PASSWORD=wrong run -3 ckt-sign --sign-by-sigstore-private-key ck.key example.com/ns/app:1
	assert_output_contains "wrong password"
	ckt-sign -q --sign-by-sigstore-private-key ck.key example.com/ns/app:1 >/dev/null
	COSIGN_PASSWORD=other ckt-sign -q --generate-key other >/dev/null
	req '{"type":"sigstoreSigned","keyPath":"'"$PWD/other.pub"'"}'
	run -3 ckt-verify --policy policy.json example.com/ns/app:1
	assert_output_contains "(bad signature)"
	run -3 ckt-verify --policy policy.json example.com/ns/multi:1
	assert_output_contains "(no signature)"
}

@test "sigstore: ckt's key format and signatures agree with an independent implementation" {
	ckt-sign -q --generate-key ck >/dev/null
	"$CK" pub ck.key "$COSIGN_PASSWORD" | cmp - ck.pub
	ckt-sign -q --sign-by-sigstore-private-key ck.key example.com/ns/app:1 >/dev/null
	m=$(sigmanifest example.com/ns/app)
	p=$(jq -r '.layers[0].digest' "$m")
	sig=$(jq -r '.layers[0].annotations["dev.cosignproject.cosign/signature"]' "$m")
	"$CK" verify ck.pub "$CKT_STORE/blobs/sha256/${p#sha256:}" "$sig"
	run -1 "$CK" verify ck.pub "$m" "$sig"
	# A key written by the other implementation signs through ckt.
	"$CK" generate py "$COSIGN_PASSWORD"
	ckt-sign -q --sign-by-sigstore-private-key py.key example.com/ns/multi:1 >/dev/null
	req '{"type":"sigstoreSigned","keyPath":"'"$PWD/py.pub"'"}'
	run -0 ckt-verify --policy policy.json example.com/ns/multi:1
}

@test "sigstore: ckt-push carries the .sig tag; ckt-fetch brings it back into a new store" {
	ckt-sign -q --generate-key ck >/dev/null
	ckt-image tag example.com/ns/app:1 "$REG/cos:1"
	ckt-sign -q --sign-by-sigstore-private-key ck.key "$REG/cos:1" >/dev/null
	run -0 ckt-push --tls-verify=false "$REG/cos:1" "docker://$REG/cos:1"
	skopeo list-tags --tls-verify=false "docker://$REG/cos" | grep -q "sha256-${DIGEST#sha256:}.sig"
	req '{"type":"sigstoreSigned","keyPath":"'"$PWD/ck.pub"'"}'
	sed -i "s|\"example.com\"|\"$REG\"|" policy.json
	# As containers/image: attachments are read when registries.d asks for them...
	export CKT_STORE="$BATS_TEST_TMPDIR/store2"
	run -0 ckt-fetch --tls-verify=false "docker://$REG/cos:1"
	run -3 ckt-verify --policy policy.json "$REG/cos:1"
	mkdir -p regd
	printf 'docker:\n  %s:\n    use-sigstore-attachments: true\n' "$REG" >regd/a.yaml
	run -0 ckt-fetch --registries.d regd --tls-verify=false "docker://$REG/cos:1"
	run -0 ckt-verify --policy policy.json "$REG/cos:1"
	ckt-image gc >/dev/null
	run -0 ckt-verify --policy policy.json "$REG/cos:1"
	# ...and by ckt-fetch --verify.
	export CKT_STORE="$BATS_TEST_TMPDIR/store3"
	run -0 ckt-fetch --verify --policy policy.json --tls-verify=false "docker://$REG/cos:1"
	run -0 ckt-verify --policy policy.json "$REG/cos:1"
	# A signature made here survives a fetch that brings the registry's.
	COSIGN_PASSWORD=other ckt-sign -q --generate-key k2 >/dev/null
	COSIGN_PASSWORD=other ckt-sign -q --sign-by-sigstore-private-key k2.key "$REG/cos:1" >/dev/null
	run -0 ckt-fetch --verify --policy policy.json --tls-verify=false "docker://$REG/cos:1"
	run -0 ckt-verify --policy policy.json "$REG/cos:1"
	sed -i "s|$PWD/ck.pub|$PWD/k2.pub|" policy.json
	run -0 ckt-verify --policy policy.json "$REG/cos:1"
}
