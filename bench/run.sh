#!/usr/bin/env bash
# bench/run.sh — `make bench`: run ckt and its peers side by side on the same
# inputs and print a table of medians and ratios. Run from anywhere; bin/
# must be built for the ckt column (rows show n/a for tools not built).
#
# Environment:
#   CKT_BENCH_DIR     corpus, scratch and results (default /var/tmp/ckt-bench)
#   CKT_BENCH_QUICK=1 smoke run: small corpus (tiny, 16 MiB big), 3 runs
#   CKT_BENCH_RUNS    least hyperfine runs per command (default 5, quick 3)
#   CKT_BENCH_MAX_RUNS  most, for commands fast enough (default 30, quick 3)
#   CKT_BENCH_GROUPS  space-separated row groups to run (default: all)
#   CKT_BIN           where the ckt tools are (default: <repo>/bin)
#
# Row groups live in bench/groups/NN-NAME.sh, each defining group_NAME (see
# bench/lib.sh for the helpers); they run in file-name order. Results of each
# run are kept in $CKT_BENCH_DIR/results/<UTC time>/ (results/latest).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${CKT_BENCH_DIR:=/var/tmp/ckt-bench}"
: "${CKT_BENCH_QUICK:=0}"
: "${CKT_BENCH_GROUPS:=}"
: "${CKT_BIN:=$REPO/bin}"
export CKT_BENCH_DIR CKT_BENCH_QUICK
export LC_ALL=C

# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

for tool in hyperfine python3; do
	command -v "$tool" >/dev/null || die "'$tool' is required"
done

if [[ "$CKT_BENCH_QUICK" == 1 ]]; then
	QUICK=1 IMAGES="tiny big" RUNS=${CKT_BENCH_RUNS:-3} MAX_RUNS=${CKT_BENCH_MAX_RUNS:-3}
else
	QUICK=0 IMAGES="tiny debian multi big" RUNS=${CKT_BENCH_RUNS:-5}
	MAX_RUNS=${CKT_BENCH_MAX_RUNS:-30}
fi
((MAX_RUNS >= RUNS)) || MAX_RUNS=$RUNS
CORPUS=$("$REPO/bench/corpus.sh")
WORKDIR="$CKT_BENCH_DIR/work"
export QUICK IMAGES RUNS MAX_RUNS CORPUS WORKDIR

stamp=$(date -u +%Y%m%dT%H%M%SZ)
bench_init "$CKT_BENCH_DIR/results/$stamp"
ln -sfn "$stamp" "$CKT_BENCH_DIR/results/latest"

# Run the selected groups, each on an empty scratch directory.
ran=0
for file in "$REPO"/bench/groups/[0-9]*.sh; do
	name=${file##*/}
	name=${name%.sh}
	name=${name#*-}
	if [[ -n "$CKT_BENCH_GROUPS" && " $CKT_BENCH_GROUPS " != *" $name "* ]]; then
		continue
	fi
	# shellcheck source=/dev/null
	. "$file"
	rm -rf "$WORKDIR"
	mkdir -p "$WORKDIR"
	"group_$name"
	ran=$((ran + 1))
done
rm -rf "$WORKDIR"
[[ $ran -gt 0 ]] || die "no row group matches CKT_BENCH_GROUPS='$CKT_BENCH_GROUPS'"

mode=full
[[ $QUICK == 1 ]] && mode=quick
printf '\nckt bench (%s): medians of %s to %s runs, warm page cache; corpus %s\n' \
	"$mode" "$RUNS" "$MAX_RUNS" "$CORPUS"
printf 'peers: %s; %s\n\n' "$(skopeo --version 2>/dev/null || echo 'no skopeo')" \
	"$(hyperfine --version)"
print_table
printf '\nresults: %s\n' "$RESULTS"
