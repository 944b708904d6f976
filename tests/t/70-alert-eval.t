#!/bin/bash
# tsk-alert's lifecycle with --at (absolute instants, readings written at known times): ok → pending for
# less than the duration → firing (judged on the whole window) → a repeat after the cooldown → ack
# suppresses repeats → auto-resolve with the resolving value → no new alert for 30 minutes → nodata when
# readings stop (not a resolve) → back → manual resolve; idempotence at the same instant; disabled rules;
# two parameters; sensor_<id> keys; every operator (== on floats); the message template; the outbox rows
# by member preferences; rule validation; cleanup.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_alert_eval
tsk tenant create --slug umc --name UMC >/dev/null
S=$(q "SELECT schema_name FROM public.tenant WHERE slug = 'umc'")
PW='Dev@123456'
for u in owner@umc.test viewer@umc.test quiet@umc.test; do echo "$PW" | tsk tenant user add $u >/dev/null; done
tsk tenant member add umc owner@umc.test --role owner >/dev/null
tsk tenant member add umc viewer@umc.test --role viewer >/dev/null
tsk tenant member add umc quiet@umc.test --role operator >/dev/null
QUIET=$(q "SELECT id FROM public.app_user WHERE email = 'quiet@umc.test'")
q "INSERT INTO $S.alert_notification_preference (user_id, email_enabled) VALUES ($QUIET, false)" >/dev/null

q "INSERT INTO $S.site (name) VALUES ('Site1');
   INSERT INTO $S.asset (tag, name, site_id) SELECT 'CH-1', 'Chiller 1', id FROM $S.site;
   INSERT INTO $S.device (device_id, asset_id) SELECT 'dev1', id FROM $S.asset;
   INSERT INTO $S.sensor (device_id, sensor_id, unit) VALUES ('dev1', 'CH-1_temp', '°C'), ('dev1', 'CH-1_pres', 'bar'),
     ('dev1', 'CH-1_x', '')" >/dev/null
TEMP_ID=$(q "SELECT id FROM $S.sensor WHERE sensor_id = 'CH-1_temp'")
# rd SENSOR FROM TO VALUE: one reading a minute from FROM to TO (inclusive, minutes after 12:00).
rd() {
	q "INSERT INTO $S.reading (device_id, sensor_id, ts, value) SELECT 'dev1', '$1',
	   timestamptz '2026-01-10 12:00Z' + make_interval(mins => m), $4 FROM generate_series($2, $3) m
	   ON CONFLICT (device_id, sensor_id, ts) DO UPDATE SET value = EXCLUDED.value" >/dev/null
}
# at MINUTES: the instant 12:00 + MINUTES, RFC 3339.
at() { q "SELECT to_char(timestamptz '2026-01-10 12:00Z' + make_interval(mins => $1), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"; }
ev() { tsk alert eval -v --tenant umc --at "$(at "$1")" 2>"$T/err"; }
field() { printf '%s' "$1" | perl -MJSON::PP -ne 'my $o = decode_json($_); print $o->{'"$2"'} // "null"'; }
outbox() { q "SELECT count(*) FROM $S.alert_notification"; }

# --- rules: add and validation ------------------------------------------------------------------------
out=$(echo '{"name":"Temperatura alta","equipment":"CH-1","actions":["EMAIL","IN_APP"],"parameters":[{"parameter_key":"CH-1_temp","operator":">","threshold":25,"severity":"HIGH","duration":5,"unit":"°C","message_template":"Temperatura de {value}{unit} {operator} {threshold}{unit} ({sensor}) {x}"}]}' |
	tsk alert rule add --tenant umc)
is $? 0 "rule add: exit 0"
R1=$(field "$out" id)
like "$out" '"equipment_tag":"CH-1","equipment_name":"Chiller 1"|"equipment_name":"Chiller 1","equipment_tag":"CH-1"' "equipment by tag resolved to the asset"
like "$out" '"severity":"High"' "severity HIGH stored as High"
like "$out" '"parameter_key":"CH-1_temp"' "the first parameter mirrored into the rule's own fields"
like "$out" '"parameters":\[\{"id":[0-9]+,"parameter_key":"CH-1_temp","variable_key":"","operator":">","threshold":25' "the parameter"

printf '%s\n' '{"name":"x","equipment":"CH-1","actions":[],"parameters":[{"parameter_key":"a","operator":">","threshold":1}]}' \
	'{"name":"x","equipment":"CH-1","actions":["FAX"],"parameters":[{"parameter_key":"a","operator":">","threshold":1}]}' \
	'{"name":"x","equipment":"CH-1","actions":["EMAIL"],"parameters":[{"parameter_key":"a","operator":">","threshold":1,"severity":"urgent"}]}' \
	'{"name":"x","equipment":"CH-1","actions":["EMAIL"],"parameters":[]}' \
	'{"name":"x","equipment":"CH-1","actions":["EMAIL"]}' \
	'{"name":"x","equipment":"NOPE","actions":["EMAIL"],"parameters":[{"parameter_key":"a","operator":">","threshold":1}]}' \
	'{"name":"x","equipment":"CH-1","actions":["EMAIL"],"parameters":[{"parameter_key":"a","operator":"=>","threshold":1}]}' \
	'{"name":"x","equipment":"CH-1","actions":["EMAIL"],"parameters":[{"parameter_key":"a","operator":">","threshold":"1"}]}' \
	'{"name":"x","equipment":"CH-1","actions":["EMAIL"],"parameters":[{"parameter_key":"a","operator":">","threshold":1,"duration":0}]}' \
	'not json' \
	"{\"name\":\"x'); DROP TABLE $S.alert; --\",\"equipment\":\"CH-1\",\"actions\":[\"EMAIL\"],\"parameter_key\":\"sensor_abc\",\"operator\":\"<\",\"threshold\":-1e300}" |
	tsk alert rule add --tenant umc >"$T/out" 2>"$T/err"
is $? 3 "rule add with bad lines: exit 3 (the good one went in)"
err=$(cat "$T/err")
like "$err" 'line 1: actions: Selecione pelo menos uma ação\.' "empty actions"
like "$err" "line 2: actions: Ação 'FAX' inválida" "unknown action"
like "$err" 'line 3: parameters\[0\]\.severity: Severidade inválida: urgent' "bad severity"
like "$err" 'line 4: parameters: Pelo menos um parâmetro' "empty parameters"
like "$err" 'line 5: parameters: Informe parameters' "no parameters at all"
like "$err" 'line 6: equipment: ' "unknown equipment"
like "$err" 'line 7: parameters\[0\]\.operator: ' "bad operator"
like "$err" 'line 8: parameters\[0\]\.threshold: Um número válido' "threshold as a string"
like "$err" 'line 9: parameters\[0\]\.duration: ' "duration 0"
like "$err" 'line 10: ' "a line that is not JSON"
is "$(wc -l <"$T/out")" 1 "one rule printed: the legacy single-parameter form with a hostile name"
is "$(q "SELECT count(*) FROM $S.alert")" 0 "the alert table is still there"
RX=$(field "$(cat "$T/out")" id)

# --- ok, then pending for less than the duration ---------------------------------------------------------
rd CH-1_temp 0 10 20
out=$(ev 10)
is "$out" "" "12:10, all readings 20: nothing changes"
like "$(cat "$T/err")" '1 tenants, 2 rules, 2 parameters: 0 changes' "two rules, two parameters judged"
rd CH-1_temp 11 200 30
out=$(ev 12)
like "$out" "\"rule_id\":$R1,.*\"from\":\"ok\",\"to\":\"pending\"" "12:12, two readings of 30: pending"
is "$(ev 12)" "" "the same instant again: nothing changes"
is "$(ev 15)" "" "12:15: the window (12:10, 12:15] is all 30, but 12:10 was 20: still pending"
is "$(q "SELECT count(*) FROM $S.alert")" 0 "no alert yet"

# --- firing -----------------------------------------------------------------------------------------------
out=$(ev 16)
like "$out" '"from":"pending","to":"firing","event":"firing","value":30' "12:16: held for 5 minutes: firing"
A1=$(field "$out" alert_id)
is "$(q "SELECT message FROM $S.alert WHERE id = $A1")" "Temperatura de 30.0°C maior que 25.0°C (CH-1_temp) {x}" "the message from the template"
is "$(q "SELECT severity, asset_tag, parameter_key, parameter_value, threshold, state, triggered_at FROM $S.alert WHERE id = $A1")" \
	"High|CH-1|CH-1_temp|30|25|firing|2026-01-10 12:16:00+00" "the alert's fields"
is "$(q "SELECT string_agg(u.email || ':' || n.channel || ':' || n.event, ',' ORDER BY u.email, n.channel) FROM $S.alert_notification n JOIN public.app_user u ON u.id = n.user_id")" \
	"owner@umc.test:EMAIL:firing,owner@umc.test:IN_APP:firing,quiet@umc.test:IN_APP:firing,viewer@umc.test:EMAIL:firing,viewer@umc.test:IN_APP:firing" \
	"outbox: every member by the rule's actions and their preferences (quiet turned email off)"
is "$(ev 16)" "" "12:16 again: nothing"
is "$(outbox)" 5 "and no second notification"

# --- repeat after the cooldown (60 minutes) ------------------------------------------------------------------
is "$(ev 75)" "" "13:15, 59 minutes later: no repeat yet"
out=$(ev 76)
like "$out" '"from":"firing","to":"firing","event":"repeat"' "13:16: a repeat after the cooldown"
is "$(outbox)" 10 "five more outbox rows"
q "UPDATE public.app_user SET alert_cooldown_minutes = 10 WHERE id = (SELECT id FROM public.app_user WHERE email = 'owner@umc.test')" >/dev/null
q "UPDATE $S.alert_rule SET created_by_id = (SELECT id FROM public.app_user WHERE email = 'owner@umc.test') WHERE id = $R1" >/dev/null
is "$(ev 85)" "" "the creator's cooldown of 10 minutes: nothing at 13:25"
like "$(ev 86)" '"event":"repeat"' "a repeat at 13:26"

# --- acknowledged: no repeats ------------------------------------------------------------------------------------
out=$(TSK_NOW=$(at 90) tsk alert ack $A1 --tenant umc --notes "equipe a caminho")
is $? 0 "ack: exit 0"
like "$out" '"acknowledged":true,"acknowledged_at":"2026-01-10T13:30:00' "acknowledged at TSK_NOW"
like "$out" '"notes":"\[Reconhecimento\] equipe a caminho"' "the note"
TSK_NOW=$(at 91) tsk alert ack $A1 --tenant umc 2>"$T/err" >/dev/null
is $? 2 "a second ack: exit 2"
like "$(cat "$T/err")" 'Alerta já foi reconhecido' "with the original's message"
is "$(ev 140)" "" "14:20, long past the cooldown: acknowledged, so no repeat"

# --- auto-resolve ---------------------------------------------------------------------------------------------------
rd CH-1_temp 141 141 22.5
out=$(ev 141)
like "$out" "\"alert_id\":$A1,\"from\":\"firing\",\"to\":\"resolved\",\"event\":\"resolved\",\"value\":22.5" "14:21, 22.5: resolved by itself"
is "$(q "SELECT state, resolved, resolved_at, resolved_by_id IS NULL, resolved_value FROM $S.alert WHERE id = $A1")" \
	"resolved|t|2026-01-10 14:21:00+00|t|22.5" "with the resolving value and time, by nobody"
is "$(ev 141)" "" "14:21 again: nothing"

# --- no new alert for 30 minutes after a resolution ------------------------------------------------------------------
rd CH-1_temp 142 200 30
like "$(ev 150)" '"from":"ok","to":"pending"' "14:30: true again for 8 minutes: pending, not firing (resolved 9 minutes ago)"
is "$(ev 170)" "" "14:50: still within 30 minutes of the resolution"
out=$(ev 171)
like "$out" '"to":"firing","event":"firing"' "14:51: a new alert"
A2=$(field "$out" alert_id)
ok $([ "$A2" != "$A1" ] && echo 0 || echo 1) "a second alert ($A2), not the old one"

# --- nodata, then back --------------------------------------------------------------------------------------------------
q "DELETE FROM $S.reading WHERE ts > '2026-01-10 15:00Z'" >/dev/null
like "$(ev 195)" '"to":"firing","event":"repeat"' "15:15: the last reading is 15 minutes old: still fresh (a repeat is due: cooldown 10)"
out=$(ev 196)
like "$out" "\"alert_id\":$A2,\"from\":\"firing\",\"to\":\"nodata\",\"event\":\"nodata\"" "15:16: nodata"
is "$(q "SELECT state, resolved FROM $S.alert WHERE id = $A2")" "nodata|f" "the alert stays open"
is "$(ev 210)" "" "15:30: still nodata, nothing new"
rd CH-1_temp 211 211 31
like "$(ev 211)" '"from":"nodata","to":"firing","event":null' "15:31: a reading meeting the condition: firing again, the same alert"
is "$(q "SELECT state FROM $S.alert WHERE id = $A2")" "firing" "firing"

# --- manual resolve ---------------------------------------------------------------------------------------------------------
out=$(TSK_NOW=$(at 212) tsk alert resolve $A2 --tenant umc --notes "trocado o sensor")
like "$out" '"state":"resolved","triggered_at":.*"acknowledged":true.*"resolved":true,"resolved_at":"2026-01-10T15:32:00' "resolve by hand: resolved and acknowledged"
like "$out" '"notes":"\[Resolução\] trocado o sensor"' "the note"
TSK_NOW=$(at 213) tsk alert resolve $A2 --tenant umc >/dev/null 2>&1
is $? 2 "resolving twice: exit 2"
rd CH-1_temp 212 240 31
out=$(ev 225)
like "$out" '"from":"firing","to":"pending"' "15:45: the condition holds but the resolution was 13 minutes ago: pending"
like "$(ev 242)" '"to":"firing","event":"firing"' "16:02: after 30 minutes, a new alert"

# --- disabled rule ---------------------------------------------------------------------------------------------------------
tsk alert rule disable $R1 --tenant umc >/dev/null
rd CH-1_temp 243 280 10
ev 280 >/dev/null
like "$(cat "$T/err")" '1 tenants, 1 rules, 1 parameters: 0 changes' "a disabled rule is not judged (its alert stays as it was)"
is "$(q "SELECT count(*) FROM $S.alert WHERE rule_id = $R1 AND NOT resolved")" 1 "the open alert is left open"
tsk alert rule enable $R1 --tenant umc >/dev/null
like "$(ev 280)" '"to":"resolved"' "enabled again: it resolves"

# --- two parameters, sensor_<id> keys ---------------------------------------------------------------------------------------
q "DELETE FROM $S.reading" >/dev/null
out=$(echo "{\"name\":\"Dois\",\"equipment\":$(q "SELECT id FROM $S.asset"),\"actions\":[\"IN_APP\"],\"parameters\":[{\"parameter_key\":\"sensor_$TEMP_ID\",\"operator\":\">=\",\"threshold\":40,\"duration\":2},{\"parameter_key\":\"CH-1_pres\",\"operator\":\"<\",\"threshold\":5,\"duration\":2,\"severity\":\"Critical\",\"message_template\":\"Pressão {value} {operator} {threshold}\"}]}" |
	tsk alert rule add --tenant umc)
R2=$(field "$out" id)
tsk alert rule disable $R1 --tenant umc >/dev/null
rd CH-1_temp 400 410 40
rd CH-1_pres 400 410 4.5
out=$(ev 410)
is "$(printf '%s\n' "$out" | grep -c '"event":"firing"')" 2 "both parameters fire"
like "$out" "\"parameter_key\":\"sensor_$TEMP_ID\"" "sensor_<id> resolved to the sensor"
is "$(q "SELECT message FROM $S.alert WHERE rule_id = $R2 AND parameter_key = 'CH-1_pres'")" "Pressão 4.5 menor que 5.0" "the second template"
is "$(q "SELECT count(*) FROM $S.alert WHERE parameter_key = 'sensor_abc'")" 0 "a sensor_<non-number> key never fires"

# --- every operator -----------------------------------------------------------------------------------------------------------
tsk alert rule disable $R2 --tenant umc >/dev/null
q "DELETE FROM $S.reading" >/dev/null
rd CH-1_x 500 510 0.30000000000000004
ops=""
for spec in '>:0.3:1' '>=:0.30000000000000004:1' '<:0.3:0' '<=:0.3:0' '==:0.3:0' '==:0.30000000000000004:1' '!=:0.3:1' '!=:0.30000000000000004:0'; do
	IFS=: read -r op thr want <<<"$spec"
	id=$(echo "{\"name\":\"op $op $thr\",\"equipment\":\"CH-1\",\"actions\":[\"IN_APP\"],\"parameters\":[{\"parameter_key\":\"CH-1_x\",\"operator\":\"$op\",\"threshold\":$thr,\"duration\":1}]}" |
		tsk alert rule add --tenant umc | perl -MJSON::PP -ne 'print decode_json($_)->{id}')
	ops="$ops $id:$want"
done
ev 510 >/dev/null
for pair in $ops; do
	id=${pair%%:*}
	want=${pair##*:}
	is "$(q "SELECT count(*) FROM $S.alert WHERE rule_id = $id")" "$want" "$(q "SELECT name FROM $S.alert_rule WHERE id = $id") on 0.1+0.2: $([ "$want" = 1 ] && echo fires || echo does not fire)"
done

# --- low severity: off by default for everyone --------------------------------------------------------------------------------
before=$(outbox)
id=$(echo '{"name":"baixa","equipment":"CH-1","actions":["EMAIL","IN_APP","SMS"],"parameters":[{"parameter_key":"CH-1_x","operator":">","threshold":0,"duration":1,"severity":"low"}]}' |
	tsk alert rule add --tenant umc | perl -MJSON::PP -ne 'print decode_json($_)->{id}')
like "$(ev 510)" '"event":"firing"' "a Low rule fires"
is "$(outbox)" "$before" "but nobody is notified (low_alerts is off by default)"
q "INSERT INTO $S.alert_notification_preference (user_id, low_alerts, sms_enabled, phone_number)
   SELECT id, true, true, '+5511999999999' FROM public.app_user WHERE email = 'viewer@umc.test'" >/dev/null
tsk alert rule disable $id --tenant umc >/dev/null
tsk alert rule enable $id --tenant umc >/dev/null
q "UPDATE $S.alert SET state = 'resolved', resolved = true, resolved_at = '2026-01-10 10:00Z' WHERE rule_id = $id" >/dev/null
like "$(ev 510)" '"event":"firing"' "fires again"
is "$(q "SELECT string_agg(channel || ':' || status, ',' ORDER BY channel) FROM $S.alert_notification n JOIN $S.alert a ON a.id = n.alert_id WHERE a.rule_id = $id")" \
	"EMAIL:pending,IN_APP:pending,SMS:skipped" "a user who turned low on gets email and in-app; SMS is recorded as skipped"

# --- list, show, silence, cleanup -----------------------------------------------------------------------------------------------
n=$(tsk alert list --tenant umc --status resolved | wc -l)
is "$n" "$(q "SELECT count(*) FROM $S.alert WHERE resolved")" "list --status resolved"
like "$(tsk alert list --tenant umc --severity critical)" '"severity":"Critical","severity_display":"Crítico"' "list --severity, case-insensitive"
tsk alert list --tenant umc --status bogus >/dev/null 2>&1
is $? 2 "list --status bogus: exit 2"
like "$(TSK_NOW=$(at 510) tsk alert silence $A1 --tenant umc --until +2h)" '"silenced_until":"2026-01-10T22:30:00' "silence --until +2h"
tsk alert show 999999 --tenant umc >/dev/null 2>&1
is $? 2 "show of an unknown alert: exit 2"
total=$(q "SELECT count(*) FROM $S.alert")
out=$(TSK_NOW=2026-04-10T11:00:00Z tsk alert cleanup)
is "$out" '{"deleted":1}' "cleanup on Apr 10 11:00: only the alert resolved before Jan 10 11:00 (90 days) goes"
is "$(q "SELECT count(*) FROM $S.alert")" "$((total - 1))" "one alert deleted"

# --- usage ------------------------------------------------------------------------------------------------------------------------
tsk alert rule list >/dev/null 2>&1
is $? 2 "rule list without --tenant: exit 2"
tsk alert eval --at yesterday-ish >/dev/null 2>&1
is $? 2 "eval --at garbage: exit 2"
like "$(tsk alert --help)" 'usage: tsk-alert' "--help"
like "$(tsk alert --version)" '^tsk-alert ' "--version"
done_testing
