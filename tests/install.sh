#!/bin/sh
# make install / make uninstall. Every file it installs and every directory it had to create is
# written to a manifest (PREFIX/share/tsk/install-manifest, one "f PATH" or "d PATH" a line, paths
# without DESTDIR); uninstall removes exactly those files, then those directories that are empty.
#   PREFIX=... DESTDIR=... BUILD=... SYSTEMDUNITDIR=... CRONDIR=... MANIFEST=... install.sh install TOOL...
#   DESTDIR=... MANIFEST=... install.sh uninstall
# A second install adds to the manifest (what the first put stays listed), so one uninstall removes both.
set -eu
cd "$(dirname "$0")/.."

case ${MANIFEST:?} in /*) ;; *) echo "install: PREFIX must be an absolute path" >&2; exit 2 ;; esac
M=${DESTDIR:-}$MANIFEST
new=$(mktemp)
trap 'rm -f "$new"' EXIT

# mkd DIR: DIR under DESTDIR, each component install creates recorded (outermost first).
mkd() {
	[ "$1" != / ] && [ "$1" != . ] || return 0
	[ -d "${DESTDIR:-}$1" ] && return 0
	mkd "$(dirname "$1")"
	mkdir "${DESTDIR:-}$1"
	chmod 0755 "${DESTDIR:-}$1"
	echo "d $1" >>"$new"
}
# put MODE SRC DEST: SRC installed as the file DEST (DEST without DESTDIR).
put() {
	mkd "$(dirname "$3")"
	install -m "$1" "$2" "${DESTDIR:-}$3"
	echo "f $3" >>"$new"
}
# gen SRC DEST: SRC with @PREFIX@ replaced (units, cron files).
gen() {
	mkd "$(dirname "$2")"
	sed "s#@PREFIX@#$PREFIX#g" "$1" >"${DESTDIR:-}$2.tmp"
	chmod 0644 "${DESTDIR:-}$2.tmp"
	mv "${DESTDIR:-}$2.tmp" "${DESTDIR:-}$2"
	echo "f $2" >>"$new"
}

install_all() {
	: "${PREFIX:?}" "${BUILD:?}" "${SYSTEMDUNITDIR:?}" "${CRONDIR:?}"
	case $PREFIX in /*) ;; *) echo "install: PREFIX must be an absolute path" >&2; exit 2 ;; esac
	[ -z "${DESTDIR:-}" ] || mkdir -p "$DESTDIR"  # the staging root itself is not ours to remove
	for t in "$@"; do put 0755 "$t" "$PREFIX/bin/$(basename "$t")"; done
	for m in man/*.[0-9]; do put 0644 "$m" "$PREFIX/share/man/man${m##*.}/$(basename "$m")"; done
	# The tools carry their migrations (compiled in); the files are for people and other tools.
	for q in sql/public/*.sql sql/tenant/*.sql; do put 0644 "$q" "$PREFIX/share/tsk/$q"; done
	for u in systemd/*.service systemd/*.timer; do [ -f "$u" ] && gen "$u" "$SYSTEMDUNITDIR/$(basename "$u")"; done
	for c in cron/*; do [ -f "$c" ] && gen "$c" "$CRONDIR/$(basename "$c")"; done
	# Web assets: every file make put under BUILD/web (Swagger UI, ReDoc, the panel's stylesheet, ...),
	# keeping its place, into tsk-httpd's default web_root. Dot files are make's stamps.
	if [ -d "$BUILD/web" ]; then
		(cd "$BUILD/web" && find . -type f ! -name '.*' | sed 's#^\./##' | LC_ALL=C sort) | while IFS= read -r w; do
			put 0644 "$BUILD/web/$w" "$PREFIX/share/tsk/web/$w"
		done
	fi
	mkd "$(dirname "$MANIFEST")"
	echo "f $MANIFEST" >>"$new"
	# Directories first (outermost first), then files; what an earlier install listed stays listed.
	{ [ -f "$M" ] && cat "$M"; cat "$new"; } | awk '!seen[$0]++' | LC_ALL=C sort -s -k1,1 >"$M.tmp"
	mv "$M.tmp" "$M"
	chmod 0644 "$M"
	echo "installed $(grep -c '^f ' "$M") files under ${DESTDIR:-}$PREFIX, ${DESTDIR:-}$SYSTEMDUNITDIR and ${DESTDIR:-}$CRONDIR (list: $M)"
}

uninstall_all() {
	if [ ! -f "$M" ]; then
		echo "uninstall: no manifest at $M: nothing of ours is installed there" >&2
		return 0
	fi
	cp "$M" "$new"
	n=0
	while read -r kind path; do
		[ "$kind" = f ] || continue
		rm -f "${DESTDIR:-}$path"
		n=$((n + 1))
	done <"$new"
	# Innermost first; a directory that holds anything else (a local file) stays, and is named.
	grep '^d ' "$new" | cut -c3- | LC_ALL=C sort -r | while IFS= read -r d; do
		[ -d "${DESTDIR:-}$d" ] || continue
		rmdir "${DESTDIR:-}$d" 2>/dev/null || echo "uninstall: kept ${DESTDIR:-}$d (not empty)" >&2
	done
	echo "removed $n files listed in $M"
}

case ${1:-} in
install) shift; install_all "$@" ;;
uninstall) uninstall_all ;;
*) echo "usage: install.sh install TOOL... | uninstall" >&2; exit 2 ;;
esac
