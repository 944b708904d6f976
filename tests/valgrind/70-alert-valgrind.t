#!/bin/bash
# tsk-alert's paths under valgrind: rules, eval into firing and resolved, list, ack, resolve, silence,
# cleanup, a notify pass (e-mail to a real SMTP server, a webhook refused): no invalid access, no
# definite or indirect leak (exit 99 if any).
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/smtp.sh"
command -v valgrind >/dev/null || { echo "1..0 # SKIP valgrind not installed"; exit 0; }
if ldd "$TSK_BUILD/tsk-alert" | grep -q libasan; then echo "1..0 # SKIP sanitizer build"; exit 0; fi
fresh_db t_alert_vg
export TSK_CONFIG=/dev/null TSK_MAIL_FROM='TrakSense <alertas@traksense.test>'
tsk tenant create --slug umc --name UMC >/dev/null
echo 'Dev@123456' | tsk tenant user add o@umc.test >/dev/null
tsk tenant member add umc o@umc.test --role owner >/dev/null
tsk tenant set umc webhook_url "http://127.0.0.1:$(tsk_free_port)/x" >/dev/null
tsk tenant set umc webhook_secret webhook-secret-0123456789 >/dev/null
q "INSERT INTO umc.site (name) VALUES ('S'); INSERT INTO umc.asset (tag, site_id) SELECT 'CH-1', id FROM umc.site;
   INSERT INTO umc.device (device_id, asset_id) SELECT 'd', id FROM umc.asset;
   INSERT INTO umc.sensor (device_id, sensor_id) VALUES ('d', 't');
   INSERT INTO umc.reading (device_id, sensor_id, ts, value) SELECT 'd', 't', timestamptz '2026-01-10 12:00Z' + make_interval(mins => m), 30 FROM generate_series(0, 10) m" >/dev/null
vg() { tsk_vg alert "$@" >"$T/out" 2>"$T/err"; local rc=$?; [ $rc -ne 99 ] || sed 's/^/# /' "$T/err"; return $rc; }

printf '%s\n' '{"name":"Quente","equipment":"CH-1","actions":["EMAIL","IN_APP","WEBHOOK"],"parameters":[{"parameter_key":"t","operator":">","threshold":25,"severity":"High","duration":5,"message_template":"{sensor} {value} {operator} {threshold}{unit} {x}"}]}' \
	'{"name":"x","equipment":"CH-1","actions":[]}' 'not json' | vg rule add --tenant umc
is $? 3 "rule add, with refused lines"
vg rule list --tenant umc --format table;        is $? 0 "rule list"
vg rule show 1 --tenant umc;                     is $? 0 "rule show"
echo '{"description":"d","parameters":[{"parameter_key":"t","operator":">=","threshold":25.5,"duration":5}]}' | vg rule set 1 --tenant umc
is $? 0 "rule set"
vg eval --at 2026-01-10T12:10:00Z;               is $? 0 "eval: fires"
like "$(cat "$T/out")" '"event":"firing"' "it fired"
vg eval --at 2026-01-10T12:10:00Z --tenant umc;  is $? 0 "eval again: nothing changes"
vg list --tenant umc --format csv;               is $? 0 "list"
smtp_start
TSK_SMTP_URL=smtp://127.0.0.1:$SMTP_PORT TSK_NOW=2026-01-10T12:10:00Z vg notify --once
is $? 0 "notify: e-mail sent, in-app stored, webhook refused (retried)"
is "$(cat "$T/out")" '{"sent":2,"retried":1,"failed":0}' "what it did"
vg ack 1 --tenant umc --notes vi;                is $? 0 "ack"
vg ack 1 --tenant umc;                           is $? 2 "ack twice"
vg silence 1 --tenant umc --until +1h;           is $? 0 "silence"
q "INSERT INTO umc.reading (device_id, sensor_id, ts, value) VALUES ('d', 't', '2026-01-10 12:11Z', 20)" >/dev/null
vg eval --at 2026-01-10T12:11:00Z;               is $? 0 "eval: resolves"
vg resolve 1 --tenant umc;                       is $? 2 "resolve a resolved alert"
vg cleanup --days 1;                             is $? 0 "cleanup"
vg rule disable 1 --tenant umc;                  is $? 0 "rule disable"
vg rule rm 1 --tenant umc;                       is $? 0 "rule rm"
vg rule rm 1 --tenant umc;                       is $? 2 "rule rm again"
vg eval --at yesterday-ish;                      is $? 2 "a bad --at"
done_testing
