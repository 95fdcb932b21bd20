#!/usr/bin/env bats
# ckt-exec runs an appc image (ACI) by its own manifest, as the appc
# executor spec says (APPC-NOTES §6): exec, user/group (names, numbers,
# /path owners), environment + AC_APP_NAME, workingDirectory (must exist),
# mountPoints as volumes, and the isolators resource/memory, resource/cpu,
# os/linux/capabilities-{retain,remove}-set, os/linux/no-new-privileges;
# unknown isolators are named on stderr.  The ACIs are the exec fixture
# image (static helper /init, tests/fixtures/init.c) converted with
# ckt-convert, their manifest rewritten here.

load lib

setup_file() {
	ckt_fixtures
	export CKT_STORE="$BATS_FILE_TMPDIR/store"
	local d="$BATS_FILE_TMPDIR/aci"
	mkdir -p "$d"
	"$CKT_TOP/bin/ckt-fetch" -q "oci:$FX/oci:exec" >/dev/null
	"$CKT_TOP/bin/ckt-convert" -q --to aci -o "$d/base.aci" localhost/oci:exec >/dev/null
	# mkaci VARIANT: $d/VARIANT.aci, named example.com/acitest/VARIANT:1.0.
	python3 - "$d" <<'EOF'
import copy, io, json, sys, tarfile
d = sys.argv[1]
src = tarfile.open(f"{d}/base.aci", "r:*")
base = json.load(src.extractfile("manifest"))
members = [(m, src.extractfile(m).read() if m.isfile() else None)
           for m in src.getmembers() if m.name != "manifest"]
app = {
    "exec": ["/init"],
    "user": "/owned", "group": "/home/app",
    "environment": [{"name": "MODE", "value": "aci"},
                    {"name": "PATH", "value": "/bin"}],
    "workingDirectory": "/home/app",
    "mountPoints": [{"name": "data", "path": "/data", "readOnly": True},
                    {"name": "scratch", "path": "/scratch", "readOnly": False}],
    "isolators": [
        {"name": "resource/memory", "value": {"limit": "32Mi"}},
        {"name": "resource/cpu", "value": {"request": "250m", "limit": "500m"}},
        {"name": "os/linux/capabilities-remove-set",
         "value": {"set": ["CAP_NET_RAW", "CAP_MKNOD"]}},
        {"name": "os/linux/no-new-privileges", "value": True},
        {"name": "example.com/frobnicate", "value": {"level": 11}},
    ],
}
variants = {
    "main": app,
    "byname": dict(app, user="app", group="root", supplementaryGIDs=[4000, 4001], isolators=[
        {"name": "os/linux/capabilities-retain-set",
         "value": {"set": ["CAP_CHOWN", "CAP_KILL"]}}]),
    "noworkdir": dict(app, workingDirectory="/no/such/dir", isolators=[]),
}
for v, a in variants.items():
    m = copy.deepcopy(base)
    m["name"] = f"example.com/acitest/{v}"
    m["labels"] = [{"name": "version", "value": "1.0"}] + \
        [l for l in m["labels"] if l["name"] != "version"]
    # No docker entrypoint/cmd: the command is app.exec.
    m["annotations"] = [x for x in m["annotations"]
                        if not x["name"].startswith("appc.io/docker/")]
    m["app"] = a
    with tarfile.open(f"{d}/{v}.aci", "w", format=tarfile.PAX_FORMAT) as t:
        data = json.dumps(m).encode()
        ti = tarfile.TarInfo("manifest")
        ti.size, ti.mode, ti.mtime = len(data), 0o644, 1700000000
        t.addfile(ti, io.BytesIO(data))
        for mi, content in members:
            t.addfile(mi, io.BytesIO(content) if content is not None else None)
        ti = tarfile.TarInfo("rootfs/owned")
        ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = tarfile.DIRTYPE, 0o755, 4321, 4322, 1700000000
        t.addfile(ti)
EOF
	for v in main byname noworkdir; do
		"$CKT_TOP/bin/ckt-fetch" -q "aci:$d/$v.aci" >/dev/null
	done
}

setup() {
	ckt_setup
	export CKT_STORE="$BATS_FILE_TMPDIR/store"
	export CKT_POLICY=
	ACI="$BATS_FILE_TMPDIR/aci"
	mkdir -p "$BATS_TEST_TMPDIR/vol"
	echo host-data >"$BATS_TEST_TMPDIR/vol/f"
	VOL="data,kind=host,source=$BATS_TEST_TMPDIR/vol"
}

teardown() {
	ckt-ps -q 2>/dev/null | xargs -r ckt-stop -t 1 >/dev/null 2>&1 || true
}

x() {
	exec ckt-exec -q --insecure-options=image "$@"
}

@test "appc: exec, environment with AC_APP_NAME and the defaults, workingDirectory" {
	run -0 x --volume "$VOL" example.com/acitest/main:1.0 -- env
	assert_output_contains "AC_APP_NAME=main"
	assert_output_contains "MODE=aci"
	assert_output_contains "PATH=/bin"
	assert_output_contains "container=ckt"
	run -0 x --volume "$VOL" example.com/acitest/main:1.0 -- pwd
	[ "$output" = /home/app ]
	# No arguments: app.exec alone (the helper's usage, status 2).
	run -2 x --volume "$VOL" example.com/acitest/main:1.0
	# The command line overrides the manifest as for OCI images.
	run -0 x --volume "$VOL" -e MODE=cli -e AC_APP_NAME=other -w / \
		example.com/acitest/main:1.0 -- env
	assert_output_contains "MODE=cli"
	assert_output_contains "AC_APP_NAME=other"
	run -0 x --volume "$VOL" -w /tmp example.com/acitest/main:1.0 -- pwd
	[ "$output" = /tmp ]
	# Run straight from the file too.
	run -0 x --volume "$VOL" "aci:$ACI/main.aci" -- env
	assert_output_contains "AC_APP_NAME=main"
}

@test "appc: user and group from a /path owner, by name, and --user overriding them" {
	# user /owned (4321:4322 in the rootfs), group /home/app (1000).
	run -0 x --volume "$VOL" example.com/acitest/main:1.0 -- id
	[ "$output" = "uid=4321 gid=1000 groups=" ]
	# user app, group root: names through the image's /etc/passwd and
	# /etc/group; the supplementary groups are the manifest's
	# supplementaryGIDs, and only those (no memberships from /etc/group).
	run -0 x --volume "$VOL" example.com/acitest/byname:1.0 -- id
	[ "$output" = "uid=1000 gid=0 groups=4000,4001" ]
	# They stay when --user replaces the manifest's user.
	run -0 x --volume "$VOL" -u 0:0 example.com/acitest/byname:1.0 -- id
	[ "$output" = "uid=0 gid=0 groups=4000,4001" ]
	run -0 x --volume "$VOL" -u 0:0 example.com/acitest/main:1.0 -- id
	[ "$output" = "uid=0 gid=0 groups=" ]
}

@test "appc: a missing workingDirectory is a clear error (125)" {
	run -125 --separate-stderr x --volume "$VOL" example.com/acitest/noworkdir:1.0 -- pwd
	[[ "$stderr" == *"workingDirectory '/no/such/dir' is not a directory in its rootfs"* ]]
	[ -z "$output" ]
	# --workdir replaces it: no check of the manifest's.
	run -0 x --volume "$VOL" -w / example.com/acitest/noworkdir:1.0 -- pwd
	[ "$output" = / ]
}

@test "appc: mountPoints — a host volume (readOnly honoured), an unmapped one is an empty tmpfs" {
	run -0 x -u 0 --volume "$VOL" example.com/acitest/main:1.0 -- cat /data/f
	[ "$output" = host-data ]
	# data is readOnly in the manifest: root cannot write it.
	run -1 --separate-stderr x -u 0 --volume "$VOL" example.com/acitest/main:1.0 -- write /data/g
	[[ "$stderr" == *"Read-only file system"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/vol/g" ]
	# The volume's readOnly=false wins over the mountPoint's (rkt).
	run -0 x -u 0 --volume "$VOL,readOnly=false" example.com/acitest/main:1.0 -- write /data/g
	[ -e "$BATS_TEST_TMPDIR/vol/g" ]
	# Unmapped: data and scratch get empty tmpfs volumes, scratch writable.
	run -0 x -u 0 example.com/acitest/main:1.0 -- ls /data
	[ -z "$output" ]
	run -0 x -u 0 example.com/acitest/main:1.0 -- mounts
	assert_output_contains "tmpfs /scratch tmpfs rw"
	assert_output_contains "tmpfs /data tmpfs ro"
	run -0 x -u 0 example.com/acitest/main:1.0 -- write /scratch/x
	# kind=empty names it explicitly; a name that is no mountPoint is a usage error.
	run -0 x -u 0 --volume scratch,kind=empty example.com/acitest/main:1.0 -- write /scratch/x
	run -2 --separate-stderr x --volume "nope,kind=host,source=$BATS_TEST_TMPDIR/vol" \
		example.com/acitest/main:1.0 -- env
	[[ "$stderr" == *"volume 'nope': the appc image has no mountPoint of that name"* ]]
	run -2 --separate-stderr x --volume "data,kind=host" example.com/acitest/main:1.0 -- env
	[[ "$stderr" == *"kind=host needs source=PATH"* ]]
	# Named volumes are for appc images only.
	run -2 --separate-stderr x --volume "$VOL" localhost/oci:exec -- env
	[[ "$stderr" == *"only an appc image has mountPoints"* ]]
}

@test "appc: isolators — memory limit kills (137), cpu limit in the cgroup, capabilities, no_new_privs" {
	run -137 x --volume "$VOL" example.com/acitest/main:1.0 -- alloc 128
	run -0 x --volume "$VOL" example.com/acitest/main:1.0 -- alloc 8
	[ "$output" = "allocated 8 MiB" ]
	# --memory overrides the isolator.
	run -0 x --memory 256M --volume "$VOL" example.com/acitest/main:1.0 -- alloc 64
	[ "$output" = "allocated 64 MiB" ]
	# remove-set CAP_NET_RAW CAP_MKNOD from the 14 defaults (0xa80425fb).
	run -0 x -u 0 --volume "$VOL" example.com/acitest/main:1.0 -- cat /proc/self/status
	assert_output_contains "CapBnd:	00000000a00405fb"
	assert_output_contains "CapEff:	00000000a00405fb"
	assert_output_contains "NoNewPrivs:	1"
	# retain-set CAP_CHOWN CAP_KILL; no no-new-privileges isolator.
	run -0 x -u 0 example.com/acitest/byname:1.0 -- cat /proc/self/status
	assert_output_contains "CapBnd:	0000000000000021"
	assert_output_contains "NoNewPrivs:	0"
	# cpu limit 500m: a quota of half a period.
	x --name aci-cpu --volume "$VOL" example.com/acitest/main:1.0 -- sigwait \
		>"$BATS_TEST_TMPDIR/out" &
	pid=$!
	for _ in $(seq 50); do grep -q ready "$BATS_TEST_TMPDIR/out" && break; sleep 0.1; done
	dirs=$(ckt-ps --json | jq -r 'select(.name == "aci-cpu") | .cgroups[]')
	cpu=$(while read -r d; do
		cat "$d/cpu.max" "$d/cpu.cfs_quota_us" 2>/dev/null || true
	done <<<"$dirs")
	mem=$(while read -r d; do
		cat "$d/memory.max" "$d/memory.limit_in_bytes" 2>/dev/null || true
	done <<<"$dirs")
	ckt-stop -t 1 aci-cpu
	wait "$pid" || true
	[ "$cpu" = 50000 ] || [ "$cpu" = "50000 100000" ]
	[ "$mem" = 33554432 ]
}

@test "appc: an unknown isolator is named on stderr and the container still runs" {
	run -0 --separate-stderr ckt-exec --insecure-options=image --volume "$VOL" \
		example.com/acitest/main:1.0 -- exit 0
	[[ "$stderr" == *"isolator example.com/frobnicate is not supported by ckt-exec; ignored"* ]]
	# Known isolators raise no warning.
	[[ "$stderr" != *"resource/memory"* && "$stderr" != *"no-new-privileges"* ]]
	run -0 --separate-stderr ckt-exec --insecure-options=image example.com/acitest/byname:1.0 -- exit 0
	[[ "$stderr" != *isolator* ]]
}

@test "appc rootless: a /path owner comes from the rootless snapshot's recorded owner" {
	[ "$(id -u)" -eq 0 ] || skip "switches to nobody: needs root"
	# Outside bats' private temporary directory, which nobody cannot enter.
	rl=$(mktemp -d "${TMPDIR:-/tmp}/ckt-aci-rootless.XXXXXX")
	mkdir -p "$rl/bin" "$rl/h/run"
	cp "$CKT_TOP"/bin/ckt-exec "$CKT_TOP"/bin/ckt-exec-prepare "$CKT_TOP"/bin/ckt-fetch "$rl/bin/"
	cp "$ACI/noworkdir.aci" "$rl/"
	chmod -R a+rX "$rl"
	chown -R nobody "$rl/h"
	chmod 700 "$rl/h/run"
	nb() {
		setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
			env -i PATH="$rl/bin:/usr/bin:/bin" HOME="$rl/h" CKT_STORE="$rl/h/store" \
			XDG_RUNTIME_DIR="$rl/h/run" CKT_POLICY= \
			ckt-exec -q --insecure-options=image "$@"
	}
	# The snapshot's files belong to nobody; /owned records 4321:4322.
	run -0 nb -w / "aci:$rl/noworkdir.aci" -- id
	out=$output
	run -125 --separate-stderr nb "aci:$rl/noworkdir.aci" -- id
	err=$stderr
	rm -rf "$rl"
	[ "$out" = "uid=4321 gid=1000 groups=" ]
	[[ "$err" == *"workingDirectory '/no/such/dir' is not a directory"* ]]
}
