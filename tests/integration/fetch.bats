#!/usr/bin/env bats
# ckt-fetch from the local transports (oci:, oci-archive:, docker-archive:),
# cross-checked with skopeo and umoci; hostile sources must leave the store
# untouched.  Fixtures: tests/fixtures/README.md.

load lib

setup_file() {
	ckt_fixtures
}

setup() {
	ckt_setup
}

PINNED_RE='^[a-z0-9./:-]+@sha256:[0-9a-f]{64}$'

# fx_digest LAYOUT REF: the digest index.json of LAYOUT gives REF.
fx_digest() {
	jq -r --arg r "$2" \
		'.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' \
		"$1/index.json"
}

# blob DIGEST: path of a blob in the store.
blob() {
	echo "$CKT_STORE/blobs/${1%%:*}/${1#*:}"
}

# An existing, empty store (what "store unchanged" is measured against).
empty_store() {
	run -0 ckt-image list
	[ -z "$output" ]
}

# The store is exactly as before: same index.json bytes, same blob files,
# nothing in tmp/, and fsck finds nothing.
assert_store_unchanged() {
	[ "$(store_state)" = "$1" ]
	[ -z "$(ls -A "$CKT_STORE/tmp")" ]
	run -0 ckt-image fsck
	[ -z "$output" ]
}

# Every blob a stored manifest names is in the store, with its size.
assert_manifest_complete() {
	local m=$1 d
	[ -f "$(blob "$m")" ]
	for d in $(jq -r '.config.digest, .layers[].digest' "$(blob "$m")"); do
		[ -f "$(blob "$d")" ] || { echo "missing blob $d" >&2; return 1; }
	done
}

@test "oci: prints the pinned reference and stores the whole image" {
	want=$(fx_digest "$FX/oci" tiny)
	run -0 --separate-stderr ckt-fetch "oci:$FX/oci:tiny"
	[ "$output" = "localhost/oci@$want" ]
	[ -z "$stderr" ]
	[[ "$output" =~ $PINNED_RE ]]
	assert_manifest_complete "$want"
	run -0 ckt-image list
	[ "$output" = "localhost/oci:tiny" ]
	[ "$(jq -r '.manifests[0].digest' "$CKT_STORE/index.json")" = "$want" ]
	[ "$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' \
		"$CKT_STORE/index.json")" = "localhost/oci:tiny" ]
}

@test "oci: several sources, one pinned reference per line, shared layer stored once" {
	run -0 --separate-stderr ckt-fetch "oci:$FX/oci:tiny" "oci:$FX/oci:multi"
	[ "${#lines[@]}" -eq 2 ]
	[ "${lines[0]}" = "localhost/oci@$(fx_digest "$FX/oci" tiny)" ]
	[ "${lines[1]}" = "localhost/oci@$(fx_digest "$FX/oci" multi)" ]
	assert_manifest_complete "$(fx_digest "$FX/oci" multi)"
	# tiny's layer + 3 more, 2 configs, 2 manifests
	[ "$(find "$CKT_STORE/blobs" -type f | wc -l)" -eq 8 ]
}

@test "oci: a layout with several images needs a ref; a missing ref is not found" {
	run -2 ckt-fetch "oci:$FX/oci"
	assert_output_contains "ckt-fetch: error:"
	assert_output_contains "name one as PATH:REF"
	run -1 ckt-fetch "oci:$FX/oci:nosuch"
	assert_output_contains "no image named 'nosuch'"
	run -1 ckt-fetch "oci:$BATS_TEST_TMPDIR/no-such-dir:tiny"
	assert_output_contains "no-such-dir"
}

@test "oci-archive: fetches the skopeo-written archive" {
	run -0 --separate-stderr ckt-fetch "oci-archive:$FX/tiny.oci.tar:tiny"
	[ "$output" = "localhost/tiny@$(fx_digest "$FX/oci" tiny)" ]
	assert_manifest_complete "$(fx_digest "$FX/oci" tiny)"
	[ -z "$(ls -A "$CKT_STORE/tmp")" ]
}

@test "docker-archive: named by its RepoTag, layers are the config's diff_ids" {
	run -0 --separate-stderr ckt-fetch "docker-archive:$FX/multi.docker.tar"
	[[ "$output" =~ ^example.com/fixtures/multi@sha256:[0-9a-f]{64}$ ]]
	m=${output#*@}
	assert_manifest_complete "$m"
	cfg=$(jq -r .config.digest "$(blob "$m")")
	# The config is the archive's own, byte for byte.
	tar -xOf "$FX/multi.docker.tar" "$(tar -xOf "$FX/multi.docker.tar" manifest.json |
		jq -r '.[0].Config')" | cmp - "$(blob "$cfg")"
	[ "$(jq -c '[.layers[].digest]' "$(blob "$m")")" = \
		"$(jq -c '.rootfs.diff_ids' "$(blob "$cfg")")" ]
	[ "$(jq -r '.layers | length' "$(blob "$m")")" -eq 4 ]
	run -0 ckt-image list
	[ "$output" = "example.com/fixtures/multi:2.0" ]
}

@test "docker-archive: :@0 and :REPOTAG pick the same image; others are not found" {
	run -0 ckt-fetch "docker-archive:$FX/tiny.docker.tar"
	want=$output
	run -0 ckt-fetch "docker-archive:$FX/tiny.docker.tar:@0"
	[ "$output" = "$want" ]
	run -0 ckt-fetch "docker-archive:$FX/tiny.docker.tar:example.com/fixtures/tiny:1.0"
	[ "$output" = "$want" ]
	run -0 ckt-image list
	[ "$output" = "example.com/fixtures/tiny:1.0" ]
	run -1 ckt-fetch "docker-archive:$FX/tiny.docker.tar:@1"
	assert_output_contains "no image '@1'"
	run -1 ckt-fetch "docker-archive:$FX/tiny.docker.tar:example.com/fixtures/tiny:2.0"
	assert_output_contains "no image 'example.com/fixtures/tiny:2.0'"
}

# docker25 OUT MANIFEST_JSON_EDIT: tiny as Docker 25+ `docker save` writes it:
# blobs named by digest, manifest.json pointing at them, the layer listed
# through a hard link; MANIFEST_JSON_EDIT (python) may damage manifest.json.
docker25() {
	"$PYTHON" - "$FX/tiny.docker.tar" "$1" "${2:-pass}" <<-'EOF'
		import hashlib, io, json, sys, tarfile
		src, dst, edit = sys.argv[1:]
		tin = tarfile.open(src)
		item = json.load(tin.extractfile("manifest.json"))[0]
		cfg = tin.extractfile(item["Config"]).read()
		layer = tin.extractfile(item["Layers"][0]).read()
		def name(b): return "blobs/sha256/" + hashlib.sha256(b).hexdigest()
		mf = [{"Config": name(cfg), "RepoTags": ["example.com/d25:1"],
		       "Layers": ["legacy/layer.tar"]}]
		exec(edit)
		with tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as t:
		    def add(n, data):
		        ti = tarfile.TarInfo(n)
		        ti.size = len(data)
		        t.addfile(ti, io.BytesIO(data))
		    add(name(layer), layer)
		    ti = tarfile.TarInfo("legacy/layer.tar")
		    ti.type, ti.linkname = tarfile.LNKTYPE, name(layer)
		    t.addfile(ti)
		    add(name(cfg), cfg)
		    add("manifest.json", json.dumps(mf).encode())
	EOF
}

@test "docker-archive as Docker 25 writes it: blobs by digest, hard-linked layers" {
	docker25 "$BATS_TEST_TMPDIR/d25.tar"
	run -0 ckt-fetch "docker-archive:$FX/tiny.docker.tar"
	want=${output#*@}
	run -0 ckt-fetch --json "docker-archive:$BATS_TEST_TMPDIR/d25.tar"
	[ "$(jq -r .reference <<<"$output")" = "example.com/d25@$want" ]
	[ "$(jq -r .blobs_fetched <<<"$output")" -eq 0 ]
	rm -rf "$CKT_STORE"
	run -0 ckt-fetch --json "docker-archive:$BATS_TEST_TMPDIR/d25.tar"
	[ "$(jq -r .digest <<<"$output")" = "$want" ]
	[ "$(jq -r .blobs_fetched <<<"$output")" -eq 3 ]
	run -0 ckt-image fsck
	before=$(store_state)
	while read -r edit message; do
		docker25 "$BATS_TEST_TMPDIR/bad.tar" "$edit"
		run -1 --separate-stderr ckt-fetch "docker-archive:$BATS_TEST_TMPDIR/bad.tar"
		[[ "$stderr" == "ckt-fetch: error: "*"$message"* ]]
		assert_store_unchanged "$before"
	done <<-'EOF'
		mf[0]["Layers"]="x" manifest.json: 'Layers' is not an array
		mf={"a":1} manifest.json is not an array
		mf[0]["Config"]="../../etc/passwd" names '../../etc/passwd', which is not in the archive
		mf[0]["Layers"]=[] lists 0 layers but the config 1 diff_ids
		mf[0]["Layers"]=[7] Layers[0] is not a string
		mf=[] manifest.json lists no image
	EOF
}

@test "--json: reference, digest, blobs_fetched, bytes_fetched" {
	want=$(fx_digest "$FX/oci" tiny)
	run -0 --separate-stderr ckt-fetch --json "oci:$FX/oci:tiny"
	[ "${#lines[@]}" -eq 1 ]
	[ "$(jq -r .reference <<<"$output")" = "localhost/oci@$want" ]
	[ "$(jq -r .digest <<<"$output")" = "$want" ]
	[ "$(jq -r .name <<<"$output")" = "localhost/oci:tiny" ]
	[ "$(jq -r .blobs_fetched <<<"$output")" -eq 3 ]
	m=$(blob "$want")
	size=$(($(stat -c %s "$m") + $(jq '[.config.size, .layers[].size] | add' "$m")))
	[ "$(jq -r .bytes_fetched <<<"$output")" -eq "$size" ]
	[ "$(jq -r .up_to_date <<<"$output")" = false ]
}

@test "a second fetch copies nothing and -v says up to date" {
	run -0 ckt-fetch -q "oci:$FX/oci:multi"
	run -0 --separate-stderr ckt-fetch -v --json "oci:$FX/oci:multi"
	[ "$(jq -r .blobs_fetched <<<"$output")" -eq 0 ]
	[ "$(jq -r .bytes_fetched <<<"$output")" -eq 0 ]
	[ "$(jq -r .up_to_date <<<"$output")" = true ]
	[[ "$stderr" == *"localhost/oci:multi: up to date"* ]]
	# the same image from another transport: no blob copied either
	run -0 ckt-fetch --json "docker-archive:$FX/multi.docker.tar"
	run -0 --separate-stderr ckt-fetch -v "docker-archive:$FX/multi.docker.tar"
	[[ "$stderr" == *"example.com/fixtures/multi:2.0: up to date"* ]]
}

@test "- reads sources from stdin, one per line" {
	run -0 --separate-stderr ckt-fetch - <<-EOF
		oci:$FX/oci:tiny

		  docker-archive:$FX/tiny.docker.tar  
		oci-archive:$FX/tiny.oci.tar:tiny
	EOF
	[ "${#lines[@]}" -eq 3 ]
	[ "${lines[0]}" = "localhost/oci@$(fx_digest "$FX/oci" tiny)" ]
	[[ "${lines[1]}" =~ ^example.com/fixtures/tiny@sha256: ]]
	[ "${lines[2]}" = "localhost/tiny@$(fx_digest "$FX/oci" tiny)" ]
	run -0 ckt-image list
	[ "${#lines[@]}" -eq 3 ]
}

@test "--name names the image in the store" {
	run -0 ckt-fetch --name example.org/team/app:1 "oci:$FX/oci:tiny"
	[ "$output" = "example.org/team/app@$(fx_digest "$FX/oci" tiny)" ]
	run -0 ckt-fetch --name busybox "oci:$FX/oci:tiny"
	[ "$output" = "docker.io/library/busybox@$(fx_digest "$FX/oci" tiny)" ]
	run -0 ckt-image list
	[ "${lines[0]}" = "example.org/team/app:1" ]
	[ "${lines[1]}" = "docker.io/library/busybox:latest" ]
	run -2 ckt-fetch --name x "oci:$FX/oci:tiny" "oci:$FX/oci:multi"
	assert_output_contains "--name needs exactly one source"
	run -1 ckt-fetch --name 'Bad Name' "oci:$FX/oci:tiny"
	assert_output_contains "Bad Name"
}

@test "--platform linux/arm64 takes the arm64 image from the index" {
	idx=$(fx_digest "$FX/index" multiarch)
	arm=$(jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest' \
		"$FX/index/blobs/sha256/${idx#sha256:}")
	run -0 ckt-fetch --platform linux/arm64 "oci:$FX/index:multiarch"
	[ "$output" = "localhost/index@$arm" ]
	cfg=$(jq -r .config.digest "$(blob "$arm")")
	[ "$(jq -r .architecture "$(blob "$cfg")")" = arm64 ]
	[ "$(jq -r .variant "$(blob "$cfg")")" = v8 ]
	run -0 ckt-image inspect --json localhost/index:multiarch
	[ "$(jq -r .platform <<<"$output")" = linux/arm64/v8 ]
	[ "$(jq -r .config.architecture <<<"$output")" = arm64 ]
	# only the arm64 image was copied, not the index or the amd64 config
	[ "$(find "$CKT_STORE/blobs" -type f | wc -l)" -eq 3 ]
	run -1 ckt-fetch --platform linux/s390x "oci:$FX/index:multiarch"
	assert_output_contains "no image for platform 'linux/s390x'"
	assert_output_contains "linux/amd64, linux/arm64/v8"
	run -2 ckt-fetch --platform linux "oci:$FX/index:multiarch"
	assert_output_contains "invalid --platform 'linux'"
}

@test "without --platform the host's image is taken from the index" {
	case $(uname -m) in
	x86_64) want=$(fx_digest "$FX/oci" tiny) ;;
	*) skip "fixture index has amd64 and arm64 only" ;;
	esac
	run -0 ckt-fetch "oci:$FX/index:multiarch"
	[ "$output" = "localhost/index@$want" ]
}

@test "--all-platforms stores the index with both images" {
	idx=$(fx_digest "$FX/index" multiarch)
	run -0 --separate-stderr ckt-fetch --json --all-platforms "oci:$FX/index:multiarch"
	[ "$(jq -r .digest <<<"$output")" = "$idx" ]
	[ "$(jq -r .media_type <<<"$output")" = application/vnd.oci.image.index.v1+json ]
	[ "$(jq -r .blobs_fetched <<<"$output")" -eq 6 ]
	cmp "$(blob "$idx")" "$FX/index/blobs/sha256/${idx#sha256:}"
	for m in $(jq -r '.manifests[].digest' "$(blob "$idx")"); do
		assert_manifest_complete "$m"
	done
	run -0 ckt-image inspect --json --platform linux/arm64 localhost/index:multiarch
	[ "$(jq -r .config.architecture <<<"$output")" = arm64 ]
	run -0 ckt-image inspect --json --platform linux/amd64 localhost/index:multiarch
	[ "$(jq -r .config.architecture <<<"$output")" = amd64 ]
	run -0 ckt-image fsck
}

@test "skopeo and umoci read the store" {
	run -0 ckt-fetch "oci:$FX/oci:multi" "docker-archive:$FX/tiny.docker.tar"
	run -0 ckt-fetch --all-platforms "oci:$FX/index:multiarch"
	run -0 skopeo inspect "oci:$CKT_STORE:localhost/oci:multi"
	[ "$(jq -r .Digest <<<"$output")" = "$(fx_digest "$FX/oci" multi)" ]
	[ "$(jq -r '.Layers | length' <<<"$output")" -eq 4 ]
	run -0 skopeo inspect --config "oci:$CKT_STORE:example.com/fixtures/tiny:1.0"
	[ "$(jq -r '.config.Env[1]' <<<"$output")" = FIXTURE=tiny ]
	run -0 skopeo inspect --raw "oci:$CKT_STORE:localhost/index:multiarch"
	[ "$(jq -r '.manifests | length' <<<"$output")" -eq 2 ]
	run -0 umoci ls --layout "$CKT_STORE"
	[ "$(sort <<<"$output")" = "$(printf '%s\n' example.com/fixtures/tiny:1.0 \
		localhost/index:multiarch localhost/oci:multi)" ]
	run -0 skopeo --insecure-policy copy -q "oci:$CKT_STORE:localhost/oci:multi" \
		"oci:$BATS_TEST_TMPDIR/x:y"
	[ "$(fx_digest "$BATS_TEST_TMPDIR/x" y)" = "$(fx_digest "$FX/oci" multi)" ]
	run -0 umoci unpack --rootless --image "$BATS_TEST_TMPDIR/x:y" "$BATS_TEST_TMPDIR/bundle"
	[ "$(cat "$BATS_TEST_TMPDIR/bundle/rootfs/srv/data/keep.txt")" = keep ]
}

@test "ckt fetches layouts and archives skopeo writes now" {
	local t=$BATS_TEST_TMPDIR
	sk() { skopeo --insecure-policy copy -q "$@"; }
	sk "oci:$FX/oci:multi" "oci:$t/layout:m"
	sk "oci:$FX/oci:multi" "oci-archive:$t/m.oci.tar:m"
	sk "oci:$FX/oci:multi" "docker-archive:$t/m.docker.tar:example.net/m:3"
	sk "oci:$FX/index:multiarch" "oci:$t/layout:idx" --all
	want=$(fx_digest "$t/layout" m)
	run -0 ckt-fetch "oci:$t/layout:m" "oci-archive:$t/m.oci.tar:m" \
		"docker-archive:$t/m.docker.tar" "docker-archive:$t/m.docker.tar:@0"
	[ "${lines[0]}" = "localhost/layout@$want" ]
	[ "${lines[1]}" = "localhost/m@$want" ]
	[[ "${lines[2]}" =~ ^example.net/m@sha256: ]]
	[ "${lines[3]}" = "${lines[2]}" ]
	run -0 ckt-fetch --json --all-platforms "oci:$t/layout:idx"
	[ "$(jq -r .digest <<<"$output")" = "$(fx_digest "$FX/index" multiarch)" ]
	run -0 ckt-image list
	[ "${#lines[@]}" -eq 4 ]
	run -0 ckt-image fsck
}

@test "corrupt source: exit 3 names the digest, the store is unchanged" {
	empty_store
	before=$(store_state)
	layer=$(jq -r '.layers[0].digest' \
		"$FX/corrupt/blobs/sha256/$(fx_digest "$FX/corrupt" tiny | cut -d: -f2)")
	run -3 --separate-stderr ckt-fetch "oci:$FX/corrupt:tiny"
	[ -z "$output" ]
	[[ "$stderr" == "ckt-fetch: error: "*"$layer does not match its digest"* ]]
	assert_store_unchanged "$before"
	[ "$(jq '.manifests | length' "$CKT_STORE/index.json")" -eq 0 ]
	# the good source after it is still fetched; the exit status is the failure's
	run -3 --separate-stderr ckt-fetch "oci:$FX/corrupt:tiny" "oci:$FX/oci:multi"
	[ "$output" = "localhost/oci@$(fx_digest "$FX/oci" multi)" ]
	run -0 ckt-image fsck
}

@test "truncated oci-archive: exit 1, the store is unchanged" {
	empty_store
	before=$(store_state)
	size=$(stat -c %s "$FX/tiny.oci.tar")
	# the last entry's data ends well before the file (zero blocks and
	# record padding follow, and a reader may do without them)
	last=$("$PYTHON" -c 'import sys, tarfile
print(tarfile.open(sys.argv[1]).getmembers()[-1].offset_data)' "$FX/tiny.oci.tar")
	# inside the layer blob, inside the last entry, inside the first headers
	for cut in $((size / 2)) $((last + 10)) 700; do
		head -c "$cut" "$FX/tiny.oci.tar" >"$BATS_TEST_TMPDIR/cut.tar"
		run -1 --separate-stderr ckt-fetch "oci-archive:$BATS_TEST_TMPDIR/cut.tar:tiny"
		[ -z "$output" ]
		[[ "$stderr" == "ckt-fetch: error: "*"cut.tar"* ]]
		assert_store_unchanged "$before"
	done
	run -1 ckt-fetch "oci-archive:$BATS_TEST_TMPDIR/absent.tar:tiny"
	assert_output_contains "absent.tar"
	assert_store_unchanged "$before"
}

@test "docker-archive with a layer that does not match its diff_id: exit 3, store unchanged" {
	local bad=$BATS_TEST_TMPDIR/bad.docker.tar
	# Alter one byte of file content inside the (uncompressed) layer tar.
	"$PYTHON" - "$FX/tiny.docker.tar" "$bad" <<-'EOF'
		import io, json, sys, tarfile
		src, dst = sys.argv[1], sys.argv[2]
		with tarfile.open(src) as tin, tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as tout:
		    layer = json.load(tin.extractfile("manifest.json"))[0]["Layers"][0]
		    for m in tin.getmembers():
		        data = tin.extractfile(m).read() if m.isfile() else None
		        if m.name == layer:
		            b = bytearray(data)
		            b[b.index(b"ckt fixture")] ^= 0x20
		            data = bytes(b)
		        tout.addfile(m, io.BytesIO(data) if data is not None else None)
	EOF
	diff_id=$(tar -xOf "$bad" "$(tar -xOf "$bad" manifest.json | jq -r '.[0].Config')" |
		jq -r '.rootfs.diff_ids[0]')
	empty_store
	before=$(store_state)
	run -3 --separate-stderr ckt-fetch "docker-archive:$bad"
	[ -z "$output" ]
	[[ "$stderr" == "ckt-fetch: error: "*"not $diff_id"*"diff_id"* ]]
	assert_store_unchanged "$before"
	# also when the store already holds other images
	run -0 ckt-fetch -q "oci:$FX/oci:multi"
	before=$(store_state)
	run -3 ckt-fetch "docker-archive:$bad"
	assert_store_unchanged "$before"
}

# hostile LAYOUT MODE: a copy of $FX/oci with tiny's documents damaged.
hostile() {
	"$PYTHON" - "$FX/oci" "$1" "$2" <<-'EOF'
		import hashlib, json, os, shutil, sys
		src, dst, mode = sys.argv[1:]
		shutil.copytree(src, dst)
		def path(d): return os.path.join(dst, "blobs", *d.split(":"))
		def put(data):
		    d = "sha256:" + hashlib.sha256(data).hexdigest()
		    open(path(d), "wb").write(data)
		    return d, len(data)
		idx_path = os.path.join(dst, "index.json")
		idx = json.load(open(idx_path))
		ent = next(m for m in idx["manifests"]
		           if m["annotations"]["org.opencontainers.image.ref.name"] == "tiny")
		man = json.load(open(path(ent["digest"])))
		if mode == "index-not-json":
		    open(idx_path, "w").write('{"schemaVersion": 2, manifests: [')
		    sys.exit(0)
		if mode == "index-wrong-type":
		    idx["manifests"] = {"not": "a list"}
		elif mode == "layers-not-array": man["layers"] = "not a list"
		elif mode == "size-is-string": man["config"]["size"] = "520"
		elif mode == "digest-is-number": man["layers"][0]["digest"] = 42
		elif mode == "huge-config": man["config"]["size"] = 2**62
		elif mode == "huge-manifest": ent["size"] = 2**62
		elif mode == "negative-size": man["layers"][0]["size"] = -5
		elif mode == "md5-digest": man["layers"][0]["digest"] = "md5:" + "0" * 32
		elif mode == "config-not-json":
		    man["config"]["digest"], man["config"]["size"] = put(b"\x00\xffnot json")
		elif mode == "schema1": man = {"schemaVersion": 1, "name": "x", "fsLayers": []}
		if mode not in ("huge-manifest", "index-wrong-type"):
		    ent["digest"], ent["size"] = put(json.dumps(man).encode())
		json.dump(idx, open(idx_path, "w"))
	EOF
}

@test "hostile JSON: exit 1 with a clear error, the store is unchanged" {
	run -0 ckt-fetch -q "oci:$FX/oci:multi"
	before=$(store_state)
	while read -r mode message; do
		hostile "$BATS_TEST_TMPDIR/$mode" "$mode"
		run -1 --separate-stderr ckt-fetch "oci:$BATS_TEST_TMPDIR/$mode:tiny"
		echo "$mode: $stderr"
		[ -z "$output" ]
		[[ "$stderr" == "ckt-fetch: error: fetch 'oci:$BATS_TEST_TMPDIR/$mode:tiny': "* ]]
		[[ "$stderr" == *"$message"* ]]
		[ "$(wc -l <<<"$stderr")" -eq 1 ]
		assert_store_unchanged "$before"
	done <<-'EOF'
		index-not-json expected near 'manifests' at line 1 column 30
		index-wrong-type 'manifests' is not an array
		layers-not-array 'layers' is not an array
		size-is-string config: 'size' is not an integer
		digest-is-number layers[0]: 'digest' is not a string
		huge-config of 4611686018427387904 bytes exceeds the limit
		huge-manifest of 4611686018427387904 bytes exceeds the limit
		negative-size layers[0]: negative size -5
		md5-digest only sha256 and sha512 are supported
		config-not-json image config
		schema1 schema1 manifests are deprecated
	EOF
}

@test "unsupported and malformed source names are usage errors" {
	run -2 ckt-fetch "dir:$FX/oci"
	assert_output_contains "unsupported transport"
	run -2 ckt-fetch "oci:"
	assert_output_contains "no path or name after the transport"
	run -2 ckt-fetch
	assert_output_contains "no source given"
}

@test "4 parallel fetches of overlapping images into one store" {
	local pids=() i
	empty_store
	for round in 1 2; do
		pids=()
		ckt-fetch -q "oci:$FX/oci:tiny" "oci:$FX/oci:multi" >"$BATS_TEST_TMPDIR/o1" 2>&1 &
		pids+=($!)
		ckt-fetch -q "docker-archive:$FX/multi.docker.tar" "oci-archive:$FX/tiny.oci.tar:tiny" \
			>"$BATS_TEST_TMPDIR/o2" 2>&1 &
		pids+=($!)
		ckt-fetch -q --all-platforms "oci:$FX/index:multiarch" "oci:$FX/oci:multi" \
			>"$BATS_TEST_TMPDIR/o3" 2>&1 &
		pids+=($!)
		ckt-fetch -q --name example.org/par:$round "docker-archive:$FX/tiny.docker.tar" \
			>"$BATS_TEST_TMPDIR/o4" 2>&1 &
		pids+=($!)
		for i in "${!pids[@]}"; do
			wait "${pids[$i]}" || { cat "$BATS_TEST_TMPDIR/o$((i + 1))"; return 1; }
		done
	done
	run -0 ckt-image list
	[ "$(sort <<<"$output")" = "$(printf '%s\n' example.com/fixtures/multi:2.0 \
		example.org/par:1 example.org/par:2 localhost/index:multiarch localhost/oci:multi \
		localhost/oci:tiny localhost/tiny:tiny)" ]
	run -0 ckt-image fsck
	[ -z "$output" ]
	[ -z "$(ls -A "$CKT_STORE/tmp")" ]
	run -0 ckt-image gc --json
	[ "$(jq -r .blobs_removed <<<"$output")" -eq 0 ]
}

@test "gc running beside fetches never takes a blob an image needs" {
	local pids=() i
	empty_store
	for round in 1 2 3; do
		pids=()
		ckt-fetch -q "oci:$FX/oci:tiny" "oci:$FX/oci:multi" >"$BATS_TEST_TMPDIR/o1" 2>&1 &
		pids+=($!)
		ckt-fetch -q "docker-archive:$FX/multi.docker.tar" >"$BATS_TEST_TMPDIR/o2" 2>&1 &
		pids+=($!)
		ckt-fetch -q --all-platforms "oci:$FX/index:multiarch" >"$BATS_TEST_TMPDIR/o3" 2>&1 &
		pids+=($!)
		(for i in 1 2 3 4; do ckt-image gc -q || exit 1; done) >"$BATS_TEST_TMPDIR/o4" 2>&1 &
		pids+=($!)
		for i in "${!pids[@]}"; do
			wait "${pids[$i]}" || { cat "$BATS_TEST_TMPDIR/o$((i + 1))"; return 1; }
		done
		run -0 ckt-image list
		[ "${#lines[@]}" -eq 4 ]
		run -0 ckt-image fsck
		[ -z "$output" ]
		run -0 bash -c 'ckt-image list | ckt-image rm -'
	done
}

@test "libcurl and libarchive are loaded only by work that needs them" {
	# LD_DEBUG=files names every object the loader maps, dlopen(3) included.
	LD_DEBUG=files run -0 --separate-stderr ckt-fetch "oci:$FX/oci:tiny"
	[[ $stderr != *libcurl* ]]
	[[ $stderr != *libarchive* ]]
	LD_DEBUG=files run -0 --separate-stderr ckt-fetch "oci-archive:$FX/tiny.oci.tar:tiny"
	[[ $stderr == *libarchive.so* ]]
	[[ $stderr != *libcurl* ]]
	LD_DEBUG=files run -0 --separate-stderr ckt-unpack --version
	[[ $stderr != *libcurl* ]]
	[[ $stderr != *libarchive* ]]
	# registry.bats: a registry source does load libcurl
}

@test "a fast failure while libraries are still loading exits cleanly" {
	# An aci: source preloads libcurl and libarchive on a thread; a file
	# that is no ACI fails before they are loaded.  Exiting then used to
	# race OpenSSL's clean-up against its initialisation (SIGSEGV in about
	# 1 run in 20).
	local bad="$BATS_TEST_TMPDIR/bad.aci"
	printf 'not an archive\n' >"$bad"
	local i rc
	for i in $(seq 100); do
		rc=0
		ckt-fetch -q aci:"$bad" >/dev/null 2>&1 || rc=$?
		[ "$rc" -eq 1 ] || {
			echo "run $i: exit $rc"
			return 1
		}
	done
}
