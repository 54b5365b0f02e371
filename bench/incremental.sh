#!/bin/bash
# bench/incremental.sh - what repeated backups of a changing agent state
# cost in the store, for `ocb backup` beside restic (Debian's), both to
# the same RGW, each in its own bucket.  The tree: gentree.py --scale
# SCALE (200: ~207 MB, ~22,000 files, agents/main/sessions.sqlite a 50 MB
# database put in WAL mode, a 40 MB binary).  Steps, each tool on the same
# tree state in turn:
#   first      the first backup
#   unchanged  a second backup, nothing changed
#   dayN       DAYS "daily" backups, each after one day of churn
#              (bench/churn.py: a line appended to CHURN of the files, and
#              CHURN of the database's pages changed by UPDATEs, INSERTs and
#              a few DELETEs)
#   after-N-days  the store then, as a multiple of one full backup
#   restore-first, restore-newest  full restore time (--target), each
#              restored tree compared with the tree it was taken from
#   prune-keep-K  ocb prune --keep-last K / restic forget --keep-last K
#              --prune, and the store after.  ocb names backups by the
#              time they are taken and has no way to be given another, so
#              DAYS backups taken in minutes fall on one day: keepDaily K
#              would keep one; with one backup a day, keep-last K is what
#              keepDaily K keeps.
# uploaded: the growth of the bucket (sum of its object sizes, listed
# before and after); changed: the bytes that truly changed (appended
# bytes + changed pages x page size; first: the tree's size);
# changed_whole: the changed files' whole sizes + changed pages (the least
# a backup storing small files whole can upload).  Knobs: SCALE (200),
# DAYS (30), KEEP (7), CHURN (0.01).  Table on stdout (days between the
# first and the last left out), every row in bench/results/incremental.tsv
# (TAG=name: incremental-name.tsv).
source "$(dirname "$0")/lib.sh"
SCALE=${SCALE:-200}
DAYS=${DAYS:-30}
KEEP=${KEEP:-7}
CHURN=${CHURN:-0.01}
BO=bench-inc-ocb-$$
BR=bench-inc-restic-$$
TREE=$BENCH_TMP/agent
for b in "$BO" "$BR"; do awsc s3api create-bucket --bucket "$b" >/dev/null; done
"$OCB" key generate "$BENCH_TMP/key" >/dev/null
CFG=$BENCH_TMP/ocb.json
bench_config "$BO" "$CFG" "\"instanceId\": \"inc\", \"sources\": [\"$TREE\"], \"excludes\": [], \"cache\": {\"dir\": \"$BENCH_TMP/cache\"}, \"encryption\": {\"keyProvider\": \"keyfile\", \"keyFile\": \"$BENCH_TMP/key\"}"
export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$BENCH_TMP/restic-cache
REPO=s3:$ENDPOINT/$BR/restic
restic -q -r "$REPO" init >/dev/null

python3 "$TOP/bench/gentree.py" "$TREE" --scale "$SCALE" >/dev/null
sqlite3 "$TREE/agents/main/sessions.sqlite" 'PRAGMA journal_mode=wal' >/dev/null
TREE_BYTES=$(du -sb "$TREE" | cut -f1)

bucket_bytes() {	# bucket: the sum of its objects' sizes
	awsc s3api list-objects-v2 --bucket "$1" --output json |
		python3 -c 'import json, sys; t = sys.stdin.read().strip(); print(sum(o["Size"] for o in (json.loads(t) if t else {}).get("Contents", [])))'
}
bucket_of() { if [ "$1" = ocb ]; then echo "$BO"; else echo "$BR"; fi; }

# seconds "$@" took; exit code 8 (ocb: stored with warnings) is success
timed() {
	local rc=0
	/usr/bin/time -o "$BENCH_TMP/time" -f %e "$@" >"$BENCH_TMP/out" 2>"$BENCH_TMP/err" || rc=$?
	if [ $rc != 0 ] && [ $rc != 8 ]; then
		echo "failed ($rc): $*" >&2; cat "$BENCH_TMP/err" >&2; exit 1
	fi
	tail -1 "$BENCH_TMP/time"
}
backup() {	# tool: seconds
	if [ "$1" = ocb ]; then timed "$OCB" --config "$CFG" backup --json; cp "$BENCH_TMP/out" "$BENCH_TMP/ocb-last.json"
	else timed restic -r "$REPO" backup "$TREE"; fi
}
count() {	# tool: backups in the store
	if [ "$1" = ocb ]; then "$OCB" --config "$CFG" list --json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'
	else restic -r "$REPO" snapshots --json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'; fi
}
ratio() { case "$1/$2" in -/* | */- | */0 | */) echo - ;; *) printf '%.2f\n' "$(echo "$1 / $2" | bc -l)" ;; esac; }
row() {	# tool step uploaded changed changed_whole seconds
	local tool=$1 bytes
	bytes=$(bucket_bytes "$(bucket_of "$tool")")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$2" "$(count "$tool")" "$3" "$4" "$5" \
		"$(ratio "$3" "$4")" "$bytes" "$(ratio "$bytes" "${FULL[$tool]}")" "$6"
}
declare -A FULL TOTAL FIRST
TOOLS="ocb restic"

step() {	# name changed changed_whole: one backup by each tool
	local tool before t after
	for tool in $TOOLS; do
		before=$(bucket_bytes "$(bucket_of "$tool")")
		t=$(backup "$tool")
		after=$(bucket_bytes "$(bucket_of "$tool")")
		[ -n "${FULL[$tool]:-}" ] || FULL[$tool]=$after
		TOTAL[$tool]=$(( ${TOTAL[$tool]:-0} + after - before ))
		row "$tool" "$1" $((after - before)) "$2" "$3" "$t"
	done
}

restore() {	# tool which(first|newest) source
	local tool=$1 t got snap=latest
	[ "$2" = newest ] || snap=${FIRST[$tool]}
	rm -rf "$BENCH_TMP/out-tree"; sync
	if [ "$tool" = ocb ]; then
		t=$(timed "$OCB" --config "$CFG" restore "$snap" --target "$BENCH_TMP/out-tree")
		got=$BENCH_TMP/out-tree/$(basename "$TREE")
	else
		t=$(timed restic -r "$REPO" restore "$snap" --target "$BENCH_TMP/out-tree")
		got=$BENCH_TMP/out-tree$TREE
	fi
	same_tree "$3" "$got" || { echo "$tool restore of the $2 backup differs" >&2; exit 1; }
	rm -rf "$BENCH_TMP/out-tree"
	row "$tool" "restore-$2" - - - "$t"
}

{
	printf 'tool\tstep\tbackups\tuploaded\tchanged\tchanged_whole\tuploaded/changed\tbucket_bytes\tbucket/full\tseconds\n'
	step first "$TREE_BYTES" "$TREE_BYTES"
	FIRST[ocb]=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["name"])' "$BENCH_TMP/ocb-last.json")
	FIRST[restic]=$(restic -r "$REPO" snapshots --json | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')
	cp -a "$TREE" "$BENCH_TMP/first-tree"
	TOTAL=()
	step unchanged 0 0
	TOTAL=()
	CH=0 CHW=0
	for day in $(seq 1 "$DAYS"); do
		read -r c w <<< "$(python3 "$TOP/bench/churn.py" "$TREE" --seed "$day" --files-frac "$CHURN" --db-frac "$CHURN" --scratch "$BENCH_TMP" |
			python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["appended"] + d["db_changed"], d["files_bytes"] + d["db_changed"])')"
		CH=$((CH + c)) CHW=$((CHW + w))
		step "day$day" "$c" "$w"
	done
	for tool in $TOOLS; do row "$tool" "after-$DAYS-days" "${TOTAL[$tool]}" "$CH" "$CHW" -; done
	for tool in $TOOLS; do restore "$tool" first "$BENCH_TMP/first-tree"; done
	for tool in $TOOLS; do restore "$tool" newest "$TREE"; done
	t=$(timed "$OCB" --config "$CFG" prune --keep-last "$KEEP")
	row ocb "prune-keep-$KEEP" - - - "$t"
	t=$(timed restic -r "$REPO" forget --keep-last "$KEEP" --prune)
	row restic "prune-keep-$KEEP" - - - "$t"
} | tee "$RESULTS/incremental${TAG:+-$TAG}.tsv" |
	awk -F'\t' -v last="day$DAYS" '$2 !~ /^day/ || $2 == "day1" || $2 == last' | column -t -s $'\t'
