#!/bin/bash
# The libraries of backend/ stack in one direction (backend/meson.build,
# docs/ARCHITECTURE.md).  The build already refuses a header from a layer
# above (it is not on the include path); this check also refuses what the
# include path cannot see: a private header (*_i.h) included outside its
# library, and any include that points up the stack.  Unit tests and fuzz
# targets may include the private headers of the library they test.
#
#   tests/check_layers.sh SOURCE_ROOT
set -u
root=${1:-.}
cd "$root" || exit 2
layers=(util store crypto config archive oldtool jobs)

lib_of() {	# lib_of HEADER: the library whose folder holds it, or ""
	local l
	for l in "${layers[@]}"; do
		[ -f "backend/$l/$1" ] && { echo "$l"; return; }
	done
}
rank() {	# rank LIB: its place in the stack
	local i
	for i in "${!layers[@]}"; do
		[ "${layers[$i]}" = "$1" ] && { echo "$i"; return; }
	done
	echo 99
}

while IFS= read -r f; do
	case $f in
	backend/*) from=${f#backend/}; from=${from%%/*} ;;
	*) from= ;;
	esac
	grep -o '^#include "[^"]*"' "$f" | sed 's/#include "//; s/"$//' |
	while IFS= read -r h; do
		to=$(lib_of "$h")
		[ -n "$to" ] || continue
		[ "$to" = "$from" ] && continue
		case $h in
		*_i.h)
			case $f in tests/unit/*|tests/fuzz/*) continue ;; esac
			echo "$f: includes $h, private to backend/$to"
			echo bad ;;
		esac
		if [ -n "$from" ] && [ "$(rank "$to")" -gt "$(rank "$from")" ]; then
			echo "$f: includes $h from backend/$to, a layer above backend/$from"
			echo bad
		fi
	done
done < <(git ls-files '*.c' '*.h' 2>/dev/null || find backend fs tools tests -name '*.[ch]') |
	{ out=$(cat); printf '%s\n' "$out" | grep -v '^bad$' | grep . ; printf '%s\n' "$out" | grep -q '^bad$' && exit 1; exit 0; }
