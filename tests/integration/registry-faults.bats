#!/usr/bin/env bats
# ckt-fetch through a fault-injecting proxy (tests/fixtures/registry/
# fault-proxy.py) in front of the token-auth registry: cut connections
# resume with Range (in the same run and the next), corrupt data is refused
# with the store unchanged, 500 and 429 are retried, and redirects to a
# blob host do not carry the registry's Authorization; http_proxy and
# no_proxy are honoured (the same script is a forward proxy too).

load lib
load ../fixtures/registry/registry

setup_file() {
	ckt_fixtures
	reg_start_all
	reg_push_fixtures
	PROXY=127.0.0.1:$(ckt_port 5)
	PLOG="$RD/proxy.log"
	"$PYTHON" "$REGFX/fault-proxy.py" --port "$(ckt_port 5)" --redirect-port "$(ckt_port 6)" \
		--upstream "http://$TOKEN" --log "$PLOG" >/dev/null 2>&1 3>&- &
	echo $! >"$RD/proxy.pid"
	wait_port "$(ckt_port 5)"
	export PROXY PLOG
}

teardown_file() {
	reg_stop_all
}

setup() {
	ckt_setup
	: >"$PLOG"
	fault off 0
}

fault() { curl -sf "http://$PROXY/__fault?mode=$1&count=$2" >/dev/null; }
# Log lines (JSON) of blob requests that carried data of the big layer.
blob_log() { grep '/blobs/sha256' "$PLOG" | grep '"GET"' || true; }

fetch() { ckt-fetch --creds tok:tokpass "$@"; }

@test "a blob cut in the middle is resumed with Range in the same run" {
	fault cut 1
	run -0 fetch --json "$PROXY/fx/tiny:1"
	[ "$(jq .blobs_fetched <<<"$output")" = 3 ]
	grep -q '"fault": "cut"' "$PLOG"
	grep '"range": "bytes=' "$PLOG" | grep -q '/blobs/'
	run -0 ckt-image fsck
	[ -z "$(ls "$CKT_STORE/tmp")" ]
}

@test "an interrupted fetch leaves a partial that the next ckt-fetch resumes" {
	fault cut 0
	run -1 fetch "$PROXY/fx/tiny:1"
	ls "$CKT_STORE"/tmp/sha256-*.partial
	size=$(stat -c %s "$CKT_STORE"/tmp/sha256-*.partial)
	[ "$size" -gt 0 ]
	fault off 0
	: >"$PLOG"
	run -0 fetch "$PROXY/fx/tiny:1"
	grep -q "\"range\": \"bytes=$size-\"" "$PLOG"
	run -0 ckt-image fsck
	[ -z "$(ls "$CKT_STORE/tmp")" ]
}

@test "a flipped byte is refused (exit 3) and the store is unchanged" {
	ckt-image list >/dev/null
	before=$(store_state)
	fault flip 0
	run -3 fetch "$PROXY/fx/tiny:1"
	assert_output_contains "does not match"
	[ "$(store_state)" = "$before" ]
}

@test "a manifest that does not match Docker-Content-Digest is refused" {
	fault manifest 1
	run -3 fetch "$PROXY/fx/tiny:1"
	assert_output_contains "manifest"
	[ ! -e "$CKT_STORE/index.json" ] || [ "$(jq '.manifests | length' "$CKT_STORE/index.json")" = 0 ]
}

@test "a docker schema1 manifest is refused with a clear error, the store unchanged" {
	ckt-image list >/dev/null
	before=$(store_state)
	fault schema1 1
	run -1 fetch "$PROXY/fx/tiny:1"
	grep -q '"fault": "schema1"' "$PLOG"
	assert_output_contains "schema1"
	[ "$(store_state)" = "$before" ]
}

@test "500 answers are retried with backoff" {
	fault 500 2
	run -0 fetch "$PROXY/fx/tiny:1"
	[ "$(grep -c '"fault": "500"' "$PLOG")" = 2 ]
	fault 500 0
	CKT_STORE="$BATS_TEST_TMPDIR/s2" run -1 fetch "$PROXY/fx/multi:1"
	assert_output_contains "HTTP 500"
}

@test "429 is retried after Retry-After" {
	fault 429 1
	start=$(date +%s%N)
	run -0 fetch "$PROXY/fx/tiny:1"
	end=$(date +%s%N)
	grep -q '"fault": "429"' "$PLOG"
	[ $(((end - start) / 1000000)) -ge 1000 ]
}

@test "a redirect to a blob host is followed without the registry's Authorization" {
	fault redirect 0
	run -0 fetch "$PROXY/fx/tiny:1"
	grep '"listener": "main"' "$PLOG" | grep '/blobs/' | grep -q '"auth": true'
	grep -q '"listener": "redirect"' "$PLOG"
	if grep '"listener": "redirect"' "$PLOG" | grep -q '"auth": true'; then
		echo "Authorization was sent to the redirect target" >&2
		return 1
	fi
	run -0 ckt-image fsck
}

@test "http_proxy carries every request, token service included; no_proxy bypasses it" {
	http_proxy="http://$PROXY" HTTP_PROXY= no_proxy= NO_PROXY= run -0 fetch "$TOKEN/fx/tiny:1"
	# the registry (manifest, blobs) and its token server, both through the proxy
	grep '"proxied": "'"$TOKEN"'"' "$PLOG" | grep -q '/manifests/'
	grep '"proxied": "'"$TOKEN"'"' "$PLOG" | grep -q '/blobs/sha256'
	grep '"proxied": "127.0.0.1:'"$(ckt_port 2)"'"' "$PLOG" | grep -q '/token'
	run -0 ckt-image fsck
	# the proxy's faults reach ckt like any answer: a flipped blob is refused
	ckt-image rm "$TOKEN/fx/tiny:1" >/dev/null
	ckt-image gc >/dev/null
	fault flip 1
	http_proxy="http://$PROXY" no_proxy= NO_PROXY= run -3 fetch "$TOKEN/fx/tiny:1"
	assert_output_contains "does not match"
	# no_proxy: straight to the registry, nothing more in the proxy's log
	fault off 0
	: >"$PLOG"
	http_proxy="http://$PROXY" no_proxy=127.0.0.1 run -0 fetch "$TOKEN/fx/tiny:1"
	[ ! -s "$PLOG" ]
}
