#!/bin/bash
# bench/distance.sh [BIG_MIB] - the read path at network distance: the
# same backup read through a proxy (tests/gateproxy.py) that adds nothing
# (0 ms) and then one that adds 30 ms per round trip (each new connection
# and each request) and caps every connection at 40 MB/s, as a single S3
# connection from a nearby instance is limited.  For each: cold sequential
# read of a BIG_MIB file through the mount, with and without the disk
# cache (file MB/s, network MB/s, GETs, requests in flight: mean and peak),
# raw curl GET of the same object (and as 8 range GETs at once: the
# ceiling of this machine and proxy), first byte of a small file from a fresh
# mount (time, round trips, GETs, bytes fetched), daemon peak RSS, and
# eight sequential readers at once (throughput, peak RSS).  The bench
# fails when the daemon's peak RSS passes ram_cache + 64 MiB.  Table
# on stdout, raw numbers in bench/results/distance.tsv (TAG=name: distance-name.tsv).
# ENTRIES=N: the tree is gentree.py --entries N (N small files, e.g. 30000)
# plus the big file; FIRST_BYTE_ONLY=1: only the first-byte rows.
source "$(dirname "$0")/lib.sh"
BIG=${1:-300}
RTT_MS=${RTT_MS:-30}
RATE=${RATE:-40}
B=bench-distance-$$
awsc s3api create-bucket --bucket "$B" >/dev/null
"$OCB" key generate "$BENCH_TMP/key" >/dev/null
KEYCFG="\"encryption\": {\"keyProvider\": \"keyfile\", \"keyFile\": \"$BENCH_TMP/key\"}"
mkdir -p "$BENCH_TMP/src"
if [ -n "${ENTRIES:-}" ]; then
	python3 "$TOP/bench/gentree.py" "$BENCH_TMP/src" --entries "$ENTRIES" >/dev/null
	python3 "$TOP/bench/gentree.py" "$BENCH_TMP/big" --scale 0 --big-file "$BIG" >/dev/null
	mv "$BENCH_TMP/big/big.bin" "$BENCH_TMP/src/"
	rm -rf "$BENCH_TMP/big"
else
	python3 "$TOP/bench/gentree.py" "$BENCH_TMP/src" --scale 5 --big-file "$BIG" >/dev/null
fi
SMALL=$(cd "$BENCH_TMP/src" && find . -type f -size -16k | sort | sed -n 1p)	# (head would end sort with SIGPIPE: pipefail)
bench_config "$B" "$BENCH_TMP/direct.json" "\"instanceId\": \"far\", \"sources\": [\"$BENCH_TMP/src\"], $KEYCFG"
"$OCB" --config "$BENCH_TMP/direct.json" backup >/dev/null
key=$("$OCB" --config "$BENCH_TMP/direct.json" list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["key"])')
F=far/latest/src/big.bin
S=far/latest/src/${SMALL#./}
MNT=$BENCH_TMP/mnt
mkdir -p "$MNT"

mount_fs() {	# extra config JSON
	bench_config "$B" "$BENCH_TMP/m.json" "\"instanceId\": \"far\", \"sources\": [\"$BENCH_TMP/src\"], $KEYCFG, $1"
	sed -i "s|\"endpoint\": \"$ENDPOINT\"|\"endpoint\": \"$PEP\"|" "$BENCH_TMP/m.json"
	"$OCBFS" -f -o config="$BENCH_TMP/m.json" "$MNT" 2>>"$BENCH_TMP/ocbfs.log" &
	FSPID=$!
	for _ in $(seq 1 200); do mountpoint -q "$MNT" && return; sleep 0.05; done
	echo "mount failed" >&2; exit 1
}
# the frame cache's view of the read just made: frames the reader found
# ready (hit) or had to wait for (waits: read-ahead too late), the link it
# measured and the read-ahead request size it chose
cache_stats() {
	awk '{ v[$1] = $2 } END { printf "reader: %d hits, %d misses, %d waits; link: rtt %.1f ms, %.1f MB/s per connection, read-ahead %d frames per request", v["cache_frame_hits"], v["cache_frame_misses"], v["cache_waits"], v["cache_link_rtt_us"] / 1000, v["cache_link_bytes_per_s"] / 1e6, v["cache_readahead_run_frames"] }' "$MNT/.ocbfs/stats"
}
umount_fs() { fusermount3 -u "$MNT"; wait "$FSPID"; }
hwm() { awk '/VmHWM/ { print $2 }' "/proc/$FSPID/status"; }
# the daemon's peak RSS must stay within ram_cache (256 MiB) + 64 MiB
# during any read pattern, read-ahead included: the bench fails otherwise
RSS_BOUND_KIB=$(( (256 + 64) * 1024 ))
rss_check() {	# what
	local k
	k=$(hwm)
	if [ "$k" -gt "$RSS_BOUND_KIB" ]; then
		echo "peak RSS $k KiB during $1 exceeds ram_cache + 64 MiB ($RSS_BOUND_KIB KiB)" >&2
		exit 1
	fi
}
trap 'set +e; [ -n "$PROXY_PID" ] && kill "$PROXY_PID"; mountpoint -q "$MNT" && fusermount3 -u "$MNT"; bench_cleanup' EXIT

size=$(stat -c %s "$BENCH_TMP/src/big.bin")
ssize=$(stat -c %s "$BENCH_TMP/src/$SMALL")
osize=$(awsc s3api head-object --bucket "$B" --key "$key" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ContentLength"])')
sync

shape() {	# label delay_ms rate
	local label=$1 d=$2 r=$3 t t0 st bytes gets mean peak cache cst
	proxy_up "$d" "$r"
	[ -n "${FIRST_BYTE_ONLY:-}" ] || shape_stream "$label" "$d"
	first_byte "$label" "$d"
	[ -n "${FIRST_BYTE_ONLY:-}" ] || shape_reads "$label" "$d"
	proxy_down
}

curl_ranges() {	# n: the object as n range GETs at once
	local n=$1 i chunk pids=()
	chunk=$(( (osize + n - 1) / n ))
	for ((i = 0; i < n; i++)); do
		curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
			-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
			-r "$((i * chunk))-$(((i + 1) * chunk - 1))" -o /dev/null "$PEP/$B/$key" &
		pids+=($!)
	done
	wait "${pids[@]}"	# (not the proxy, also a child)
}

shape_stream() {	# label delay_ms
	local label=$1 t t0 st bytes gets mean peak
	# raw object, one connection
	proxy_zero
	t=$(timeit curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
		-o /dev/null "$PEP/$B/$key")
	printf 'curl_raw_object_%s\t%s\tMB/s\t%s bytes stored, %.2f s, one GET\n' "$label" "$(mbps "$osize" "$t")" "$osize" "$t"
	# the same object as 8 range GETs at once, one connection each: what
	# this machine, this proxy and the server can carry, the ceiling of
	# every read below
	t=$(timeit curl_ranges 8)
	printf 'curl_8_ranges_%s\t%s\tMB/s\t%s bytes stored, %.2f s, 8 range GETs in parallel\n' "$label" "$(mbps "$osize" "$t")" "$osize" "$t"

	# ocb cat of the whole backup (the pipeline restore and verify use):
	# stream MB/s, network MB/s, requests in flight
	bench_config "$B" "$BENCH_TMP/c.json" "\"instanceId\": \"far\", \"sources\": [\"$BENCH_TMP/src\"], $KEYCFG, \"cache\": {\"dir\": \"\"}"
	sed -i "s|\"endpoint\": \"$ENDPOINT\"|\"endpoint\": \"$PEP\"|" "$BENCH_TMP/c.json"
	proxy_zero
	t0=$(date +%s.%N)
	st=$("$OCB" --config "$BENCH_TMP/c.json" cat latest | wc -c)
	t=$(echo "$(date +%s.%N) - $t0" | bc -l)
	read -r bytes gets mean peak <<< "$(proxy_stats)"
	printf 'ocb_cat_%s\t%s\tMB/s\t%s-byte tar stream in %.2f s; network %s MB/s, %s GETs, in flight mean %s peak %s\n' \
		"$label" "$(mbps "$st" "$t")" "$st" "$t" "$(mbps "$bytes" "$t")" "$gets" "$mean" "$peak"

}

# first byte of a small file from a fresh mount (listing included)
# (the requests the mount makes on start count: zeroed before it)
first_byte() {	# label delay_ms
	local label=$1 d=$2 t bytes gets mean peak cache
	for cache in disk nodisk; do
		proxy_zero
		if [ $cache = disk ]; then
			mount_fs "\"cache\": {\"dir\": \"$BENCH_TMP/cache-$label-fb\"}"
		else
			mount_fs "\"cache\": {\"dir\": \"\"}"
		fi
		t=$(timeit head -c 1 "$MNT/$S")
		read -r bytes gets mean peak <<< "$(proxy_stats)"
		printf 'first_byte_small_%s_%s\t%.1f\tms\t%s-byte file, head -c 1 on a fresh mount; from the mount on: %s GETs, %s bytes fetched%s\n' "$cache" "$label" \
			"$(echo "$t * 1000" | bc -l)" "$ssize" "$gets" "$bytes" \
			"$( [ "$d" != 0 ] && printf '; the read took %.1f round trips of %s ms' "$(echo "$t * 1000 / $d" | bc -l)" "$d")"
		umount_fs
	done
}

shape_reads() {	# label delay_ms
	local label=$1 d=$2 t bytes gets mean peak cache cst
	# cold sequential read, disk cache on and off, ram cache 256 MiB
	for cache in disk nodisk; do
		if [ $cache = disk ]; then
			mount_fs "\"cache\": {\"dir\": \"$BENCH_TMP/cache-$label\", \"ram\": \"256M\"}"
		else
			mount_fs "\"cache\": {\"dir\": \"\", \"ram\": \"256M\"}"
		fi
		stat "$MNT/$F" >/dev/null
		proxy_zero
		# PERF_OUT=file: a CPU profile of the daemon during the cold
		# read without the disk cache at distance (perf report -i file)
		local perf_pid=
		if [ -n "${PERF_OUT:-}" ] && [ $cache = nodisk ] && [ "$d" != 0 ]; then
			perf record -q -F 999 -g -p "$FSPID" -o "$PERF_OUT" >/dev/null 2>&1 &
			perf_pid=$!
			sleep 0.5
		fi
		t=$(timeit dd if="$MNT/$F" of=/dev/null bs=1M)
		[ -n "$perf_pid" ] && { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
		read -r bytes gets mean peak <<< "$(proxy_stats)"
		cst=$(cache_stats)
		cmp -s "$MNT/$F" "$BENCH_TMP/src/big.bin" || { echo "big.bin differs" >&2; exit 1; }
		printf 'seq_read_cold_%s_%s\t%s\tMB/s\t%s MiB file in %.2f s; network %s MB/s, %s GETs, in flight mean %s peak %s; %s; peak RSS %s KiB (ram_cache 256 MiB)\n' \
			"$cache" "$label" "$(mbps "$size" "$t")" "$((size >> 20))" "$t" "$(mbps "$bytes" "$t")" "$gets" "$mean" "$peak" "$cst" "$(hwm)"
		rss_check "seq_read_cold_${cache}_$label"
		umount_fs
	done

	# eight readers at once, each sequential through its eighth of the
	# file: the memory bound under parallel read-ahead
	mount_fs "\"cache\": {\"dir\": \"\", \"ram\": \"256M\"}"
	stat "$MNT/$F" >/dev/null
	proxy_zero
	local slice=$(( (size >> 20) / 8 + 1 )) t0 t1 pids=()
	t0=$(date +%s.%N)
	for i in 0 1 2 3 4 5 6 7; do
		dd if="$MNT/$F" of=/dev/null bs=1M skip=$((i * slice)) count=$slice 2>/dev/null &
		pids+=($!)
	done
	wait "${pids[@]}"
	t1=$(date +%s.%N)
	t=$(echo "$t1 - $t0" | bc -l)
	read -r bytes gets mean peak <<< "$(proxy_stats)"
	printf 'parallel_8_readers_%s\t%s\tMB/s\t8 sequential readers of an eighth each, %.2f s; network %s MB/s, in flight mean %s peak %s; peak RSS %s KiB (ram_cache 256 MiB, bound 256 + 64 MiB)\n' \
		"$label" "$(mbps "$size" "$t")" "$t" "$(mbps "$bytes" "$t")" "$mean" "$peak" "$(hwm)"
	rss_check "parallel_8_readers_$label"
	umount_fs
}

{
printf 'measure\tvalue\tunit\tnote\n'
shape 0ms 0 0
shape "${RTT_MS}ms_${RATE}MBps" "$RTT_MS" "$RATE"
} | tee "$RESULTS/distance${TAG:+-$TAG}.tsv" | column -t -s $'\t'
