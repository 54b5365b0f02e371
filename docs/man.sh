#!/bin/sh
# Build a man page.
#   man.sh md IN.md OUT NAME SECTION    a page of docs/ (markdown) through lowdown
#   man.sh cmd OCB SUBCOMMAND OUT       ocb-SUBCOMMAND(1) from `ocb SUBCOMMAND --help`
set -eu
case "$1" in
md)
	# "# ocb(1)" is the title; "## NAME" and the like are the sections
	sed -e '1{/^# /d}' -e 's/^## /# /' -e 's/^### /## /' "$2" |
		lowdown -s -Tman -m "title: $4" -m "section: $5" \
			-m "source: ocbfs" -o "$3"
	;;
cmd)
	ocb=$2 sub=$3 out=$4
	help=$("$ocb" "$sub" --help)
	summary=$("$ocb" --help | awk -v s="$sub" '$1 == s { $1 = ""; sub(/^ +/, ""); print; exit }')
	{
		printf '.TH OCB-%s 1 "" ocbfs "ocbfs manual"\n' "$(echo "$sub" | tr a-z A-Z)"
		printf '.SH NAME\nocb-%s \\- %s\n' "$sub" "${summary:-ocb $sub}"
		printf '.SH DESCRIPTION\n.nf\n'
		printf '%s\n' "$help" | sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\\&'/"
		printf '.fi\n.SH SEE ALSO\nocb(1), ocb-config(5), ocbfs(1)\n'
	} > "$out"
	;;
*)
	echo "usage: man.sh md IN OUT NAME SECTION | cmd OCB SUB OUT" >&2
	exit 2
	;;
esac
