#!/usr/bin/env bats
# ckt-fetch aci: (issue 6): the ACI reader's robustness (magic-byte
# compression, manifest anywhere, both supplementaryGIDs spellings), one
# refusal per hostile shape with the store left untouched, dependencies
# rendered from the store, and the stored copy with its signature.

load lib

setup_file() {
	export AFX="$BATS_FILE_TMPDIR/afx"
	"$PYTHON" "$CKT_TOP/tests/fixtures/aci/mkaci.py" "$AFX" >/dev/null
}

setup() {
	ckt_setup
	export AFX="$BATS_FILE_TMPDIR/afx"
	W="$BATS_TEST_TMPDIR"
}

id_of() { jq -r --arg k "$1" '.[$k]' "$AFX/ids.json"; }

@test "aci: gzip, bzip2, xz and plain ACIs give one image; the fixtures pass actool" {
	for s in gz bz2 xz plain; do
		run -0 actool validate "$AFX/good-$s.aci"
		run -0 ckt-fetch aci:"$AFX/good-$s.aci"
		[[ "$output" == example.com/app@sha256:* ]]
		[ -n "$first" ] || first=$output
		[ "$output" = "$first" ]
		# The stored copy is named by the image ID.
		jq -e --arg id "$(id_of good-$s)" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $id)' "$CKT_STORE/index.json"
	done
	run -0 ckt-image fsck
}

@test "aci: the config comes from the appc manifest" {
	ckt-fetch -q aci:"$AFX/good-gz.aci" >/dev/null
	c=$(ckt-image inspect example.com/app:1.0 | jq -c .config)
	[ "$(jq -c .config.Entrypoint <<<"$c")" = '["/bin/app","--serve"]' ]
	[ "$(jq -c .config.Env <<<"$c")" = '["PATH=/bin","MODE=prod"]' ]
	[ "$(jq -r .config.User <<<"$c")" = 1000 ]
	[ "$(jq -r .config.WorkingDir <<<"$c")" = /srv ]
	[ "$(jq -c .config.ExposedPorts <<<"$c")" = '{"8080/tcp":{}}' ]
	[ "$(jq -c .config.Volumes <<<"$c")" = '{"/var/data":{}}' ]
	[ "$(jq -r .config.Labels.team <<<"$c")" = core ]
	[ "$(jq -r .config.Labels.version <<<"$c")" = 1.0 ]
	[ "$(jq -r '.os + "/" + .architecture' <<<"$c")" = linux/amd64 ]
	[ "$(jq -r .created <<<"$c")" = 2023-11-14T22:13:20Z ]
	a=$(ckt-image inspect example.com/app:1.0 | jq -c .manifest.annotations)
	[ "$(jq -r .created <<<"$a")" = 2023-11-14T22:13:20Z ]
	[ "$(jq -r '.["io.appc.image.id"]' <<<"$a")" = "$(id_of good-gz)" ]
	ckt-unpack example.com/app:1.0 "$W/r" >/dev/null
	[ "$(cat "$W/r/srv/link.html")" = "<p>hi</p>" ]
	[ "$(stat -c %h "$W/r/srv/link.html")" = 2 ]
	[ "$(readlink "$W/r/srv/sym.html")" = index.html ]
}

@test "aci: a manifest written last as ./manifest, and supplementaryGids, are accepted" {
	run -0 ckt-fetch --name localhost/late:1 aci:"$AFX/late.aci"
	run -0 ckt-fetch --name localhost/gids:1 aci:"$AFX/gids.aci"
}

refuse() {
	local f=$1 msg=$2 before
	ckt-fetch -q aci:"$AFX/good-gz.aci" >/dev/null
	before=$(store_state)
	run -1 ckt-fetch aci:"$AFX/$f.aci"
	assert_output_contains "$msg"
	[ "$(store_state)" = "$before" ]
}

@test "aci: refuses duplicate entries" { refuse dup "duplicate entry 'rootfs/etc/app.conf'"; }
@test "aci: refuses a third top-level entry" { refuse third "unexpected top-level entry 'extra'"; }
@test "aci: refuses rootfsX entries" { refuse rootfsx "unexpected top-level entry 'rootfsX/evil'"; }
@test "aci: refuses a rootfs that is not a directory" { refuse rootfs-file "'rootfs' is not a directory"; }
@test "aci: refuses an acKind other than ImageManifest" { refuse kind "acKind is 'PodManifest'"; }
@test "aci: refuses a manifest without a name" { refuse noname "no name"; }
@test "aci: refuses app without user" { refuse nouser "app without user or group"; }
@test "aci: refuses entries escaping rootfs" { refuse escape "escapes the archive"; }
@test "aci: refuses hard links escaping rootfs" { refuse link-escape "points outside rootfs"; }
@test "aci: refuses an ACI without manifest" { refuse nomanifest "no 'manifest' entry"; }
@test "aci: refuses zstd" { refuse zstd "zstd-compressed ACI"; }

@test "aci: dependencies render first, by image ID, filtered by pathWhitelist" {
	run -1 ckt-fetch aci:"$AFX/app-dep.aci"
	assert_output_contains "dependency 'example.com/base'"
	ckt-fetch -q aci:"$AFX/base.aci" >/dev/null
	run -0 ckt-fetch aci:"$AFX/app-dep.aci"
	ckt-unpack example.com/app-dep:1.0 "$W/r" >/dev/null
	[ "$(cat "$W/r/etc/shared")" = "from app" ]
	[ "$(cat "$W/r/etc/base")" = "base" ]
	[ ! -e "$W/r/etc/removed" ]
	[ -L "$W/r/var/www" ]
	# A pinned image ID that does not match is refused.
	run -1 ckt-fetch aci:"$AFX/app-badid.aci"
	assert_output_contains "no ACI 'sha512-0000"
}

@test "aci: dependency loops are refused" {
	run -1 ckt-fetch aci:"$AFX/loop-a.aci"
	run -1 ckt-fetch aci:"$AFX/loop-b.aci"
	assert_output_contains "dependency loop"
}

@test "aci: the .aci.asc beside the file is stored with the ACI" {
	cp "$AFX/good-gz.aci" "$W/app.aci"
	printf -- '-----BEGIN PGP SIGNATURE-----\nfake\n-----END PGP SIGNATURE-----\n' >"$W/app.aci.asc"
	ckt-fetch -q aci:"$W/app.aci" >/dev/null
	id=$(id_of good-gz)
	man=$(jq -r --arg id "$id" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $id) | .digest' "$CKT_STORE/index.json")
	m="$CKT_STORE/blobs/sha256/${man#sha256:}"
	[ "$(jq -r '.layers[1].mediaType' "$m")" = application/vnd.appc.aci.signature ]
	sig=$(jq -r '.layers[1].digest' "$m")
	cmp "$W/app.aci.asc" "$CKT_STORE/blobs/sha256/${sig#sha256:}"
	aci=$(jq -r '.layers[0].digest' "$m")
	cmp "$W/app.aci" "$CKT_STORE/blobs/sha256/${aci#sha256:}"
}
