#!/bin/bash
# Install what ocbfs needs on Debian 12: build dependencies, and with
# --test also what the test suite and benchmarks use (Ceph RGW, awscli,
# pytest and its per-test timeout plugin, clang for fuzzing).  Installs only
# what is missing.
set -euo pipefail

build_pkgs=(meson ninja-build pkg-config gcc libc6-dev libfuse3-dev fuse3
	libcurl4-openssl-dev libssl-dev libarchive-dev libcjson-dev libzstd-dev
	libxml2-dev zlib1g-dev libsqlite3-dev lowdown)
test_pkgs=(python3 python3-pytest python3-pytest-timeout python3-botocore
	awscli ceph-mon ceph-osd radosgw ceph-common swift swift-proxy swift-account
	swift-container swift-object memcached curl attr time clang
	libclang-rt-14-dev pigz gnupg sqlite3 util-linux procps psmisc bc
	bsdextrautils cron debhelper dpkg-dev man-db restic)

want=("${build_pkgs[@]}")
[ "${1:-}" = --test ] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
	--no-install-recommends "${missing[@]}" >/dev/null
