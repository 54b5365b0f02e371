#!/bin/bash
# bench/spread.sh - reading the newest backup of an incremental series
# (its bytes spread over many objects) against reading a full backup of
# the same tree, through a proxy (tests/gateproxy.py) that adds nothing
# (0 ms) and then one that adds RTT_MS per round trip and caps each
# connection at RATE MB/s.  The series: gentree.py --scale SCALE
# (a 50 MB SQLite database among it), a first backup, then DAYS backups
# each after one day of churn (bench/churn.py, CHURN; backup.fullEvery
# past DAYS: the newest is DAYS deep), then one --full backup of the same
# last tree.  For the newest incremental and the full
# one, at each distance: `ocb cat` (the pipeline restore and verify use),
# `ocb restore --target`, and through a fresh mount (no disk cache):
# a cold small file, `find` over the backup, and a cold sequential read
# of the database (its pages spread over every day's object): seconds,
# GETs, MB received, requests in flight (mean, peak).  Table on stdout, rows in
# bench/results/spread.tsv (TAG=name: spread-name.tsv).
# READS picks the reads ("cat restore mount", the default); ALT=dir, a
# directory holding another build's ocb and ocbfs, measures them too on
# the same series, in the same run (rows "incremental@alt", "full@alt").
# RTMP=dir: restore below dir (/dev/shm: the time of the reads, without
# the disk's, which varies with other writers more than the reads do).
# REPS=n: each shape's reads n times over, the builds and backups taking
# turns (a row per run: medians against a busy machine's noise).
source "$(dirname "$0")/lib.sh"
SCALE=${SCALE:-100}
DAYS=${DAYS:-10}
CHURN=${CHURN:-0.01}
RTT_MS=${RTT_MS:-30}
RATE=${RATE:-40}
READS=${READS:-cat restore mount}
ALT=${ALT:-}
REPS=${REPS:-1}
RDIR=$(mktemp -d "${RTMP:-$BENCH_TMP}/ocb-restore-XXXXXX")
B=bench-spread-$$
TREE=$BENCH_TMP/agent
awsc s3api create-bucket --bucket "$B" >/dev/null
"$OCB" key generate "$BENCH_TMP/key" >/dev/null
KEYCFG="\"encryption\": {\"keyProvider\": \"keyfile\", \"keyFile\": \"$BENCH_TMP/key\"}"
bench_config "$B" "$BENCH_TMP/direct.json" "\"instanceId\": \"sp\", \"sources\": [\"$TREE\"], \"excludes\": [], \"backup\": {\"fullEvery\": $((DAYS + 1))}, $KEYCFG, \"cache\": {\"dir\": \"$BENCH_TMP/cache\"}"
python3 "$TOP/bench/gentree.py" "$TREE" --scale "$SCALE" >/dev/null
sqlite3 "$TREE/agents/main/sessions.sqlite" 'PRAGMA journal_mode=wal' >/dev/null
ocbq() { "$OCB" --config "$BENCH_TMP/direct.json" "$@" >/dev/null || [ $? = 8 ]; }
ocbq backup
for day in $(seq 1 "$DAYS"); do
	python3 "$TOP/bench/churn.py" "$TREE" --seed "$day" --files-frac "$CHURN" --db-frac "$CHURN" --scratch "$BENCH_TMP" >/dev/null
	sleep 1	# names have one-second steps
	ocbq backup
done
NEWEST=$("$OCB" --config "$BENCH_TMP/direct.json" list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["name"])')
sleep 1
ocbq backup --full --label full
FULL=$("$OCB" --config "$BENCH_TMP/direct.json" list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["name"])')
DB=agent/agents/main/sessions.sqlite
SMALL=$(cd "$TREE" && find . -type f -size +2k -size -16k | sort | sed -n 1p)
MNT=$BENCH_TMP/mnt
mkdir -p "$MNT"
FSPID=

proxy_config() {	# p.json: direct.json through the proxy, no disk cache
	sed -e "s|\"endpoint\": \"$ENDPOINT\"|\"endpoint\": \"$PEP\"|" \
		-e "s|\"dir\": \"$BENCH_TMP/cache\"|\"dir\": \"\"|" "$BENCH_TMP/direct.json" > "$BENCH_TMP/p.json"
	chmod 600 "$BENCH_TMP/p.json"
}
mount_fs() {
	"$OCBFS" -f -o config="$BENCH_TMP/p.json" "$MNT" 2>>"$BENCH_TMP/ocbfs.log" &
	FSPID=$!
	for _ in $(seq 1 200); do mountpoint -q "$MNT" && return; sleep 0.05; done
	echo "mount failed" >&2; exit 1
}
umount_fs() { fusermount3 -u "$MNT"; wait "$FSPID"; FSPID=; }
trap 'set +e; [ -n "$PROXY_PID" ] && kill "$PROXY_PID"; mountpoint -q "$MNT" && fusermount3 -u "$MNT"; rm -rf "$RDIR"; bench_cleanup' EXIT

row() {	# label which what seconds: with the proxy's counters
	local bytes gets mean peak
	read -r bytes gets mean peak <<< "$(proxy_stats)"
	printf '%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$gets" "$((bytes / 1000000))" "$mean" "$peak"
}
wants() { [[ " $READS " == *" $1 "* ]]; }
reads() {	# label which name ocb ocbfs
	local label=$1 which=$2 name=$3 ocb=$4 t
	if wants cat; then
		proxy_zero
		t=$(timeit "$ocb" --config "$BENCH_TMP/p.json" cat "$name")
		row "$label" "$which" cat "$t"
	fi
	if wants restore; then
		proxy_zero
		rm -rf "$RDIR/r"
		t=$(timeit "$ocb" --config "$BENCH_TMP/p.json" restore "$name" --target "$RDIR/r")
		row "$label" "$which" restore "$t"
		[[ "$which" == full* ]] || same_tree "$TREE" "$RDIR/r/agent" || { echo "restore differs" >&2; exit 1; }
		rm -rf "$RDIR/r"
	fi
	wants mount || return 0
	OCBFS=$5 mount_fs
	ls "$MNT/sp/$name" >/dev/null
	proxy_zero
	t=$(timeit head -c 1 "$MNT/sp/$name/agent/${SMALL#./}")
	row "$label" "$which" cold_small_file "$t"
	proxy_zero
	t=$(timeit find "$MNT/sp/$name")
	row "$label" "$which" find "$t"
	proxy_zero
	t=$(timeit dd if="$MNT/sp/$name/$DB" of=/dev/null bs=1M)
	row "$label" "$which" seq_read_db "$t"
	umount_fs
}
shape() {	# label delay_ms rate
	local label=$1 which name rep
	proxy_up "$2" "$3"
	proxy_config
	for rep in $(seq 1 "$REPS"); do
		for which in incremental full; do
			name=$NEWEST; [ $which = incremental ] || name=$FULL
			reads "$label" "$which" "$name" "$OCB" "$OCBFS"
			[ -z "$ALT" ] || reads "$label" "$which@alt" "$name" "$ALT/ocb" "$ALT/ocbfs"
		done
	done
	proxy_down
}
{
printf 'shape\tbackup\tread\tseconds\tgets\tmb_down\tinflight_mean\tinflight_peak\n'
shape 0ms 0 0
shape "${RTT_MS}ms_${RATE}MBps" "$RTT_MS" "$RATE"
} | tee "$RESULTS/spread${TAG:+-$TAG}.tsv" | column -t -s $'\t'
