#!/usr/bin/env bats
# ckt-trust and rkt's trust store (APPC-NOTES.md §3), exercised through ACI
# verification: prefixes by path component, root keys, masking by an empty
# local file, misnamed key files; .aci.asc signatures cross-checked with gpg.

load lib

setup_file() {
	export KEYS="$BATS_FILE_TMPDIR/keys"
	"$CKT_TOP/tests/fixtures/keys/mkkeys.sh" "$KEYS" alice bob
	for n in example.com/app example.com/app2 example.com/foo other.org/x; do
		"$CKT_TOP/tests/fixtures/keys/mkaci.sh" "$n" "$BATS_FILE_TMPDIR/${n//\//_}.aci"
	done
}

teardown_file() {
	gpgconf --homedir "$KEYS/gnupg" --kill all 2>/dev/null || true
}

setup() {
	ckt_setup
	export GNUPGHOME="$KEYS/gnupg"
	# No policy file: rkt's rule, a signature by a key of the trust store.
	export CKT_POLICY=
	A=$(cat "$KEYS/alice.fpr")
	B=$(cat "$KEYS/bob.fpr")
	a=${A,,}
	b=${B,,}
	LC="$BATS_TEST_TMPDIR/local"
	SC="$BATS_TEST_TMPDIR/system"
	T=(--local-config "$LC" --system-config "$SC")
	cd "$BATS_TEST_TMPDIR"
	for f in "$BATS_FILE_TMPDIR"/*.aci; do cp "$f" .; done
	for f in *.aci; do ckt-sign -q --format aci --sign-by "$A" "$f" >/dev/null; done
}

teardown() {
	if [ -f "$BATS_TEST_TMPDIR/web.pid" ]; then
		kill "$(cat "$BATS_TEST_TMPDIR/web.pid")" 2>/dev/null || true
	fi
}

# aci NAME: the signed ACI file for NAME in the test directory.
aci() { echo "${1//\//_}.aci"; }

@test "trust --prefix writes an armored key named by its lower-case fingerprint" {
	run -0 ckt-trust "${T[@]}" --prefix example.com "$KEYS/alice.gpg" --yes
	[ "$output" = "$LC/trustedkeys/prefix.d/example.com/$a" ]
	head -1 "$output" | grep -q -- '-----BEGIN PGP PUBLIC KEY BLOCK-----'
	[ "$(stat -c %a "$output")" = 644 ]
	run -0 ckt-trust "${T[@]}" list
	[ "$output" = "local example.com $a Alice <alice@example.com>" ]
}

@test "--fingerprint adds only a matching key and refuses another (scriptable)" {
	run -0 ckt-trust "${T[@]}" --prefix example.com --fingerprint "$A" "$KEYS/alice.asc"
	run -3 ckt-trust "${T[@]}" --prefix example.com --fingerprint "$B" "$KEYS/alice.asc"
	assert_output_contains "key $b not found"
	[ ! -e "$LC/trustedkeys/prefix.d/example.com/$b" ]
}

@test "usage: no --prefix/--root, both, a URL as prefix, no tty to ask on" {
	run -2 ckt-trust "${T[@]}" "$KEYS/alice.asc"
	assert_output_contains "implicit unbounded trust"
	run -2 ckt-trust "${T[@]}" --root --prefix example.com "$KEYS/alice.asc"
	run -2 ckt-trust "${T[@]}" --prefix https://example.com "$KEYS/alice.asc"
	run -3 ckt-trust "${T[@]}" --prefix example.com "$KEYS/alice.asc" </dev/null
	[ ! -e "$LC/trustedkeys" ] || [ -z "$(find "$LC/trustedkeys" -type f)" ]
}

@test "ckt signs an ACI that gpg --verify accepts" {
	run -0 ckt-sign --format aci --sign-by "$A" "$(aci example.com/app)"
	[ "$output" = "$(aci example.com/app).asc" ]
	head -1 "$output" | grep -q -- '-----BEGIN PGP SIGNATURE-----'
	gpg --batch --verify "$output" "$(aci example.com/app)"
}

@test "a prefix trusts names below it by path component, not by string" {
	ckt-trust -q "${T[@]}" --prefix example.com/app --yes "$KEYS/alice.asc"
	run -0 ckt-verify "${T[@]}" "$(aci example.com/app)"
	# example.com/app2 is not below example.com/app.
	run -3 ckt-verify "${T[@]}" "$(aci example.com/app2)"
	assert_output_contains "(unknown key)"
	ckt-trust -q "${T[@]}" rm --prefix example.com/app "$A"
	# example.com/fo does not trust example.com/foo (rkt compared strings).
	ckt-trust -q "${T[@]}" --prefix example.com/fo --yes "$KEYS/alice.asc"
	run -3 ckt-verify "${T[@]}" "$(aci example.com/foo)"
	# example.com trusts example.com/app and example.com/foo.
	ckt-trust -q "${T[@]}" --prefix example.com --yes "$KEYS/alice.asc"
	run -0 ckt-verify "${T[@]}" "$(aci example.com/app)" "$(aci example.com/foo)"
	[ "${#lines[@]}" -eq 2 ]
	run -3 ckt-verify "${T[@]}" "$(aci other.org/x)"
}

@test "a root key verifies every name; a key trusted elsewhere does not" {
	ckt-trust -q "${T[@]}" --prefix other.org --yes "$KEYS/bob.asc"
	run -3 ckt-verify "${T[@]}" "$(aci example.com/app)"
	ckt-trust -q "${T[@]}" --root --yes "$KEYS/alice.asc"
	[ -s "$LC/trustedkeys/root.d/$a" ]
	run -0 ckt-verify "${T[@]}" "$(aci example.com/app)" "$(aci other.org/x)"
}

@test "a system key works until an empty local file masks it; rm masks it too" {
	mkdir -p "$SC/trustedkeys/prefix.d/example.com"
	cp "$KEYS/alice.asc" "$SC/trustedkeys/prefix.d/example.com/$a"
	run -0 ckt-verify "${T[@]}" "$(aci example.com/app)"
	mkdir -p "$LC/trustedkeys/prefix.d/example.com"
	: >"$LC/trustedkeys/prefix.d/example.com/$a"
	run -3 ckt-verify "${T[@]}" "$(aci example.com/app)"
	run -0 ckt-trust "${T[@]}" list
	assert_output_contains "local example.com $a (masked)"
	rm "$LC/trustedkeys/prefix.d/example.com/$a"
	run -0 ckt-trust "${T[@]}" rm --prefix example.com "$A"
	[ -e "$LC/trustedkeys/prefix.d/example.com/$a" ] && [ ! -s "$LC/trustedkeys/prefix.d/example.com/$a" ]
	run -3 ckt-verify "${T[@]}" "$(aci example.com/app)"
	run -1 ckt-trust "${T[@]}" rm --prefix example.com "$B"
	assert_output_contains "not trusted"
}

@test "a key file named by another fingerprint, or not armored, is refused" {
	mkdir -p "$LC/trustedkeys/prefix.d/example.com"
	cp "$KEYS/alice.asc" "$LC/trustedkeys/prefix.d/example.com/$b"
	run -1 ckt-verify "${T[@]}" "$(aci example.com/app)"
	assert_output_contains "fingerprint mismatch"
	rm "$LC/trustedkeys/prefix.d/example.com/$b"
	cp "$KEYS/alice.gpg" "$LC/trustedkeys/prefix.d/example.com/$a"
	run -1 ckt-verify "${T[@]}" "$(aci example.com/app)"
	assert_output_contains "not an ASCII-armored public key"
	rm "$LC/trustedkeys/prefix.d/example.com/$a"
	cp "$KEYS/alice.asc" "$LC/trustedkeys/prefix.d/example.com/not-a-fingerprint"
	run -1 ckt-verify "${T[@]}" "$(aci example.com/app)"
	assert_output_contains "named by their lower-case fingerprint"
}

@test "ckt verifies gpg's armored and binary detached signatures" {
	ckt-trust -q "${T[@]}" --prefix example.com --yes "$KEYS/alice.asc"
	f=$(aci example.com/app)
	gpg --batch --yes --armor --detach-sign -u "$A" -o "$f.asc" "$f"
	run -0 ckt-verify "${T[@]}" "$f"
	gpg --batch --yes --detach-sign -u "$A" -o "$f.sig" "$f"
	run -0 ckt-verify "${T[@]}" --signature "$f.sig" "$f"
	[ "$output" = "$f" ]
	# Signed by a key not trusted for the name.
	gpg --batch --yes --armor --detach-sign -u "$B" -o "$f.asc" "$f"
	run -3 ckt-verify "${T[@]}" "$f"
	assert_output_contains "(unknown key)"
}

@test "recompressing an ACI invalidates its signature; a missing .asc is refused" {
	ckt-trust -q "${T[@]}" --prefix example.com --yes "$KEYS/alice.asc"
	f=$(aci example.com/app)
	gunzip -c "$f" | gzip -1 >re.aci
	cp "$f.asc" re.aci.asc
	run -3 ckt-verify "${T[@]}" re.aci
	assert_output_contains "(bad signature)"
	rm re.aci.asc
	run -3 ckt-verify "${T[@]}" re.aci
	assert_output_contains "(no signature)"
	run -3 ckt-verify --json "${T[@]}" re.aci
	[ "$(echo "$output" | grep '^{' | jq -r .reason)" = "no signature" ]
}

@test "--insecure-options=image accepts with a warning; a policy scope for aci decides" {
	f=$(aci example.com/app)
	run -0 ckt-verify "${T[@]}" --insecure-options=image "$f"
	assert_output_contains "signature verification has been disabled"
	printf '{"default":[{"type":"reject"}],"transports":{"aci":{"example.com":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"%s"}]}}}' \
		"$KEYS/alice.gpg" >policy.json
	run -0 ckt-verify "${T[@]}" --policy policy.json "$f"
	run -3 ckt-verify "${T[@]}" --policy policy.json "$(aci other.org/x)"
	assert_output_contains "(policy reject)"
	run -2 ckt-verify --insecure-options=bogus "$f"
}

@test "ckt-fetch --verify aci:FILE checks FILE.asc; the stored ACI verifies by image ID" {
	f=$(aci example.com/app)
	run -3 ckt-fetch --verify "${T[@]}" "aci:$f"
	assert_output_contains "(unknown key)"
	run -1 ckt-image inspect example.com/app:latest
	ckt-trust -q "${T[@]}" --prefix example.com --yes "$KEYS/alice.asc" >/dev/null
	run -0 ckt-fetch --verify "${T[@]}" "aci:$f"
	[[ "$output" == "example.com/app@sha256:"* ]]
	id=$(ckt-image list | grep '^sha512-' | head -1)
	run -0 ckt-verify "${T[@]}" "$id"
	[ "$output" = "$id" ]
	# Fetched without its signature: the stored ACI has none.
	mkaci=$CKT_TOP/tests/fixtures/keys/mkaci.sh
	"$mkaci" example.com/bare bare.aci none
	ckt-fetch -q "aci:$PWD/bare.aci" >/dev/null
	id2=$(ckt-image list | grep '^sha512-' | grep -v "$id")
	run -3 ckt-verify "${T[@]}" "$id2"
	assert_output_contains "(no signature)"
	run -0 ckt-fetch --verify --insecure-options=image "${T[@]}" "aci:$PWD/bare.aci"
	assert_output_contains "signature verification has been disabled"
}

@test "trust --prefix without a key discovers ac-discovery-pubkeys and asks (--yes)" {
	port=$(ckt_port 0)
	mkdir -p web/_disc
	cp "$KEYS/alice.asc" web/alice.asc
	cat >web/_disc/keys.html <<-HTML
	<meta name="ac-discovery" content="localhost/keys https://localhost:$port/{name}.{ext}">
	<meta name="ac-discovery-pubkeys" content="localhost/keys http://localhost:$port/alice.asc">
	HTML
	"$PYTHON" "$CKT_TOP/tests/fixtures/aci/serve.py" "$PWD/web" "$port" 2>/dev/null &
	echo $! >web.pid
	wait_port "$port"
	D=(--discovery-port "$port" --insecure-allow-http)
	run -3 ckt-trust "${T[@]}" "${D[@]}" --prefix localhost/keys/app </dev/null
	[ ! -e "$LC/trustedkeys/prefix.d/localhost/keys/app/$a" ]
	run -3 ckt-trust "${T[@]}" "${D[@]}" --prefix localhost/keys/app --fingerprint "$B"
	run -0 ckt-trust "${T[@]}" "${D[@]}" --prefix localhost/keys/app --yes
	[ "$output" = "$LC/trustedkeys/prefix.d/localhost/keys/app/$a" ]
	# Plain http only when allowed.
	run -1 ckt-trust "${T[@]}" --discovery-port "$port" --prefix localhost/keys/app --yes
	run -2 ckt-trust "${T[@]}" --root
}
