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

# every unit test has its own timeout (tests/meson.build), wide enough for
# a machine busy with other work
echo "== C unit tests"
meson test -C build --suite unit --print-errorlogs
meson test -C build-asan --suite unit --print-errorlogs

# OCB_LONG=1: the long variants (fuzzing 10 minutes a target, many more
# crash rounds in tests/test_crash.py, a longer soak)
if [ -n "${OCB_LONG:-}" ]; then
	: "${OCB_FUZZ_SECONDS:=600}"
	export OCB_LONG
fi
echo "== fuzz targets (libFuzzer, ASan + UBSan, ${OCB_FUZZ_SECONDS:=20} s each)"
CC=clang setup build-fuzz --buildtype=debug -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
corpus=$(mktemp -d)
crashes=$PWD/build-fuzz/crashes
mkdir -p "$crashes"
for t in catalog trailer header sealed s3xml config gzip; do
	# new inputs go to a scratch corpus; tests/fuzz/inputs/$t seeds it
	mkdir -p "$corpus/$t"
	build-fuzz/tests/fuzz/fuzz_$t -max_total_time="$OCB_FUZZ_SECONDS" \
		-print_final_stats=1 -artifact_prefix="$crashes/$t-" \
		"$corpus/$t" "tests/fuzz/inputs/$t" 2>&1 |
		awk -v t="$t" '/number_of_executed_units/ { print "fuzz_" t ": " $2 " executions, no crash" }
			/ERROR|SUMMARY/ { print; bad = 1 } END { exit bad }' ||
		{ echo "crash input in $crashes: copy it to tests/fuzz/inputs/$t/ with the fix"; exit 1; }
done
rm -rf "$corpus"

# every test has a timeout (pytest-timeout, set in tests/conftest.py):
# 15 minutes, longer for the few tests marked with their own; one past it
# fails with the traceback of where it waited and the run goes on
echo "== pytest (sanitizer build, real mount, real RGW)"
export OCB_BUILD_DIR=$PWD/build-asan
# the one test that measures the daemon's memory runs the release build
export OCB_RELEASE_BUILD_DIR=$PWD/build
# a private base for the tests' temporary directories: pytest keeps only
# the newest three numbered ones under /tmp/pytest-of-<user> and removes
# older ones, also those of a run still going (another pytest on the same
# machine would pull a running suite's files from under it)
basetemp=$(mktemp -d /var/tmp/ocb-pytest-XXXXXX)
/usr/bin/python3 -m pytest tests -p no:cacheprovider -rfE --basetemp="$basetemp" "$@" && rc=0 || rc=$?
rm -rf --one-file-system "$basetemp" 2>/dev/null || true
exit $rc
