#!/bin/bash
# The ocbfs demo, on a fresh Debian 12 machine (as root or with sudo):
# builds ocbfs, makes a sample agent state directory, backs it up into a
# local-directory store (the embedded default, no cloud account needed),
# mounts the store with ocbfs, lists and reads the backup, and unmounts.
#
#   packaging/demo.sh [WORKDIR]      (default /tmp/ocb-demo)
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
W=$(realpath -m "${1:-/tmp/ocb-demo}")

bash packaging/deps.sh
if [ ! -f build/build.ninja ]; then
	meson setup build --buildtype=release >/dev/null
fi
ninja -C build >/dev/null
OCB=$TOP/build/tools/ocb
OCBFS=$TOP/build/fs/ocbfs

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }

# a previous run's mount must not survive
fusermount3 -u -z "$W/mnt" 2>/dev/null || true
rm -rf "$W"
mkdir -p "$W"/{store,mnt,cache}

# sample agent state, shaped like ~/.openclaw
S=$W/home/.openclaw
mkdir -p "$S"/{workspace/memory,workspace/projects/site,skills/aws-backup,agents/main,credentials}
cat > "$S/openclaw.json" <<'JSON'
{ "agent": { "name": "demo", "model": "default" }, "gateway": { "port": 18789 } }
JSON
for d in 01 02 03 04 05 06 07; do
	printf '# 2026-11-%s\n\n- talked to the user about backups\n- decided to snapshot before upgrades\n' "$d" \
		> "$S/workspace/memory/2026-11-$d.md"
done
printf 'You are a careful agent.\n' > "$S/workspace/SOUL.md"
printf '<html><body>hello</body></html>\n' > "$S/workspace/projects/site/index.html"
printf '# aws-backup skill\n' > "$S/skills/aws-backup/SKILL.md"
head -c 3000000 /dev/urandom > "$S/agents/main/session.bin"
printf 'token-for-demo-only\n' > "$S/credentials/api.token"
chmod 600 "$S/credentials/api.token"
ln -s workspace/SOUL.md "$S/SOUL.md"

"$OCB" key generate "$W/master.key" >/dev/null
umask 077
cat > "$W/config.json" <<JSON
{
  "instanceId": "demo",
  "store": "file://$W/store",
  "sources": ["$S"],
  "encryption": { "keyProvider": "keyfile", "keyFile": "$W/master.key" },
  "cache": { "dir": "$W/cache" }
}
JSON
umask 022
export OCB_CONFIG=$W/config.json

run "$OCB" backup
printf 'a new memory\n' > "$S/workspace/memory/2026-11-08.md"
run "$OCB" backup --label after-new-memory
run "$OCB" list

"$OCBFS" -o config="$W/config.json" "$W/mnt"
trap 'fusermount3 -u "$W/mnt" 2>/dev/null || true' EXIT
run ls -l "$W/mnt" "$W/mnt/demo"
run ls -l "$W/mnt/demo/latest/openclaw/workspace/memory"
run cat "$W/mnt/demo/latest/openclaw/workspace/memory/2026-11-08.md"
run diff -r "$S" "$W/mnt/demo/latest/openclaw"
run cat "$W/mnt/.ocbfs/stats"
printf 'before the upgrade\n' > "$S/workspace/memory/2026-11-09.md"
run mkdir "$W/mnt/snapshots/before-upgrade"
run cat "$W/mnt/snapshots/before-upgrade/wait"
run cat "$W/mnt/snapshots/before-upgrade/progress"
run ls -l "$W/mnt/snapshots/before-upgrade/backup/openclaw/workspace/memory"
run ls -l "$W/mnt/demo"
say "fusermount3 -u $W/mnt"
fusermount3 -u "$W/mnt"
trap - EXIT
printf '\ndemo done: store in %s, config in %s\n' "$W/store" "$W/config.json"
