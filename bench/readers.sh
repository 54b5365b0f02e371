#!/bin/bash
# bench/readers.sh [READERS] [SECONDS] - many concurrent readers through
# the mount with a small RAM cache: READERS processes (default 16) each
# read random 64 KiB pieces of random files for SECONDS (default 30),
# comparing every piece with the source.  Reports the aggregate
# throughput, the errors and wrong bytes seen (both must be 0), the frame
# cache's peak against its bound, and the daemon's peak RSS.  Raw numbers
# in bench/results/readers.tsv.
source "$(dirname "$0")/lib.sh"
READERS=${1:-16}
SECS=${2:-30}
B=bench-readers-$$
awsc s3api create-bucket --bucket "$B" >/dev/null
"$OCB" key generate "$BENCH_TMP/key" >/dev/null
python3 "$TOP/bench/gentree.py" "$BENCH_TMP/agent" --scale 50
cfg=$BENCH_TMP/c.json
bench_config "$B" "$cfg" "\"instanceId\": \"readers\", \"sources\": [\"$BENCH_TMP/agent\"], \"encryption\": {\"keyProvider\": \"keyfile\", \"keyFile\": \"$BENCH_TMP/key\"}, \"cache\": {\"dir\": \"\"}"
"$OCB" --config "$cfg" backup >/dev/null
mnt=$BENCH_TMP/mnt
mkdir -p "$mnt"
"$OCBFS" -f -o config="$cfg",ram_cache=8M "$mnt" 2>"$BENCH_TMP/ocbfs.log" &
pid=$!
trap 'fusermount3 -u "$mnt" 2>/dev/null; wait $pid 2>/dev/null; bench_cleanup' EXIT
while ! mountpoint -q "$mnt"; do sleep 0.1; done	# startup poll, not a measurement
tree=$mnt/readers/latest/agent

cat > "$BENCH_TMP/reader.py" <<'PY'
import os, random, sys, time
tree, src, seed, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
files = [os.path.relpath(os.path.join(d, f), src) for d, _, fs in os.walk(src) for f in fs]
# files the backup has (the default excludes leave node_modules out)
files = [f for f in files if os.path.getsize(os.path.join(src, f)) > 0 and
         os.path.exists(os.path.join(tree, f))]
rnd = random.Random(seed)
done = errors = wrong = 0
end = time.monotonic() + secs
while time.monotonic() < end:
    f = rnd.choice(files)
    size = os.path.getsize(os.path.join(src, f))
    off = rnd.randrange(size)
    n = min(65536, size - off)
    with open(os.path.join(src, f), "rb") as a:
        a.seek(off); want = a.read(n)
    try:
        with open(os.path.join(tree, f), "rb") as b:
            b.seek(off); got = b.read(n)
    except OSError as e:
        errors += 1
        print("error: %s at %d: %s" % (f, off, e), file=sys.stderr)
        continue
    if got != want:
        wrong += 1
        print("wrong: %s at %d, %d bytes: got %d" % (f, off, n, len(got)), file=sys.stderr)
    done += len(got)
print(done, errors, wrong)
PY
rm -f "$RESULTS/readers.errors"
t0=$(date +%s.%N)
readers=()
for i in $(seq 1 "$READERS"); do
	python3 "$BENCH_TMP/reader.py" "$tree" "$BENCH_TMP/agent" "$i" "$SECS" > "$BENCH_TMP/out.$i" 2>> "$RESULTS/readers.errors" &
	readers+=($!)
done
wait "${readers[@]}"
t1=$(date +%s.%N)
read -r bytes errors wrong < <(cat "$BENCH_TMP"/out.* | awk '{ b += $1; e += $2; w += $3 } END { print b, e, w }')
st() { awk -v k="$1" '$1 == k { print $2 }' "$mnt/.ocbfs/stats"; }
{
printf 'measure\tvalue\tunit\tnote\n'
printf 'readers\t%s\tprocesses\t%s s each, random 64 KiB pieces\n' "$READERS" "$SECS"
printf 'throughput\t%s\tMB/s\tof file bytes, all readers\n' "$(mbps "$bytes" "$(echo "$t1 - $t0" | bc -l)")"
printf 'read_errors\t%s\t\t\n' "$errors"
printf 'wrong_pieces\t%s\t\tcompared with the source\n' "$wrong"
printf 'fuse_errors\t%s\t\t\n' "$(st fuse_errors)"
printf 'cache_ram_peak\t%s\tKiB\tbound %s KiB plus the frames readers hold\n' "$(( $(st cache_ram_peak_bytes) / 1024 ))" "$(( $(st cache_ram_limit) / 1024 ))"
printf 'cache_evictions\t%s\t\t\n' "$(st cache_evictions)"
printf 'daemon_peak_rss\t%s\tKiB\t\n' "$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")"
} | tee "$RESULTS/readers.tsv" | column -t -s $'\t'
