#!/bin/bash
# bench/legacy.sh [MB ...] - old-tool .tar.gz backups through the mount,
# against RGW, for trees of about each size (default 200 and 2048 MB):
# the index build rate (MB/s of archive, the first `ls` of the backup)
# next to `curl | gzip -d > /dev/null` of the same object, then a cold read
# of one small file after indexing (remounted: index from the disk cache):
# requests, bytes fetched, latency.  Table on stdout, raw numbers in
# bench/results/legacy.tsv.
source "$(dirname "$0")/lib.sh"
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(200 2048)
B=bench-legacy-$$
awsc s3api create-bucket --bucket "$B" >/dev/null
"$OCB" key generate "$BENCH_TMP/key" >/dev/null
MNT=$BENCH_TMP/mnt
mkdir -p "$MNT"
CFG=$BENCH_TMP/cfg.json
bench_config "$B" "$CFG" "\"instanceId\": \"i-bench\", \"cache\": {\"dir\": \"$BENCH_TMP/cache\"}, \"encryption\": {\"keyProvider\": \"keyfile\", \"keyFile\": \"$BENCH_TMP/key\"}"

mount_fs() {
	"$OCBFS" -f -o config="$CFG" "$MNT" 2>>"$BENCH_TMP/ocbfs.log" &
	FSPID=$!
	for _ in $(seq 1 200); do mountpoint -q "$MNT" && return; sleep 0.05; done
	echo "mount failed" >&2; exit 1
}
umount_fs() { fusermount3 -u "$MNT"; wait "$FSPID"; }
stat_of() { awk -v k="$1" '$1 == k { print $2 }' "$MNT/.ocbfs/stats"; }

{
printf 'measure\tvalue\tunit\tnote\n'
i=0
for mb in "${SIZES[@]}"; do
	i=$((i + 1))
	name=openclaw-aws-backup-2026-11-0${i}T10-00-00
	top=$BENCH_TMP/work/$name
	mkdir -p "$top/openclaw-config" "$top/workspace/memory"
	if [ "$mb" -gt 500 ]; then
		python3 "$TOP/bench/gentree.py" "$top/openclaw-config" --scale 200 \
			--big-file $((mb - 200)) >/dev/null
	else
		python3 "$TOP/bench/gentree.py" "$top/openclaw-config" --scale "$mb" >/dev/null
	fi
	echo "what the agent remembered" > "$top/workspace/memory/today.md"
	tar -czf "$BENCH_TMP/$name.tar.gz" -C "$BENCH_TMP/work" "$name"
	key=openclaw-aws-backups/instance-i-bench/$name.tar.gz
	awsc s3 cp --quiet "$BENCH_TMP/$name.tar.gz" "s3://$B/$key" \
		--metadata backup-version=2.0,instance-id=i-bench,encrypted=false,encryption-method=none
	osize=$(stat -c %s "$BENCH_TMP/$name.tar.gz")
	tsize=$(du -sb "$top" | cut -f1)
	rm -rf "$BENCH_TMP/work" "$BENCH_TMP/$name.tar.gz"

	t_curl=$(timeit bash -c "curl -sf --aws-sigv4 'aws:amz:us-east-1:s3' \
		--user '$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY' \
		-H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' '$ENDPOINT/$B/$key' | gzip -d > /dev/null")
	rm -rf "$BENCH_TMP/cache"
	mount_fs
	t_idx=$(timeit ls "$MNT/i-bench/$name")
	npts=$(stat_of legacy_bytes_indexed)
	umount_fs
	ratio=$(echo "scale=2; 100 * $t_curl / $t_idx" | bc -l)
	printf 'curl_gzip_d_%sMB\t%s\tMB/s\t%s bytes of archive in %.2f s\n' "$mb" "$(mbps "$osize" "$t_curl")" "$osize" "$t_curl"
	printf 'index_build_%sMB\t%s\tMB/s\t%.2f s, %s%% of the curl|gzip -d rate (%s bytes streamed; tree %s bytes)\n' "$mb" "$(mbps "$osize" "$t_idx")" "$t_idx" "$ratio" "$npts" "$tsize"
	idx=$(du -sb "$BENCH_TMP/cache/legacy" | cut -f1)
	printf 'index_size_%sMB\t%s\tbytes\tsealed, on disk\n' "$mb" "$idx"

	mount_fs
	ls "$MNT/i-bench/$name" >/dev/null
	r0=$(stat_of retry_requests); b0=$(stat_of retry_bytes_in)
	t_small=$(timeit cat "$MNT/i-bench/$name/workspace/memory/today.md")
	r1=$(stat_of retry_requests); b1=$(stat_of retry_bytes_in)
	printf 'small_read_%sMB\t%.1f\tms\t%s requests, %s bytes fetched (restart interval 4 MiB of tar)\n' "$mb" "$(echo "$t_small * 1000" | bc -l)" "$((r1 - r0))" "$((b1 - b0))"
	f=$(find "$MNT/i-bench/$name/openclaw-config" -type f -size +1k | awk 'NR == 1')
	r0=$(stat_of retry_requests); b0=$(stat_of retry_bytes_in)
	t_f=$(timeit cat "$f")
	r1=$(stat_of retry_requests); b1=$(stat_of retry_bytes_in)
	printf 'file_read_%sMB\t%.1f\tms\t%s (%s bytes): %s requests, %s bytes fetched\n' "$mb" "$(echo "$t_f * 1000" | bc -l)" "${f#$MNT/}" "$(stat -c %s "$f")" "$((r1 - r0))" "$((b1 - b0))"
	umount_fs
	awsc s3 rm --quiet "s3://$B/$key"
done
} | tee "$RESULTS/legacy.tsv" | column -t -s "$(printf '\t')"
