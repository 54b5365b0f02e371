#!/bin/bash
# bench/soak.sh [ITERATIONS] - a soak of the mount: each iteration takes a
# backup through snapshots/ (mkdir, wait, rmdir), reads files through the
# mount, and prunes to the newest 3; the daemon's RSS is sampled after
# each.  Prints the samples; raw numbers in bench/results/soak.tsv.  No
# growth means the last samples stay at the level of the first ones.
source "$(dirname "$0")/lib.sh"
N=${1:-30}
B=bench-soak-$$
awsc s3api create-bucket --bucket "$B" >/dev/null
"$OCB" key generate "$BENCH_TMP/key" >/dev/null
python3 "$TOP/bench/gentree.py" "$BENCH_TMP/agent" --scale 50
cfg=$BENCH_TMP/c.json
bench_config "$B" "$cfg" "\"instanceId\": \"soak\", \"sources\": [\"$BENCH_TMP/agent\"], \"encryption\": {\"keyProvider\": \"keyfile\", \"keyFile\": \"$BENCH_TMP/key\"}, \"cache\": {\"dir\": \"$BENCH_TMP/cache\", \"ram\": \"64M\"}"
mnt=$BENCH_TMP/mnt
mkdir -p "$mnt"
"$OCBFS" -f -o config="$cfg" "$mnt" 2>"$BENCH_TMP/ocbfs.log" &
pid=$!
trap 'fusermount3 -u "$mnt" 2>/dev/null; wait $pid 2>/dev/null; bench_cleanup' EXIT
while ! mountpoint -q "$mnt"; do sleep 0.1; done	# startup poll, not a measurement
{
	printf 'iteration\tseconds\trss_KiB\tbackups\n'
	for i in $(seq 1 "$N"); do
		t0=$(date +%s.%N)
		mkdir "$mnt/snapshots/now"
		[ "$(cat "$mnt/snapshots/now/wait")" = done ] || { cat "$mnt/snapshots/now/log" >&2; exit 1; }
		rmdir "$mnt/snapshots/now"
		find "$mnt/soak/latest/" -type f | awk "NR <= 200" | xargs cat > /dev/null
		"$OCB" --config "$cfg" -q prune --keep-last 3
		t1=$(date +%s.%N)
		rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
		n=$("$OCB" --config "$cfg" list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
		printf '%d\t%.2f\t%s\t%s\n' "$i" "$(echo "$t1 - $t0" | bc -l)" "$rss" "$n"
	done
} | tee "$RESULTS/soak.tsv" | column -t -s $'\t'
