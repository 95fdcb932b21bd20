# Row group "registry": cold fetch of each corpus image from a plain-http
# distribution registry on 127.0.0.1 into an empty store. Peers: skopeo copy
# docker://… oci:… into an empty layout, and curl of the big image's largest
# blob into /dev/null (the wire's limit). The registry is filled from the
# corpus with skopeo at the start and stopped at the end.
# shellcheck shell=bash

group_registry() {
	local img port=${CKT_BENCH_REGISTRY_PORT:-25999}
	local reg="127.0.0.1:$port" rdir="$WORKDIR/registry"
	local ckt_store="$WORKDIR/ckt-store" peer_store="$WORKDIR/peer-store" prepare
	if ! command -v docker-registry >/dev/null || ! command -v skopeo >/dev/null; then
		log "registry: docker-registry or skopeo missing; group skipped"
		return 0
	fi
	"$REPO/tests/fixtures/registry/start-registry.sh" "$rdir" "$port" ||
		die "registry: cannot start docker-registry"
	# shellcheck disable=SC2064
	trap "kill $(cat "$rdir/pid") 2>/dev/null" EXIT
	for img in $IMAGES; do
		skopeo --insecure-policy copy --quiet --all --dest-tls-verify=false \
			"oci:$CORPUS:$img" "docker://$reg/bench/$img:latest" ||
			die "registry: cannot push $img to the bench registry"
	done
	prepare=$(cmd rm -rf "$ckt_store" "$peer_store")

	fetch_ckt() { ckt fetch -q --store "$ckt_store" "docker://$reg/bench/$1:latest"; }
	fetch_peer() {
		peer skopeo --insecure-policy copy --quiet --src-tls-verify=false \
			"docker://$reg/bench/$1:latest" "oci:$peer_store:$1"
	}
	for img in $IMAGES; do
		row "fetch docker:$img" 0.5 "$(fetch_ckt "$img")" "$(fetch_peer "$img")" "$prepare"
	done

	# The wire's limit: the big image's largest layer with curl.
	local m blob
	m=$(python3 - "$CORPUS" <<-'PY'
		import json, sys
		idx = json.load(open(sys.argv[1] + "/index.json"))
		for e in idx["manifests"]:
		    if e.get("annotations", {}).get("org.opencontainers.image.ref.name") == "big":
		        print(e["digest"])
		PY
	)
	blob=$(python3 - "$CORPUS" "$m" <<-'PY'
		import json, sys
		d = sys.argv[2].split(":", 1)[1]
		m = json.load(open(sys.argv[1] + "/blobs/sha256/" + d))
		if "manifests" in m:
		    d = m["manifests"][0]["digest"].split(":", 1)[1]
		    m = json.load(open(sys.argv[1] + "/blobs/sha256/" + d))
		print(max(m["layers"], key=lambda l: l["size"])["digest"])
		PY
	)
	row "fetch docker:big vs curl of its layer" 2.0 "$(fetch_ckt big)" \
		"$(peer curl -sf -o /dev/null "http://$reg/v2/bench/big/blobs/$blob")" "$prepare"
	rss "fetch docker:big" "$(fetch_ckt big)" "$(fetch_peer big)" "$prepare"

	kill "$(cat "$rdir/pid")" 2>/dev/null || true
	trap - EXIT
}
