#!/usr/bin/env bats
# ckt-exec run by ordinary users, for real: a user that /etc/subuid grants a
# range (ids mapped through newuidmap/newgidmap) and nobody (no range: only
# the container's user is mapped, to the caller).  The tools and the fixture
# layout are copied where those users can read them.

load lib

setup_file() {
	ckt_fixtures
	[ "$(id -u)" -eq 0 ] || skip "creates a user: needs root"
	# Unique per run: other checkouts may run this file at the same time.
	export RL_USER="cktrl$$"
	# Outside bats' private temporary directory, which those users cannot enter.
	RL=$(mktemp -d "${TMPDIR:-/tmp}/ckt-rootless.XXXXXX")
	export RL
	mkdir -p "$RL/bin"
	chmod 755 "$RL"
	cp "$CKT_TOP"/bin/ckt-exec "$CKT_TOP"/bin/ckt-exec-prepare "$CKT_TOP"/bin/ckt-fetch \
		"$CKT_TOP"/bin/ckt-ps \
		"$CKT_TOP"/bin/ckt-stop "$RL/bin/"
	cp -r "$FX/oci" "$RL/oci"
	chmod -R a+rX "$RL"
	userdel "$RL_USER" >/dev/null 2>&1 || true
	useradd -M -N -s /usr/sbin/nologin "$RL_USER"
	grep -q "^$RL_USER:" /etc/subuid 2>/dev/null ||
		usermod --add-subuids 300000-365535 --add-subgids 300000-365535 "$RL_USER"
	for u in "$RL_USER" nobody; do
		mkdir -p "$RL/$u/run"
		chown -R "$u" "$RL/$u"
		chmod 700 "$RL/$u/run"
	done
	# nobody must have no range: that is the single-mapping path.
	! grep -qE '^(nobody|65534):' /etc/subuid
}

teardown_file() {
	[ -n "${RL_USER:-}" ] && userdel "$RL_USER" >/dev/null 2>&1 || true
	[ -n "${RL:-}" ] && rm -rf "$RL"
}

# as USER CMD...: run CMD as USER with its own store and runtime directory
# (exec: in the background, $! is the command itself).
as() {
	local u=$1
	shift
	exec setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups \
		env -i PATH="$RL/bin:/usr/bin:/bin" HOME="$RL/$u" CKT_STORE="$RL/$u/store" \
		XDG_RUNTIME_DIR="$RL/$u/run" CKT_POLICY= "$@"
}

# rx USER ARGS...: ckt-exec as USER on the fixture image.
rx() {
	local u=$1
	shift
	as "$u" ckt-exec -q --insecure-options=image "$@"
}

# host_uid USER NAME: the host uid of PID 1 of the running container NAME.
host_uid() {
	local pid
	pid=$(as "$1" ckt-ps --json | jq -r --arg n "$2" 'select(.name == $n) | .pid')
	awk '/^Uid:/ { print $2 }' "/proc/$pid/status"
}

# rootless_checks USER: the inside checks every rootless mode must pass.
rootless_checks() {
	local u=$1 img=localhost/oci:exec
	run -0 as "$u" ckt-fetch -q "oci:$RL/oci:exec"
	run -0 rx "$u" "$img" -- hostname
	[[ "$output" =~ ^ckt-[0-9a-f-]{36}$ ]]
	run -0 rx "$u" "$img" -- ps
	[ "$output" = "1 R init" ]
	run -0 rx "$u" "$img" -- fds 5</dev/null
	[ "$output" = "$(printf '0\n1\n2')" ]
	run -0 rx "$u" "$img" -- mounts
	[[ "$(grep ' / ' <<<"$output")" == "overlay / overlay "*"-rootless,"*userxattr* ]]
	run -0 rx "$u" "$img" -- cat /etc/hostname /etc/hosts
	run -1 rx "$u" "$img" -- ls /etc/resolv.conf
	run -0 rx "$u" "$img" -- id
	[[ "$output" == "uid=1000 gid=1000 "* ]]
	# The default seccomp filter applies rootless too.
	run -1 rx "$u" "$img" -- mempolicy
	run -0 rx "$u" --security-opt seccomp=unconfined "$img" -- mempolicy
	run -42 rx "$u" "$img" -- exit 42
	run -127 rx "$u" --entrypoint /nonexistent "$img"
	run -0 rx "$u" --net none "$img" -- net
	[ "$output" = lo ]
	run -0 rx "$u" -u root "$img" -- write /home/app/new
	# No cgroup can be made without privileges: a clear failure, never a
	# container running without its limit.
	run -125 --separate-stderr rx "$u" --memory 32m "$img" -- exit 0
	[[ "$stderr" == *"cgroup"* ]]
	# SIGTERM to ckt-exec reaches the container.
	as "$u" ckt-exec -q --insecure-options=image --name sig "$img" -- sigwait \
		>"$BATS_TEST_TMPDIR/out" &
	local pid=$! status=0
	for _ in $(seq 50); do grep -q ready "$BATS_TEST_TMPDIR/out" && break; sleep 0.1; done
	kill -TERM "$pid"
	wait "$pid" || status=$?
	[ "$status" -eq 143 ]
	# Nothing left behind: no upper directory, no state.
	[ -z "$(ls -A "$RL/$u/store/containers")" ]
	[ -z "$(ls -A "$RL/$u/run/ckt")" ]
}

@test "rootless with a subordinate range: inside checks, the image's user and groups" {
	rootless_checks "$RL_USER"
	run -0 rx "$RL_USER" localhost/oci:exec -- id
	[ "$output" = "uid=1000 gid=1000 groups=10" ] # supplementary groups work with a range
	# Container root is the user itself.
	as "$RL_USER" ckt-exec -q --insecure-options=image --name r -u root localhost/oci:exec \
		-- sleep 30 &
	local pid=$!
	for _ in $(seq 50); do as "$RL_USER" ckt-ps -q | grep -q '^r$' && break; sleep 0.1; done
	[ "$(host_uid "$RL_USER" r)" = "$(id -u "$RL_USER")" ]
	run -0 as "$RL_USER" ckt-stop -t 0 r
	wait "$pid" || true
}

@test "rootless without a range (nobody): a single mapping" {
	rootless_checks nobody
	as nobody ckt-exec -q --insecure-options=image --name one localhost/oci:exec -- sleep 30 &
	local pid=$!
	for _ in $(seq 50); do as nobody ckt-ps -q | grep -q '^one$' && break; sleep 0.1; done
	# The image's user 1000 is the caller, 65534, on the host.
	[ "$(host_uid nobody one)" = 65534 ]
	run -0 as nobody ckt-stop -t 0 one
	wait "$pid" || true
}
