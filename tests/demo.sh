#!/usr/bin/env bash
# make demo: build the fixture images, fetch them into a fresh store, list
# and inspect it, show that skopeo reads the store too, then unpack, run and
# convert an image.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$top/bin
work=$(mktemp -d /tmp/ckt-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
export CKT_STORE=$work/store

run() { printf '\n$ %s\n' "$*"; "$@"; }

"$top/tests/fixtures/mkimages.sh" "$work/fx" >/dev/null
cd "$work"
run "$bin/ckt-fetch" oci:fx/oci:tiny
run "$bin/ckt-fetch" --name example.com/demo/tiny:1 oci-archive:fx/tiny.oci.tar:tiny
run "$bin/ckt-fetch" docker-archive:fx/multi.docker.tar
run "$bin/ckt-fetch" --all-platforms --json oci:fx/index:multiarch
run "$bin/ckt-image" list
run "$bin/ckt-image" list -q
printf '\n$ ckt-image inspect example.com/fixtures/multi:2.0 | jq .config.config\n'
"$bin/ckt-image" inspect example.com/fixtures/multi:2.0 | jq .config.config
if command -v skopeo >/dev/null; then
	printf '\n$ skopeo inspect --config oci:$CKT_STORE:example.com/fixtures/multi:2.0 | jq .architecture\n'
	skopeo inspect --config "oci:$CKT_STORE:example.com/fixtures/multi:2.0" | jq .architecture
fi
run "$bin/ckt-image" fsck

# Unpack, run and convert the image with the static test helper.
run "$bin/ckt-fetch" oci:fx/oci:exec
run "$bin/ckt-unpack" localhost/oci:exec "$work/rootfs"
run "$bin/ckt-exec" --insecure-options=image localhost/oci:exec -- hostname
run "$bin/ckt-convert" localhost/oci:exec --to aci -o "$work/exec.aci"
if command -v actool >/dev/null; then
	run actool validate "$work/exec.aci"
fi
echo
echo "demo: done (store was $CKT_STORE)"
