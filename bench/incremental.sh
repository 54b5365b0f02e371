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
#   after-N-days  the store then, as a multiple of one full backup.  The
#              "days" are minutes apart: a full backup by age
#              (backup.fullAfterDays, 90 by default) would come after day
#              90 of a real series, so within DAYS <= 90 this is what a
#              daily series holds
#   restore-first, restore-newest  full restore time (--target), the
#              best of RESTORES (4) rounds (restore times on a loaded machine
#              vary several-fold from one run to the next), each tool and
#              backup in turn, first and newest taking turns to go first;
#              the first round's trees are compared with the trees backed
#              up.  Each restore goes to a new directory, all removed after
#              the last: on a loaded machine a restore right after removing
#              a restored tree often ran 5-10x slower (its openat and write
#              calls 10x slower), whichever backup it restored
#   repack-keep-K  then ocb prune --keep-last K --repack (the plan carried
#              out), the store after, and the newest backup restored and
#              compared with the tree
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
# a backup storing small files whole can upload); catalog: of the
# uploaded bytes, the ocb object's catalog (its index, the files' hashes,
# header copy and trailer: `ocb backup --json`'s bytes_catalog), which the
# target "uploaded <= 3x the changed bytes + catalog" leaves out, as the
# next column does.  Knobs: SCALE (200),
# DAYS (30), KEEP (7), CHURN (0.01), RESTORES (4; 0: no restores), UNCHANGED
# (1: unchanged backups in a row, for timing them on a busy machine),
# TOOLS ("ocb restic").  DAYS=0 RESTORES=0 TOOLS=ocb: the first two steps
# alone.  Table on stdout (days between the
# first and the last left out), every row in bench/results/incremental.tsv
# (TAG=name: incremental-name.tsv).
source "$(dirname "$0")/lib.sh"
SCALE=${SCALE:-200}
DAYS=${DAYS:-30}
KEEP=${KEEP:-7}
CHURN=${CHURN:-0.01}
RESTORES=${RESTORES:-4}
UNCHANGED=${UNCHANGED:-1}
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
row() {	# tool step uploaded changed changed_whole seconds [catalog]
	local tool=$1 bytes cat=${7:--} data=-
	bytes=$(bucket_bytes "$(bucket_of "$tool")")
	[ "$cat" = - ] || data=$(($3 - cat))
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$2" "$(count "$tool")" "$3" "$4" "$5" \
		"$(ratio "$3" "$4")" "$cat" "$(ratio "$data" "$4")" "$bytes" "$(ratio "$bytes" "${FULL[$tool]}")" "$6"
}
# the repack plan of the prune (ocb prune --dry-run --json): objects kept
# only for their bytes, repacked, replaced; bytes in the store dead (what
# the plan frees) and written; the store bytes of the objects it deletes;
# the bucket after the prune, and as a multiple of one full backup, before
# and as planned (less the dead bytes)
repack_plan() {	# bucket bytes after the prune, after the repack
	python3 - "$BENCH_TMP/plan.json" "$1" "${FULL[ocb]}" "$2" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1])); bucket, full, done = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = j["repack"]; o = r["objects"]
n = lambda a: sum(1 for x in o if x["action"] == a)
after = bucket - r["dead_bytes"]
print("kept_for_bytes\trepack\treplace\tworth\tdead\twritten\tdeleted_object_bytes\tbucket\tbucket/full\tplanned_bucket\tplanned/full\trepacked_bucket\trepacked/full")
print("%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%.2f\t%d\t%.2f\t%d\t%.2f" % (len(o) - n("replace"), n("repack"), n("replace"), r["worth"], r["dead_bytes"],
      r["write_bytes"], r["delete_object_bytes"], bucket, bucket / full, after if r["worth"] else bucket, (after if r["worth"] else bucket) / full,
      done, done / full))
EOF
}
declare -A FULL TOTAL FIRST
TOOLS=${TOOLS:-ocb restic}
has() { [[ " $TOOLS " == *" $1 "* ]]; }

step() {	# name changed changed_whole: one backup by each tool
	local tool before t after
	for tool in $TOOLS; do
		before=$(bucket_bytes "$(bucket_of "$tool")")
		t=$(backup "$tool")
		after=$(bucket_bytes "$(bucket_of "$tool")")
		[ -n "${FULL[$tool]:-}" ] || FULL[$tool]=$after
		TOTAL[$tool]=$(( ${TOTAL[$tool]:-0} + after - before ))
		cat=-
		[ "$tool" != ocb ] || cat=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["bytes_catalog"])' "$BENCH_TMP/ocb-last.json")
		row "$tool" "$1" $((after - before)) "$2" "$3" "$t" "$cat"
	done
}

restore() {	# tool which(first|newest) round [source to compare with]: seconds
	local tool=$1 t got snap=latest out=$BENCH_TMP/restores/$1-$2-$3
	[ "$2" = newest ] || snap=${FIRST[$tool]}
	sync
	if [ "$tool" = ocb ]; then
		t=$(timed "$OCB" --config "$CFG" restore "$snap" --target "$out")
		got=$out/$(basename "$TREE")
	else
		t=$(timed restic -r "$REPO" restore "$snap" --target "$out")
		got=$out$TREE
	fi
	[ -z "${4:-}" ] || same_tree "$4" "$got" || { echo "$tool restore of the $2 backup differs" >&2; exit 1; }
	echo "$t"
}
declare -A BEST
restores() {	# RESTORES rounds, each restoring first and newest by each tool in turn
	local r which tool src t order="first newest"
	[ "$RESTORES" -gt 0 ] || return 0
	mkdir -p "$BENCH_TMP/restores"
	for r in $(seq 1 "$RESTORES"); do
		for which in $order; do
			src=; [ "$r" != 1 ] || { src=$TREE; [ $which = newest ] || src=$BENCH_TMP/first-tree; }
			for tool in $TOOLS; do
				t=$(restore "$tool" "$which" "$r" "$src")
				if [ -z "${BEST[$tool$which]:-}" ] || [ "$(echo "$t < ${BEST[$tool$which]}" | bc)" = 1 ]; then
					BEST[$tool$which]=$t
				fi
			done
		done
		order=$(echo "$order" | awk '{ print $2, $1 }')	# each goes first in turn
	done
	rm -rf "$BENCH_TMP/restores"
	for which in first newest; do
		for tool in $TOOLS; do row "$tool" "restore-$which" - - - "${BEST[$tool$which]}"; done
	done
}

{
	printf 'tool\tstep\tbackups\tuploaded\tchanged\tchanged_whole\tuploaded/changed\tcatalog\t(uploaded-catalog)/changed\tbucket_bytes\tbucket/full\tseconds\n'
	step first "$TREE_BYTES" "$TREE_BYTES"
	FIRST[ocb]=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["name"])' "$BENCH_TMP/ocb-last.json")
	! has restic || FIRST[restic]=$(restic -r "$REPO" snapshots --json | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')
	cp -a "$TREE" "$BENCH_TMP/first-tree"
	sync	# the copy's writeback is not the next backup's time
	TOTAL=()
	for _ in $(seq 1 "$UNCHANGED"); do step unchanged 0 0; done
	TOTAL=()
	CH=0 CHW=0
	for day in $(seq 1 "$DAYS"); do
		read -r c w <<< "$(python3 "$TOP/bench/churn.py" "$TREE" --seed "$day" --files-frac "$CHURN" --db-frac "$CHURN" --scratch "$BENCH_TMP" |
			python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["appended"] + d["db_changed"], d["files_bytes"] + d["db_changed"])')"
		CH=$((CH + c)) CHW=$((CHW + w))
		step "day$day" "$c" "$w"
	done
	for tool in $TOOLS; do row "$tool" "after-$DAYS-days" "${TOTAL[$tool]:-0}" "$CH" "$CHW" -; done
	restores
	if has ocb; then
		"$OCB" --config "$CFG" prune --dry-run --json --keep-last "$KEEP" >"$BENCH_TMP/plan.json" || [ $? = 8 ]
		t=$(timed "$OCB" --config "$CFG" prune --keep-last "$KEEP")
		row ocb "prune-keep-$KEEP" - - - "$t"
		pruned=$(bucket_bytes "$BO")
		t=$(timed "$OCB" --config "$CFG" prune --keep-last "$KEEP" --repack)
		row ocb "repack-keep-$KEEP" - - - "$t"
		repack_plan "$pruned" "$(bucket_bytes "$BO")" >"$RESULTS/incremental-repack${TAG:+-$TAG}.tsv"
		mkdir -p "$BENCH_TMP/restores"
		restore ocb newest 0 "$TREE" >/dev/null
		rm -rf "$BENCH_TMP/restores"
	fi
	if has restic; then
		t=$(timed restic -r "$REPO" forget --keep-last "$KEEP" --prune)
		row restic "prune-keep-$KEEP" - - - "$t"
	fi
} | tee "$RESULTS/incremental${TAG:+-$TAG}.tsv" |
	awk -F'\t' -v last="day$DAYS" '$2 !~ /^day/ || $2 == "day1" || $2 == last' | column -t -s $'\t'
