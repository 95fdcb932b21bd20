# Shared set-up for the bats integration tests (STYLE.md "Tests").
# Load with `load lib` from a .bats file in this directory.
#
# Every test gets its own store, HOME, GNUPGHOME and DOCKER_CONFIG under
# $BATS_TEST_TMPDIR; fixture images are built once per file into $FX by
# `ckt_fixtures` (call it from setup_file).  Servers a file starts listen on
# 127.0.0.1 at ports from `ckt_port N`, derived from the file name so that
# files running in parallel (prove -j) never collide.

bats_require_minimum_version 1.5.0

CKT_TOP=${CKT_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
export CKT_TOP
export PATH="$CKT_TOP/bin:$PATH"
# Debian's python3, with the packages `make deps` installs.
PYTHON=${PYTHON:-/usr/bin/python3}

# Build the fixture images once per file (setup_file) into $FX.
ckt_fixtures() {
	export FX="$BATS_FILE_TMPDIR/fx"
	[ -e "$FX/.done" ] && return 0
	"$CKT_TOP/tests/fixtures/mkimages.sh" "$FX" >/dev/null
	touch "$FX/.done"
}

# Per-test environment; call from setup().
ckt_setup() {
	export FX="$BATS_FILE_TMPDIR/fx"
	export CKT_STORE="$BATS_TEST_TMPDIR/store"
	export HOME="$BATS_TEST_TMPDIR/home"
	export GNUPGHOME="$HOME/.gnupg"
	export DOCKER_CONFIG="$HOME/.docker"
	export XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/run"
	export XDG_CONFIG_HOME="$HOME/.config"
	export XDG_DATA_HOME="$HOME/.local/share"
	unset REGISTRY_AUTH_FILE http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
	mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
	chmod 700 "$XDG_RUNTIME_DIR"
}

# ckt_port N: the Nth (0-9) port reserved for this .bats file, in
# 20000-32699: below Linux's ephemeral range (32768-60999), where the
# outgoing connections of tests running in parallel could hold the port.
ckt_port() {
	local h
	h=$(printf '%s' "$(basename "$BATS_TEST_FILENAME")" | cksum | cut -d' ' -f1)
	echo $((20000 + (h % 1270) * 10 + $1))
}

# wait_port PORT: wait up to 10 s for a listener on 127.0.0.1:PORT.
wait_port() {
	local i
	for i in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on 127.0.0.1:$1" >&2
	return 1
}

# Fail (with output shown) unless $output contains $1.
assert_output_contains() {
	if [[ "$output" != *"$1"* ]]; then
		printf 'expected output to contain: %s\nactual output:\n%s\n' "$1" "$output" >&2
		return 1
	fi
}

# A snapshot of the store's state that must not change on a failure:
# index.json bytes and the list of blobs and temporary files.
store_state() {
	(cd "$CKT_STORE" && sha256sum index.json && find blobs tmp -type f | sort)
}
