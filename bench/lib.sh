# bench/lib.sh - shared by the benchmark scripts: build, RGW, timing.
# Source it; it sets TOP, OCB, OCBFS, RESULTS and starts RGW unless
# OCB_TEST_ENDPOINT names a running one.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$TOP"
bash packaging/deps.sh --test
BUILD=${OCB_BENCH_BUILD:-build}	# a release build directory under TOP
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" --buildtype=release >/dev/null
fi
ninja -C "$BUILD" >/dev/null
OCB=$TOP/$BUILD/tools/ocb
OCBFS=$TOP/$BUILD/fs/ocbfs
RESULTS=$TOP/bench/results
mkdir -p "$RESULTS"
AWS=/usr/bin/aws

export AWS_ACCESS_KEY_ID=${OCB_TEST_ACCESS_KEY:-access}
export AWS_SECRET_ACCESS_KEY=${OCB_TEST_SECRET_KEY:-secret}
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true

BENCH_TMP=$(mktemp -d /var/tmp/ocb-bench-XXXXXX)
bench_cleanup() {
	[ -n "${RGW_DIR:-}" ] && bash "$TOP/tests/ceph-down.sh" "$RGW_DIR" >/dev/null 2>&1
	rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT

if [ -n "${OCB_TEST_ENDPOINT:-}" ]; then
	ENDPOINT=$OCB_TEST_ENDPOINT
else
	RGW_DIR=$BENCH_TMP/rgw
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	MONPORT=$((PORT + 1)) bash "$TOP/tests/ceph-up.sh" "$RGW_DIR" "$PORT" >/dev/null
	ENDPOINT=http://127.0.0.1:$PORT
fi

awsc() { "$AWS" --endpoint-url "$ENDPOINT" "$@"; }

# seconds elapsed running "$@" (stdout/stderr discarded)
timeit() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>&1
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
}

# peak RSS in KiB of "$@"
peak_rss_kib() {
	/usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1
}

# the restored tree $2 equals the source $1 (ocb stores SQLite databases as
# online-backup snapshots: compared by their dump, not byte for byte; their
# -wal and -shm files are not stored)
same_tree() {
	local db
	diff -rq -x '*.sqlite' -x '*.sqlite-wal' -x '*.sqlite-shm' "$1" "$2" >&2 || return 1
	while read -r db; do
		cmp -s <(sqlite3 "$1/$db" .dump) <(sqlite3 "$2/$db" .dump) || { echo "$db differs" >&2; return 1; }
	done < <(cd "$1" && find . -name '*.sqlite')
}

mbps() { echo "scale=1; $1 / 1000000 / $2" | bc -l; }

# write a config for bucket $1 into $2 (mode 0600), extra JSON fields in $3
bench_config() {
	local bucket=$1 path=$2 extra=${3:-}
	umask 077
	cat > "$path" <<JSON
{
  "region": "us-east-1",
  "s3": { "bucket": "$bucket", "endpoint": "$ENDPOINT" }${extra:+,
  $extra}
}
JSON
	umask 022
}

# tests/gateproxy.py in front of RGW, shaped (delay_ms per round trip,
# rate_MBps per connection; 0 0: loopback): its endpoint in PEP
PROXY_PID=
proxy_up() {	# delay_ms rate_MBps
	rm -f "$BENCH_TMP/port" "$BENCH_TMP/stats"
	python3 "$TOP/tests/gateproxy.py" "$ENDPOINT" --delay-ms "$1" --rate-mbps "$2" \
		--port-file "$BENCH_TMP/port" --stats-file "$BENCH_TMP/stats" &
	PROXY_PID=$!
	for _ in $(seq 1 100); do [ -f "$BENCH_TMP/port" ] && break; sleep 0.05; done
	PEP=http://127.0.0.1:$(cat "$BENCH_TMP/port")
}
proxy_down() {
	kill "$PROXY_PID"; wait "$PROXY_PID" || true; PROXY_PID=
}
proxy_stats() {	# the counters since the last proxy_zero, as "bytes gets mean peak"
	rm -f "$BENCH_TMP/stats"
	kill -USR1 "$PROXY_PID"
	for _ in $(seq 1 100); do [ -s "$BENCH_TMP/stats" ] && break; sleep 0.02; done
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["bytes_down"], d["gets"], d["inflight_mean"], d["inflight_peak"])' "$BENCH_TMP/stats"
}
proxy_zero() { kill -USR2 "$PROXY_PID"; sleep 0.1; }
