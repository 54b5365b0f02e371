#!/bin/bash
# Stops what swift-up.sh DIR started (by its pid files) and removes DIR.
D=$(realpath -m "${1:?dir}")
for f in "$D"/run/*.pid; do
	[ -f "$f" ] || continue
	pid=$(cat "$f")
	kill "$pid" 2>/dev/null
	for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null
done
rm -rf "$D"
exit 0
