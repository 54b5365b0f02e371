#!/bin/bash
# bench/mount.sh [ENTRIES] [BIG_MIB] - the read path through the real mount
# against RGW: listing a large backup cold and warm (vs the same find on a
# local copy), time to first byte and requests for small cold reads, cold
# and warm sequential read of a large file (vs curl of the raw object),
# read amplification, daemon peak RSS; then 100 backups mounted and all
# browsed, with the daemon's peak RSS against its RAM cache setting.  Table
# on stdout, raw numbers in bench/results/mount.tsv.
source "$(dirname "$0")/lib.sh"
ENTRIES=${1:-200000}
BIG=${2:-1024}
B=bench-mount-$$
awsc s3api create-bucket --bucket "$B" >/dev/null
"$OCB" key generate "$BENCH_TMP/key" >/dev/null
KEYCFG="\"encryption\": {\"keyProvider\": \"keyfile\", \"keyFile\": \"$BENCH_TMP/key\"}"
CACHECFG="\"cache\": {\"dir\": \"$BENCH_TMP/cache\"}"	# not the user's
python3 "$TOP/bench/gentree.py" "$BENCH_TMP/many" --entries "$ENTRIES"
mkdir -p "$BENCH_TMP/big"
python3 "$TOP/bench/gentree.py" "$BENCH_TMP/big" --scale 5 --big-file "$BIG"
bench_config "$B" "$BENCH_TMP/many.json" "\"instanceId\": \"many\", \"sources\": [\"$BENCH_TMP/many\"], $KEYCFG, $CACHECFG"
bench_config "$B" "$BENCH_TMP/many-nocache.json" "\"instanceId\": \"many\", \"sources\": [\"$BENCH_TMP/many\"], $KEYCFG, \"cache\": {\"dir\": \"\"}"
bench_config "$B" "$BENCH_TMP/big.json" "\"instanceId\": \"big\", \"sources\": [\"$BENCH_TMP/big\"], $KEYCFG, $CACHECFG"
bench_config "$B" "$BENCH_TMP/big-nocache.json" "\"instanceId\": \"big\", \"sources\": [\"$BENCH_TMP/big\"], $KEYCFG, \"cache\": {\"dir\": \"\"}"
"$OCB" --config "$BENCH_TMP/many.json" backup >/dev/null
"$OCB" --config "$BENCH_TMP/big.json" backup >/dev/null
MNT=$BENCH_TMP/mnt
mkdir -p "$MNT"

mount_fs() {
	"$OCBFS" -f -o config="$1" "$MNT" 2>>"$BENCH_TMP/ocbfs.log" &
	FSPID=$!
	for _ in $(seq 1 200); do mountpoint -q "$MNT" && return; sleep 0.05; done
	echo "mount failed" >&2; exit 1
}
umount_fs() { fusermount3 -u "$MNT"; wait "$FSPID"; }
stat_of() { awk -v k="$1" '$1 == k { print $2 }' "$MNT/.ocbfs/stats"; }
hwm() { awk '/VmHWM/ { print $2 }' "/proc/$FSPID/status"; }

{
printf 'measure\tvalue\tunit\tnote\n'

# --- listing a large backup ---------------------------------------------------
mount_fs "$BENCH_TMP/many.json"
t_cold=$(timeit find "$MNT/many/latest/")
t_warm=$(timeit find "$MNT/many/latest/")
t_lsr=$(timeit ls -lR "$MNT/many/latest/")
t_local=$(timeit find "$BENCH_TMP/many")
req_list=$(stat_of s3_requests_get)
n=$(find "$MNT/many/latest/" | wc -l)
printf 'find_cold\t%.3f\ts\t%s entries, catalog fetched (%s GETs)\n' "$t_cold" "$n" "$req_list"
printf 'find_warm\t%.3f\ts\tlocal disk find: %.3f s\n' "$t_warm" "$t_local"
printf 'ls_lR_warm\t%.3f\ts\t\n' "$t_lsr"

# --- small cold reads -------------------------------------------------------------
# 4 KiB files, each in another frame; first with the disk cache (its 1 MiB
# blocks may hold several compressed frames of this tree, so some reads
# find theirs on disk), then without it (every read goes to the store)
small_reads() {	# label
	local files f s e g0 g1 i0 i1 nf med lat=()
	files=$(cd "$MNT/many/latest" && find . -type f -name 'f*000.json' | sort | awk 'NR % 5 == 1' | head -40)
	g0=$(stat_of s3_requests_get)
	i0=$(stat_of s3_bytes_in)
	for f in $files; do
		stat "$MNT/many/latest/$f" >/dev/null
		s=$(date +%s%N)
		head -c 4096 "$MNT/many/latest/$f" >/dev/null
		e=$(date +%s%N)
		lat+=($(( (e - s) / 1000 )))
	done
	g1=$(stat_of s3_requests_get)
	i1=$(stat_of s3_bytes_in)
	nf=$(echo $files | wc -w)
	med=$(printf '%s\n' "${lat[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
	printf 'small_read_ttfb_median_%s\t%s\tus\t%s cold reads of a 4 KiB file (open to last byte, head -c)\n' "$1" "$med" "$nf"
	printf 'small_read_requests_%s\t%s\tper read\tafter the catalog\n' "$1" "$(echo "scale=2; ($g1 - $g0) / $nf" | bc)"
	printf 'read_amplification_small_%s\t%s\tfetched/read\t\n' "$1" "$(echo "scale=1; ($i1 - $i0) / ($nf * 4096)" | bc)"
}
small_reads disk_cache
printf 'daemon_peak_rss_many\t%s\tKiB\tafter listing %s entries\n' "$(hwm)" "$n"
umount_fs
mount_fs "$BENCH_TMP/many-nocache.json"
small_reads no_disk_cache
umount_fs

# --- large sequential read ---------------------------------------------------------
mount_fs "$BENCH_TMP/big.json"
F=$MNT/big/latest/big/big.bin
size=$(stat -c %s "$F")
sync	# the trees and backups just written are not written back meanwhile
b0=$(stat_of s3_bytes_in)
t_seq=$(timeit dd if="$F" of=/dev/null bs=1M)
b1=$(stat_of s3_bytes_in)
t_re=$(timeit dd if="$F" of=/dev/null bs=1M)
key=$("$OCB" --config "$BENCH_TMP/big.json" list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["key"])')
osize=$(awsc s3api head-object --bucket "$B" --key "$key" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ContentLength"])')
t_curl=$(timeit curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
	-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
	-o /dev/null "$ENDPOINT/$B/$key")
printf 'seq_read_cold\t%s\tMB/s\t%s MiB file, %.2f s; disk cache: %s requests, %s written by the reader (queue full)\n' "$(mbps "$size" "$t_seq")" "$((size >> 20))" "$t_seq" "$(stat_of disk_cache_misses)" "$(stat_of disk_cache_writes_inline)"
printf 'curl_raw_object\t%s\tMB/s\t%s bytes stored, %.2f s (same data: %s MB/s of file bytes)\n' "$(mbps "$osize" "$t_curl")" "$osize" "$t_curl" "$(mbps "$size" "$t_curl")"
printf 'seq_read_warm\t%s\tMB/s\tpage cache (keep_cache)\n' "$(mbps "$size" "$t_re")"
printf 'read_amplification_seq\t%s\tfetched/read\t\n' "$(echo "scale=3; ($b1 - $b0) / $size" | bc)"
printf 'daemon_peak_rss_big\t%s\tKiB\tram_cache 256 MiB\n' "$(hwm)"
umount_fs
mount_fs "$BENCH_TMP/big-nocache.json"
b0=$(stat_of s3_bytes_in)
t_seq=$(timeit dd if="$F" of=/dev/null bs=1M)
b1=$(stat_of s3_bytes_in)
printf 'seq_read_cold_no_disk_cache\t%s\tMB/s\t%.2f s, %s fetched/read\n' "$(mbps "$size" "$t_seq")" "$t_seq" "$(echo "scale=3; ($b1 - $b0) / $size" | bc)"
umount_fs

# --- 100 backups mounted and browsed --------------------------------------------------
# four instances of 25 (names are one second apart: 100 in a row from one
# instance would run a minute and more ahead of the clock)
python3 "$TOP/bench/gentree.py" "$BENCH_TMP/small" --scale 5 >/dev/null
for a in 1 2 3 4; do
	bench_config "$B" "$BENCH_TMP/h$a.json" "\"instanceId\": \"agent$a\", \"sources\": [\"$BENCH_TMP/small\"], $KEYCFG, \"cache\": {\"dir\": \"$BENCH_TMP/cache100\", \"ram\": \"64M\"}"
done
for i in $(seq 1 25); do
	for a in 1 2 3 4; do
		echo "$a.$i" > "$BENCH_TMP/small/round.txt"	# each backup a little different
		"$OCB" --config "$BENCH_TMP/h$a.json" -q backup >/dev/null
	done
done
mount_fs "$BENCH_TMP/h1.json"
nb=$(for a in 1 2 3 4; do ls "$MNT/agent$a"; done | grep -vc '^latest$')
ne=$(find "$MNT"/agent[1-4]/ | wc -l)
find "$MNT"/agent[1-4]/ -name round.txt | xargs cat > /dev/null
find "$MNT"/agent[1-4]/ -name '*.md' | awk 'NR % 50 == 1' | xargs cat > /dev/null
printf 'daemon_peak_rss_100_backups\t%s\tKiB\t%s backups, %s entries browsed, files read; ram_cache 64 MiB (target < 64 + 64 MiB)\n' "$(hwm)" "$nb" "$ne"
umount_fs
} | tee "$RESULTS/mount.tsv" | column -t -s $'\t'
