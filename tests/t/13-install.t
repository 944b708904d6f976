#!/bin/bash
# make install honours PREFIX and DESTDIR: tools, man pages, migrations, systemd units and timers, cron
# files, web assets; every unit passes systemd-analyze verify against the installed binaries and is
# hardened; make uninstall removes exactly what install put (its manifest), nothing else.
. "$(dirname "$0")/../lib/tap.sh"
dest=$T/root
mk() { make --no-print-directory -C "$TSK_ROOT" BUILD="${TSK_BUILD#$TSK_ROOT/}" "$@"; }
# Something of someone else's already in a directory install uses: uninstall must leave it.
mkdir -p "$dest/etc/cron.d" && echo '# not ours' >"$dest/etc/cron.d/other-job"
mk install DESTDIR="$dest" PREFIX=/opt/tsk >"$T/install.log" 2>&1
ok $? "make install DESTDIR=... PREFIX=/opt/tsk"
for t in tsk-tenant tsk-ingest tsk-query tsk-export tsk-alert tsk-httpd; do
	[ -x "$dest/opt/tsk/bin/$t" ]; ok $? "bin/$t"
	[ -f "$dest/opt/tsk/share/man/man1/$t.1" ]; ok $? "man1/$t.1"
done
[ -f "$dest/opt/tsk/share/man/man7/tsk.7" ] && [ -f "$dest/opt/tsk/share/man/man5/tsk.conf.5" ] &&
	[ -f "$dest/opt/tsk/share/man/man5/tsk-formats.5" ]
ok $? "tsk(7), tsk.conf(5), tsk-formats(5)"
is "$(ls "$dest/opt/tsk/share/tsk/sql/public" "$dest/opt/tsk/share/tsk/sql/tenant" | grep -c '\.sql$')" \
	"$(ls sql/public sql/tenant | grep -c '\.sql$')" "every migration"
is "$(cd systemd && ls)" "$(cd "$dest/lib/systemd/system" && ls)" "every systemd unit and timer"
is "$(ls cron)" "$(ls "$dest/etc/cron.d" | grep -v '^other-job$')" "every cron file"
[ -f "$dest/opt/tsk/share/tsk/web/swagger-ui/swagger-ui-bundle.js" ] && [ -f "$dest/opt/tsk/share/tsk/web/redoc/redoc.standalone.js" ]
ok $? "Swagger UI and ReDoc for tsk-httpd's web_root (share/tsk/web, from make deps)"
is "$(grep -rl '@PREFIX@' "$dest" | wc -l)" 0 "no @PREFIX@ left"
like "$(grep -h '^ExecStart' "$dest/lib/systemd/system/tsk-ingest.service")" '/opt/tsk/bin/tsk-ingest' "units run the installed binary"
like "$(grep -h 'tsk-query' "$dest/etc/cron.d/tsk-refresh")" ' tsk /opt/tsk/bin/tsk-query' "cron files run the installed binary as tsk"
"$dest/opt/tsk/bin/tsk-tenant" --version >/dev/null
ok $? "the installed tool runs"
# Web assets: every file make put under build/web is installed in tsk-httpd's default web_root.
web_want=$(cd "$TSK_BUILD/web" 2>/dev/null && find . -type f ! -name '.*' | sort)
web_got=$(cd "$dest/opt/tsk/share/tsk/web" 2>/dev/null && find . -type f | sort)
is "$web_got" "$web_want" "every web asset of the build under share/tsk/web ($(echo "$web_want" | grep -c .) files)"
# The same hook with assets of every shape (a stylesheet in a subdirectory, a file with a space), from a
# build directory of the test's own: tests/install.sh is what make install runs.
mkdir -p "$T/fakebuild/web/panel/css" "$T/fakebuild/web/redoc"
echo 'body{}' >"$T/fakebuild/web/panel/css/panel.css"
echo 'x' >"$T/fakebuild/web/redoc/a b.js"
echo 'stamp' >"$T/fakebuild/web/.tsk-lock-sha256"
PREFIX=/usr/local DESTDIR=$T/root2 BUILD=$T/fakebuild SYSTEMDUNITDIR=/lib/systemd/system CRONDIR=/etc/cron.d \
	MANIFEST=/usr/local/share/tsk/install-manifest sh tests/install.sh install "$TSK_BUILD/tsk-httpd" >/dev/null
ok $? "tests/install.sh with web assets"
is "$(cd "$T/root2/usr/local/share/tsk/web" && find . -type f | sort | tr '\n' ' ')" './panel/css/panel.css ./redoc/a b.js ' \
	"web assets keep their places; make's stamps are not installed"
DESTDIR=$T/root2 MANIFEST=/usr/local/share/tsk/install-manifest sh tests/install.sh uninstall >/dev/null
is "$(find "$T/root2" -mindepth 1 | wc -l)" 0 "and uninstall removes them all"

# The manifest lists every file installed.
man=$dest/opt/tsk/share/tsk/install-manifest
is "$(grep '^f ' "$man" | cut -c3- | sort)" "$(cd "$dest" && find . -type f ! -path ./etc/cron.d/other-job | sed 's#^\.##' | sort)" \
	"the manifest lists every file installed"

# systemd-analyze verify on the installed units, with their ExecStart= pointing into DESTDIR (verify
# checks that each command exists and is executable) and MANPATH at the installed man pages (it checks
# Documentation=man:...); it needs no running systemd. A warning (unknown key, bad value) fails too.
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$T/units"
	for u in "$dest"/lib/systemd/system/*; do
		sed "s#/opt/tsk/#$dest/opt/tsk/#g" "$u" >"$T/units/${u##*/}"
	done
	vout=$(cd "$T/units" && MANPATH=$dest/opt/tsk/share/man systemd-analyze verify ./*.service ./*.timer 2>&1)
	vrc=$?
	is "$vrc:$vout" "0:" "systemd-analyze verify: every unit and timer, no warning"
	# And it does catch what it should: a missing binary, a misspelt directive.
	rm "$T/units/tsk-httpd.service"
	sed 's#^ProtectSystem=strict#ProtectSystem=strct#' "$dest/lib/systemd/system/tsk-httpd.service" |
		sed "s#/opt/tsk/bin/tsk-httpd#$T/nowhere/tsk-httpd#" >"$T/units/tsk-httpd.service"
	vout=$(cd "$T/units" && MANPATH=$dest/opt/tsk/share/man systemd-analyze verify ./tsk-httpd.service 2>&1)
	like "$vout" 'not executable' "verify catches a missing binary"
	like "$vout" 'protect system value' "verify catches a bad value"
	for u in "$dest"/lib/systemd/system/*.service; do
		n=${u##*/}
		[ "$n" = tsk-httpd.service ] && cp "$u" "$T/units/$n" && sed -i "s#/opt/tsk/#$dest/opt/tsk/#g" "$T/units/$n"
		sec=$(systemd-analyze security --offline=yes --threshold=20 "$T/units/$n" 2>&1)
		ok $? "systemd-analyze security $n: exposure $(sed -n 's/.*exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$sec") (at most 2.0)"
	done
else
	ok 0 "# SKIP systemd-analyze verify: systemd-analyze is not installed (Debian package systemd; make deps installs it)"
fi
# Hardening every service has: a dedicated user, a read-only system, a private /tmp, no new privileges.
for u in systemd/*.service; do
	h=$(grep -cE '^(User=tsk|Group=tsk|ProtectSystem=strict|PrivateTmp=yes|NoNewPrivileges=yes|ProtectHome=yes)$' "$u")
	is "$h" 6 "${u#systemd/}: User=tsk, Group=tsk, ProtectSystem=strict, PrivateTmp, NoNewPrivileges, ProtectHome"
done
grep -q 'useradd --system' README.md && grep -q 'useradd' man/tsk.7
ok $? "README and tsk(7) say how to make the user (install does not)"

# A second install over the first, then uninstall: nothing of ours left, someone else's file kept.
mk install DESTDIR="$dest" PREFIX=/opt/tsk >>"$T/install.log" 2>&1
ok $? "make install again"
mk uninstall DESTDIR="$dest" PREFIX=/opt/tsk >"$T/uninstall.log" 2>&1
ok $? "make uninstall"
is "$(cd "$dest" && find . | sort | tr '\n' ' ')" '. ./etc ./etc/cron.d ./etc/cron.d/other-job ' \
	"uninstall leaves nothing of ours, and what was not ours"
mk uninstall DESTDIR="$dest" PREFIX=/opt/tsk >"$T/uninstall2.log" 2>&1
ok $? "make uninstall with nothing installed"
like "$(cat "$T/uninstall2.log")" 'nothing of ours is installed' "says so"
done_testing
