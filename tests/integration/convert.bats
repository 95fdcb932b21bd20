#!/usr/bin/env bats
# ckt-convert (issue 6): OCI → ACI with actool as the independent checker,
# determinism, round trips through aci:, archives read by skopeo, and layer
# recompression.

load lib

setup_file() {
	ckt_fixtures
}

setup() {
	ckt_setup
	ckt-fetch -q oci:"$FX/oci:multi" oci:"$FX/oci:tiny" docker-archive:"$FX/multi.docker.tar" >/dev/null
	W="$BATS_TEST_TMPDIR"
}

# The ID of an ACI file computed independently: sha512 of the decompressed tar.
aci_id() {
	case $(head -c 3 "$1" | od -An -tx1 | tr -d ' ') in
	1f8b*) gzip -dc "$1" ;;
	425a68) bzip2 -dc "$1" ;;
	fd377a) xz -dc "$1" ;;
	*) cat "$1" ;;
	esac | sha512sum | sed 's/ .*//; s/^/sha512-/'
}

@test "convert: every fixture image becomes an ACI that actool validates, with its ID printed" {
	for ref in localhost/oci:multi localhost/oci:tiny example.com/fixtures/multi:2.0; do
		run -0 ckt-convert --to aci -o "$W/x.aci" "$ref"
		[[ "$output" =~ ^sha512-[0-9a-f]{128}$ ]]
		run -0 actool validate "$W/x.aci"
		[ "$(aci_id "$W/x.aci")" = "$(ckt-convert --to aci -o "$W/x.aci" "$ref")" ]
	done
}

@test "convert: xz, bzip2 and uncompressed ACIs validate and keep the same image ID" {
	gz=$(ckt-convert --to aci -o "$W/a.aci" localhost/oci:multi)
	for c in xz bzip2 none; do
		run -0 ckt-convert --to aci --compress "$c" -o "$W/$c.aci" localhost/oci:multi
		[ "$output" = "$gz" ]
		[ "$(aci_id "$W/$c.aci")" = "$gz" ]
		run -0 actool validate "$W/$c.aci"
	done
	run -2 ckt-convert --to aci --compress zstd -o "$W/z.aci" localhost/oci:multi
	[ ! -e "$W/z.aci" ]
}

@test "convert: actool cat-manifest shows docker2aci's mapping" {
	ckt-convert --to aci -o "$W/m.aci" example.com/fixtures/multi:2.0 >/dev/null
	m=$(actool cat-manifest "$W/m.aci")
	lbl() { jq -r --arg n "$1" '.labels[] | select(.name == $n) | .value' <<<"$m"; }
	ann() { jq -r --arg n "$1" '.annotations[] | select(.name == $n) | .value' <<<"$m"; }
	[ "$(jq -r .name <<<"$m")" = example.com/fixtures/multi ]
	[ "$(lbl version)" = 2.0 ]
	[ "$(lbl os)" = linux ]
	[ "$(lbl arch)" = amd64 ]
	[ "$(jq -c .app.exec <<<"$m")" = '["/bin/busybox","id"]' ]
	[ "$(ann appc.io/docker/entrypoint)" = '["/bin/busybox"]' ]
	[ "$(ann appc.io/docker/cmd)" = '["id"]' ]
	[ "$(jq -r '.app.user + ":" + .app.group' <<<"$m")" = app:app ]
	[ "$(jq -r .app.workingDirectory <<<"$m")" = /home/app ]
	[ "$(jq -c '[.app.environment[] | .name + "=" + .value]' <<<"$m")" = '["PATH=/usr/local/bin:/bin","FIXTURE=multi"]' ]
	[ "$(jq -r '.app.userLabels["org.opencontainers.image.title"]' <<<"$m")" = ckt-fixture-multi ]
	[ "$(ann appc.io/docker/registryurl)" = example.com ]
	[ "$(ann appc.io/docker/repository)" = fixtures/multi ]
	[ "$(ann appc.io/docker/originalname)" = example.com/fixtures/multi:2.0 ]
	[ "$(ann created)" = 2023-11-14T22:13:20Z ]
	digest=$(ckt-image inspect example.com/fixtures/multi:2.0 | jq -r .digest)
	[ "$(ann appc.io/docker/manifesthash)" = "$digest" ]
	[[ "$(ann appc.io/docker/imageid)" =~ ^sha256: ]]
	[ "$(jq '.pathWhitelist // [] | length' <<<"$m")" = 0 ]
}

@test "convert: names by digest get no version label; host:port is sanitised; Hub names use registry-1" {
	pinned=$(ckt-fetch oci:"$FX/oci:tiny")
	ckt-convert --to aci -o "$W/d.aci" "$pinned" >/dev/null
	run -0 actool cat-manifest "$W/d.aci"
	[ "$(jq '[.labels[] | select(.name == "version")] | length' <<<"$output")" = 0 ]
	ckt-fetch -q --name localhost:5000/team/app:1.0 oci:"$FX/oci:tiny" >/dev/null
	ckt-convert --to aci -o "$W/p.aci" localhost:5000/team/app:1.0 >/dev/null
	[ "$(actool cat-manifest "$W/p.aci" | jq -r .name)" = localhost_5000/team/app ]
	run -0 actool validate "$W/p.aci"
	ckt-fetch -q --name busybox oci:"$FX/oci:tiny" >/dev/null
	ckt-convert --to aci -o "$W/b.aci" busybox >/dev/null
	[ "$(actool cat-manifest "$W/b.aci" | jq -r .name)" = registry-1.docker.io/library/busybox ]
	[ "$(actool cat-manifest "$W/b.aci" | jq -r '.labels[] | select(.name == "version") | .value')" = latest ]
	[ "$(actool cat-manifest "$W/b.aci" | jq -r '.app.user + ":" + .app.group')" = root:root ]
}

@test "convert: two conversions, in two stores, are byte-identical" {
	ckt-convert --to aci -o "$W/1.aci" localhost/oci:multi >/dev/null
	ckt-convert --to aci -o "$W/2.aci" localhost/oci:multi >/dev/null
	cmp "$W/1.aci" "$W/2.aci"
	CKT_STORE="$W/other" ckt-fetch -q oci:"$FX/oci:multi" >/dev/null
	CKT_STORE="$W/other" ckt-convert --to aci -o "$W/3.aci" localhost/oci:multi >/dev/null
	cmp "$W/1.aci" "$W/3.aci"
	ckt-convert --to aci --compress xz -o "$W/1.xz.aci" localhost/oci:multi >/dev/null
	ckt-convert --to aci --compress xz -o "$W/2.xz.aci" localhost/oci:multi >/dev/null
	cmp "$W/1.xz.aci" "$W/2.xz.aci"
}

@test "convert: the ACI is kept in the store under its image ID and fsck is clean" {
	id=$(ckt-convert --to aci -o "$W/m.aci" localhost/oci:multi)
	entry=$(jq -c --arg id "$id" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $id)' "$CKT_STORE/index.json")
	[ -n "$entry" ]
	man=$(jq -r .digest <<<"$entry")
	blob() { cat "$CKT_STORE/blobs/sha256/${1#sha256:}"; }
	[ "$(blob "$man" | jq -r '.annotations["io.appc.image.id"]')" = "$id" ]
	[ "$(blob "$man" | jq -r .artifactType)" = application/vnd.appc.aci ]
	layer=$(blob "$man" | jq -r '.layers[0].digest')
	cmp "$W/m.aci" "$CKT_STORE/blobs/sha256/${layer#sha256:}"
	run -0 ckt-image fsck
	run -0 ckt-image gc
	[ -e "$CKT_STORE/blobs/sha256/${layer#sha256:}" ]
}

@test "convert: multi → ACI → aci: renders the same tree as ckt-unpack of the original" {
	ckt-convert --to aci -o "$W/m.aci" localhost/oci:multi >/dev/null
	run -0 ckt-fetch --name localhost/from-aci:1 aci:"$W/m.aci"
	ckt-unpack localhost/oci:multi "$W/orig" >/dev/null
	ckt-unpack localhost/from-aci:1 "$W/back" >/dev/null
	run -0 "$PYTHON" "$CKT_TOP/tests/fixtures/treecmp.py" "$W/orig" "$W/back"
	[ "$(stat -c %h "$W/back/srv/links/hardlink.txt")" = 2 ]
	[ ! -e "$W/back/srv/data/gone.txt" ]
}

@test "convert: OCI → ACI → OCI keeps entrypoint, cmd, env, user, workdir, ports and volumes" {
	mkdir -p "$W/l"
	cp -r "$FX/oci/." "$W/l/"
	umoci config --image "$W/l:multi" --tag rt --config.exposedports 80/tcp --config.exposedports 53/udp \
		--config.volume /var/tmp --config.volume /data --config.user app:staff >/dev/null 2>&1
	ckt-fetch -q --name localhost/rt:1 oci:"$W/l:rt" >/dev/null
	ckt-convert --to aci -o "$W/rt.aci" localhost/rt:1 >/dev/null
	m=$(actool cat-manifest "$W/rt.aci")
	[ "$(jq -c '[.app.ports[] | .name + " " + .protocol + " " + (.port|tostring)]' <<<"$m")" = '["53-udp udp 53","80-tcp tcp 80"]' ]
	[ "$(jq -c '[.app.mountPoints[] | .name + " " + .path]' <<<"$m")" = '["volume-data /data","volume-var-tmp /var/tmp"]' ]
	[ "$(jq -r '.app.user + ":" + .app.group' <<<"$m")" = app:staff ]
	ckt-fetch -q --name localhost/rt:back aci:"$W/rt.aci" >/dev/null
	a=$(ckt-image inspect localhost/rt:1 | jq -S -c '.config.config | {Entrypoint, Cmd, Env, User, WorkingDir, ExposedPorts, Volumes}')
	b=$(ckt-image inspect localhost/rt:back | jq -S -c '.config.config | {Entrypoint, Cmd, Env, User, WorkingDir, ExposedPorts, Volumes}')
	[ "$a" = "$b" ]
	[ "$(ckt-image inspect localhost/rt:back | jq -r '.config.architecture + "/" + .config.os')" = amd64/linux ]
}

@test "convert: oci-archive, docker-archive and oci: outputs are read by skopeo and fetched back" {
	want=$(ckt-image inspect example.com/fixtures/multi:2.0 | jq -r .config.rootfs.diff_ids[-1])
	run -0 ckt-convert --to oci-archive:"$W/o.tar":v1 example.com/fixtures/multi:2.0
	[ "$output" = "oci-archive:$W/o.tar:v1" ]
	[ "$(skopeo inspect oci-archive:"$W/o.tar:v1" | jq -r '.Layers | length')" = 4 ]
	run -0 ckt-convert --to docker-archive:"$W/d.tar" example.com/fixtures/multi:2.0
	[ "$(skopeo inspect --config docker-archive:"$W/d.tar" | jq -r .rootfs.diff_ids[-1])" = "$want" ]
	[ "$(tar -xOf "$W/d.tar" manifest.json | jq -r '.[0].RepoTags[0]')" = example.com/fixtures/multi:2.0 ]
	run -0 ckt-convert --to oci:"$W/lay":v2 example.com/fixtures/multi:2.0 localhost/oci:tiny
	run -0 skopeo inspect oci:"$W/lay:v2"
	# Deterministic archives; fetching them back gives the same image.
	ckt-convert --to oci-archive:"$W/o2.tar":v1 example.com/fixtures/multi:2.0 >/dev/null
	cmp "$W/o.tar" "$W/o2.tar"
	d1=$(ckt-image inspect example.com/fixtures/multi:2.0 | jq -r .digest)
	run -0 ckt-fetch --name localhost/back:1 oci-archive:"$W/o.tar:v1"
	[ "${output##*@}" = "$d1" ]
	run -0 ckt-fetch --name localhost/back:2 docker-archive:"$W/d.tar"
	[ "$(ckt-image inspect localhost/back:2 | jq -r .config.rootfs.diff_ids[-1])" = "$want" ]
	run -0 skopeo copy docker-archive:"$W/d.tar" oci:"$W/sk:x"
}

@test "convert: --compress zstd|none|gzip rewrites layers, diff_ids unchanged, tree unchanged" {
	diffs=$(ckt-image inspect localhost/oci:multi | jq -c .config.rootfs.diff_ids)
	ckt-unpack localhost/oci:multi "$W/orig" >/dev/null
	for c in zstd none gzip; do
		run -0 ckt-convert --compress "$c" --tag "localhost/re:$c" localhost/oci:multi
		[[ "$output" == localhost/re@sha256:* ]]
		[ "$(ckt-image inspect "localhost/re:$c" | jq -c .config.rootfs.diff_ids)" = "$diffs" ]
		run -0 ckt-unpack "localhost/re:$c" "$W/$c"
		run -0 "$PYTHON" "$CKT_TOP/tests/fixtures/treecmp.py" "$W/orig" "$W/$c"
	done
	skopeo inspect --raw oci:"$CKT_STORE:localhost/re:zstd" | jq -e '[.layers[].mediaType] | all(. == "application/vnd.oci.image.layer.v1.tar+zstd")'
	skopeo inspect --raw oci:"$CKT_STORE:localhost/re:none" | jq -e '[.layers[].mediaType] | all(. == "application/vnd.oci.image.layer.v1.tar")'
	# gzip from zstd gives the same bytes as gzip from the original.
	a=$(ckt-convert --compress gzip --tag localhost/re:g2 localhost/re:zstd)
	[ "${a##*@}" = "$(ckt-image inspect localhost/re:gzip | jq -r .digest)" ]
	run -0 ckt-image fsck
}

@test "convert: usage errors exit 2" {
	run -2 ckt-convert localhost/oci:multi
	run -2 ckt-convert --to nowhere:x localhost/oci:multi
	run -2 ckt-convert --to aci --tag x localhost/oci:multi
	run -2 ckt-convert --compress brotli --tag localhost/x:1 localhost/oci:multi
	run -1 ckt-convert --to aci -o "$W/x.aci" localhost/absent:1
	[ ! -e "$W/x.aci" ]
}

@test "convert: --no-squash writes one valid ACI per layer whose rendering equals ckt-unpack" {
	run -0 ckt-convert --to aci --no-squash -o "$W/ns" localhost/oci:multi
	[ "${#lines[@]}" = 4 ]
	top=${lines[3]}
	n=0
	for f in "$W"/ns/*.aci; do
		run -0 actool validate "$f"
		n=$((n + 1))
	done
	[ "$n" = 4 ]
	t=$(ls "$W"/ns/03-*.aci)
	[ "$(aci_id "$t")" = "$top" ]
	m=$(actool cat-manifest "$t")
	[ "$(jq '.dependencies | length' <<<"$m")" = 3 ]
	[ "$(jq -r '.dependencies[0].imageID' <<<"$m")" = "$(aci_id "$(ls "$W"/ns/00-*.aci)")" ]
	# Deletions travel as the whitelist: gone.txt and the opaque dir's old files are left out.
	jq -e '.pathWhitelist | index("/srv/data/keep.txt")' <<<"$m"
	jq -e '.pathWhitelist | index("/srv/data/gone.txt") | not' <<<"$m"
	jq -e '.pathWhitelist | index("/srv/opaque/old-a") | not' <<<"$m"
	run -0 ckt-fetch --name localhost/ns:1 aci:"$t"
	ckt-unpack localhost/oci:multi "$W/orig" >/dev/null
	ckt-unpack localhost/ns:1 "$W/back" >/dev/null
	run -0 "$PYTHON" "$CKT_TOP/tests/fixtures/treecmp.py" "$W/orig" "$W/back"
	run -2 ckt-convert --to aci --no-squash localhost/oci:multi
}

@test "convert: a stored ACI, named by an ID prefix, goes to docker-archive and oci-archive" {
	id=$(ckt-convert --to aci -o "$W/m.aci" localhost/oci:multi)
	before=$(ckt-image inspect localhost/oci:multi | jq -r .digest)
	run -0 ckt-convert --to docker-archive:"$W/d.tar":localhost/from-aci:1 "${id:0:20}"
	# The rendering gets a name of its own: the image the ACI came from keeps its name.
	[ "$(ckt-image inspect localhost/oci:multi | jq -r .digest)" = "$before" ]
	ckt-image inspect "localhost/aci/${id:0:19}:latest" >/dev/null
	run -0 skopeo inspect --config docker-archive:"$W/d.tar"
	[ "$(jq -c .config.Entrypoint <<<"$output")" = '["/bin/busybox"]' ]
	run -0 ckt-convert --to oci-archive:"$W/o.tar":x "$id"
	run -0 skopeo inspect oci-archive:"$W/o.tar:x"
	run -2 ckt-convert --to oci:"$W/l" sha512-zz
}
