#!/bin/bash
# bench/sqlite.sh [NDB] [DB_MB] - the cost of storing SQLite databases as
# snapshots: `ocb backup` of a tree holding NDB WAL databases of DB_MB MB
# each while a writer process commits to all of them (with checkpoints),
# next to the same bytes stored raw (the same files with their header
# changed, so that ocb does not recognise them as databases; no writer).
# Time and peak RSS of each; raw numbers in bench/results/sqlite.tsv.
source "$(dirname "$0")/lib.sh"
NDB=${1:-3}
MB=${2:-200}
B=bench-sqlite-$$
awsc s3api create-bucket --bucket "$B" >/dev/null
"$OCB" key generate "$BENCH_TMP/key" >/dev/null
mkdir -p "$BENCH_TMP/live" "$BENCH_TMP/raw"
for i in $(seq "$NDB"); do
	python3 - "$BENCH_TMP/live/db$i.sqlite" "$MB" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=wal")
db.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, pad BLOB)")
db.execute("BEGIN")
for n in range(int(sys.argv[2]) * 1000 // 4):
    db.execute("INSERT INTO t (pad) VALUES (randomblob(4000))")
db.execute("COMMIT")
PY
	cp "$BENCH_TMP/live/db$i.sqlite" "$BENCH_TMP/raw/db$i.bin"
	printf 'X' | dd of="$BENCH_TMP/raw/db$i.bin" bs=1 count=1 conv=notrunc status=none
done
python3 - "$BENCH_TMP"/live/db*.sqlite <<'PY' &
import sqlite3, sys
dbs = [sqlite3.connect(p, isolation_level=None) for p in sys.argv[1:]]
for d in dbs:
    d.execute("PRAGMA wal_autocheckpoint=200")
while True:
    for d in dbs:
        d.execute("BEGIN IMMEDIATE")
        d.execute("INSERT INTO t (pad) VALUES (randomblob(4000))")
        d.execute("UPDATE t SET pad = randomblob(4000) WHERE n = abs(random()) % 1000 + 1")
        d.execute("COMMIT")
PY
WRITER=$!
trap 'kill $WRITER 2>/dev/null; bench_cleanup' EXIT

run() {	# label dir
	local cfg=$BENCH_TMP/c-$1.json out t rss bytes
	bytes=$(du -sb --exclude='*-wal' --exclude='*-shm' "$2" | cut -f1)
	bench_config "$B" "$cfg" "\"instanceId\": \"bench-$1\", \"sources\": [\"$2\"], \"cache\": {\"dir\": \"$BENCH_TMP/cache\"}, \"encryption\": {\"keyProvider\": \"keyfile\", \"keyFile\": \"$BENCH_TMP/key\"}"
	sync
	out=$( { /usr/bin/time -f "%e %M" "$OCB" --config "$cfg" backup --json >"$BENCH_TMP/res.json"; } 2>&1 | tail -1)
	t=${out% *}; rss=${out#* }
	printf '%s\t%s\t%s\t%.2f\t%s\t%s\t%s\n' "$1" "$NDB" "$bytes" "$t" "$(mbps "$bytes" "$t")" "$rss" \
		"$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["sqlite_snapshots"], r["warnings"])' "$BENCH_TMP/res.json")"
}
{
	printf 'case\tdatabases\tbytes\tseconds\tMB/s\tpeak_rss_kib\tsnapshots warnings\n'
	run sqlite-snapshots-live-writer "$BENCH_TMP/live"
	run same-bytes-raw "$BENCH_TMP/raw"
} | tee "$RESULTS/sqlite.tsv" | column -t -s "$(printf '\t')"
