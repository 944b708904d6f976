#!/bin/bash
# make install honours PREFIX and DESTDIR: tools, man pages, migrations, systemd units, cron files.
. "$(dirname "$0")/../lib/tap.sh"
dest=$T/root
make --no-print-directory -C "$TSK_ROOT" BUILD="${TSK_BUILD#$TSK_ROOT/}" install DESTDIR="$dest" PREFIX=/opt/tsk >"$T/install.log" 2>&1
ok $? "make install DESTDIR=... PREFIX=/opt/tsk"
for t in tsk-tenant tsk-ingest tsk-query tsk-export tsk-alert; do
	[ -x "$dest/opt/tsk/bin/$t" ]; ok $? "bin/$t"
	[ -f "$dest/opt/tsk/share/man/man1/$t.1" ]; ok $? "man1/$t.1"
done
[ -f "$dest/opt/tsk/share/man/man7/tsk.7" ] && [ -f "$dest/opt/tsk/share/man/man5/tsk.conf.5" ]
ok $? "tsk(7) and tsk.conf(5)"
is "$(ls "$dest/opt/tsk/share/tsk/sql/public" "$dest/opt/tsk/share/tsk/sql/tenant" | grep -c '\.sql$')" \
	"$(ls sql/public sql/tenant | grep -c '\.sql$')" "every migration"
[ -f "$dest/lib/systemd/system/tsk-ingest.service" ]; ok $? "systemd unit for tsk-ingest"
ls "$dest"/lib/systemd/system/*.timer >/dev/null 2>&1; ok $? "systemd timers"
ls "$dest"/etc/cron.d/tsk-* >/dev/null 2>&1; ok $? "cron files"
[ -f "$dest/opt/tsk/share/tsk/web/swagger-ui/swagger-ui-bundle.js" ] && [ -f "$dest/opt/tsk/share/tsk/web/redoc/redoc.standalone.js" ]
ok $? "Swagger UI and ReDoc for tsk-httpd's web_root (share/tsk/web, from make deps)"
is "$(grep -rl '@PREFIX@' "$dest" | wc -l)" 0 "no @PREFIX@ left"
like "$(grep -h '^ExecStart' "$dest/lib/systemd/system/tsk-ingest.service")" '/opt/tsk/bin/tsk-ingest' "units run the installed binary"
"$dest/opt/tsk/bin/tsk-tenant" --version >/dev/null
ok $? "the installed tool runs"
done_testing
