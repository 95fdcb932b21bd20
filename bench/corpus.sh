#!/usr/bin/env bash
# bench/corpus.sh — build the benchmark corpus: one OCI image layout holding
# the images every row group runs against.
#
#   bench/corpus.sh            build (or reuse) $CKT_BENCH_DIR/corpus
#   CKT_BENCH_QUICK=1 ...      build (or reuse) $CKT_BENCH_DIR/corpus-quick
#   bench/corpus.sh --force    rebuild even if the marker says it is complete
#
# Images (tags in the layout):
#   tiny    one layer: static busybox plus applet symlinks
#   debian  one layer: debootstrap --variant=minbase bookworm        (full only)
#   multi   debian + 5 layers: 20,000 small files; hard links, symlinks,
#           setuid; whiteouts and an opaque directory; a file replaced by a
#           directory; 64 MiB of random data                        (full only)
#   big     one layer of random data: 256 MiB (16 MiB in quick mode)
#
# The layout is built under a temporary name and renamed into place with its
# completion marker inside, so a layout carrying the marker is always whole.
# The debootstrap result is cached as a tar in $CKT_BENCH_DIR/cache so a
# corpus rebuild does not run debootstrap again.
#
# Environment: CKT_BENCH_DIR (default /var/tmp/ckt-bench), CKT_BENCH_QUICK,
# CKT_BENCH_MIRROR (default: the first Debian URI apt is configured with),
# CKT_BENCH_SUITE (default bookworm), SOURCE_DATE_EPOCH (default fixed).
set -euo pipefail

# Bump when the corpus recipe changes: an old corpus is then rebuilt.
CORPUS_VERSION=1

: "${CKT_BENCH_DIR:=/var/tmp/ckt-bench}"
: "${CKT_BENCH_QUICK:=0}"
: "${CKT_BENCH_SUITE:=bookworm}"
: "${SOURCE_DATE_EPOCH:=1700000000}"
export SOURCE_DATE_EPOCH
export LC_ALL=C TZ=UTC
umask 022

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# RFC 3339 form of SOURCE_DATE_EPOCH, for image config and history dates.
created() { date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ; }

# Debian mirror: CKT_BENCH_MIRROR, else the first URI apt uses for Debian
# (deb822 .sources or one-line sources.list), else deb.debian.org.
detect_mirror() {
	if [[ -n "${CKT_BENCH_MIRROR:-}" ]]; then
		printf '%s\n' "$CKT_BENCH_MIRROR"
		return
	fi
	local uri
	uri=$(
		{
			cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
				awk '$1 == "URIs:" { print $2 }'
			cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
				awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }'
		} | grep -v -e security -e '/updates' | grep -i debian | head -n 1
	) || true
	printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

# det_tar DIR OUT [TAR-OPTION...]: deterministic tar of DIR's contents,
# entries named without a leading "./", sorted, pax format without atime,
# ctime or PIDs in extended header names. Ownership and mtime options
# come from the caller.
det_tar() {
	local dir=$1 out=$2
	shift 2
	(cd "$dir" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | sort) |
		tar --create --file "$out" --directory "$dir" --files-from - \
			--sort=name --format=posix \
			--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
			"$@"
}

# Fixed owner and mtime, for layers we make ourselves.
det_tar_root() {
	det_tar "$1" "$2" --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH"
}

# rand_file PATH BYTES SEED: reproducible pseudo-random (incompressible) data.
rand_file() {
	python3 - "$1" "$2" "$3" <<-'EOF'
		import random, sys
		path, left, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3]
		rng = random.Random(seed)
		with open(path, "wb") as f:
		    while left > 0:
		        n = min(left, 1 << 20)
		        f.write(rng.randbytes(n))
		        left -= n
	EOF
}

# new_image LAYOUT TAG: an empty image with a fixed creation date.
new_image() {
	umoci new --image "$1:$2"
	umoci config --image "$1:$2" --no-history --created "$(created)" \
		--os linux --architecture amd64
}

# add_layer LAYOUT TAG TAR COMMENT: append TAR as a (gzip) layer.
add_layer() {
	umoci raw add-layer --image "$1:$2" --history.created "$(created)" \
		--history.created_by "bench/corpus.sh" --history.comment "$4" "$3"
}

# Cached debootstrap of $CKT_BENCH_SUITE as a tar; prints its path.
debian_tar() {
	local cache="$CKT_BENCH_DIR/cache"
	local out="$cache/debian-$CKT_BENCH_SUITE-minbase.tar"
	if [[ -s "$out" ]]; then
		printf '%s\n' "$out"
		return
	fi
	mkdir -p "$cache"
	local mirror root
	mirror=$(detect_mirror)
	root="$cache/debootstrap.$$"
	rm -rf "$root"
	log "debootstrap --variant=minbase $CKT_BENCH_SUITE from $mirror (a few minutes)"
	debootstrap --variant=minbase "$CKT_BENCH_SUITE" "$root" "$mirror" \
		>"$cache/debootstrap.log" 2>&1 ||
		die "debootstrap failed, see $cache/debootstrap.log"
	# What docker's debian images leave out: package cache, apt lists,
	# device nodes, logs of the build.
	rm -rf "${root:?}"/var/cache/apt/archives/*.deb "${root:?}"/var/lib/apt/lists/* \
		"${root:?}"/dev/* "${root:?}"/var/log/* "${root:?}"/debootstrap
	det_tar "$root" "$out.tmp" --numeric-owner \
		--mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime
	mv -f "$out.tmp" "$out"
	rm -rf "$root"
	printf '%s\n' "$out"
}

# Layer recipes. Each fills an empty staging directory $1.

# Static busybox with its applets linked in /bin, and a minimal /etc.
stage_tiny() {
	local root=$1 bb a
	bb=$(command -v busybox) || die "busybox not found"
	file -L "$bb" 2>/dev/null | grep -q 'statically linked' ||
		log "warning: $bb may not be static"
	mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root"
	cp "$bb" "$root/bin/busybox"
	for a in sh ls cat echo true false sleep id env; do
		ln -s busybox "$root/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\n' >"$root/etc/group"
	chmod 1777 "$root/tmp"
}

# 20,000 small files of 1..1024 bytes in 200 directories.
stage_small_files() {
	python3 - "$1" <<-'EOF'
		import os, random, sys
		root = os.path.join(sys.argv[1], "srv", "small")
		rng = random.Random("small-files")
		for d in range(200):
		    dd = os.path.join(root, "d%03d" % d)
		    os.makedirs(dd)
		    for f in range(100):
		        with open(os.path.join(dd, "f%03d" % f), "wb") as fh:
		            fh.write(rng.randbytes(rng.randint(1, 1024)))
	EOF
}

# Hard links, symlinks (relative, absolute, dangling, to a directory), setuid.
stage_links() {
	local root=$1 i
	mkdir -p "$root/srv/links" "$root/usr/local/bin"
	for i in $(seq 0 99); do
		printf 'file %d\n' "$i" >"$root/srv/links/file$i"
		ln "$root/srv/links/file$i" "$root/srv/links/hard$i"
		ln -s "file$i" "$root/srv/links/rel$i"
		ln -s "/srv/links/file$i" "$root/srv/links/abs$i"
	done
	ln -s nowhere "$root/srv/links/dangling"
	ln -s ../small/d000 "$root/srv/links/dirlink"
	printf '#!/bin/sh\nid\n' >"$root/usr/local/bin/suid"
	chmod 4755 "$root/usr/local/bin/suid"
	printf '#!/bin/sh\nid\n' >"$root/usr/local/bin/sgid"
	chmod 2755 "$root/usr/local/bin/sgid"
}

# Whiteouts of files from the debian and small-files layers, and an opaque
# directory that hides d001's old content behind one new file.
stage_whiteouts() {
	local root=$1 i
	mkdir -p "$root/srv/small/d000" "$root/srv/small/d001" "$root/usr/share/doc"
	for i in $(seq 0 49); do
		: >"$root/srv/small/d000/.wh.f$(printf %03d "$i")"
	done
	: >"$root/srv/small/.wh.d002"
	: >"$root/usr/share/doc/.wh.apt"
	: >"$root/srv/small/d001/.wh..wh..opq"
	printf 'new\n' >"$root/srv/small/d001/only"
}

# A file replaced by a directory and a directory replaced by a file.
stage_replace() {
	local root=$1
	mkdir -p "$root/etc/motd" "$root/srv/small"
	printf 'now a directory\n' >"$root/etc/motd/README"
	printf 'now a file\n' >"$root/srv/small/d003"
}

# layer LAYOUT TAG NAME STAGE-FUNCTION [ARGS...]: stage, tar, append.
layer() {
	local layout=$1 tag=$2 name=$3 fn=$4
	shift 4
	local stage="$WORK/stage-$tag-$name"
	rm -rf "$stage"
	mkdir -p "$stage"
	"$fn" "$stage" "$@"
	det_tar_root "$stage" "$WORK/$tag-$name.tar"
	add_layer "$layout" "$tag" "$WORK/$tag-$name.tar" "$name"
	rm -rf "$stage" "$WORK/$tag-$name.tar"
}

stage_random() { mkdir -p "$1/data"; rand_file "$1/data/random.bin" "$2" "$3"; }

build_corpus() {
	local layout=$1 quick=$2 big_mib=256
	[[ "$quick" == 1 ]] && big_mib=16
	umoci init --layout "$layout"

	log "corpus: tiny"
	new_image "$layout" tiny
	layer "$layout" tiny busybox stage_tiny
	umoci config --image "$layout:tiny" --no-history --created "$(created)" \
		--config.entrypoint /bin/sh --config.env PATH=/bin

	log "corpus: big (${big_mib} MiB)"
	new_image "$layout" big
	layer "$layout" big random stage_random $((big_mib << 20)) big

	[[ "$quick" == 1 ]] && return

	log "corpus: debian"
	local deb
	deb=$(debian_tar)
	new_image "$layout" debian
	add_layer "$layout" debian "$deb" "debootstrap --variant=minbase $CKT_BENCH_SUITE"
	umoci config --image "$layout:debian" --no-history --created "$(created)" \
		--config.cmd /bin/bash \
		--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

	log "corpus: multi"
	umoci config --image "$layout:debian" --tag multi --no-history --created "$(created)"
	layer "$layout" multi small-files stage_small_files
	layer "$layout" multi links stage_links
	layer "$layout" multi whiteouts stage_whiteouts
	layer "$layout" multi replace stage_replace
	layer "$layout" multi random stage_random $((64 << 20)) multi
	umoci gc --layout "$layout"
}

main() {
	local force=0
	[[ "${1:-}" == --force ]] && force=1
	local name=corpus images="tiny debian multi big"
	if [[ "$CKT_BENCH_QUICK" == 1 ]]; then
		name=corpus-quick images="tiny big"
	fi
	local dest="$CKT_BENCH_DIR/$name"
	local marker="ckt-bench-corpus version=$CORPUS_VERSION images=$images"

	if [[ $force == 0 && -f "$dest/ckt-bench.done" ]] &&
		[[ "$(cat "$dest/ckt-bench.done")" == "$marker" ]]; then
		printf '%s\n' "$dest"
		return
	fi
	for tool in umoci python3 tar; do
		command -v "$tool" >/dev/null || die "$tool is required"
	done
	if [[ "$CKT_BENCH_QUICK" != 1 && ! -s "$CKT_BENCH_DIR/cache/debian-$CKT_BENCH_SUITE-minbase.tar" ]]; then
		command -v debootstrap >/dev/null ||
			die "debootstrap is required for the full corpus (or set CKT_BENCH_QUICK=1)"
		[[ $EUID -eq 0 ]] ||
			die "debootstrap needs root for the full corpus (or set CKT_BENCH_QUICK=1)"
	fi

	mkdir -p "$CKT_BENCH_DIR"
	WORK=$(mktemp -d "$CKT_BENCH_DIR/build.XXXXXX")
	# shellcheck disable=SC2064 # expand WORK now
	trap "rm -rf '$WORK'" EXIT
	log "building $dest"
	build_corpus "$WORK/layout" "$CKT_BENCH_QUICK"
	printf '%s\n' "$marker" >"$WORK/layout/ckt-bench.done"
	# Swap in atomically: the marker travels with the layout.
	if [[ -e "$dest" ]]; then
		mv "$dest" "$WORK/old"
	fi
	mv "$WORK/layout" "$dest"
	log "corpus ready: $dest"
	printf '%s\n' "$dest"
}

# Sourcing this file only defines the functions.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	main "$@"
fi
