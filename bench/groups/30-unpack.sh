# Row group "unpack": an image's root filesystem from the store into an
# empty directory (issue 4).  Peers: `umoci unpack --rootless` (ckt run
# with --rootless too) and a plain `tar -xzf` of the same layers one after
# the other (no whiteouts applied, --recursive-unlink so a file may replace
# a directory; as root, like ckt).  "again" rows time
# an unpack whose tree snapshot is already in the store against the cold
# unpack that had to build it.
#
# Runs must not wait for each other.  Deleting a tree of thousands of files
# just before a timed run slows that run down several times on an ext4
# without a journal (the bench machine's /var/tmp): for 60 s after a
# deletion (360 s while the inode table is not yet written back), every
# inode allocation skips each recently freed inode one by one (ext4's
# recently_deleted()), so a `tar -xzf` of debian took 5.5 s instead of
# 1.1 s.  A `sync` in the prepare step does not help (it only shortens the
# window to 60 s).  So the prepare step of every row (for ckt and the peer
# alike) renames the previous outputs and trees into $UNPACK_DIR/trash, which
# is emptied once, after all rows, followed by a sync and a wait of 61 s so
# the next group starts clean.  The prepare step then syncs: each run
# writes up to 400 MB, and without it the writeback of earlier runs
# competed with the timed one for the 2 CPUs (cold debian unpack, 8 runs:
# standard deviation 0.18-0.34 s without the sync, 0.05-0.23 s with it).
#
# Even so, emptying the trash made every file created in the next 6
# minutes slow, in the next group or bench run (the 60 s become 360 s
# while an inode-table block is dirty, and each new inode makes it dirty
# again): a cold debian unpack took 1.5-2.4 s instead of 0.6.  So, as root
# with loop devices, the group works in a file system of its own, a fresh
# ext4 (without a journal, like the machine's) on a sparse image with
# direct I/O, and its trash goes away with one unlink of the image.
# shellcheck shell=bash

# unpack_fs_up DIR: mount a fresh file system on DIR; sets UNPACK_LOOP.
unpack_fs_up() {
	local img="$CKT_BENCH_DIR/unpack-fs.img"
	UNPACK_LOOP=""
	[[ $EUID == 0 && ${CKT_BENCH_LOOPFS:-1} != 0 ]] || return 1
	command -v losetup >/dev/null && command -v mkfs.ext4 >/dev/null || return 1
	rm -f "$img"
	if ! truncate -s 64G "$img" ||
		! mkfs.ext4 -q -F -O ^has_journal -N 2000000 \
			-E lazy_itable_init=0,lazy_journal_init=0 "$img"; then
		rm -f "$img"
		return 1
	fi
	UNPACK_LOOP=$(losetup -f --show --direct-io=on "$img") || {
		rm -f "$img"
		return 1
	}
	mkdir -p "$1"
	mount "$UNPACK_LOOP" "$1" || {
		losetup -d "$UNPACK_LOOP"
		rm -f "$img"
		UNPACK_LOOP=""
		return 1
	}
}

# unpack_fs_down DIR DEVICE: unmount and drop what unpack_fs_up made.
unpack_fs_down() {
	umount "$1" && losetup -d "$2"
	rm -f "$CKT_BENCH_DIR/unpack-fs.img"
}

# away PATH...: a command moving each existing PATH into $UNPACK_DIR/trash
# (a rename, no deletion), then writing back what earlier runs left dirty.
away() {
	local p t s
	t=$(printf %q "$UNPACK_DIR/trash")
	s="mkdir -p $t"
	for p; do
		p=$(printf %q "$p")
		s+=" && { [ ! -e $p ] || mv $p $t/\$(date +%s%N); }"
	done
	printf '%s && sync\n' "$s"
}

group_unpack() {
	local UNPACK_DIR="$WORKDIR/unpack-fs" UNPACK_LOOP
	if unpack_fs_up "$UNPACK_DIR"; then
		log "unpack: in a fresh ext4 on $UNPACK_LOOP"
		# shellcheck disable=SC2064
		trap "unpack_fs_down $(printf '%q %q' "$UNPACK_DIR" "$UNPACK_LOOP")" EXIT
	else
		UNPACK_DIR=$WORKDIR
	fi
	local img store="$UNPACK_DIR/store" cstore="$UNPACK_DIR/cold-store"
	local out="$UNPACK_DIR/out" peer_out="$UNPACK_DIR/peer"
	local cold warm target layers tarcmd l

	# More than RUNS runs only for tiny: every run leaves a tree of up to
	# tens of thousands of files in the trash, and the more inodes are
	# deleted at the end, the longer the next group's file creation drags.
	local all_runs=$MAX_RUNS
	local MAX_RUNS=$MAX_RUNS
	for img in $IMAGES; do
		[[ $img == big ]] && continue	# one 256 MiB layer: the fetch rows cover it
		MAX_RUNS=$RUNS
		[[ $img == tiny ]] && MAX_RUNS=$all_runs
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
		cold=$(away "$out" "$peer_out" "$store/trees")
		warm=$(away "$out" "$peer_out" "$cstore/trees")
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
		sh -c "$warm"
		"$CKT_BIN/ckt-unpack" -q --store "$store" "bench/$img" "$out" >/dev/null
		row "unpack $img again (snapshot) vs cold" 0.5 \
			"$(ckt unpack -q --store "$store" "bench/$img" "$out")" \
			"$(ckt unpack -q --store "$cstore" "bench/$img" "$peer_out")" "$warm"
	done
	if [[ -n $UNPACK_LOOP ]]; then
		unpack_fs_down "$UNPACK_DIR" "$UNPACK_LOOP"
		trap - EXIT
		return
	fi
	log "unpack: emptying the trash, then 61 s for ext4's recently deleted inodes to age"
	rm -rf "$UNPACK_DIR/trash"
	sync
	sleep 61
}
