# bench/lib.sh — helpers for row groups (sourced by bench/run.sh; bash).
# shellcheck shell=bash
#
# A row group is a file bench/groups/NN-NAME.sh defining group_NAME, which
# calls, once per row:
#
#   row NAME TARGET CKT_CMD PEER_CMD PREPARE_CMD
#       time CKT_CMD and PEER_CMD with hyperfine (PREPARE_CMD before every
#       run of either); TARGET is the largest acceptable ratio ckt/peer
#       ("1.0"), or "-" for none. An empty CKT_CMD or PEER_CMD is shown "n/a".
#   rss NAME CKT_CMD PEER_CMD PREPARE_CMD
#       peak resident set size of each command, one run each.
#
# Commands are shell strings (hyperfine runs them with sh -c). Build them with
#   ckt TOOL ARG...    quoted bin/ckt-TOOL command line, or "" if not built
#   peer TOOL ARG...   quoted peer command line, or "" if TOOL is missing
#   cmd ARG...         any quoted command line
# Variables for groups: CORPUS (the corpus layout), IMAGES (its tags),
# WORKDIR (scratch space, emptied between groups), RUNS, MAX_RUNS, QUICK.

# cmd ARG...: ARGs as one shell-quoted command line.
cmd() {
	local out
	printf -v out '%q ' "$@"
	printf '%s\n' "${out% }"
}

# warn_once KEY MESSAGE: log MESSAGE the first time KEY is seen in this run
# (a marker file, since ckt and peer run inside command substitutions).
warn_once() {
	local mark="$RESULTS/.warned-${1//\//_}"
	[[ -e "$mark" ]] && return
	: >"$mark"
	log "$2"
}

# ckt TOOL ARG...: the command line of bin/ckt-TOOL, if it is built.
ckt() {
	local bin="$CKT_BIN/ckt-$1"
	shift
	if [[ -x "$bin" ]]; then
		cmd "$bin" "$@"
	else
		warn_once "$bin" "$bin is not built: its ckt rows show n/a"
	fi
}

# peer TOOL ARG...: the command line of a peer tool, if it is installed.
peer() {
	if command -v "$1" >/dev/null; then
		cmd "$@"
	else
		warn_once "peer-$1" "peer '$1' is not installed: its rows show n/a"
	fi
}

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# bench_init RESULTS-DIR: start a results directory (rows.tsv, rss.tsv,
# hyperfine JSON and logs of failures).
bench_init() {
	RESULTS=$1
	mkdir -p "$RESULTS"
	: >"$RESULTS/rows.tsv"
	: >"$RESULTS/rss.tsv"
	ROW_SEQ=0
}

# time_one FILE-STEM CMD PREPARE: hyperfine CMD into FILE-STEM.json; prints
# the JSON path, "fail" (log in FILE-STEM.log) or "n/a".
time_one() {
	local stem=$1 command=$2 prepare=$3
	if [[ -z "$command" ]]; then
		printf 'n/a\n'
		return
	fi
	# At least RUNS runs; a command of a few milliseconds gets up to
	# MAX_RUNS within hyperfine's 3 s budget, since the median of five
	# runs of a 20 ms command moves by 10-20 % between bench runs.  A group
	# may raise RUNS above MAX_RUNS (exec: 100 runs of 3 ms commands).
	local max=$((MAX_RUNS > RUNS ? MAX_RUNS : RUNS))
	if hyperfine --style none --min-runs "$RUNS" --max-runs "$max" --warmup 1 \
		--prepare "$prepare" \
		--export-json "$stem.json" "$command" >"$stem.log" 2>&1; then
		printf '%s\n' "$stem.json"
		return
	fi
	# Show why: run it once more with its output kept.
	{
		printf '\n--- one run with output:\n'
		sh -c "$prepare" && sh -c "$command"
	} >>"$stem.log" 2>&1 || true
	log "failed: $command (see $stem.log)"
	printf 'fail\n'
}

row() {
	local name=$1 target=$2 ckt_cmd=$3 peer_cmd=$4 prepare=${5:-true}
	local stem a b
	ROW_SEQ=$((ROW_SEQ + 1))
	stem="$RESULTS/$(printf %02d "$ROW_SEQ")-${name//[^A-Za-z0-9._-]/_}"
	log "row: $name"
	a=$(time_one "$stem.ckt" "$ckt_cmd" "$prepare")
	b=$(time_one "$stem.peer" "$peer_cmd" "$prepare")
	printf '%s\t%s\t%s\t%s\n' "$name" "$target" "$a" "$b" >>"$RESULTS/rows.tsv"
}

# peak_rss_kib CMD: peak RSS in KiB of sh -c CMD and the children it
# waited for, or "fail".
peak_rss_kib() {
	local out="$RESULTS/.rss"
	if [[ -x /usr/bin/time ]]; then
		/usr/bin/time -f %M -o "$out" sh -c "$1" >/dev/null 2>&1 || {
			printf 'fail\n'
			return
		}
	else
		# No GNU time: wait4() reports the same peak (ru_maxrss, KiB).
		python3 -c '
import os, sys
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1); os.dup2(fd, 2)
    os.execvp("sh", ["sh", "-c", sys.argv[1]])
_, status, ru = os.wait4(pid, 0)
print(ru.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status) != 0)
' "$1" >"$out" || {
			printf 'fail\n'
			return
		}
	fi
	tail -n 1 "$out"
}

rss() {
	local name=$1 ckt_cmd=$2 peer_cmd=$3 prepare=${4:-true} a=n/a b=n/a
	log "rss: $name"
	if [[ -n "$ckt_cmd" ]]; then
		sh -c "$prepare"
		a=$(peak_rss_kib "$ckt_cmd")
	fi
	if [[ -n "$peer_cmd" ]]; then
		sh -c "$prepare"
		b=$(peak_rss_kib "$peer_cmd")
	fi
	printf '%s\t%s\t%s\n' "$name" "$a" "$b" >>"$RESULTS/rss.tsv"
}

# print_table: the results as text tables on stdout (also saved as
# table.txt), and summary.json for machines.
print_table() {
	python3 - "$RESULTS" <<-'EOF' | tee "$RESULTS/table.txt"
		import json, os, statistics, sys
		res = sys.argv[1]

		def median(cell):
		    if cell in ("n/a", "fail"):
		        return cell
		    with open(cell) as f:
		        r = json.load(f)["results"][0]
		    return r.get("median") or statistics.median(r["times"])

		def fmt_time(v):
		    if isinstance(v, str):
		        return v
		    return "%.1f ms" % (v * 1e3) if v < 1 else "%.2f s" % v

		def ratio(a, b):
		    if isinstance(a, str) or isinstance(b, str) or not b:
		        return None
		    return a / b

		def verdict(r, target):
		    try:
		        t = float(target)
		    except ValueError:
		        return "-"
		    return "-" if r is None else ("yes" if r <= t else "NO")

		def table(head, rows):
		    w = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
		    line = lambda r: "  ".join(
		        str(x).ljust(w[i]) if i == 0 else str(x).rjust(w[i])
		        for i, x in enumerate(r))
		    print(line(head))
		    print("  ".join("-" * n for n in w))
		    for r in rows:
		        print(line(r))

		summary = {"rows": [], "rss": []}
		rows = []
		with open(os.path.join(res, "rows.tsv")) as f:
		    for ln in f:
		        name, target, a, b = ln.rstrip("\n").split("\t")
		        ma, mb = median(a), median(b)
		        r = ratio(ma, mb)
		        rows.append([name, fmt_time(ma), fmt_time(mb),
		                     "n/a" if r is None else "%.2f" % r,
		                     target if target == "-" else "<= " + target,
		                     verdict(r, target)])
		        summary["rows"].append({"name": name, "ckt_median_s": ma,
		            "peer_median_s": mb, "ratio": r, "target": target})
		if rows:
		    table(["row", "ckt", "peer", "ckt/peer", "target", "met"], rows)

		rows = []
		with open(os.path.join(res, "rss.tsv")) as f:
		    for ln in f:
		        name, a, b = ln.rstrip("\n").split("\t")
		        num = lambda v: int(v) if v.isdigit() else v
		        a, b = num(a), num(b)
		        r = ratio(a, b)
		        mib = lambda v: v if isinstance(v, str) else "%.1f MiB" % (v / 1024)
		        rows.append([name, mib(a), mib(b), "n/a" if r is None else "%.2f" % r])
		        summary["rss"].append({"name": name, "ckt_kib": a, "peer_kib": b})
		if rows:
		    print()
		    table(["peak RSS", "ckt", "peer", "ckt/peer"], rows)

		with open(os.path.join(res, "summary.json"), "w") as f:
		    json.dump(summary, f, indent=1)
	EOF
}
