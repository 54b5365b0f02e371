#!/bin/bash
# The whole test suite, from a clean clone on Debian 12 (run as root, or
# with sudo available): installs what is missing, builds the normal and the
# sanitizer (ASan + UBSan) builds, runs the C unit tests on both, then the
# pytest suite (real FUSE mounts, real Ceph RGW started by the fixtures)
# against the sanitizer build.  Ends with pytest's summary line.
#
#   tests/run-all.sh [pytest arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."

bash packaging/deps.sh --test

setup() {	# setup DIR [meson options...]
	local dir=$1; shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
	# quiet unless it fails: then the compiler's messages are shown
	ninja -C "$dir" > "$dir/build-output.log" 2>&1 || { cat "$dir/build-output.log"; return 1; }
}

echo "== build (release, -Werror)"
setup build --buildtype=release
echo "== build (ASan + UBSan)"
setup build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}

echo "== C unit tests"
meson test -C build --suite unit --print-errorlogs
meson test -C build-asan --suite unit --print-errorlogs

echo "== fuzz targets (libFuzzer, ASan + UBSan, ${OCB_FUZZ_SECONDS:=20} s each)"
CC=clang setup build-fuzz --buildtype=debug -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
seeds=$(mktemp -d)
OCB_FUZZ_SEED_DIR=$seeds build-asan/tests/test_format >/dev/null 2>&1
for t in catalog trailer s3xml config gzip; do
	mkdir -p "$seeds/$t"
	[ "$t" = catalog ] && cp "$seeds/catalog-seed" "$seeds/$t/"
	if [ "$t" = gzip ]; then	# one member, and two concatenated
		seq 1 3000 | gzip -c > "$seeds/$t/one.gz"
		{ seq 1 900 | gzip -c; seq 5 700 | gzip -1 -c; } > "$seeds/$t/two.gz"
	fi
	build-fuzz/tests/fuzz/fuzz_$t -max_total_time="$OCB_FUZZ_SECONDS" \
		-print_final_stats=1 "$seeds/$t" 2>&1 |
		awk -v t="$t" '/number_of_executed_units/ { print "fuzz_" t ": " $2 " executions, no crash" }
			/ERROR|SUMMARY/ { print; bad = 1 } END { exit bad }'
done
rm -rf "$seeds"

echo "== pytest (sanitizer build, real mount, real RGW)"
export OCB_BUILD_DIR=$PWD/build-asan
exec /usr/bin/python3 -m pytest tests -p no:cacheprovider -rfE "$@"
