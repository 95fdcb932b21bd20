# Row group "fetch": bring each corpus image from an OCI layout into an empty
# store. Peer: skopeo copy into an empty OCI layout (the store is one too).
# shellcheck shell=bash

group_fetch() {
	local img ckt_store="$WORKDIR/ckt-store" peer_store="$WORKDIR/peer-store"
	local prepare
	prepare=$(cmd rm -rf "$ckt_store" "$peer_store")

	fetch_ckt() { ckt fetch --store "$ckt_store" "oci:$CORPUS:$1"; }
	fetch_peer() {
		peer skopeo --insecure-policy copy --quiet "oci:$CORPUS:$1" "oci:$peer_store:$1"
	}

	for img in $IMAGES; do
		row "fetch oci:$img" 1.0 "$(fetch_ckt "$img")" "$(fetch_peer "$img")" "$prepare"
	done
	rss "fetch oci:big" "$(fetch_ckt big)" "$(fetch_peer big)" "$prepare"
}
