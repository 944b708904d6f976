#!/bin/bash
# tsk-alert notify against real servers: an SMTP server (python3-aiosmtpd) and an HTTP receiver that
# checks the webhook signature. Both down: in-app delivered, the others retried with backoff and every
# attempt recorded; back up: delivered once, with the right subject, parts and signature; one channel
# failing does not hold back the others; a webhook answering 500 is retried; after the last attempt a
# row is failed; kill -9 in the middle of a delivery loses nothing (it is delivered again); SIGTERM stops
# the service.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/smtp.sh"
fresh_db t_alert_notify
export TSK_CONFIG=/dev/null TSK_MAIL_FROM='TrakSense <alertas@traksense.test>'
tsk tenant create --slug umc --name UMC >/dev/null
S=$(q "SELECT schema_name FROM public.tenant WHERE slug = 'umc'")
for u in owner@umc.test viewer@umc.test; do echo 'Dev@123456' | tsk tenant user add $u >/dev/null; done
tsk tenant member add umc owner@umc.test --role owner >/dev/null
tsk tenant member add umc viewer@umc.test --role viewer >/dev/null
SECRET=webhook-secret-0123456789abcdef
HPORT=$(tsk_free_port)
tsk tenant set umc webhook_url "http://127.0.0.1:$HPORT/hooks/tsk" >/dev/null
tsk tenant set umc webhook_secret "$SECRET" >/dev/null
tsk tenant set umc webhook_url "ftp://x" >/dev/null 2>&1
is $? 2 "webhook_url must be http(s)"
tsk tenant set umc webhook_secret short >/dev/null 2>&1
is $? 2 "webhook_secret must be at least 16 characters"

q "INSERT INTO $S.site (name) VALUES ('Site1');
   INSERT INTO $S.asset (tag, name, site_id) SELECT 'CH-1', 'Chiller 1', id FROM $S.site;
   INSERT INTO $S.device (device_id, asset_id) SELECT 'dev1', id FROM $S.asset;
   INSERT INTO $S.sensor (device_id, sensor_id, unit) VALUES ('dev1', 'CH-1_temp', '°C')" >/dev/null
rd() {
	q "INSERT INTO $S.reading (device_id, sensor_id, ts, value) SELECT 'dev1', 'CH-1_temp',
	   timestamptz '2026-01-10 12:00Z' + make_interval(mins => m), $3 FROM generate_series($1, $2) m
	   ON CONFLICT (device_id, sensor_id, ts) DO UPDATE SET value = EXCLUDED.value" >/dev/null
}
# t SECONDS: the instant 12:00 + SECONDS.
t() { date -u -d "@$((1768046400 + $1))" +%Y-%m-%dT%H:%M:%SZ; }
notify() { TSK_NOW=$(t "$1") tsk alert notify --once 2>>"$T/notify.err"; }
status() { q "SELECT string_agg(channel || ':' || status || ':' || attempts, ',' ORDER BY channel, id) FROM $S.alert_notification WHERE event = '$1'"; }

echo '{"name":"Temperatura alta","equipment":"CH-1","actions":["EMAIL","IN_APP","WEBHOOK"],"parameters":[{"parameter_key":"CH-1_temp","operator":">","threshold":25,"severity":"high","duration":2,"unit":"°C","message_template":"Temperatura de {value}{unit} acima de {threshold}{unit}"}]}' |
	tsk alert rule add --tenant umc >/dev/null
rd 0 10 30
like "$(tsk alert eval --tenant umc --at "$(t 600)")" '"event":"firing"' "12:10: the rule fires"
is "$(status firing)" "EMAIL:pending:0,EMAIL:pending:0,IN_APP:pending:0,IN_APP:pending:0,WEBHOOK:pending:0" "five outbox rows"

# --- everything down ----------------------------------------------------------------------------------
export TSK_SMTP_URL=smtp://127.0.0.1:$(tsk_free_port)
out=$(notify 600)
is "$out" '{"sent":2,"retried":3,"failed":0}' "SMTP and the receiver down: in-app delivered, three to retry"
is "$(status firing)" "EMAIL:pending:1,EMAIL:pending:1,IN_APP:sent:1,IN_APP:sent:1,WEBHOOK:pending:1" "one attempt each"
is "$(q "SELECT count(*) FROM $S.alert_notification_attempt WHERE NOT ok AND error <> ''")" 3 "the failed attempts are recorded with why"
is "$(q "SELECT DISTINCT next_attempt FROM $S.alert_notification WHERE status = 'pending'")" "2026-01-10 12:10:30+00" "retried 30 s later"
like "$(q "SELECT last_error FROM $S.alert_notification WHERE channel = 'WEBHOOK'")" 'webhook http://127.0.0.1:[0-9]+/hooks/tsk: ' "the webhook's error"
is "$(notify 620)" '{"sent":0,"retried":0,"failed":0}' "20 s later nothing is due yet"

# --- back up -----------------------------------------------------------------------------------------------
smtp_start
export TSK_SMTP_URL=smtp://127.0.0.1:$SMTP_PORT
hook_start "$SECRET" "$HPORT"
ok $? "SMTP server and webhook receiver up"
is "$(notify 631)" '{"sent":3,"retried":0,"failed":0}' "at 12:10:31 the three are delivered"
is "$(status firing)" "EMAIL:sent:2,EMAIL:sent:2,IN_APP:sent:1,IN_APP:sent:1,WEBHOOK:sent:2" "all sent"
is "$(smtp_count)" 2 "two e-mails arrived"
m=$(mail_json 1)
jf() { printf '%s' "$1" | /usr/bin/python3 -c "import json,sys; v=json.load(sys.stdin)$2; print(v if isinstance(v,str) else json.dumps(v, ensure_ascii=False))"; }
is "$(jf "$m" '["subject"]')" "[HIGH] Alert: Temperatura alta" "subject [HIGH] Alert: rule"
like "$(jf "$m" '["text"]')" 'Temperatura de 30\.0°C acima de 25\.0°C' "the plain-text part holds the message"
like "$(jf "$m" '["html"]')" '<a href="http://localhost:5173/alerts/[0-9]+">' "the HTML part links the alert"
is "$( (jf "$(mail_json 1)" '["envelope"]["rcpt_tos"][0]'; jf "$(mail_json 2)" '["envelope"]["rcpt_tos"][0]') | sort | tr '\n' ' ')" \
	"owner@umc.test viewer@umc.test " "one to each member"
is "$(hook_count)" 1 "one webhook request"
h=$(hook_json 1)
is "$(jf "$h" '["signature_ok"]')" true "its X-Tsk-Signature is the HMAC of the body with the tenant's secret"
is "$(jf "$h" '["path"]')" "/hooks/tsk" "posted to webhook_url"
is "$(jf "$h" '["body"]["event"]')" firing "event firing"
is "$(jf "$h" '["timestamp"]')" "$(jf "$h" '["body"]["timestamp"]')" "X-Tsk-Timestamp is the signed body's timestamp"
is "$(jf "$h" '["body"]["alert"]["severity"]')" High "the alert in the body"
is "$(notify 700)" '{"sent":0,"retried":0,"failed":0}' "nothing sent twice"

# --- a failing channel does not hold back the others; a 500 is retried ------------------------------------------------
smtp_stop
touch "$HOOK_DIR/fail"
rd 11 12 20
like "$(tsk alert eval --tenant umc --at "$(t 720)")" '"event":"resolved"' "12:12: resolved"
is "$(notify 720)" '{"sent":2,"retried":3,"failed":0}' "SMTP down, the receiver answers 500: in-app delivered, the rest retried"
like "$(q "SELECT last_error FROM $S.alert_notification WHERE channel = 'WEBHOOK' AND event = 'resolved'")" 'HTTP 500' "the 500 recorded"
rm -f "$HOOK_DIR/fail"
is "$(notify 751)" '{"sent":1,"retried":2,"failed":0}' "the receiver is fine again: the webhook goes, the e-mails wait for SMTP"
is "$(jf "$(hook_json 3)" '["body"]["event"]')" resolved "the resolved event arrived (after the refused one)"

# --- the last attempt --------------------------------------------------------------------------------------------------
for s in 900 2000 4000 8000 16000 32000 64000 128000; do out=$(notify $s); done
is "$out" '{"sent":0,"retried":0,"failed":2}' "after 10 attempts the e-mails are failed for good"
is "$(status resolved)" "EMAIL:failed:10,EMAIL:failed:10,IN_APP:sent:1,IN_APP:sent:1,WEBHOOK:sent:2" "their rows say so"
is "$(q "SELECT count(*) FROM $S.alert_notification_attempt a JOIN $S.alert_notification n ON n.id = a.notification_id WHERE n.event = 'resolved' AND n.channel = 'EMAIL'")" 20 "every attempt recorded"

# --- kill -9 in the middle of a delivery ------------------------------------------------------------------------------------
rd 13 20 31
like "$(tsk alert eval --tenant umc --at "$(t 1200)")" '"pending"' "12:20: pending again"
q "UPDATE $S.alert SET resolved_at = '2026-01-10 11:00Z' WHERE resolved" >/dev/null
like "$(tsk alert eval --tenant umc --at "$(t 1200)")" '"event":"firing"' "fires"
q "UPDATE $S.alert_notification SET status = 'skipped' WHERE status = 'pending' AND channel <> 'WEBHOOK'" >/dev/null
before=$(hook_count)
touch "$HOOK_DIR/hold"
TSK_NOW=$(t 1200) "$TSK_BUILD/tsk-alert" notify --interval 1 2>>"$T/notify.err" &
pid=$!
held() { ls "$HOOK_DIR" | grep -q '^held\.'; }
wait_for 30 held
ok $? "the receiver holds the webhook request"
kill -9 $pid
wait $pid 2>/dev/null
rm -f "$HOOK_DIR/hold"
wait_for 30 eval '[ "$(hook_count)" -gt '"$before"' ]'
ok $? "the held request completed at the receiver"
wait_for 30 eval '[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE state = '"'idle in transaction'"'")" = 0 ]'
is "$(status firing | tr ',' '\n' | grep WEBHOOK | tail -1)" "WEBHOOK:pending:0" "the killed notifier recorded nothing: the row is still pending"
is "$(notify 1200)" '{"sent":1,"retried":0,"failed":0}' "the next pass delivers it"
is "$(( $(hook_count) - before ))" 2 "delivered twice (at least once), never lost"

# --- the service stops on SIGTERM ------------------------------------------------------------------------------------------------
"$TSK_BUILD/tsk-alert" -v notify --interval 1 2>"$T/svc.err" &
pid=$!
wait_for 30 grep -q 'delivering every 1 s' "$T/svc.err"
kill -TERM $pid
wait $pid
is $? 0 "notify exits 0 on SIGTERM"
tsk alert notify --interval 0 >/dev/null 2>&1
is $? 2 "--interval 0: exit 2"
done_testing
