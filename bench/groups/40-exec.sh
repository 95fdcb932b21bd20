# Row group "exec": start-to-exit latency of /bin/true from the corpus' tiny
# image (issue 5).  ckt-exec runs the image from the store (snapshot already
# built), as root and rootless (nobody, through setpriv); peers: `crun run`
# on an unpacked bundle, `bwrap --unshare-all` on the unpacked tree, and
# `unshare` of the same namespaces running /bin/true straight, the kernel's
# floor.  crun refuses this hybrid host's cgroup v2 mount, so every row runs
# in a mount namespace where /sys/fs/cgroup/unified is unmounted.
# shellcheck shell=bash

group_exec() {
	local store="$WORKDIR/store" rl="$WORKDIR/rl" bundle="$WORKDIR/bundle"
	local bin="$WORKDIR/bin" t

	[[ $(id -u) -eq 0 ]] || { log "exec rows need root: skipped"; return 0; }
	[[ -x $CKT_BIN/ckt-exec ]] || { log "ckt-exec is not built: exec rows skipped"; return 0; }
	# Tools and image where nobody can reach them.
	mkdir -p "$bin" "$rl"
	cp "$CKT_BIN"/ckt-exec "$CKT_BIN"/ckt-exec-prepare "$CKT_BIN"/ckt-fetch "$bin/"
	skopeo --insecure-policy copy -q "oci:$CORPUS:tiny" "oci:$WORKDIR/tiny:tiny" ||
		die "cannot copy the tiny image"
	chmod -R a+rX "$WORKDIR"
	chown nobody "$rl"
	"$bin/ckt-fetch" -q --store "$store" --name bench/tiny "oci:$WORKDIR/tiny:tiny" >/dev/null
	setpriv --reuid=nobody --regid=nogroup --clear-groups env -i PATH=/usr/bin:/bin \
		HOME="$rl" XDG_RUNTIME_DIR="$rl" "$bin/ckt-fetch" -q --store "$rl/store" \
		--name bench/tiny "oci:$WORKDIR/tiny:tiny" >/dev/null
	umoci unpack --image "$WORKDIR/tiny:tiny" "$bundle" >/dev/null
	python3 - "$bundle/config.json" <<-'EOF'
		import json, sys
		c = json.load(open(sys.argv[1]))
		c["process"]["args"] = ["/bin/true"]
		c["process"]["terminal"] = False
		json.dump(c, open(sys.argv[1], "w"))
	EOF

	local exec_root exec_rl floor floor_rl
	# The tiny image's Entrypoint is a shell: replace it, as `docker run
	# --entrypoint /bin/true` would.
	exec_root=$(cmd "$bin/ckt-exec" -q --insecure-options=image --store "$store" \
		--entrypoint /bin/true bench/tiny)
	exec_rl=$(cmd setpriv --reuid=nobody --regid=nogroup --clear-groups env -i \
		PATH=/usr/bin:/bin HOME="$rl" XDG_RUNTIME_DIR="$rl" "$bin/ckt-exec" -q \
		--insecure-options=image --store "$rl/store" --entrypoint /bin/true bench/tiny)
	floor=$(cmd unshare --user --map-root-user --mount --pid --fork --uts --ipc --net /bin/true)
	floor_rl=$(cmd setpriv --reuid=nobody --regid=nogroup --clear-groups env -i \
		PATH=/usr/bin:/bin unshare --user --map-root-user --mount --pid --fork --uts --ipc \
		--net /bin/true)
	# Warm: the first run of each builds the image's snapshot.
	sh -c "$exec_root" && sh -c "$exec_rl" || die "ckt-exec cannot run the tiny image"

	# Milliseconds each: many more runs than the slow rows.
	export RESULTS ROW_SEQ CKT_BIN
	export RUNS=$((RUNS * 20))
	unshare -m --propagation private bash -c '
		set -euo pipefail
		umount /sys/fs/cgroup/unified 2>/dev/null || true
		. "$0/bench/lib.sh"
		row "exec true (root) vs crun run" 0.8 "$1" \
			"$(peer crun run --bundle "$5" "bench-\$\$")"
		row "exec true (root) vs bwrap --unshare-all" - "$1" \
			"$(peer bwrap --unshare-all --bind "$5/rootfs" / --proc /proc --dev /dev \
				/bin/true)"
		row "exec true (root) vs unshare floor" 1.5 "$1" "$3"
		row "exec true (rootless) vs unshare floor (rootless)" 1.5 "$2" "$4"
	' "$REPO" "$exec_root" "$exec_rl" "$floor" "$floor_rl" "$bundle"
	RUNS=$((RUNS / 20))
}
