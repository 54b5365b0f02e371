#!/bin/bash
# Build the Debian package from this tree (its files as they are now, but
# not what .gitignore leaves out):
#   packaging/build-deb.sh [OUTDIR]     (default: build-deb/)
# Needs: dpkg-dev, debhelper and the build dependencies of
# packaging/debian/control (packaging/deps.sh --package installs them).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$top/build-deb}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=$work/ocbfs-0.1.0
mkdir -p "$src" "$out"
(cd "$top" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$src")
cp -r "$top/packaging/debian" "$src/debian"
(cd "$src" && dpkg-buildpackage -b -us -uc -j"$(nproc)" >"$work/build.log" 2>&1) || {
	tail -40 "$work/build.log" >&2
	exit 1
}
mv "$work"/*.deb "$out/"
ls "$out"/*.deb
