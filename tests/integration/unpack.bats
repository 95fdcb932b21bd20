#!/usr/bin/env bats
# ckt-unpack: layer semantics against umoci, hostile layers, tree snapshots
# in the store (reuse, gc, fsck), OCI bundles run by crun, rootless unpack.

load lib

TREECMP="$CKT_TOP/tests/fixtures/treecmp.py"

setup_file() {
	ckt_fixtures
	[ -e "$FX/layers/index.json" ] ||
		"$PYTHON" "$CKT_TOP/tests/fixtures/hostile/mkhostile.py" "$FX" >/dev/null
}

setup() {
	ckt_setup
	T="$BATS_TEST_TMPDIR/t"
	mkdir -p "$T/canary"
	echo untouched >"$T/canary/file"
}

teardown() {
	[ -z "${U:-}" ] || rm -rf "$U"
}

# U: a directory the unprivileged user 65534 owns (bats' own temporary
# directory is private to root).
nobody_dir() {
	U=$(mktemp -d /tmp/ckt-unpack-bats.XXXXXX)
	chmod 755 "$U"
}

as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		env HOME="$U" CKT_STORE="$U/store" "$@"
}

# Nothing was created, changed or removed outside the target: the canary
# directory beside it is as set up and no "pwned" file exists anywhere.
assert_canary() {
	[ "$(ls -A "$T/canary")" = file ]
	[ "$(cat "$T/canary/file")" = untouched ]
	[ -z "$(find "$BATS_TEST_TMPDIR" -name 'pwned*' -print)" ]
}

trees() {
	find "$CKT_STORE/trees" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l
}

@test "multi: the tree equals umoci's, path by path" {
	run -0 ckt-unpack "oci:$FX/oci:multi" "$T/dir"
	[ "$output" = "$T/dir" ]
	umoci unpack --image "$FX/oci:multi" "$T/umoci" >/dev/null
	run -0 "$PYTHON" "$TREECMP" "$T/umoci/rootfs" "$T/dir"
	# and what the fixture promises
	[ -f "$T/dir/srv/data/keep.txt" ] && [ ! -e "$T/dir/srv/data/gone.txt" ]
	[ "$(ls "$T/dir/srv/opaque")" = new ]
	[ -d "$T/dir/etc/motd" ] && [ -f "$T/dir/srv/was-dir" ]
	[ "$(stat -c %a "$T/dir/usr/local/bin/suid-id")" = 4755 ]
	[ "$(stat -c %i "$T/dir/srv/links/file.txt")" = "$(stat -c %i "$T/dir/srv/links/hardlink.txt")" ]
	[ "$(readlink "$T/dir/srv/links/abs-symlink.txt")" = /srv/data/keep.txt ]
	[ "$(stat -c %u:%g "$T/dir/home/app/hello.txt")" = 1000:1000 ]
}

@test "semantics: delete and re-create in one layer, swaps, hard link to a whited-out file, caps" {
	ckt-fetch -q --name semantics "oci:$FX/layers:semantics" >/dev/null
	run -0 ckt-unpack semantics "$T/dir"
	D="$T/dir"
	[ "$(ls "$D/d")" = new ]		# lower d/old and d/sub hidden
	[ -d "$D/f" ] && [ -f "$D/f/inner" ]	# file -> directory
	[ -f "$D/g" ] && [ "$(cat "$D/g")" = "now a file" ]	# directory -> file
	[ ! -e "$D/target" ] && [ "$(cat "$D/hl")" = linked ]	# link survives its whiteout
	[ "$(stat -c %u:%g "$D/hl")" = 1000:1000 ]
	[ "$(stat -c %a:%g "$D/setgid")" = 2775:50 ] && [ "$(stat -c %a "$D/sticky")" = 1777 ]
	[ "$(stat -c %a "$D/suid")" = 4755 ] && [ -p "$D/fifo" ]
	"$PYTHON" - "$D" <<-'EOF'
		import os, sys
		d = sys.argv[1]
		assert os.getxattr(d + "/caps", "security.capability").hex() == \
			"0100000200200000000000000000000000000000"
		assert os.getxattr(d + "/uxattr", "user.ckt") == b"value"
	EOF
	umoci unpack --image "$FX/layers:semantics" "$T/umoci" >/dev/null
	run -0 "$PYTHON" "$TREECMP" "$T/umoci/rootfs" "$D"
	# a second unpack copies the snapshot (two threads): the same tree
	run -0 ckt-unpack semantics "$T/again"
	run -0 "$PYTHON" "$TREECMP" "$D" "$T/again"
	[ "$(stat -c %a "$T/again/suid")" = 4755 ] && [ "$(stat -c %a:%g "$T/again/setgid")" = 2775:50 ]
}

@test "zstd layers and absolute names (taken relative to the root) unpack" {
	run -0 ckt-unpack "oci:$FX/layers:zstd-ok" "$T/z"
	[ "$(head -1 "$T/z/zstd")" = "zstd layer" ]
	run -0 ckt-unpack "oci:$FX/layers:absolute" "$T/dir"
	[ "$(cat "$T/dir/abs/file")" = abs ] && [ ! -e /abs ]
	assert_canary
}

# hostile TAG ENTRY: refused with exit 1 naming ENTRY, with and without a
# snapshot; nothing outside the target, no tree published, tmp/ empty.
hostile() {
	local mode
	for mode in "" --no-snapshot; do
		run -1 --separate-stderr ckt-unpack $mode "oci:$FX/layers:$1" "$T/dir"
		[[ "$stderr" == *"ckt-unpack: error:"*"'$2'"* ]] || {
			echo "stderr: $stderr"
			return 1
		}
		[ ! -e "$T/dir" ]
		[ -z "$(ls -A "$T" | grep -v canary)" ]
		assert_canary
		[ "$(trees)" -eq 0 ]
		[ -z "$(ls -A "$CKT_STORE/tmp")" ]
	done
}

@test "hostile: '../' escape" {
	hostile dotdot ../canary/pwned
}

@test "hostile: symlink escaping the root, then a write through it" {
	hostile symlink-escape escape/pwned
	hostile symlink-abs root/pwned
}

@test "hostile: hard links to /etc/passwd" {
	local before
	before=$(stat -c %h /etc/passwd)
	hostile hardlink-abs passwd
	hostile hardlink-dotdot ../../../../etc/passwd
	[ "$(stat -c %h /etc/passwd)" = "$before" ]
}

@test "hostile: a directory replaced by a symlink, then written under" {
	hostile dir-to-symlink d/pwned
}

@test "hostile: whiteouts naming '../x' and '..'" {
	hostile whiteout-dotdot ../.wh.canary
	hostile whiteout-dot sub/.wh..
}

@test "hostile: diff_id mismatch exits 3 and publishes nothing" {
	run -3 --separate-stderr ckt-unpack "oci:$FX/layers:diffid-mismatch" "$T/dir"
	[[ "$stderr" == *"diff_id does not match"* ]]
	[ ! -e "$T/dir" ] && [ "$(trees)" -eq 0 ] && [ -z "$(ls -A "$CKT_STORE/tmp")" ]
}

@test "hostile: truncated gzip stream and zstd frame bomb" {
	run -1 --separate-stderr ckt-unpack "oci:$FX/layers:truncated-gzip" "$T/dir"
	[[ "$stderr" == *"truncated gzip input"* ]]
	run -1 --separate-stderr ckt-unpack "oci:$FX/layers:zstd-bomb" "$T/dir"
	[[ "$stderr" == *"zstd"*"too much memory"* ]]
	[ ! -e "$T/dir" ] && [ "$(trees)" -eq 0 ]
	assert_canary
}

@test "device nodes: created as root, skipped with one warning unprivileged" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	run -0 ckt-unpack "oci:$FX/layers:device" "$T/dir"
	[ -c "$T/dir/dev/null" ] && [ "$(stat -c %t,%T "$T/dir/dev/null")" = 1,3 ]
	[ -p "$T/dir/dev/fifo" ]
	nobody_dir
	cp -r "$FX/layers" "$U/layers" && chown -R 65534:65534 "$U"
	run -0 --separate-stderr as_nobody ckt-unpack "oci:$U/layers:device" "$U/nodev"
	[ ! -e "$U/nodev/dev/null" ] && [ -p "$U/nodev/dev/fifo" ]
	[ "$(grep -c warning <<<"$stderr")" -eq 1 ]
	[[ "$stderr" == *"skipping device node 'dev/null'"* ]]
}

@test "snapshots: built once, reused, never shared with DIR; a longer chain starts from a prefix" {
	run -0 ckt-unpack -q "oci:$FX/oci:tiny" "$T/a"
	[ "$(trees)" -eq 1 ]
	local snap
	snap=$(find "$CKT_STORE/trees" -mindepth 1 -maxdepth 1 -type d)
	[ -f "$snap.mtree" ]
	local ino
	ino=$(stat -c %i "$snap/bin/busybox")
	run -0 ckt-unpack -q "oci:$FX/oci:tiny" "$T/b"
	[ "$(trees)" -eq 1 ] && [ "$(stat -c %i "$snap/bin/busybox")" = "$ino" ]
	# independent copies: no inode shared with the store or each other
	[ "$(stat -c %i "$T/b/bin/busybox")" != "$ino" ]
	[ "$(stat -c %h "$T/b/bin/busybox")" = 1 ]
	echo changed >"$T/b/etc/hostname"
	[ "$(cat "$snap/etc/hostname")" != changed ]
	run -0 "$PYTHON" "$TREECMP" "$T/a" "$snap"
	# multi's first layer is tiny's: its tree is built from tiny's snapshot
	run -0 --separate-stderr ckt-unpack -vv "oci:$FX/oci:multi" "$T/m"
	[[ "$stderr" == *"starting from tree $(basename "$snap")"* ]]
	[ "$(trees)" -eq 2 ]
	umoci unpack --image "$FX/oci:multi" "$T/umoci" >/dev/null
	run -0 "$PYTHON" "$TREECMP" "$T/umoci/rootfs" "$T/m"
}

@test "gc removes trees no ref uses; fsck finds a changed tree" {
	ckt-fetch -q "oci:$FX/oci:tiny" "oci:$FX/oci:multi" >/dev/null
	run -0 ckt-unpack -q "oci:$FX/oci:tiny" "$T/a"
	run -0 ckt-unpack -q "oci:$FX/oci:multi" "$T/b"
	[ "$(trees)" -eq 2 ]
	run -0 ckt-image fsck
	run -0 ckt-image gc
	[ "$(trees)" -eq 2 ]
	local multi_tree
	multi_tree=$(grep -l 'srv/was-dir' "$CKT_STORE"/trees/*.mtree)
	echo tampered >"${multi_tree%.mtree}/etc/hostname"
	run -1 --separate-stderr ckt-image fsck
	[[ "$output" == *"differs from its manifest at 'etc/hostname "* ]]
	run -0 ckt-image rm "$(ckt-image list | grep multi)"
	run -0 ckt-image gc
	[[ "$output" == *"removed 1 tree snapshot"* ]]
	[ "$(trees)" -eq 1 ] && [ ! -e "$multi_tree" ]
	run -0 ckt-image fsck
}

@test "DIR must be empty or missing; usage errors exit 2" {
	mkdir -p "$T/full" && touch "$T/full/x"
	run -2 ckt-unpack "oci:$FX/oci:tiny" "$T/full"
	run -2 ckt-unpack "oci:$FX/oci:tiny"
	run -1 ckt-unpack no-such-image "$T/dir"
	mkdir "$T/empty"
	run -0 ckt-unpack --json "oci:$FX/oci:tiny" "$T/empty"
	[ "$(jq -r .dir <<<"$output")" = "$T/empty" ]
	[ -x "$T/empty/bin/busybox" ]
}

# crun refuses the host's v1/v2 hybrid cgroup layout: run it in a mount
# namespace without the v2 hierarchy.
crun_run() {
	unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"' sh \
		crun --root "$BATS_TEST_TMPDIR/crun" run --bundle "$1" "ckt-test-$$-$2"
}

@test "--bundle: crun runs the image's command and returns its status" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	run -0 ckt-unpack --bundle "oci:$FX/oci:multi" "$T/b"
	[ -f "$T/b/config.json" ] && [ -x "$T/b/rootfs/bin/busybox" ]
	[ "$(jq -r '.process.cwd, .process.user.uid, .process.user.gid' "$T/b/config.json" | xargs)" = \
		"/home/app 1000 1000" ]
	run -0 crun_run "$T/b" id
	[ "$output" = "uid=1000(app) gid=1000(app)" ]
	jq '.process.args = ["/bin/sh", "-c", "echo $FIXTURE; exit 7"]' "$T/b/config.json" >"$T/c.json"
	mv "$T/c.json" "$T/b/config.json"
	run -7 crun_run "$T/b" exit
	[ "$output" = multi ]
}

@test "unprivileged: files owned by the caller, owners in user.rootlesscontainers, as umoci" {
	[ "$(id -u)" = 0 ] || skip "needs root to switch to an unprivileged user"
	nobody_dir
	cp -r "$FX/oci" "$U/oci"
	chown -R 65534:65534 "$U"
	T=$U
	run -0 as_nobody ckt-unpack "oci:$T/oci:multi" "$T/dir"
	[ "$(stat -c %u:%g "$T/dir/home/app/hello.txt")" = 65534:65534 ]
	"$PYTHON" - "$T/dir" <<-'EOF'
		import os, sys
		d = sys.argv[1]
		# umoci's protobuf: field 1 uid, field 2 gid, varints: 1000:1000
		assert os.getxattr(d + "/home/app/hello.txt", "user.rootlesscontainers").hex() == "08e80710e807"
		assert "user.rootlesscontainers" not in os.listxattr(d + "/bin/busybox")
	EOF
	[ -n "$(ls "$T/store/trees" | grep -- -rootless)" ]
	run -0 as_nobody umoci unpack --rootless --image "$T/oci:multi" "$T/umoci"
	run -0 "$PYTHON" "$TREECMP" "$T/umoci/rootfs" "$T/dir"
	run -0 "$PYTHON" "$TREECMP" --rootless-a --rootless-b "$T/umoci/rootfs" "$T/dir"
	# as root, the same image: the owners the xattr recorded
	run -0 ckt-unpack --store "$BATS_TEST_TMPDIR/rootstore" "oci:$FX/oci:multi" \
		"$BATS_TEST_TMPDIR/asroot"
	run -0 "$PYTHON" "$TREECMP" --rootless-b "$BATS_TEST_TMPDIR/asroot" "$T/dir"
	# a rootless bundle: user namespace mapping the image's user to the caller
	run -0 as_nobody ckt-unpack --bundle "oci:$T/oci:multi" "$T/rb"
	[ "$(jq -c '.linux.uidMappings' "$T/rb/config.json")" = \
		'[{"containerID":1000,"hostID":65534,"size":1}]' ]
	[ -z "$(jq -r '.linux.namespaces[] | select(.type == "network") | .type' "$T/rb/config.json")" ]
}

@test "unprivileged --bundle: crun runs it rootless, in a user namespace" {
	[ "$(id -u)" = 0 ] || skip "needs root to switch to an unprivileged user"
	nobody_dir
	cp -r "$FX/oci" "$U/oci"
	chown -R 65534:65534 "$U"
	run -0 as_nobody ckt-unpack --bundle "oci:$U/oci:multi" "$U/rb"
	run -0 unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null
		exec setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$1" \
			XDG_RUNTIME_DIR="$1" crun --root "$1/crun" run --bundle "$1/rb" "ckt-rl-$$"' sh "$U"
	[ "$output" = "uid=1000(app) gid=1000(app)" ]
}

@test "snapshots: two unpacks at once build the tree once, under its lock" {
	ckt-fetch -q "oci:$FX/oci:multi" >/dev/null
	ckt-unpack -q "oci:$FX/oci:multi" "$T/a" >"$T/a.out" 2>&1 &
	local pid=$!
	run -0 ckt-unpack -q "oci:$FX/oci:multi" "$T/b"
	wait "$pid"
	[ "$(trees)" -eq 1 ] && [ -z "$(ls -A "$CKT_STORE/tmp")" ]
	run -0 "$PYTHON" "$TREECMP" "$T/a" "$T/b"
	run -0 ckt-image fsck
}
