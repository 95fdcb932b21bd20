# Row group "unpack": an image's root filesystem from the store into an
# empty directory (issue 4).  Peers: `umoci unpack --rootless` (ckt run
# with --rootless too) and a plain `tar -xzf` of the same layers one after
# the other (no whiteouts applied, --recursive-unlink so a file may replace
# a directory; as root, like ckt).  "again" rows time
# an unpack whose tree snapshot is already in the store against the cold
# unpack that had to build it.
# shellcheck shell=bash

group_unpack() {
	local img store="$WORKDIR/store" cstore="$WORKDIR/cold-store"
	local out="$WORKDIR/out" peer_out="$WORKDIR/peer"
	local cold warm target layers tarcmd l

	for img in $IMAGES; do
		[[ $img == big ]] && continue	# one 256 MiB layer: the fetch rows cover it
		for l in "$store" "$cstore"; do
			"$CKT_BIN/ckt-fetch" -q --store "$l" --name "bench/$img" "oci:$CORPUS:$img" \
				>/dev/null || die "cannot fetch $img into the bench store"
		done
		# the layer blobs of the image, in order
		layers=$(jq -r '.layers[].digest' "$store/blobs/sha256/$(
			jq -r --arg r "$img" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' \
				"$CORPUS/index.json" | cut -d: -f2)" | sed "s|^sha256:|$CORPUS/blobs/sha256/|")
		tarcmd="mkdir $(printf %q "$peer_out")"
		for l in $layers; do
			tarcmd+=" && tar -xzf $(printf %q "$l") -C $(printf %q "$peer_out") --recursive-unlink"
		done
		cold=$(cmd rm -rf "$out" "$peer_out" "$store/trees")
		warm=$(cmd rm -rf "$out" "$peer_out" "$cstore/trees")
		target=0.5
		row "unpack $img vs umoci --rootless" "$target" \
			"$(ckt unpack -q --rootless --store "$store" "bench/$img" "$out")" \
			"$(peer umoci unpack --rootless --image "$CORPUS:$img" "$peer_out")" "$cold"
		target=-
		[[ $img == debian ]] && target=1.2
		row "unpack $img vs tar -xzf" "$target" \
			"$(ckt unpack -q --store "$store" "bench/$img" "$out")" \
			"$(cmd sh -c "$tarcmd")" "$cold"
		# ckt: the snapshot is in $store (built by the runs above); peer:
		# the same unpack from $cstore, whose trees go before every run
		"$CKT_BIN/ckt-unpack" -q --store "$store" "bench/$img" "$out" >/dev/null
		row "unpack $img again (snapshot) vs cold" 0.5 \
			"$(ckt unpack -q --store "$store" "bench/$img" "$out")" \
			"$(ckt unpack -q --store "$cstore" "bench/$img" "$peer_out")" "$warm"
	done
}
