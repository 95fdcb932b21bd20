# Row group "sign": containers/image simple signing of one image, and its
# verification.  Peer: skopeo standalone-sign / standalone-verify on the same
# manifest, identity and key (ckt-sign also stores the signature; ckt-verify
# evaluates a policy.json signedBy requirement with an ephemeral keyring,
# as skopeo copy does).
# shellcheck shell=bash

group_sign() {
	local keys="$WORKDIR/keys" store="$WORKDIR/store" ref=bench.example/tiny:1 fpr
	local saved_gnupghome=${GNUPGHOME-}
	"$REPO/tests/fixtures/keys/mkkeys.sh" "$keys" bench || { log "sign: no gpg keys"; return 0; }
	fpr=$(cat "$keys/bench.fpr")
	export GNUPGHOME="$keys/gnupg"
	"$CKT_BIN/ckt-fetch" -q --store "$store" --name "$ref" "oci:$CORPUS:tiny" >/dev/null ||
		{ log "sign: cannot fetch the tiny image"; return 0; }
	skopeo inspect --raw "oci:$CORPUS:tiny" >"$WORKDIR/manifest.json"
	printf '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"%s"}]}\n' \
		"$keys/bench.asc" >"$WORKDIR/policy.json"
	"$CKT_BIN/ckt-sign" -q --store "$store" --sign-by "$fpr" "$ref" >/dev/null
	skopeo standalone-sign "$WORKDIR/manifest.json" "$ref" "$fpr" -o "$WORKDIR/sig" 2>/dev/null

	row "sign simple tiny" 1.5 \
		"$(ckt sign --store "$store" --sign-by "$fpr" "$ref")" \
		"$(peer skopeo standalone-sign "$WORKDIR/manifest.json" "$ref" "$fpr" -o "$WORKDIR/sig2")"
	row "verify simple tiny" 1.5 \
		"$(ckt verify --store "$store" --policy "$WORKDIR/policy.json" --registries.d /nonexistent "$ref")" \
		"$(peer skopeo standalone-verify "$WORKDIR/manifest.json" "$ref" "$fpr" "$WORKDIR/sig")"
	gpgconf --homedir "$keys/gnupg" --kill all 2>/dev/null || true
	if [[ -n "$saved_gnupghome" ]]; then export GNUPGHOME=$saved_gnupghome; else unset GNUPGHOME; fi
}
