#!/bin/bash
# bench/backup_local.sh [SCALE_MB] [BIG_MIB] [ROUNDS] [OTHER_OCB] - wall time
# and peak RSS of `ocb backup` of an agent-like tree (~SCALE_MB MB of small
# files plus one BIG_MIB MiB file) into a local store (file:///), best and
# worst of ROUNDS, page cache warm; with OTHER_OCB (an ocb binary of
# another build) the same for it, rounds interleaved, to compare two
# versions on a loaded machine.  Raw rounds in bench/results/backup-local.tsv.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
SCALE=${1:-250}
BIG=${2:-64}
ROUNDS=${3:-3}
OTHER=${4:-}
BUILD=${OCB_BENCH_BUILD:-build}
ninja -C "$TOP/$BUILD" >/dev/null
OCB=$TOP/$BUILD/tools/ocb
T=$(mktemp -d /var/tmp/ocb-bench-XXXXXX)
trap 'rm -rf "$T"' EXIT
python3 "$TOP/bench/gentree.py" "$T/agent" --scale "$SCALE" --big-file "$BIG" >/dev/null
"$OCB" key generate "$T/key" >/dev/null
bytes=$(du -sb "$T/agent" | cut -f1)
run() {	# label binary round
	local cfg=$T/c-$1.json out
	rm -rf "$T/store-$1"; mkdir -p "$T/store-$1"
	printf '{"instanceId": "bench", "store": "file://%s", "sources": ["%s"], "cache": {"dir": "%s"}, "encryption": {"keyProvider": "keyfile", "keyFile": "%s"}}\n' \
		"$T/store-$1" "$T/agent" "$T/cache-$1" "$T/key" >"$cfg"
	sync
	out=$( { /usr/bin/time -f "%e %M" "$2" --config "$cfg" backup >/dev/null; } 2>&1 | tail -1)
	printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$3" "$bytes" "${out% *}" "${out#* }"
}
{
	printf 'build\tround\tbytes\tseconds\tpeak_rss_KiB\n'
	for i in $(seq "$ROUNDS"); do
		run this "$OCB" "$i"
		[ -z "$OTHER" ] || run other "$OTHER" "$i"
	done
} | tee "$TOP/bench/results/backup-local.tsv"
