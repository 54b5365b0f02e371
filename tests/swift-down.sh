#!/bin/bash
# Stops what swift-up.sh DIR started (by its pid files) and removes DIR:
# SIGTERM to all at once, SIGKILL to any still there after 5 s.
D=$(realpath -m "${1:?dir}")
pids=()
for f in "$D"/run/*.pid; do
	[ -f "$f" ] && pids+=("$(cat "$f")")
done
[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
for i in $(seq 50); do
	alive=()
	for pid in "${pids[@]}"; do
		kill -0 "$pid" 2>/dev/null && alive+=("$pid")
	done
	[ ${#alive[@]} -eq 0 ] && break
	sleep 0.1	# poll for their exit
done
for pid in "${alive[@]}"; do kill -9 "$pid" 2>/dev/null; done
rm -rf "$D"
exit 0
