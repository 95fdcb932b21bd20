#!/usr/bin/env bats
# ckt-push to real registries on 127.0.0.1 (plain, token auth, TLS + basic
# auth) and to local destinations; skopeo and ckt-fetch read back what was
# pushed, and ckt fetches what skopeo pushed.

load lib
load ../fixtures/registry/registry

setup_file() {
	ckt_fixtures
	reg_start_all
	reg_push_fixtures
}

teardown_file() {
	reg_stop_all
}

setup() {
	ckt_setup
	ckt-fetch -q oci:"$FX/oci:multi" oci:"$FX/oci:tiny" >/dev/null
	ckt-fetch -q --all-platforms oci:"$FX/index:multiarch" >/dev/null
	MULTI=$(skopeo inspect --format '{{.Digest}}' "oci:$FX/oci:multi")
	INDEX=$(skopeo inspect --raw "oci:$FX/index:multiarch" | sha256sum | cut -d' ' -f1)
}

@test "push to the plain registry: skopeo inspect and copy read it, digest unchanged" {
	run -0 ckt-push localhost/oci:multi "docker://$PLAIN/p/multi:2"
	[ "$output" = "$PLAIN/p/multi@$MULTI" ]
	run -0 skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$PLAIN/p/multi:2"
	[ "$output" = "$MULTI" ]
	run -0 skopeo --insecure-policy copy --src-tls-verify=false "docker://$PLAIN/p/multi:2" \
		"oci:$BATS_TEST_TMPDIR/copy:x"
	# and ckt-fetch reads it back into a fresh store
	CKT_STORE="$BATS_TEST_TMPDIR/s2" run -0 ckt-fetch "$PLAIN/p/multi:2"
	[ "$output" = "$PLAIN/p/multi@$MULTI" ]
}

@test "second push skips every blob; --json counts" {
	run -0 ckt-push --json localhost/oci:multi "docker://$PLAIN/p/again:1"
	[ "$(jq .blobs_uploaded <<<"$output")" = 5 ]
	run -0 ckt-push --json localhost/oci:multi "docker://$PLAIN/p/again:1"
	[ "$(jq .blobs_uploaded <<<"$output")" = 0 ]
	[ "$(jq .blobs_skipped <<<"$output")" = 5 ]
}

@test "cross-repository mount from the image's own repository on the same registry" {
	ckt-fetch -q "$PLAIN/fx/multi:1"
	run -0 ckt-push --json "$PLAIN/fx/multi:1" "docker://$PLAIN/other/multi:1"
	[ "$(jq .blobs_mounted <<<"$output")" = 5 ]
	[ "$(jq .blobs_uploaded <<<"$output")" = 0 ]
	run -0 skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$PLAIN/other/multi:1"
	[ "$output" = "$MULTI" ]
}

@test "chunked upload (PATCH) gives the same image" {
	run -0 ckt-push --json --chunk-size 64K localhost/oci:multi "docker://$PLAIN/p/chunked:1"
	[ "$(jq .blobs_uploaded <<<"$output")" = 5 ]
	run -0 skopeo --insecure-policy copy --src-tls-verify=false "docker://$PLAIN/p/chunked:1" \
		"oci:$BATS_TEST_TMPDIR/copy:x"
	run -2 ckt-push --chunk-size 0 localhost/oci:multi "docker://$PLAIN/p/chunked:1"
}

@test "--all-platforms pushes the whole index with its digest; default pushes the host's manifest" {
	run -0 ckt-push --all-platforms localhost/index:multiarch "docker://$PLAIN/p/multiarch:1"
	[ "$output" = "$PLAIN/p/multiarch@sha256:$INDEX" ]
	got=$(skopeo inspect --tls-verify=false --raw "docker://$PLAIN/p/multiarch:1" | sha256sum)
	[ "${got%% *}" = "$INDEX" ]
	run -0 ckt-push --platform linux/arm64 localhost/index:multiarch "docker://$PLAIN/p/arm:1"
	run -0 skopeo inspect --tls-verify=false --format '{{.Architecture}}' "docker://$PLAIN/p/arm:1"
	[ "$output" = arm64 ]
}

@test "token registry: push with --creds, refused without" {
	run -1 ckt-push localhost/oci:tiny "docker://$TOKEN/p/tiny:1"
	assert_output_contains "401"
	run -0 ckt-push --creds tok:tokpass localhost/oci:multi "docker://$TOKEN/p/multi:1"
	[ "$output" = "$TOKEN/p/multi@$MULTI" ]
	grep -q '"user": "tok", "scope": \["repository:p/multi:pull,push"\]' "$TOKLOG"
	run -0 skopeo inspect --tls-verify=false --creds tok:tokpass --format '{{.Digest}}' \
		"docker://$TOKEN/p/multi:1"
	[ "$output" = "$MULTI" ]
}

@test "TLS registry: push with basic auth and --cert-dir; skopeo reads it" {
	run -0 ckt-push --cert-dir "$RD/cadir" --creds bob:bobpass localhost/oci:multi "docker://$TLS/p/multi:1"
	run -0 skopeo inspect --cert-dir "$RD/cadir" --creds bob:bobpass --format '{{.Digest}}' \
		"docker://$TLS/p/multi:1"
	[ "$output" = "$MULTI" ]
	run -1 ckt-push --creds bob:bobpass localhost/oci:multi "docker://$TLS/p/multi:1"
	assert_output_contains "certificate"
}

@test "mirror a list: ckt-fetch | ckt-push - docker://HOST/PREFIX keeps the tags" {
	run -0 bash -c "ckt-fetch -q '$PLAIN/fx/tiny:1' '$PLAIN/fx/multi:1' | ckt-push - 'docker://$PLAIN/mirror'"
	[ "${#lines[@]}" = 2 ]
	[[ "${lines[0]}" == "$PLAIN/mirror/fx/tiny@sha256:"* ]]
	d=${lines[1]#*@}
	run -0 skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$PLAIN/mirror/fx/multi:1"
	[ "$output" = "$d" ]
	# a pinned reference with no tagged name in the store goes up by digest
	run -0 ckt-push - "docker://$PLAIN/bydigest" <<<"$PLAIN/fx/other@$d"
	[ "$output" = "$PLAIN/bydigest/fx/other@$d" ]
	got=$(skopeo inspect --tls-verify=false --raw "docker://$PLAIN/bydigest/fx/other@$d" | sha256sum)
	[ "sha256:${got%% *}" = "$d" ]
}

@test "local destinations: oci:, oci-archive:, docker-archive: read back by ckt-fetch and skopeo" {
	run -0 ckt-push localhost/oci:multi "oci:$BATS_TEST_TMPDIR/layout:m"
	run -0 skopeo inspect --format '{{.Digest}}' "oci:$BATS_TEST_TMPDIR/layout:m"
	[ "$output" = "$MULTI" ]
	run -0 ckt-push localhost/oci:multi "oci-archive:$BATS_TEST_TMPDIR/m.tar:m"
	CKT_STORE="$BATS_TEST_TMPDIR/s2" run -0 ckt-fetch --json "oci-archive:$BATS_TEST_TMPDIR/m.tar:m"
	[ "$(jq -r .digest <<<"$output")" = "$MULTI" ]
	run -0 ckt-push localhost/oci:multi "docker-archive:$BATS_TEST_TMPDIR/m.docker.tar:example.com/m:1"
	CKT_STORE="$BATS_TEST_TMPDIR/s3" run -0 ckt-fetch "docker-archive:$BATS_TEST_TMPDIR/m.docker.tar"
	run -0 skopeo inspect "docker-archive:$BATS_TEST_TMPDIR/m.docker.tar"
}

@test "usage errors and a missing image" {
	run -2 ckt-push localhost/oci:multi
	run -2 ckt-push a b "oci:$BATS_TEST_TMPDIR/x"
	run -2 ckt-push localhost/oci:multi "dir:$BATS_TEST_TMPDIR/x"
	run -1 ckt-push localhost/nope:1 "docker://$PLAIN/p/nope:1"
	assert_output_contains "no image 'localhost/nope:1'"
}
