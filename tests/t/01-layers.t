#!/bin/bash
# lib/ is grouped by layer, and each folder may use only the layers below it (README.md, "The library"):
#   core      nothing else of lib/
#   pg        core
#   model     core
#   registry  core, pg
#   ingest    core, pg, model, registry
#   query     core, pg, model, registry
#   cli       anything (only cli/ prints to stdout or reads the terminal)
# Later layers (notify, http, alert, panel) may use anything but cli/. Includes are written "layer/name.h".
. "$(dirname "$0")/../lib/tap.sh"

allowed() {
	case $1 in
	core) echo "core" ;;
	pg) echo "core pg" ;;
	model) echo "core model" ;;
	registry) echo "core pg registry" ;;
	ingest) echo "core pg model registry ingest" ;;
	query) echo "core pg model registry query" ;;
	cli) echo "core pg model registry ingest query cli" ;;
	*) echo "core pg model registry ingest query notify http alert panel" ;;
	esac
}

# Every library source sits in a layer folder.
loose=$(ls lib/*.[ch] 2>/dev/null)
is "$loose" "" "no source file directly under lib/"

for dir in lib/*/; do
	layer=$(basename "$dir")
	ok_layers=" $(allowed "$layer") "
	bad=""
	for f in "$dir"*.[ch]; do
		[ -e "$f" ] || continue
		while IFS= read -r inc; do
			dep=${inc%%/*}
			case $inc in */*) ;; *) bad="$bad $f:\"$inc\"(no layer)"; continue ;; esac
			case $ok_layers in *" $dep "*) ;; *) bad="$bad $f:\"$inc\"" ;; esac
		done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
	done
	is "$bad" "" "lib/$layer includes only $(allowed "$layer")"
done

# Only cli/ writes to stdout or reads the terminal; core/log.c is the log (stderr) and nothing else.
# Comments are blanked first (perl keeps the line numbers), so prose about stdin does not count.
prints=$(for f in lib/*/*.[ch]; do
	case $f in lib/cli/* | lib/core/log.c) continue ;; esac
	perl -0777 -pe 's{/\*.*?\*/}{ (my $c = $&) =~ s/[^\n]//g; $c }gse; s{//[^\n]*}{}g' "$f" |
		grep -nE '\b(printf|puts|putchar|getchar|scanf|perror|isatty|getpass)[[:space:]]*\(|\bstd(out|in)\b|fprintf[[:space:]]*\([[:space:]]*stderr' |
		sed "s|^|$f:|"
done)
is "$prints" "" "outside cli/ (and the log), lib/ never prints or reads the terminal"

# The tools are built from bin/ and the library only through "layer/name.h" includes.
bad=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^/"]+"' bin/*.c | grep -v '"tap.h"')
is "$bad" "" "bin/ includes library headers by layer"

done_testing
