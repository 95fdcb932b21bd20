# Row group "convert": an image of the store to a gzip ACI (issue 6),
# against the pipeline that bounds it: every layer decompressed (gzip -dc),
# the stream hashed (sha512sum, the image ID) and recompressed (gzip -6).
# "warm" rows find the applied tree snapshot in the store (a second
# conversion, or one after ckt-unpack/ckt-exec); "cold" rows build it first.
# shellcheck shell=bash

group_convert() {
	local img store="$WORKDIR/store" out="$WORKDIR/out.aci" peer_out="$WORKDIR/peer.gz"
	local layers pipe l cold warm

	for img in $IMAGES; do
		[[ $img == debian || $img == multi ]] || continue
		"$CKT_BIN/ckt-fetch" -q --store "$store" --name "bench/$img" "oci:$CORPUS:$img" \
			>/dev/null || die "cannot fetch $img into the bench store"
		layers=$(jq -r '.layers[].digest' "$store/blobs/sha256/$(
			jq -r --arg r "$img" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' \
				"$CORPUS/index.json" | cut -d: -f2)" | sed "s|^sha256:|$CORPUS/blobs/sha256/|")
		pipe="{"
		for l in $layers; do
			pipe+=" gzip -dc $(printf %q "$l");"
		done
		pipe+=" } | tee >(sha512sum >/dev/null) | gzip -6 >$(printf %q "$peer_out")"
		warm=$(cmd rm -f "$out" "$peer_out")
		cold=$(cmd rm -rf "$out" "$peer_out" "$store/trees")
		row "convert $img to aci (warm) vs gzip pipeline" 1.3 \
			"$(ckt convert -q --store "$store" --to aci -o "$out" "bench/$img")" \
			"$(cmd bash -c "$pipe")" "$warm"
		row "convert $img to aci (cold) vs gzip pipeline" - \
			"$(ckt convert -q --store "$store" --to aci -o "$out" "bench/$img")" \
			"$(cmd bash -c "$pipe")" "$cold"
	done
}
