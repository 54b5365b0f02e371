#!/bin/bash
# bench/backup.sh [SCALE_MB] [BIG_MIB] - backup throughput and peak RSS of
# `ocb backup` to RGW for an agent-like tree (~SCALE_MB MB) and for a large
# tree (a BIG_MIB MiB file in it), next to the old tool's way (tar -czf then
# aws s3 cp) on the same data and server; then full-restore throughput
# and peak RSS (`ocb restore --target`, every hash checked) beside `aws s3
# cp` + `tar -xzf`, and the time to restore one small file.
# Prints a table; raw numbers in bench/results/backup.tsv.
source "$(dirname "$0")/lib.sh"
SCALE=${1:-200}
BIG=${2:-2048}
B=bench-backup-$$
awsc s3api create-bucket --bucket "$B" >/dev/null
"$OCB" key generate "$BENCH_TMP/key" >/dev/null

run_case() {	# label dir
	local label=$1 dir=$2 bytes cfg t rss t_old out
	bytes=$(du -sb "$dir" | cut -f1)
	cfg=$BENCH_TMP/c-$label.json
	bench_config "$B" "$cfg" "\"instanceId\": \"bench-$label\", \"sources\": [\"$dir\"], \"encryption\": {\"keyProvider\": \"keyfile\", \"keyFile\": \"$BENCH_TMP/key\"}"
	sync
	out=$( { /usr/bin/time -f "%e %M" "$OCB" --config "$cfg" backup --json >/dev/null; } 2>&1 | tail -1)
	t=${out% *}; rss=${out#* }
	t_old=$(timeit bash -c "tar -czf $BENCH_TMP/old.tar.gz -C $(dirname "$dir") $(basename "$dir") && $AWS --endpoint-url $ENDPOINT s3 cp $BENCH_TMP/old.tar.gz s3://$B/old-$label.tar.gz")
	rm -rf "$BENCH_TMP/restore"
	out=$( { /usr/bin/time -f "%e %M" "$OCB" --config "$cfg" restore latest --target "$BENCH_TMP/restore" >/dev/null; } 2>&1 | tail -1)
	t_r=${out% *}; rss_r=${out#* }
	# one small file out of the backup: only its frames are fetched
	one=$(cd "$(dirname "$dir")" && find "$(basename "$dir")" -type f -size -8k | sort | awk "NR == 1")
	rm -rf "$BENCH_TMP/restore"
	t_1=$(timeit "$OCB" --config "$cfg" restore latest --target "$BENCH_TMP/restore" "$one")
	rm -rf "$BENCH_TMP/restore"; mkdir -p "$BENCH_TMP/restore"
	t_r_old=$(timeit bash -c "$AWS --endpoint-url $ENDPOINT s3 cp s3://$B/old-$label.tar.gz $BENCH_TMP/dl.tar.gz && tar -xzf $BENCH_TMP/dl.tar.gz -C $BENCH_TMP/restore")
	rm -rf "$BENCH_TMP/restore" "$BENCH_TMP/old.tar.gz" "$BENCH_TMP/dl.tar.gz"
	printf 'backup\t%s\tocb backup\t%s\t%.2f\t%s\t%s\n' "$label" "$bytes" "$t" "$(mbps "$bytes" "$t")" "$rss"
	printf 'backup\t%s\ttar -czf + aws s3 cp\t%s\t%.2f\t%s\t-\n' "$label" "$bytes" "$t_old" "$(mbps "$bytes" "$t_old")"
	printf 'restore\t%s\tocb restore (hashes checked)\t%s\t%.2f\t%s\t%s\n' "$label" "$bytes" "$t_r" "$(mbps "$bytes" "$t_r")" "$rss_r"
	printf 'restore-one-file\t%s\tocb restore PATH\t-\t%.2f\t-\t-\n' "$label" "$t_1"
	printf 'restore\t%s\taws s3 cp + tar -xzf\t%s\t%.2f\t%s\t-\n' "$label" "$bytes" "$t_r_old" "$(mbps "$bytes" "$t_r_old")"
}

python3 "$TOP/bench/gentree.py" "$BENCH_TMP/agent" --scale "$SCALE"
mkdir -p "$BENCH_TMP/large"
python3 "$TOP/bench/gentree.py" "$BENCH_TMP/large" --scale 20 --big-file "$BIG"
{
	printf 'op\ttree\ttool\tbytes\tseconds\tMB/s\tpeak_rss_KiB\n'
	run_case agent "$BENCH_TMP/agent"
	run_case large "$BENCH_TMP/large"
} | tee "$RESULTS/backup.tsv" | column -t -s $'\t'
