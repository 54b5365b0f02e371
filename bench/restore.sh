#!/bin/bash
# bench/restore.sh - full restore time of `ocb restore --target` beside
# `restic restore --target` (Debian's restic) on the same trees, backed up
# by each tool to the same RGW, read directly (0 ms) and through
# tests/gateproxy.py adding RTT_MS (30) per round trip and capping every
# connection at RATE (40) MB/s.  Two sets: the agent-like tree
# (gentree.py --scale SCALE, ~20,000 small files, a database and a
# binary) and a many-file tree (gentree.py --entries ENTRIES) with a
# BIG_MIB MiB file beside it.  Each restore is compared with its source
# (diff -r); through the proxy, the GETs and requests in flight (mean,
# peak) are counted.  Table on stdout, raw numbers in
# bench/results/restore.tsv (TAG=name: restore-name.tsv).  OCB_BEFORE=path
# also measures another ocb binary (a build from before a change) on the
# same backup, each run beside the others: the machine's load changes.
source "$(dirname "$0")/lib.sh"
TOOLS="ocb restic${OCB_BEFORE:+ ocb-before}"
SCALE=${SCALE:-200}
ENTRIES=${ENTRIES:-100000}
BIG_MIB=${BIG_MIB:-512}
RTT_MS=${RTT_MS:-30}
RATE=${RATE:-40}
B=bench-restore-$$
awsc s3api create-bucket --bucket "$B" >/dev/null
"$OCB" key generate "$BENCH_TMP/key" >/dev/null
export RESTIC_PASSWORD=bench
PROXY_PID=
trap 'set +e; [ -n "$PROXY_PID" ] && kill "$PROXY_PID"; bench_cleanup' EXIT

proxy_up() {	# delay_ms rate_MBps; sets PEP
	rm -f "$BENCH_TMP/port"
	python3 "$TOP/tests/gateproxy.py" "$ENDPOINT" --delay-ms "$1" --rate-mbps "$2" \
		--port-file "$BENCH_TMP/port" --stats-file "$BENCH_TMP/stats" &
	PROXY_PID=$!
	for _ in $(seq 1 100); do [ -f "$BENCH_TMP/port" ] && break; sleep 0.05; done
	PEP=http://127.0.0.1:$(cat "$BENCH_TMP/port")
}
proxy_down() { kill "$PROXY_PID"; wait "$PROXY_PID" || true; PROXY_PID=; }
proxy_zero() { kill -USR2 "$PROXY_PID"; sleep 0.1; }
proxy_stats() {	# since the last proxy_zero: "GETs mean peak" requests in flight
	rm -f "$BENCH_TMP/stats"
	kill -USR1 "$PROXY_PID"
	for _ in $(seq 1 100); do [ -s "$BENCH_TMP/stats" ] && break; sleep 0.02; done
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["gets"], d["inflight_mean"], d["inflight_peak"])' "$BENCH_TMP/stats"
}

# "seconds peak_rss_KiB" of "$@"
run() {
	/usr/bin/time -o "$BENCH_TMP/time" -f "%e %M" "$@" >/dev/null 2>"$BENCH_TMP/err"
	tail -1 "$BENCH_TMP/time"
}

one_set() {	# name dir
	local name=$1 dir=$2 bytes files ep label t rss
	bytes=$(du -sb "$dir" | cut -f1)
	files=$(find "$dir" | wc -l)
	bench_config "$B" "$BENCH_TMP/$name.json" "\"instanceId\": \"$name\", \"sources\": [\"$dir\"], \"excludes\": [], \"encryption\": {\"keyProvider\": \"keyfile\", \"keyFile\": \"$BENCH_TMP/key\"}"
	"$OCB" --config "$BENCH_TMP/$name.json" backup >/dev/null
	restic -q -r "s3:$ENDPOINT/$B/restic-$name" init >/dev/null
	restic -q -r "s3:$ENDPOINT/$B/restic-$name" backup "$dir" >/dev/null
	for shape in "0 0" "$RTT_MS $RATE"; do
		read -r d r <<< "$shape"
		if [ "$d" = 0 ]; then ep=$ENDPOINT; label=0ms; else
			proxy_up "$d" "$r"; ep=$PEP; label="${d}ms_${r}MBps"; fi
		sed "s|\"endpoint\": \"$ENDPOINT\"|\"endpoint\": \"$ep\"|" "$BENCH_TMP/$name.json" > "$BENCH_TMP/cfg.json"
		chmod 600 "$BENCH_TMP/cfg.json"
		for tool in $TOOLS; do
			# a new directory per run, all deleted at the end: on
			# ext4 without a journal, files created within minutes
			# of a large deletion pay for scanning the freed inodes,
			# which would charge one run for the one before it
			out=$BENCH_TMP/out-$name-$label-$tool; sync
			[ "$d" = 0 ] || proxy_zero
			if [ $tool != restic ]; then
				bin=$OCB; [ $tool = ocb ] || bin=$OCB_BEFORE
				read -r t rss <<< "$(run "$bin" --config "$BENCH_TMP/cfg.json" restore latest --target "$out")"
				got=$out/$(basename "$dir")
			else
				read -r t rss <<< "$(run restic -r "s3:$ep/$B/restic-$name" restore latest --target "$out")"
				got=$out$dir
			fi
			same_tree "$dir" "$got" || { echo "$tool restore of $name differs" >&2; cat "$BENCH_TMP/err" >&2; exit 1; }
			inflight="- - -"; [ "$d" = 0 ] || inflight=$(proxy_stats)
			read -r gets mean peak <<< "$inflight"
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$label" "$tool" "$files" "$bytes" "$t" "$(mbps "$bytes" "$t")" "$rss" "$gets" "$mean" "$peak"
		done
		[ "$d" = 0 ] || proxy_down
	done
}

python3 "$TOP/bench/gentree.py" "$BENCH_TMP/agent" --scale "$SCALE" >/dev/null
python3 "$TOP/bench/gentree.py" "$BENCH_TMP/many" --entries "$ENTRIES" >/dev/null
python3 - "$BENCH_TMP/many/big.bin" "$BIG_MIB" <<'PY'
import os, sys
with open(sys.argv[1], "wb") as f:
    for i in range(int(sys.argv[2])):
        f.write(os.urandom(1 << 19) + (b"restore bench " * 37450)[:1 << 19])
PY
{
	printf 'set\tnetwork\ttool\tentries\tbytes\tseconds\tMB/s\tpeak_rss_KiB\tGETs\tin_flight_mean\tin_flight_peak\n'
	one_set agent "$BENCH_TMP/agent"
	one_set many "$BENCH_TMP/many"
} | tee "$RESULTS/restore${TAG:+-$TAG}.tsv" | column -t -s $'\t'
