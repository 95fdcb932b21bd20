# Row group "registry": cold fetch of each corpus image from a plain-http
# distribution registry on 127.0.0.1 into an empty store. Peers: skopeo copy
# docker://… oci:… into an empty layout, and curl of the big image's largest
# blob into /dev/null (the wire's limit). The registry is filled from the
# corpus with skopeo at the start and stopped at the end.
# shellcheck shell=bash

OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json

# corpus_blobs TAG: "SIZE<TAB>DIGEST" of the config and each layer of the
# corpus image TAG (its first manifest, for an index).
corpus_blobs() {
	python3 - "$CORPUS" "$1" <<-'PY'
		import json, sys
		root, tag = sys.argv[1], sys.argv[2]
		def load(d):
		    return json.load(open(root + "/blobs/sha256/" + d.split(":", 1)[1]))
		idx = json.load(open(root + "/index.json"))
		m = next(load(e["digest"]) for e in idx["manifests"]
		         if e.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
		if "manifests" in m:
		    m = load(m["manifests"][0]["digest"])
		for b in [m["config"]] + m["layers"]:
		    print(f"{b['size']}\t{b['digest']}")
		PY
}

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

	# The wire's limits, with curl: the big image's largest layer, and
	# tiny's manifest, config and layer one after the other on one
	# connection (what any libcurl client must do at least, without
	# verifying or syncing anything).
	local blob tiny_urls
	blob=$(corpus_blobs big | sort -n | tail -n 1 | cut -f2)
	tiny_urls=$(corpus_blobs tiny | cut -f2 | sed "s|^|http://$reg/v2/bench/tiny/blobs/|")
	# shellcheck disable=SC2086
	row "fetch docker:tiny vs curl of its requests" - "$(fetch_ckt tiny)" \
		"$(peer curl -sf -o /dev/null -H "Accept: $OCI_MANIFEST" \
			"http://$reg/v2/bench/tiny/manifests/latest" \
			$(printf -- '-o /dev/null %s ' $tiny_urls))" "$prepare"
	row "fetch docker:big vs curl of its layer" 2.0 "$(fetch_ckt big)" \
		"$(peer curl -sf -o /dev/null "http://$reg/v2/bench/big/blobs/$blob")" "$prepare"
	rss "fetch docker:big" "$(fetch_ckt big)" "$(fetch_peer big)" "$prepare"

	kill "$(cat "$rdir/pid")" 2>/dev/null || true
	trap - EXIT
}
