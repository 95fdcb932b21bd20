#!/usr/bin/env bats
# ckt-image: list, inspect, tag, rm, gc, fsck; common options and the
# store's location (--store, CKT_STORE, the per-user default).

load lib

setup_file() {
	ckt_fixtures
}

setup() {
	ckt_setup
}

fx_digest() {
	jq -r --arg r "$2" \
		'.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' \
		"$1/index.json"
}

blob() {
	echo "$CKT_STORE/blobs/${1%%:*}/${1#*:}"
}

# The blobs of a stored manifest: itself, its config, its layers.
manifest_blobs() {
	echo "$1"
	jq -r '.config.digest, .layers[].digest' "$(blob "$1")"
}

# tiny and multi from the oci layout, the multiarch index with both platforms.
fetch_three() {
	run -0 ckt-fetch -q "oci:$FX/oci:tiny" "oci:$FX/oci:multi"
	run -0 ckt-fetch -q --all-platforms "oci:$FX/index:multiarch"
	TINY=$(fx_digest "$FX/oci" tiny)
	MULTI=$(fx_digest "$FX/oci" multi)
	INDEX=$(fx_digest "$FX/index" multiarch)
}

@test "list: one name per line when piped, pinned references with -q, --json objects" {
	run -0 --separate-stderr ckt-image list
	[ -z "$output" ]
	[ -z "$stderr" ]
	fetch_three
	run -0 --separate-stderr ckt-image list
	[ "$output" = "$(printf '%s\n' localhost/oci:tiny localhost/oci:multi localhost/index:multiarch)" ]
	run -0 --separate-stderr ckt-image list -q
	[ "$output" = "$(printf '%s\n' "localhost/oci@$TINY" "localhost/oci@$MULTI" \
		"localhost/index@$INDEX")" ]
	run -0 --separate-stderr ckt-image list --json
	[ "${#lines[@]}" -eq 3 ]
	[ "$(jq -c '{name, reference, digest}' <<<"${lines[2]}")" = \
		"{\"name\":\"localhost/index:multiarch\",\"reference\":\"localhost/index@$INDEX\",\"digest\":\"$INDEX\"}" ]
	[ "$(jq -r .media_type <<<"${lines[2]}")" = application/vnd.oci.image.index.v1+json ]
	[ "$(jq -r .size <<<"${lines[0]}")" -eq "$(stat -c %s "$(blob "$TINY")")" ]
	# the names list prints feed ckt-image rm -
	run -0 bash -c 'ckt-image list | ckt-image rm -'
	run -0 ckt-image list
	[ -z "$output" ]
}

@test "list: a table on a terminal" {
	command -v script >/dev/null || skip "script(1) is not installed"
	fetch_three
	run -0 script -qec "ckt-image list" /dev/null
	[[ "${lines[0]}" == NAME*DIGEST*TYPE* ]]
	[[ "${lines[1]}" == localhost/oci:tiny*"${TINY:0:19}"*image* ]]
	[[ "${lines[3]}" == localhost/index:multiarch*index* ]]
}

@test "inspect: manifest, config and platform" {
	fetch_three
	run -0 --separate-stderr ckt-image inspect --json localhost/oci:multi
	[ "${#lines[@]}" -eq 1 ]
	[ "$(jq -r .name <<<"$output")" = localhost/oci:multi ]
	[ "$(jq -r .digest <<<"$output")" = "$MULTI" ]
	[ "$(jq -r .platform <<<"$output")" = linux/amd64 ]
	[ "$(jq -c .manifest <<<"$output")" = "$(jq -c . "$(blob "$MULTI")")" ]
	[ "$(jq -r '.config.config.User' <<<"$output")" = app ]
	[ "$(jq -r '.config.config.Entrypoint[0]' <<<"$output")" = /bin/busybox ]
	# pretty by default; by pinned reference and by digest too
	run -0 ckt-image inspect "localhost/oci@$MULTI"
	[ "${lines[0]}" = "{" ]
	[ "$(jq -r .digest <<<"$output")" = "$MULTI" ]
	run -0 ckt-image inspect "$TINY"
	[ "$(jq -r .config.config.Cmd[2] <<<"$output")" = "echo hello from tiny" ]
	[ "$(jq -r .name <<<"$output")" = null ]
	# an index: the platform's manifest, and the index itself
	run -0 ckt-image inspect --json --platform linux/arm64/v8 localhost/index:multiarch
	[ "$(jq -r .platform <<<"$output")" = linux/arm64/v8 ]
	[ "$(jq -r .digest <<<"$output")" = "$INDEX" ]
	[ "$(jq -r '.index.manifests | length' <<<"$output")" -eq 2 ]
	[ "$(jq -r .manifest_digest <<<"$output")" = \
		"$(jq -r '.index.manifests[1].digest' <<<"$output")" ]
	run -1 ckt-image inspect --platform windows/amd64 localhost/index:multiarch
	assert_output_contains "no image for platform 'windows/amd64'"
	run -1 --separate-stderr ckt-image inspect alpine
	[ "$stderr" = "ckt-image: error: image 'alpine': no image 'alpine' in the store" ]
	run -2 ckt-image inspect
	assert_output_contains "'inspect' takes one argument"
	# the pinned reference ckt-fetch prints feeds inspect (README)
	run -0 bash -c 'ckt-fetch "docker-archive:$FX/tiny.docker.tar" | ckt-image inspect --json -'
	[ "$(jq -r .config.config.Env[1] <<<"$output")" = FIXTURE=tiny ]
	[ "$(jq -r .name <<<"$output")" = null ]
}

@test "tag: a further name for the same image; names are normalised" {
	fetch_three
	run -0 ckt-image tag localhost/oci:tiny busybox
	[ "$output" = docker.io/library/busybox:latest ]
	run -0 ckt-image tag "localhost/oci@$MULTI" example.org/a/b:v2
	[ "$output" = example.org/a/b:v2 ]
	run -0 ckt-image list -q
	[ "${lines[3]}" = "docker.io/library/busybox@$TINY" ]
	[ "${lines[4]}" = "example.org/a/b@$MULTI" ]
	run -0 ckt-image inspect --json busybox
	[ "$(jq -r .digest <<<"$output")" = "$TINY" ]
	# retagging moves the name
	run -0 ckt-image tag localhost/oci:multi busybox
	run -0 ckt-image list -q
	[ "${lines[3]}" = "docker.io/library/busybox@$MULTI" ]
	[ "${#lines[@]}" -eq 5 ]
	run -2 ckt-image tag localhost/oci:tiny "x@$TINY"
	assert_output_contains "a name cannot carry a digest"
	run -1 ckt-image tag nosuch:1 other:1
	assert_output_contains "no image 'nosuch:1'"
	run -1 ckt-image tag localhost/oci:tiny 'UPPER CASE'
	assert_output_contains "invalid reference 'UPPER CASE' (repository name must be lowercase)"
	run -2 ckt-image tag onlyone
}

@test "rm: removes names, not blobs; unknown names and digests fail" {
	fetch_three
	nblobs=$(find "$CKT_STORE/blobs" -type f | wc -l)
	run -0 ckt-image rm localhost/oci:tiny localhost/index:multiarch
	[ "$output" = "$(printf '%s\n' localhost/oci:tiny localhost/index:multiarch)" ]
	run -0 ckt-image list
	[ "$output" = localhost/oci:multi ]
	[ "$(find "$CKT_STORE/blobs" -type f | wc -l)" -eq "$nblobs" ]
	run -1 --separate-stderr ckt-image rm localhost/oci:tiny localhost/oci:multi
	[ "$stderr" = "ckt-image: error: no image 'localhost/oci:tiny' in the store" ]
	[ "$output" = localhost/oci:multi ]
	run -0 ckt-fetch -q "oci:$FX/oci:tiny"
	run -2 ckt-image rm "$TINY"
	assert_output_contains "is not a name"
	# every failure is named; the status is the first one's
	run -2 --separate-stderr ckt-image rm "$TINY" nosuch localhost/oci:tiny
	[ "${#stderr_lines[@]}" -eq 2 ]
	[[ "${stderr_lines[1]}" == "ckt-image: error: no image 'nosuch' in the store" ]]
	[ "$output" = localhost/oci:tiny ]
	run -0 ckt-fetch -q "oci:$FX/oci:tiny"
	echo localhost/oci:tiny | {
		run -0 ckt-image rm -
		[ "$output" = localhost/oci:tiny ]
	}
}

@test "gc keeps the blobs names reach and drops the rest" {
	fetch_three
	keep=$( (manifest_blobs "$TINY"; echo "$INDEX"
		for m in $(jq -r '.manifests[].digest' "$(blob "$INDEX")"); do manifest_blobs "$m"; done) |
		sort -u)
	drop=$(comm -23 <(manifest_blobs "$MULTI" | sort -u) <(echo "$keep"))
	[ "$(wc -l <<<"$drop")" -eq 5 ] # multi's 3 own layers, config, manifest
	touch "$CKT_STORE/tmp/blob-leftover"
	echo junk >"$CKT_STORE/blobs/sha256/$(printf '%064d' 0)"
	run -0 ckt-image rm localhost/oci:multi
	run -0 --separate-stderr ckt-image gc --json
	[ "$(jq -r .blobs_removed <<<"$output")" -eq 6 ]
	[ "$(jq -r .blobs_kept <<<"$output")" -eq "$(wc -l <<<"$keep")" ]
	[ "$(jq -r .tmp_removed <<<"$output")" -eq 1 ]
	for d in $keep; do [ -f "$(blob "$d")" ]; done
	for d in $drop; do [ ! -e "$(blob "$d")" ]; done
	[ ! -e "$CKT_STORE/blobs/sha256/$(printf '%064d' 0)" ]
	[ -z "$(ls -A "$CKT_STORE/tmp")" ]
	run -0 ckt-image fsck
	[ -z "$output" ]
	run -0 ckt-image gc
	[[ "$output" == "removed 0 blobs (0 B), kept $(wc -l <<<"$keep")" ]]
	# skopeo still reads what is left
	run -0 skopeo inspect "oci:$CKT_STORE:localhost/oci:tiny"
	# with every name gone, gc empties the store
	run -0 ckt-image rm localhost/oci:tiny localhost/index:multiarch
	run -0 ckt-image gc -q
	[ -z "$output" ]
	[ -z "$(find "$CKT_STORE/blobs" -type f)" ]
}

@test "fsck: clean store passes; each problem is named and exits 1" {
	fetch_three
	run -0 --separate-stderr ckt-image fsck
	[ -z "$output" ]
	[ -z "$stderr" ]
	layer=$(jq -r '.layers[1].digest' "$(blob "$MULTI")")
	gone=$(jq -r '.layers[2].digest' "$(blob "$MULTI")")
	cfg=$(jq -r '.config.digest' "$(blob "$TINY")")
	printf 'X' | dd of="$(blob "$layer")" bs=1 seek=20 conv=notrunc status=none
	rm "$(blob "$gone")"
	run -1 --separate-stderr ckt-image fsck
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[0]}" == "blob $layer is corrupt"* ]]
	[[ "${lines[1]}" == *"missing blob $gone"* ]]
	[ "$stderr" = "ckt-image: error: the store has 2 problems" ]
	run -1 --separate-stderr ckt-image fsck --json
	[ "$(jq -r .problem <<<"${lines[1]}")" = "blob $MULTI points to missing blob $gone" ]
	# a truncated config: its hash and the size its manifest gives
	truncate -s 10 "$(blob "$cfg")"
	run -1 --separate-stderr ckt-image fsck
	[ "${#lines[@]}" -eq 4 ]
	assert_output_contains "blob $cfg is corrupt"
	assert_output_contains "gives blob $cfg a size of 520 bytes, but it has 10"
	# index.json that is not JSON
	echo 'not json' >"$CKT_STORE/index.json"
	run -1 --separate-stderr ckt-image fsck
	assert_output_contains "index.json: parse"
	assert_output_contains "line 1, column"
	run -1 --separate-stderr ckt-image list
	[[ "$stderr" == "ckt-image: error: "*"index.json"* ]]
}

@test "fsck: a ref to a missing manifest and a wrong size in index.json" {
	run -0 ckt-fetch -q "oci:$FX/oci:tiny" "oci:$FX/oci:multi"
	MULTI=$(fx_digest "$FX/oci" multi)
	jq -c '.manifests[0].size += 1' "$CKT_STORE/index.json" >"$BATS_TEST_TMPDIR/i" &&
		cp "$BATS_TEST_TMPDIR/i" "$CKT_STORE/index.json"
	rm "$(blob "$MULTI")"
	run -1 --separate-stderr ckt-image fsck
	[ "${lines[0]}" = "ref 'localhost/oci:tiny' gives blob $(fx_digest "$FX/oci" tiny) a size of 350 bytes, but it has 349" ]
	[ "${lines[1]}" = "ref 'localhost/oci:multi' points to missing blob $MULTI" ]
	[ "${#lines[@]}" -eq 2 ]
}

@test "names skopeo and umoci write into the store are listed, inspected, removed" {
	run -0 ckt-fetch -q "oci:$FX/oci:multi"
	run -0 skopeo --insecure-policy copy -q "oci:$FX/oci:tiny" "oci:$CKT_STORE:skopeo-tiny"
	run -0 umoci tag --image "$CKT_STORE:skopeo-tiny" umoci-tag
	TINY=$(fx_digest "$FX/oci" tiny)
	run -0 ckt-image list
	[ "$output" = "$(printf '%s\n' localhost/oci:multi skopeo-tiny umoci-tag)" ]
	run -0 ckt-image inspect --json umoci-tag
	[ "$(jq -r .name <<<"$output")" = umoci-tag ]
	[ "$(jq -r .digest <<<"$output")" = "$TINY" ]
	run -0 ckt-image fsck
	[ -z "$output" ]
	run -0 ckt-image rm skopeo-tiny umoci-tag
	run -0 ckt-image gc --json
	[ "$(jq -r .blobs_removed <<<"$output")" -eq 2 ] # tiny's config and manifest
	run -0 ckt-image list
	[ "$output" = localhost/oci:multi ]
}

@test "common options go before or after the subcommand" {
	S=$BATS_TEST_TMPDIR/other
	unset CKT_STORE
	export HOME=$BATS_TEST_TMPDIR/home XDG_DATA_HOME=$BATS_TEST_TMPDIR/home/.local/share
	run -0 ckt-fetch --store "$S" -q "oci:$FX/oci:tiny"
	run -0 ckt-image --store "$S" list
	a=$output
	run -0 ckt-image list --store "$S"
	[ "$output" = "$a" ]
	[ "$output" = localhost/oci:tiny ]
	run -0 ckt-image --store="$S" --json list
	b=$output
	run -0 ckt-image list --json --store="$S"
	[ "$output" = "$b" ]
	run -0 ckt-image -q list --store "$S"
	[[ "$output" == localhost/oci@sha256:* ]]
	run -0 ckt-image inspect --store "$S" localhost/oci:tiny --json
	[ "${#lines[@]}" -eq 1 ]
	run -2 ckt-image list --bogus
	assert_output_contains "ckt-image: error: unknown option '--bogus'"
	run -2 ckt-image list --store
	assert_output_contains "missing argument for option '--store'"
}

@test "CKT_STORE chooses the store and --store overrides it" {
	A=$BATS_TEST_TMPDIR/a B=$BATS_TEST_TMPDIR/b
	CKT_STORE=$A run -0 ckt-fetch -q "oci:$FX/oci:tiny"
	CKT_STORE=$A run -0 ckt-fetch -q --store "$B" "oci:$FX/oci:multi"
	CKT_STORE=$A run -0 ckt-image list
	[ "$output" = localhost/oci:tiny ]
	CKT_STORE=$A run -0 ckt-image list --store "$B"
	[ "$output" = localhost/oci:multi ]
	[ -f "$A/oci-layout" ] && [ -f "$B/oci-layout" ]
	[ ! -e "$HOME/.local/share/ckt" ]
	# a directory that is not a layout is refused, not taken over
	mkdir "$BATS_TEST_TMPDIR/notstore" && echo hi >"$BATS_TEST_TMPDIR/notstore/f"
	run -1 --separate-stderr ckt-image list --store "$BATS_TEST_TMPDIR/notstore"
	[ "$stderr" = "ckt-image: error: open store '$BATS_TEST_TMPDIR/notstore': not an OCI image layout (it is not empty and has no oci-layout file)" ]
}

# as_nobody DIR CMD...: run CMD as nobody with a clean environment, HOME=DIR.
as_nobody() {
	local home=$1
	shift
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
		env -i PATH=/usr/bin:/bin HOME="$home" "$@"
}

@test "the default store of an ordinary user is under ~/.local/share, XDG_DATA_HOME honoured" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to become nobody"
	# A directory nobody can use, with copies of the tools (the checkout
	# itself may be out of nobody's reach).
	d=$(mktemp -d /tmp/ckt-nobody.XXXXXX)
	chmod 755 "$d"
	cp "$CKT_TOP/bin/ckt-image" "$CKT_TOP/bin/ckt-fetch" "$d/"
	mkdir "$d/home" "$d/fx" && cp -r "$FX/oci" "$d/fx/"
	chown -R nobody:nogroup "$d/home" "$d/fx"
	run -0 as_nobody "$d/home" "$d/ckt-fetch" -q "oci:$d/fx/oci:tiny"
	run -0 as_nobody "$d/home" "$d/ckt-image" list
	[ "$output" = localhost/oci:tiny ]
	[ -f "$d/home/.local/share/ckt/oci-layout" ]
	[ "$(stat -c %U "$d/home/.local/share/ckt/index.json")" = nobody ]
	run -0 as_nobody "$d/home" XDG_DATA_HOME="$d/home/xdg" "$d/ckt-image" list
	[ -z "$output" ]
	[ -f "$d/home/xdg/ckt/oci-layout" ]
	# a relative XDG_DATA_HOME is ignored (XDG base directory spec)
	run -0 as_nobody "$d/home" XDG_DATA_HOME=rel "$d/ckt-image" list
	[ "$output" = localhost/oci:tiny ]
	run -0 as_nobody "$d/home" CKT_STORE="$d/home/env" "$d/ckt-image" list
	[ -f "$d/home/env/oci-layout" ]
	rm -rf "$d"
}

@test "root's default store is /var/lib/ckt" {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	unshare -m true 2>/dev/null || skip "cannot make a mount namespace"
	unset CKT_STORE
	# A private /var/lib, so the host's store is never touched.
	run -0 unshare -m sh -c 'mount -t tmpfs tmpfs /var/lib &&
		ckt-fetch -q "oci:$FX/oci:tiny" && ckt-image list && test -f /var/lib/ckt/oci-layout'
	[ "${lines[1]}" = localhost/oci:tiny ]
}

@test "usage errors exit 2" {
	run -2 --separate-stderr ckt-image
	[ "$stderr" = "$(printf "ckt-image: error: no command given\nTry 'ckt-image --help' for more information.")" ]
	run -2 ckt-image frobnicate
	assert_output_contains "unknown command 'frobnicate'"
	run -2 ckt-image list extra
	assert_output_contains "'list' takes no arguments"
	run -2 ckt-image gc extra
	run -2 ckt-image rm
	assert_output_contains "'rm' takes at least one argument"
	run -2 ckt-image inspect --platform nonsense x
	assert_output_contains "invalid --platform 'nonsense'"
}
