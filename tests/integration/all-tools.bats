#!/usr/bin/env bats
# The contract every tool shares (DESIGN.md, STYLE.md "Tests"): --help on
# stdout with exit 0, --version, unknown options exit 2 with "error:", and
# `ckt NAME` dispatches to ckt-NAME.  Tools are discovered from bin/, so a
# new tool is covered as soon as it is built.

load lib

setup() {
	ckt_setup
	TOOLS=()
	local t
	for t in "$CKT_TOP"/bin/ckt "$CKT_TOP"/bin/ckt-*; do
		[ -x "$t" ] && [ -f "$t" ] && TOOLS+=("${t##*/}")
	done
}

# fail_for TOOL MESSAGE: report which tool broke the contract.
fail_for() {
	printf '%s: %s\nstatus: %s\nstdout: %s\nstderr: %s\n' "$1" "$2" "$status" "$output" \
		"$stderr" >&2
	return 1
}

@test "every tool source is built into bin/" {
	[ "${#TOOLS[@]}" -ge 3 ]
	local src t
	for src in "$CKT_TOP"/tools/ckt*.c; do
		t=$(basename "$src" .c)
		[ -x "$CKT_TOP/bin/$t" ] || fail_for "$t" "tools/$t.c is not built into bin/"
	done
}

@test "every tool has a man page (STYLE.md: man/TOOL.1.scd)" {
	local t missing=()
	for t in "${TOOLS[@]}"; do
		[ -f "$CKT_TOP/man/$t.1.scd" ] || missing+=("$t")
	done
	[ "${#missing[@]}" -eq 0 ] || fail_for "${missing[*]}" "no man/TOOL.1.scd"
}

@test "--help and -h: usage on stdout, nothing on stderr, exit 0" {
	local t opt
	for t in "${TOOLS[@]}"; do
		for opt in --help -h; do
			run --separate-stderr "$t" "$opt"
			[ "$status" -eq 0 ] || fail_for "$t" "$opt exits $status"
			[[ "$output" == Usage:* ]] || fail_for "$t" "$opt does not start with Usage:"
			[[ "$output" == *"$t"* ]] || fail_for "$t" "$opt does not name the tool"
			[ -z "$stderr" ] || fail_for "$t" "$opt writes to stderr"
		done
	done
}

@test "--version prints the tool and its version" {
	local t
	for t in "${TOOLS[@]}"; do
		run --separate-stderr "$t" --version
		[ "$status" -eq 0 ] || fail_for "$t" "--version exits $status"
		[[ "$output" =~ ^$t\ [0-9]+\.[0-9]+\.[0-9]+ ]] || fail_for "$t" "--version prints '$output'"
		[ "${#lines[@]}" -eq 1 ] || fail_for "$t" "--version prints more than one line"
		[ -z "$stderr" ] || fail_for "$t" "--version writes to stderr"
	done
}

@test "an unknown option exits 2 with an error on stderr and nothing on stdout" {
	local t opt
	for t in "${TOOLS[@]}"; do
		for opt in --no-such-option -Z; do
			run --separate-stderr "$t" "$opt"
			[ "$status" -eq 2 ] || fail_for "$t" "$opt exits $status"
			[[ "$stderr" == "$t: error: "* ]] || fail_for "$t" "$opt: no '$t: error:' on stderr"
			[[ "$stderr" == *"$opt"* ]] || fail_for "$t" "$opt: the error does not name it"
			[ -z "$output" ] || fail_for "$t" "$opt writes to stdout"
		done
	done
}

@test "--help into a full stdout is a write error, exit 1" {
	[ -w /dev/full ] || skip "no /dev/full"
	local t
	for t in "${TOOLS[@]}"; do
		run --separate-stderr bash -c '"$0" --help >/dev/full' "$t"
		[ "$status" -eq 1 ] || fail_for "$t" "--help >/dev/full exits $status"
		[[ "$stderr" == *"$t: error: write to stdout"* ]] || fail_for "$t" "no write error"
	done
}

@test "ckt NAME dispatches to ckt-NAME" {
	local t
	for t in "${TOOLS[@]}"; do
		[ "$t" = ckt ] && continue
		run -0 --separate-stderr "$t" --help
		want=$output
		run --separate-stderr ckt "${t#ckt-}" --help
		[ "$status" -eq 0 ] || fail_for "$t" "ckt ${t#ckt-} --help exits $status"
		[ "$output" = "$want" ] || fail_for "$t" "ckt ${t#ckt-} --help differs"
	done
	# arguments and the exit status pass through
	run -2 --separate-stderr ckt fetch --no-such-option
	[[ "$stderr" == "ckt-fetch: error: unknown option '--no-such-option'"* ]]
	run -0 ckt image list
	[ -z "$output" ]
	# found beside ckt even when not on PATH
	run -0 env PATH=/usr/bin:/bin "$CKT_TOP/bin/ckt" fetch --version
	[[ "$output" == "ckt-fetch "* ]]
}

@test "ckt: unknown commands and missing commands" {
	run -1 --separate-stderr ckt no-such-command
	[[ "$stderr" == "ckt: error: 'no-such-command' is not a ckt command"* ]]
	run -2 --separate-stderr ckt
	[[ "$stderr" == "ckt: error: no command given"* ]]
	run -2 ckt ../../bin/sh
}
